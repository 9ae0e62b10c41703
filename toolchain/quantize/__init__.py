"""Quantisation of a float hardware graph to the fixed-point format (DESIGN.md section 4).

:func:`quantize` (float graph + calibration data -> :class:`QuantResult`: fixed graph,
per-tensor report, overflow analysis) and :func:`quantize_run` (a run directory's
``graph.float.npz`` -> ``graph.fixed.npz`` + ``quantize_report.json``). The scale rules are in
:mod:`toolchain.quantize.core`, the E-I circuit's in :mod:`toolchain.quantize.ei`, the static
bounds in :mod:`toolchain.quantize.ranges`; ``docs/folding.md`` explains them.
"""

from toolchain.quantize.core import DEFAULT_MARGIN, VTH_TARGET, QuantResult, quantize
from toolchain.quantize.run import GRAPH_FIXED, QUANTIZE_REPORT, quantize_run, write_quantized

__all__ = [
    "DEFAULT_MARGIN",
    "GRAPH_FIXED",
    "QUANTIZE_REPORT",
    "VTH_TARGET",
    "QuantResult",
    "quantize",
    "quantize_run",
    "write_quantized",
]
