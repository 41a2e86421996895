"""The stages in run order (`sources` → `ingest` → `segment` → `select` → `score` → `report`), each with its
frozen config, and the helpers they share (`io.py`, `formats.py`, `progress.py`, ...).

Imports only `schemas` and itself, never `train`, `flows` or `cli` (tests/test_layers.py). Inside it,
`backends/` (the model side) and `store/` (the storage root) are rooms the stages use and that use no stage.
"""
