"""spikefold benchmarks: each ``bench/bench_*.py`` module has a ``main()`` that measures two or
more implementations side by side in one run and prints their ratio (never absolute targets:
these machines are shared and noisy). ``make bench`` runs them all; ``python -m bench NAME``
runs the ones whose module name contains ``NAME``.
"""
