"""Experiment scripts that reproduce the numbers in docs/results.md (run with ``python -m``)."""
