"""Test helpers more than one test folder imports (`from tests.helpers.scoring import make_model`).

`scoring`: a byte-level tokenizer, a tiny random Llama, a naive reference scorer, score rows, a stored night
of interactions; `training`: a tiny model directory and a root holding a few interactions; `real_samples`:
the real WildChat samples through ingest and selection. The fixtures every test sees (the tiny model
directory `tiny_model_dir` among them) are in tests/conftest.py.
"""
