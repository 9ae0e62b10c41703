"""Folding a trained torch network into a float hardware graph (DESIGN.md section 5).

* :func:`fold_model` traces the module tree (dispatch table keyed by module type,
  :mod:`toolchain.fold.trace`, open to users: :func:`register_folding_rule`) and applies the
  passes of :mod:`toolchain.fold.passes` (OSR/BatchNorm into weights, OTS threshold
  schedules, Dale check, E-I parameters, pools);
* :func:`to_lava_timing` inserts the Delay nodes of Lava's one-step synapses;
* :func:`check_design_rules` runs the per-target design rules (:mod:`toolchain.fold.rules`);
* :func:`calibrate_floor` switches E-I circuits to a calibrated floor stabilisation;
* :func:`fold_run` folds a run directory into ``graph.float.npz``.

The reference is ``docs/folding.md``.
"""

from toolchain.fold.calibrate import calibrate_floor
from toolchain.fold.rules import TARGETS, TargetLimits, check_design_rules
from toolchain.fold.run import fold_run
from toolchain.fold.thresholds import constant_thresholds
from toolchain.fold.timing import to_lava_timing
from toolchain.fold.trace import FoldResult, Tracer, fold_model, register_folding_rule

__all__ = [
    "constant_thresholds",
    "FoldResult",
    "TARGETS",
    "Tracer",
    "TargetLimits",
    "calibrate_floor",
    "check_design_rules",
    "fold_model",
    "fold_run",
    "register_folding_rule",
    "to_lava_timing",
]
