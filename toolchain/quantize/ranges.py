"""Pure helpers of the quantiser: scales, rounding of each fixed-point field, and the static
worst-case bounds (interval arithmetic) that the overflow analysis compares with the widths
of :mod:`hwsim.arith`.

Units: a *scale* is the real value of one integer unit. A synapse's output ``a`` is in
activation units ``s_a`` (the layer's scale, shared by its weights, biases and thresholds);
the voltage ``v`` of a LIF, CubaLIF or LI and a CubaLIF's current ``u`` are in units of
``s_a / 64`` (``u = a << 6``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from hwsim import arith
from hwsim.errors import QuantizationError

__all__ = [
    "TensorError",
    "tensor_error",
    "grid_scale",
    "QuantizedScalar",
    "quantize_unsigned",
    "quantize_threshold",
    "quantize_decay",
    "quantize_current_decay",
    "quantize_lif_bias",
    "acc_bounds",
    "lif_v_bounds",
    "MembraneBounds",
    "membrane_bounds",
    "fits_signed",
]


class TensorError(NamedTuple):
    """Quantisation error of one tensor, in real units: ``scale`` of one integer step,
    ``clip_fraction`` of entries clipped, rounding error ``rms``/``max`` and ``max`` in steps
    (<= 0.5 when nothing is clipped)."""

    scale: float
    clip_fraction: float
    err_rms: float
    err_max: float
    err_max_steps: float

    def to_dict(self) -> dict:
        return {k: float(v) for k, v in self._asdict().items()}


def tensor_error(real, approx, step: float, n_clipped: int = 0) -> TensorError:
    """Error of ``approx`` (the dequantised integers) against ``real``; ``step`` the real size
    of one representable step (e.g. a mixed-sign 8-bit weight grid step is 2 mantissa units)."""
    real = np.asarray(real, dtype=np.float64)
    err = np.abs(np.asarray(approx, dtype=np.float64) - real)
    n = max(real.size, 1)
    e_max = float(err.max(initial=0.0))
    return TensorError(
        float(step),
        n_clipped / n,
        float(np.sqrt(np.mean(err**2))) if real.size else 0.0,
        e_max,
        e_max / step if step > 0 else 0.0,
    )


def grid_scale(w: np.ndarray, weight_bits: int) -> float:
    """The mantissa scale that maps ``w`` onto the full Lava weight grid of its sign mode:
    ``max(max(w⁺)/hi, max(-w⁻)/|lo|)`` with ``(lo, hi) = weight_grid(sign_mode(w))``, so the
    largest entry lands exactly on the grid's end (no clipping, every bit used). Single-signed
    (Dale) matrices get ``hi = 255`` at 8 bits, mixed ones ``hi = 254, lo = -256``. 0 for an
    all-zero ``w``."""
    w = np.asarray(w, dtype=np.float64)
    lo, hi, _ = arith.weight_grid(arith.sign_mode(w), weight_bits)
    pos = float(w.max(initial=0.0)) / hi if hi > 0 else 0.0
    neg = float(-w.min(initial=0.0)) / -lo if lo < 0 else 0.0
    return max(pos, neg)


class QuantizedScalar(NamedTuple):
    """An unsigned mantissa array and its exponent: ``real ≈ mantissa · 2**exp`` units."""

    mantissa: np.ndarray
    exp: int
    n_clipped: int


def quantize_unsigned(x, bits: int, exp_range: tuple[int, int]) -> QuantizedScalar:
    """Non-negative ``x`` (in target units) as ``mantissa · 2**exp``, ``mantissa`` unsigned
    ``bits``-bit: the smallest ``exp`` in ``exp_range`` whose mantissas fit (the most precise),
    rounding half-to-even; if none fits, the largest ``exp`` and the clipping is counted. Used
    for the E-I gains ``g_I``, ``g_E`` (16-bit)."""
    x = np.asarray(x, dtype=np.float64)
    if np.any(x < 0) or not np.all(np.isfinite(x)):
        raise QuantizationError("quantize_unsigned: values must be finite and >= 0")
    top = (1 << bits) - 1
    lo, hi = exp_range
    exp = hi
    if not np.any(x):
        exp = 0
    else:
        need = math.log2(float(x.max()) / top)
        exp = min(max(lo, math.ceil(need) - 1), hi)
        while exp < hi and np.rint(x / 2.0**exp).max() > top:
            exp += 1
    m = np.rint(x / 2.0**exp)
    n_clipped = int(np.count_nonzero(m > top))
    return QuantizedScalar(np.clip(m, 0, top).astype(np.int64), int(exp), n_clipped)


def quantize_threshold(theta, s_a: float) -> np.ndarray:
    """``vth = rint(θ/s_a - 1/64)`` (int64, same shape as θ).

    The fixed LIF spikes on ``v > vth << 6``, i.e. ``v >= 64·vth + 1``, while the float one
    spikes on ``H >= θ``: the effective fixed threshold is ``vth + 1/64`` activation units, so
    ``vth`` rounds ``θ/s_a - 1/64`` (the strict inequality accounted for; the remaining error
    of the effective threshold is at most half an activation unit)."""
    return np.rint(np.asarray(theta, dtype=np.float64) / s_a - 1.0 / 64).astype(np.int64)


def quantize_decay(a: float) -> int:
    """Float decay ``a`` -> Lava's ``4096 - dv`` with ``dv = rint((1 - a)·4096)``; must be in
    ``[1, 4096]`` (``a = 0``, i.e. ``tau = 1``, has no fixed form)."""
    d = arith.DECAY_UNITY - int(np.rint((1.0 - float(a)) * arith.DECAY_UNITY))
    if not 1 <= d <= arith.DECAY_UNITY:
        raise QuantizationError(f"LIF decay {a} quantises to {d}, outside [1, 4096]")
    return d


def quantize_current_decay(c: float) -> int:
    """Float current decay ``c`` (a CubaLIF's ``u = c·u + x``) -> Lava's factor ``4095 - du``
    (``hwsim.arith.cuba_current_fixed``): ``min(rint(c·4096), 4095)``. Lava's ``ds_offset``
    makes 4095 the largest factor, so ``c = 1`` (a current without leak) becomes
    ``4095/4096``; the quantiser reports that error with the decay's."""
    if not 0.0 <= float(c) <= 1.0:
        raise QuantizationError(f"current decay {c} outside [0, 1]")
    return min(int(np.rint(float(c) * arith.DECAY_UNITY)), arith.DECAY_UNITY - 1)


def quantize_lif_bias(b_v, exp_only: int | None = None) -> tuple[np.ndarray, int] | None:
    """A bias in ``v`` units as Lava's ``(bias_mant, bias_exp)``: the smallest ``bias_exp`` in
    ``[0, 7]`` whose rounded mantissa fits signed 13 bits (resolution ``2**bias_exp`` v units);
    None when even ``bias_exp = 7`` does not fit (``|b| > 4095·128``). ``exp_only``: that
    exponent or None (NetX's 6)."""
    b_v = np.asarray(b_v, dtype=np.float64)
    top = (1 << (arith.BIAS_MANT_BITS - 1)) - 1
    lo, hi = arith.BIAS_EXP_RANGE if exp_only is None else (exp_only, exp_only)
    for exp in range(lo, hi + 1):
        m = np.rint(b_v / 2.0**exp)
        if np.abs(m).max(initial=0) <= top:
            return m.astype(np.int64), exp
    return None


def acc_bounds(m: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Worst-case ``[min, max]`` of ``Σ_j m_oj x_j`` per output unit ``o`` (row of a dense
    matrix, output channel of a conv kernel), for inputs ``x_j`` in ``[lo, hi]`` with ``lo <= 0
    <= hi`` (so a conv's zero padding is inside the range and the full kernel is the worst
    case). Exact int64 (``|m| <= 256``)."""
    m = np.asarray(m, dtype=np.int64).reshape(m.shape[0], -1)
    pos = np.maximum(m, 0).sum(axis=1)
    neg = np.minimum(m, 0).sum(axis=1)
    return pos * lo + neg * hi, pos * hi + neg * lo


class MembraneBounds(NamedTuple):
    """Worst-case ranges over a run: the synaptic current ``u`` (a CubaLIF's; a LIF's and an
    LI's is ``64·a`` of the step) and the pre-reset voltage ``v``, both in ``v`` units."""

    u_lo: int
    u_hi: int
    v_lo: int
    v_hi: int


def membrane_bounds(
    a_lo, a_hi, b_lo, b_hi, *, decay: int, steps: int, current_decay: int = 0,
    resets: bool = True,
) -> MembraneBounds:  # fmt: skip
    """Worst-case ranges of a fixed neuron's current and voltage over ``steps`` steps, given
    the activation range ``[a_lo, a_hi]`` and the effective bias range per step (``v`` units).

    ``u' = trunc(u·current_decay/4096) + 64·a`` and ``v' = trunc(v·decay/4096) + u' + b`` are
    monotone in ``u``, ``v`` and ``a`` (decays >= 0), so the interval recursion from ``u = v =
    0`` bounds them (``current_decay = 0``: the LIF's non-persistent current). With ``resets``
    (LIF, CubaLIF) a reset only lowers a positive voltage (soft: ``v - 64·vth`` with ``v >
    64·vth >= 0``; hard: 0), so ignoring it keeps the upper bound valid, and the lower bound is
    taken as ``min(lo, 0)`` after a possible reset; an LI never resets."""
    u_lo = u_hi = v_lo = v_hi = 0
    worst = [0, 0, 0, 0]
    a_min, a_max = 64 * int(np.min(a_lo)), 64 * int(np.max(a_hi))
    b_min, b_max = int(np.min(b_lo)), int(np.max(b_hi))
    for _ in range(steps):
        u_lo = int(arith.decay_fixed(u_lo, current_decay)) + a_min
        u_hi = int(arith.decay_fixed(u_hi, current_decay)) + a_max
        v_lo = int(arith.decay_fixed(v_lo, decay)) + u_lo + b_min
        v_hi = int(arith.decay_fixed(v_hi, decay)) + u_hi + b_max
        worst = [min(worst[0], u_lo), max(worst[1], u_hi), min(worst[2], v_lo),
                 max(worst[3], v_hi)]  # fmt: skip
        if resets:
            v_lo = min(v_lo, 0)
    return MembraneBounds(*worst)


def lif_v_bounds(a_lo, a_hi, b_lo, b_hi, decay: int, steps: int) -> tuple[int, int]:
    """Worst-case range of the fixed LIF voltage over ``steps`` steps (pre-reset): the
    ``v`` range of :func:`membrane_bounds` without a persistent current."""
    b = membrane_bounds(a_lo, a_hi, b_lo, b_hi, decay=decay, steps=steps)
    return b.v_lo, b.v_hi


def fits_signed(lo, hi, bits: int) -> bool:
    """``[lo, hi]`` inside the ``bits``-bit signed range."""
    r_lo, r_hi = arith.signed_range(bits)
    return int(np.min(lo)) >= r_lo and int(np.max(hi)) <= r_hi
