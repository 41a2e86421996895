"""The night-by-night learner (`afterword learn`): one refresh run per night, evaluated and gated.

`continual.py` trains on a night's interactions (`loop.main`) and evaluates the candidate against the
current model on fixed evaluation sets (`eval_sets.py`); `gate.py` decides from that evaluation whether the
candidate is promoted.
"""
