"""verify: decide for each trace whether its final answer is right (core.py; the command glue is run.py)."""
