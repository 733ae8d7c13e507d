"""Stages: one package each, with config.py (frozen params), core.py (pure functions over frames), run.py (glue)."""
