"""The folding passes, each a small pure function proving one step of DESIGN.md section 5.

Every function here maps torch parameters (read in eval semantics, never by running the
module) to the values of a float hardware-graph node, in float64. Folding reorders the float
arithmetic, so "exact" means: the folded expression is the torch expression evaluated without
its intermediate float32 roundings (e.g. ``conv(x, W·s) + (b·s + t)`` for torch's
``fl32(fl32(conv(x, W)) · s + t)``); the products of two float32 numbers are kept exactly in
float64. ``tests/toolchain/test_fold.py`` checks each pass against the torch module it replaces.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hwsim.errors import ConfigError, GraphError
from models.ei import EICircuit as TorchEICircuit
from models.neurons import LIF as TorchLIF
from models.osr import OSR
from models.ots import OTSLIF

__all__ = [
    "to_f64",
    "norm_affine",
    "fold_affine",
    "lif_threshold",
    "lif_parameters",
    "check_dale",
    "ei_parameters",
    "avgpool_geometry",
    "adaptive_avgpool_geometry",
]


def to_f64(t: torch.Tensor | None) -> np.ndarray | None:
    """A tensor as a float64 numpy copy (exact for float32 values), ``None`` passes through."""
    return None if t is None else t.detach().cpu().to(torch.float64).numpy().copy()


# ---------------------------------------------------------------------------------------------
# OSR / BatchNorm -> the preceding weights and bias
# ---------------------------------------------------------------------------------------------


def norm_affine(module: nn.Module, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The eval-mode map of a normalisation as ``y = x · scale + shift`` per channel.

    OSR (TECHNIQUES.md section 4): ``(scale, shift) = OSR.affine() = (γ/sqrt(σ̂²+ε),
    β - μ̂ γ/sqrt(σ̂²+ε))``, taken in float32 exactly as the module's eval forward computes them,
    so the fold uses the very numbers torch multiplies by. BatchNorm1d/2d (eval, running
    statistics): ``y = (x - μ̂)/sqrt(σ̂²+ε) · γ + β``, the same affine, computed in float64 from
    the float32 parameters (torch's kernel fuses it differently; the difference is float32
    rounding, which rung 0's tie tolerance covers).
    """
    if isinstance(module, OSR):
        with torch.no_grad():
            scale, shift = module.affine()
        return to_f64(scale), to_f64(shift)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if module.running_mean is None or module.running_var is None:
            raise GraphError(
                f"{name}: BatchNorm without running statistics (track_running_stats=False) "
                "normalises with batch statistics in eval mode and cannot be folded"
            )
        mean, var = to_f64(module.running_mean), to_f64(module.running_var)
        n = mean.shape[0]
        gamma = to_f64(module.weight) if module.weight is not None else np.ones(n)
        beta = to_f64(module.bias) if module.bias is not None else np.zeros(n)
        scale = gamma / np.sqrt(var + float(module.eps))
        return scale, beta - mean * scale
    raise GraphError(f"{name}: {type(module).__name__} is not a foldable normalisation")


def fold_affine(
    weight: np.ndarray, bias: np.ndarray | None, scale: np.ndarray, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fold a per-output-channel affine ``y = z · scale + shift`` into the layer ``z = W x + b``:

        W' = scale ⊙ W   (row / output channel o scaled by scale[o])
        b' = scale ⊙ b + shift        (b = 0 when the layer has no bias)

    so ``W' x + b' = (W x + b) · scale + shift`` exactly in real arithmetic. ``weight`` is
    ``[out, in]`` or ``[out, in/groups, kh, kw]``; works in float64.
    """
    scale = np.asarray(scale, dtype=np.float64)
    if scale.shape != (weight.shape[0],) or np.shape(shift) != (weight.shape[0],):
        raise GraphError(
            f"norm over {scale.shape[0]} channels does not match the {weight.shape[0]} outputs "
            "of the preceding weight layer"
        )
    w = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    b = np.zeros(weight.shape[0]) if bias is None else bias
    return w, b * scale + np.asarray(shift, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# LIF / OTS
# ---------------------------------------------------------------------------------------------


def lif_threshold(module: TorchLIF, T: int, name: str) -> float | np.ndarray:
    """The threshold the eval-mode module uses at steps ``0..T-1``.

    OTS (TECHNIQUES.md section 4, **[choice]** of ``models.ots``): eval mode uses the per-step
    running average ``running_threshold[t]``, so the hardware LIF gets the schedule
    ``θ[t] = running_threshold[t]`` for ``t < T`` (float32 values, kept exactly). A plain LIF
    gives its scalar threshold, or the first ``T`` entries of its schedule. A schedule shorter
    than ``T`` raises :class:`ConfigError` (torch would raise at step ``len``).
    """
    if isinstance(module, OTSLIF):
        theta = module.running_threshold
        what = f"OTS running-threshold buffer (T={module.T})"
    else:
        theta = module.threshold
        what = "threshold schedule"
        if theta.ndim == 0:
            return float(theta)
    if theta.numel() < T:
        raise ConfigError(
            f"{name}: its {what} has {theta.numel()} steps, fewer than T={T}; fold with the T "
            "the network was built for"
        )
    return to_f64(theta[:T])


def lif_parameters(module: TorchLIF, T: int, name: str) -> dict:
    """The :class:`hwsim.graph.LIF` fields of a torch LIF/OTSLIF in eval mode: ``decay = a =
    1 - 1/tau``, ``threshold`` (:func:`lif_threshold`), ``reset``."""
    return {
        "decay": float(module.params.decay),
        "threshold": lif_threshold(module, T, name),
        "reset": module.params.reset,
    }


# ---------------------------------------------------------------------------------------------
# E-I circuits
# ---------------------------------------------------------------------------------------------


def check_dale(tensors: dict[str, torch.Tensor]) -> None:
    """Dale's law: every named tensor must be ``>= 0``. The torch forward reads these tensors
    through ``clamp(min=0)`` and the trainer projects them after every step, so a negative
    entry in a checkpoint means it was not trained with the constraints: an error naming the
    tensor and the count, never a silent clamp."""
    bad = []
    for name, t in tensors.items():
        n = int((t.detach() < 0).sum())
        if n:
            bad.append(f"{name}: {n} of {t.numel()} entries negative")
    if bad:
        raise GraphError(
            "Dale's law violated (E-I weights and gains must be >= 0; train with "
            "apply_constraints or clamp them): " + "; ".join(bad)
        )


def ei_parameters(module: TorchEICircuit, name: str) -> dict:
    """The :class:`hwsim.graph.EICircuit` fields of an E-I layer (TECHNIQUES.md section 2).

    ``w_ee = W_EE``, ``w_ie = W_IE``, ``w_ei = W_EI`` and, for a hidden layer, ``g_i, g_e, b_e``
    (``variant="divisive"``, ``stabilisation="exact"``: E-I Prop's per-sample minimum positive
    ``D``, the training semantics); the readout layer is ``variant="subtractive"`` (``I_EE -
    I_sub``, no gains). Dale-signed tensors are checked (:func:`check_dale`), signs explicit
    per population: E onto E positive, I onto E enters with a minus sign inside the circuit.
    Refused: an un-initialised layer (its first torch forward would re-run E-I Init) and the
    fixed-ε ablation (``D + ε`` has no hardware node).
    """
    if not bool(module.initialised):
        raise ConfigError(
            f"{name}: E-I layer never initialised (E-I Init runs on its first forward pass and "
            "would change the weights); train it or run one batch before folding"
        )
    if module.config.stabilization != "adaptive":
        raise ConfigError(
            f"{name}: fixed-epsilon stabilisation (D + eps, a Table 2 ablation) has no hardware "
            "form; only adaptive stabilisation folds (exact, or a calibrated floor)"
        )
    ee, ie = module.ee, module.inhib.ie
    dale = {f"{name}.ee.weight": ee.weight, f"{name}.inhib.ie.weight": ie.weight}
    dale[f"{name}.weight_ei"] = module.weight_ei
    if not module.readout:
        dale[f"{name}.gain_i"] = module.gain_i
        dale[f"{name}.gain_e"] = module.gain_e
    check_dale(dale)
    out = {
        "w_ee": to_f64(ee.weight),
        "w_ie": to_f64(ie.weight),
        "w_ei": to_f64(module.weight_ei),
    }
    if isinstance(ee, nn.Conv2d):
        if (
            tuple(ee.dilation) != (1, 1)
            or ee.padding_mode != "zeros"
            or isinstance(ee.padding, str)
        ):
            raise GraphError(f"{name}: only zero-padded, undilated E-I convolutions fold")
        out.update(stride=tuple(ee.stride), padding=tuple(ee.padding), groups=int(ee.groups))
    if module.readout:
        out["variant"] = "subtractive"
    else:
        out.update(
            g_i=to_f64(module.gain_i),
            g_e=to_f64(module.gain_e),
            b_e=to_f64(module.bias_e),
            variant="divisive",
            stabilisation="exact",
        )
    return out


# ---------------------------------------------------------------------------------------------
# Pools
# ---------------------------------------------------------------------------------------------


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def avgpool_geometry(module: nn.AvgPool2d, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(kernel, stride)`` of an ``nn.AvgPool2d`` that maps onto a float ``AvgPool2d`` node
    (``sum / (kh·kw)`` over windows, no padding). Padding, ``ceil_mode`` and a
    ``divisor_override`` change the divisor at the borders and are refused.

    **[choice]** the float graph keeps ``AvgPool2d`` (what torch computes: the window sum of
    spike counts is exact, the division by ``kh·kw`` is one rounding); the quantiser rewrites
    it as ``SumPool2d`` and folds ``1/(kh·kw)`` into the next synapse through the value scale
    of the pooled counts (``toolchain.quantize``), so no float weight is ever rescaled here.
    """
    pad = _pair(module.padding)
    if pad != (0, 0) or module.ceil_mode or module.divisor_override is not None:
        raise GraphError(
            f"{name}: AvgPool2d with padding {pad}, ceil_mode={module.ceil_mode}, "
            f"divisor_override={module.divisor_override} has no hardware form (only unpadded "
            "pools fold)"
        )
    kernel = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    return kernel, stride


def adaptive_avgpool_geometry(
    module: nn.AdaptiveAvgPool2d, in_shape: tuple[int, ...], name: str
) -> tuple[int, int]:
    """The kernel (= stride) of an adaptive average pool on a ``(C, H, W)`` input: torch's
    windows are uniform when ``H, W`` are multiples of the output size, and then equal a
    plain ``AvgPool2d(H/oh, W/ow)``; the global pool (output 1) is ``AvgPool2d((H, W))``, i.e.
    a sum pool times ``1/(H·W)``."""
    if len(in_shape) != 3:
        raise GraphError(f"{name}: adaptive pool expects a (C, H, W) input, got {in_shape}")
    out = module.output_size
    out = (out, out) if isinstance(out, int) else tuple(out)
    h, w = in_shape[1:]
    oh = h if out[0] is None else int(out[0])
    ow = w if out[1] is None else int(out[1])
    if h % oh or w % ow:
        raise GraphError(
            f"{name}: AdaptiveAvgPool2d{(oh, ow)} on a {h}x{w} map has non-uniform windows; "
            "only sizes dividing the map fold"
        )
    return h // oh, w // ow
