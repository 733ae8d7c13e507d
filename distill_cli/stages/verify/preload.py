"""Imported once by the forkserver: every verify worker forked from it starts with math-verify warm (~1.5 s saved
per worker, which matters when a timed-out worker is replaced)."""

from distill_cli.stages.verify.core import warm_up

warm_up()
