"""The papers' experiments: scripts that reproduce the numbers in docs/results.md.

Run from the repository root with ``python -m experiments.<name>``. Not part of the installed
packages (see pyproject.toml): they import models, hwsim, exporters and toolchain, never the
other way round.
"""
