"""The simulation experiment (`afterword simulate`): the refresh loop with a rule-based simulated user.

`simulation.py` runs one arm (`loop.main` with the user's follow-ups and its own evaluation plugged in),
`simulated_users.py` holds the users and their arms, `teacher_check.py` asks whether each hindsight template
is a competent self-teacher for their complaints, `simulation_report.py` compares every arm and seed.
"""
