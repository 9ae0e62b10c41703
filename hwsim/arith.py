"""The numeric specification: every integer operation of spikefold's fixed-point format.

This module is **the** definition of the fixed-point arithmetic (DESIGN.md section 4). hwsim's
simulator, the Lava fixed-point process models and the ONNX IR builder follow it, and
``docs/numeric-spec.md`` is generated from these docstrings (``python -m hwsim.arith
--markdown``). The float-format counterparts (training semantics, TECHNIQUES.md sections 1-2)
are defined here too, next to their integer twins.

Conventions
-----------
* Every integer function takes and returns ``numpy.int64`` arrays. Python integers are
  unbounded, numpy's are not: every intermediate below states its width, and the stated input
  widths keep every intermediate inside 63 bits, so no int64 product can overflow silently.
* Arrays are batched with the **sample axis first**: ``[B, ...]`` for one time step; the
  channel (unit) axis is axis 1 (``[B, C]`` dense, ``[B, C, H, W]`` conv, as in torch).
* ``a << k`` is exact multiplication by ``2**k``; ``a >> k`` is numpy's *arithmetic* shift,
  i.e. **floor** division by ``2**k`` (``-3 >> 1 == -2``). Where Lava rounds toward zero it
  uses a sign-magnitude shift, written :func:`shift_right_trunc` here.
* "wrap" is two's complement modular reduction, "saturate" is clipping; the two Lava-specific
  reductions (:func:`lava_fold24` of the current ``u`` and the symmetric clip of ``v``) have
  their own functions because they are neither.
* A width ``N`` "signed" means the range ``[-2**(N-1), 2**(N-1) - 1]``; "unsigned" ``[0,
  2**N - 1]``. Widths that Lava declares but does not enforce are *checked* (counted) here and
  never silently trusted (DESIGN.md section 4, second trap).

The Loihi/Lava conventions (read from lava-nc 0.10.0: ``lava/proc/lif/models.py``
``AbstractPyLifModelFixed``/``PyLifModelBitAcc``, ``lava/proc/dense/models.py``
``PyDenseModelBitAcc``, ``lava/proc/conv/models.py`` ``PyConvModelFixed``,
``lava/utils/weightutils.py``) that the plain subset reproduces bit for bit::

    weights     signed 8-bit mantissa (2..8 bits via Lava's truncation), per-layer weight_exp
    Dense       a = wrap32( floor((Σ_j w_ij s_j) · 2**weight_exp) )        (no 24-bit wrap!)
    Conv        a = wrap24( Σ w·s )                                         (weight_exp ignored)
    current     u = fold24( wrap32(a << 6) )          du = 4095: the current does not persist
    CUBA        u = fold24( wrap32( trunc(u·(4095-du) / 4096) + (a << 6) ) )      du < 4095
    voltage     v = clip( trunc(v·decay / 4096) + u + bias_eff, ±(2**23 - 1) ),  decay = 4096-dv
    bias        bias_eff = floor(bias_mant · 2**bias_exp)   bias_mant 13-bit signed, exp 0..7
    spike       s = v > (vth << 6)                    vth unsigned 17-bit
    reset       hard: v = 0 | soft (custom process): v -= vth << 6

The current-based LIF (``CubaLIF``, :func:`cuba_lif_step_fixed`) is Lava's stock LIF with a
persistent current (``du < 4095``); the leaky integrator (``LI``, :func:`li_step_fixed`) is its
voltage update without threshold and reset, its graded output ``v``.

Extensions beyond Lava's stock processes (custom processes on Lava, the same arithmetic in
hwsim and ONNX): soft reset, per-step thresholds ``vth[t]``, graded payloads of the E-I
circuit's inhibitory population, and the E-I division (:func:`ei_step_fixed`).

What the float format means by the same operations is stated in each ``*_float`` function.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from hwsim.errors import GraphError, OverflowBoundError, QuantizationError

__all__ = [
    # widths and constants
    "DECAY_SHIFT",
    "DECAY_UNITY",
    "ACT_SHIFT",
    "VTH_SHIFT",
    "STATE_BITS",
    "STATE_MAX",
    "ACT_BITS",
    "ACC_BITS",
    "LAVA_CHANNEL_BITS",
    "VTH_BITS",
    "BIAS_MANT_BITS",
    "BIAS_EXP_RANGE",
    "WEIGHT_BITS_RANGE",
    "WEIGHT_EXP_RANGE",
    "WEIGHT_RAW_BITS",
    "PAYLOAD_BITS_MAX",
    "PAYLOAD_EXP_RANGE",
    "GAIN_BITS",
    "GAIN_EXP_RANGE",
    "READOUT_BITS",
    "FixedWidths",
    # reductions and shifts
    "signed_range",
    "unsigned_range",
    "wrap_signed",
    "wrap_unsigned",
    "saturate_signed",
    "saturate_unsigned",
    "count_outside_signed",
    "count_outside_unsigned",
    "lava_fold24",
    "scale_pow2",
    "shift_right_trunc",
    "trunc_div",
    # weights, biases, inputs
    "SignMode",
    "WeightGrid",
    "QuantizedWeights",
    "sign_mode",
    "weight_grid",
    "lava_dense_weights",
    "count_lava_dense_changes",
    "quantize_weights",
    "bias_effective",
    "quantize_input",
    # synapses
    "dense_accumulate",
    "dense_reduce",
    "conv2d",
    "conv_accumulate",
    "conv_reduce",
    "sum_pool2d",
    "avg_pool2d_float",
    "dense_float",
    "conv2d_float",
    # neurons
    "Reset",
    "Saturated",
    "LifStepFixed",
    "LifStepFloat",
    "LiStepFixed",
    "decay_fixed",
    "cuba_current_fixed",
    "lif_current_fixed",
    "lif_step_fixed",
    "cuba_lif_step_fixed",
    "li_step_fixed",
    "lif_reset_fixed",
    "lif_step_float",
    "cuba_lif_step_float",
    "li_step_float",
    "lif_reset_float",
    "fast_inhibitory_fixed",
    # E-I circuit
    "Stabilisation",
    "EIVariant",
    "EIStepFixed",
    "EIStepFloat",
    "stabilise_denominator",
    "ei_divide_fixed",
    "EIInhibitory",
    "EIExcitatoryFixed",
    "ei_inhibitory_fixed",
    "ei_excitatory_fixed",
    "ei_step_fixed",
    "ei_step_float",
    "ei_inhibitory_float",
    "ei_excitatory_float",
    # readout
    "readout_accumulate",
    "spec_markdown",
]

# ---------------------------------------------------------------------------------------------
# Widths and constants. Each is a Lava/Loihi convention unless marked [spikefold].
# ---------------------------------------------------------------------------------------------

DECAY_SHIFT = 12  # decays are 12-bit fractions: v·decay >> 12
DECAY_UNITY = 1 << DECAY_SHIFT  # 4096: decay = 4096 - dv means "no leak" at dv = 0
ACT_SHIFT = 6  # activation a is MSB-aligned into u: u = a << 6
VTH_SHIFT = 6  # threshold is MSB-aligned: spike when v > vth << 6
STATE_BITS = 24  # u and v are 24-bit signed on Loihi
STATE_MAX = (1 << (STATE_BITS - 1)) - 1  # v is clipped to [-STATE_MAX, STATE_MAX] (symmetric!)
ACT_BITS = 16  # Lava declares a_in int16 (precision 16) but does not enforce it: checked here
ACC_BITS = 24  # synaptic accumulators: Lava Conv a_buf, graded payloads, E-I accumulators
LAVA_CHANNEL_BITS = 32  # Lava's Dense->LIF channel and its a << 6 are int32 arithmetic
VTH_BITS = 17  # vth unsigned 17-bit
BIAS_MANT_BITS = 13  # bias_mant signed 13-bit
BIAS_EXP_RANGE = (0, 7)  # bias_exp unsigned 3-bit
WEIGHT_BITS_RANGE = (2, 8)  # num_weight_bits of Lava's Dense
WEIGHT_RAW_BITS = 8  # Lava clips raw weights to 8 bits (+ sign) before truncation
WEIGHT_EXP_RANGE = (-8, 7)  # Loihi's 4-bit signed weight exponent
PAYLOAD_BITS_MAX = 24  # Loihi 2 graded spikes carry up to 24-bit payloads
PAYLOAD_EXP_RANGE = (-24, 8)  # [spikefold] payload = floor(h · 2**payload_exp)
GAIN_BITS = 16  # [spikefold] unsigned mantissas of the E-I gains g_I, g_E
GAIN_EXP_RANGE = (-24, 16)  # [spikefold] exponents of g_I, g_E (keeps every product < 2**62)
READOUT_BITS = 32  # [spikefold] the readout's sum over time


@dataclass(frozen=True)
class FixedWidths:
    """Every width and range of a fixed-format graph (recorded in its metadata).

    Only ``weight_bits``, ``payload_bits`` and ``input_bits`` are choices of the quantiser;
    the others are the hardware's and must equal this module's constants (a file written
    against a different specification fails validation instead of being misread).
    """

    weight_bits: int = 8
    payload_bits: int = 16
    input_bits: int = 8
    weight_raw_bits: int = WEIGHT_RAW_BITS
    weight_exp_range: tuple[int, int] = WEIGHT_EXP_RANGE
    acc_bits: int = ACC_BITS
    act_bits: int = ACT_BITS
    state_bits: int = STATE_BITS
    vth_bits: int = VTH_BITS
    decay_shift: int = DECAY_SHIFT
    act_shift: int = ACT_SHIFT
    vth_shift: int = VTH_SHIFT
    bias_mant_bits: int = BIAS_MANT_BITS
    bias_exp_range: tuple[int, int] = BIAS_EXP_RANGE
    gain_bits: int = GAIN_BITS
    gain_exp_range: tuple[int, int] = GAIN_EXP_RANGE
    payload_exp_range: tuple[int, int] = PAYLOAD_EXP_RANGE
    readout_bits: int = READOUT_BITS

    def problems(self) -> list[str]:
        """What is wrong with these widths (empty when valid): choices out of range, or a
        hardware width that differs from this module's specification."""
        out = []
        lo, hi = WEIGHT_BITS_RANGE
        if not lo <= self.weight_bits <= hi:
            out.append(f"weight_bits={self.weight_bits} outside [{lo}, {hi}]")
        if not 1 <= self.payload_bits <= PAYLOAD_BITS_MAX:
            out.append(f"payload_bits={self.payload_bits} outside [1, {PAYLOAD_BITS_MAX}]")
        if not 1 <= self.input_bits <= ACC_BITS:
            out.append(f"input_bits={self.input_bits} outside [1, {ACC_BITS}]")
        ref = FixedWidths(self.weight_bits, self.payload_bits, self.input_bits)
        for name in self.__dataclass_fields__:
            if name in ("weight_bits", "payload_bits", "input_bits"):
                continue
            if tuple(np.atleast_1d(getattr(self, name))) != tuple(
                np.atleast_1d(getattr(ref, name))
            ):
                out.append(
                    f"{name}={getattr(self, name)} differs from this spikefold's numeric "
                    f"spec ({getattr(ref, name)})"
                )
        return out


# ---------------------------------------------------------------------------------------------
# Reductions to a width, shifts and division
# ---------------------------------------------------------------------------------------------


def _i64(x) -> np.ndarray:
    """``x`` as an int64 array; refuses floats (a float here is a bug upstream, not data)."""
    a = np.asarray(x)
    if a.dtype.kind == "b":
        return a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"integer arithmetic got an array of dtype {a.dtype}")
    if a.dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise OverflowBoundError("uint64 value does not fit int64")
    return a.astype(np.int64, copy=False)


def signed_range(bits: int) -> tuple[int, int]:
    """``(-2**(bits-1), 2**(bits-1) - 1)``, the range of a ``bits``-bit two's complement."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def unsigned_range(bits: int) -> tuple[int, int]:
    """``(0, 2**bits - 1)``."""
    return 0, (1 << bits) - 1


def wrap_signed(x, bits: int) -> np.ndarray:
    """Two's complement wrap to ``bits`` (1..64) signed bits.

    ``y = ((x + 2**(bits-1)) mod 2**bits) - 2**(bits-1)``, the value a ``bits``-bit register
    holds after an overflowing write. Lava's ``signed_clamp`` (Conv ``a_buf``, 24 bits) and the
    int32 channels between Lava processes behave this way.
    """
    if not 1 <= bits <= 64:
        raise ValueError(f"wrap_signed: bits must be in [1, 64], got {bits}")
    x = _i64(x)
    if bits == 64:
        return x
    half = np.int64(1) << np.int64(bits - 1)
    low = x & ((half - 1) + half)  # the low `bits` bits (a mask of 2**bits - 1 fits in int64)
    # a set sign bit means low - 2**bits; subtract `half` twice so 2**63 is never formed
    return np.where(low >= half, low - half - half, low)


def wrap_unsigned(x, bits: int) -> np.ndarray:
    """Modular wrap to ``bits`` unsigned bits: ``y = x mod 2**bits`` in ``[0, 2**bits - 1]``."""
    return _i64(x) % (np.int64(1) << np.int64(bits))


def saturate_signed(x, bits: int) -> np.ndarray:
    """Clip to the ``bits``-bit signed range ``[-2**(bits-1), 2**(bits-1) - 1]``."""
    lo, hi = signed_range(bits)
    return np.clip(_i64(x), lo, hi)


def saturate_unsigned(x, bits: int) -> np.ndarray:
    """Clip to ``[0, 2**bits - 1]`` (negative values become 0)."""
    lo, hi = unsigned_range(bits)
    return np.clip(_i64(x), lo, hi)


def count_outside_signed(x, bits: int) -> int:
    """How many entries of ``x`` lie outside the ``bits``-bit signed range (overflow events)."""
    lo, hi = signed_range(bits)
    x = _i64(x)
    return int(np.count_nonzero((x < lo) | (x > hi)))


def count_outside_unsigned(x, bits: int) -> int:
    """How many entries of ``x`` lie outside ``[0, 2**bits - 1]``."""
    lo, hi = unsigned_range(bits)
    x = _i64(x)
    return int(np.count_nonzero((x < lo) | (x > hi)))


def lava_fold24(x) -> np.ndarray:
    """Lava's 24-bit "wrap" of the current ``u``: ONE fold, not a modular reduction.

    ``AbstractPyLifModelFixed.subthr_dynamics`` does, with ``M = 2**23``::

        y = x - 2M   if x >  M
        y = x + 2M   if x <= -M
        y = x        otherwise

    Traps (both reproduced on purpose): ``x = +2**23`` is kept as ``+2**23``, one more than a
    24-bit register holds, while ``-2**23`` becomes ``+2**23``; and inputs beyond ``±3M`` are
    folded once only, so they stay outside 24 bits. Its input is an int32 in Lava, so
    ``|x| < 2**31`` here.
    """
    x = _i64(x)
    m = np.int64(1) << np.int64(STATE_BITS - 1)
    return np.where(x > m, x - 2 * m, np.where(x <= -m, x + 2 * m, x))


def scale_pow2(x, exp) -> np.ndarray:
    """``floor(x · 2**exp)``: Lava's exponent convention (``weight_exp``, ``bias_exp``).

    ``exp >= 0``: ``x << exp`` (exact; the caller keeps ``x · 2**exp`` inside 63 bits).
    ``exp < 0``: ``x >> -exp``, numpy's arithmetic shift, which rounds toward **minus
    infinity** (``-3 >> 1 == -2``), exactly as Lava's ``np.right_shift`` does for a negative
    ``weight_exp``/``bias_exp``. ``exp`` may be a scalar or broadcast against ``x``.
    """
    x = _i64(x)
    e = _i64(exp)
    # np.where evaluates both branches: shift by |e| (never negative) in each
    left = np.left_shift(x, np.maximum(e, 0))
    right = np.right_shift(x, np.maximum(-e, 0))
    return np.where(e >= 0, left, right)


def shift_right_trunc(x, n: int) -> np.ndarray:
    """``sign(x) · (|x| >> n)``: division by ``2**n`` rounded **toward zero**.

    Lava's decay rounding (``np.sign(d) * np.right_shift(np.abs(d), 12)``): the magnitude is
    shifted, so a negative voltage decays toward 0 exactly as a positive one does (a plain
    arithmetic shift would pull negative values down by one). ``n >= 0``.
    """
    if n < 0:
        raise ValueError(f"shift_right_trunc: n must be >= 0, got {n}")
    x = _i64(x)
    return np.sign(x) * np.right_shift(np.abs(x), n)


def trunc_div(num, den) -> np.ndarray:
    """Integer division rounded **toward zero** (C semantics), ``den > 0``.

    ``q = sign(num) · (|num| // den)``; ``|q| <= |num|``. numpy's ``//`` floors, which would
    round ``-7 / 2`` to ``-4``; this gives ``-3``. Raises ``ZeroDivisionError`` for
    ``den <= 0`` (the E-I circuit stabilises its denominator first).
    """
    num, den = _i64(num), _i64(den)
    if np.any(den <= 0):
        raise ZeroDivisionError("trunc_div: the denominator must be positive")
    return np.sign(num) * (np.abs(num) // den)


# ---------------------------------------------------------------------------------------------
# Weights, biases and inputs
# ---------------------------------------------------------------------------------------------

SignMode = Literal["excitatory", "inhibitory", "mixed"]


class WeightGrid(NamedTuple):
    """The raw weight values Lava's Dense keeps unchanged: ``lo, lo+step, ..., hi``."""

    lo: int
    hi: int
    step: int


class QuantizedWeights(NamedTuple):
    """Result of :func:`quantize_weights`.

    ``mantissa`` (int64, on the :func:`weight_grid`) times ``2**weight_exp`` approximates the
    real weights; ``n_clipped`` entries were clipped to the grid's ends; ``max_abs_error`` is
    ``max |mantissa · 2**weight_exp - w|`` in the units of ``w``.
    """

    mantissa: np.ndarray
    weight_exp: int
    sign_mode: SignMode
    n_clipped: int
    max_abs_error: float


def sign_mode(w) -> SignMode:
    """Lava's ``determine_sign_mode``: ``min(w) >= 0`` -> excitatory (an all-zero matrix too),
    else ``max(w) <= 0`` -> inhibitory, else mixed."""
    w = np.asarray(w)
    if w.size == 0 or np.min(w) >= 0:
        return "excitatory"
    if np.max(w) <= 0:
        return "inhibitory"
    return "mixed"


def weight_grid(mode: SignMode, weight_bits: int) -> WeightGrid:
    """The raw values Lava's fixed-point Dense leaves unchanged, for ``num_weight_bits``.

    Lava first clips to 8 bits by sign mode (mixed ``[-256, 255]``, excitatory ``[0, 255]``,
    inhibitory ``[-255, 0]``) and then truncates ``k = 8 - weight_bits + (mode == mixed)``
    low bits (of the magnitude for inhibitory): ``w = (w >> k) << k``. So the fixed points are
    multiples of ``step = 2**k``:

    ========== ====================== =================================
    mode        range                  8 bits (k)
    ========== ====================== =================================
    mixed       ``[-256, 256 - step]`` even values in [-256, 254] (k=1)
    excitatory  ``[0, 256 - step]``    [0, 255] (k=0)
    inhibitory  ``[-(256 - step), 0]`` [-255, 0] (k=0)
    ========== ====================== =================================

    This is the first Lava trap of DESIGN.md section 4: a mixed-sign 8-bit matrix keeps only 7
    bits of magnitude; single-signed (Dale) matrices keep all 8.
    """
    lo_b, hi_b = WEIGHT_BITS_RANGE
    if not lo_b <= weight_bits <= hi_b:
        raise QuantizationError(f"weight_bits={weight_bits} outside [{lo_b}, {hi_b}]")
    k = WEIGHT_RAW_BITS - weight_bits + (mode == "mixed")
    step = 1 << k
    top = (1 << WEIGHT_RAW_BITS) - step  # (255 >> k) << k
    if mode == "mixed":
        return WeightGrid(-(1 << WEIGHT_RAW_BITS), top, step)
    if mode == "excitatory":
        return WeightGrid(0, top, step)
    if mode == "inhibitory":
        return WeightGrid(-top, 0, step)
    raise ValueError(f"unknown sign mode {mode!r}")


def lava_dense_weights(w, weight_bits: int, mode: SignMode | None = None) -> np.ndarray:
    """What Lava's ``PyDenseModelBitAcc`` makes of an integer weight matrix (an independent
    re-statement of ``clip_weights`` + ``truncate_weights``, tested against them).

    ``mode`` defaults to :func:`sign_mode` of ``w``. Steps: (inhibitory: negate), clip to
    ``[-256·mixed, 255]``, floor-shift right then left by ``k`` (see :func:`weight_grid`),
    (inhibitory: negate back).
    """
    w = _i64(w)
    mode = sign_mode(w) if mode is None else mode
    k = WEIGHT_RAW_BITS - weight_bits + (mode == "mixed")
    mag = -w if mode == "inhibitory" else w
    lo = -(1 << WEIGHT_RAW_BITS) if mode == "mixed" else 0
    mag = np.clip(mag, lo, (1 << WEIGHT_RAW_BITS) - 1)
    mag = np.left_shift(np.right_shift(mag, k), k)  # arithmetic shift: floors negatives
    return -mag if mode == "inhibitory" else mag


def count_lava_dense_changes(w, weight_bits: int) -> int:
    """How many entries of ``w`` Lava's Dense would alter (0 = safe to export unchanged)."""
    w = _i64(w)
    return int(np.count_nonzero(lava_dense_weights(w, weight_bits) != w))


def quantize_weights(
    w,
    weight_bits: int,
    *,
    weight_exp: int | None = None,
    mode: SignMode | None = None,
) -> QuantizedWeights:
    """Quantise real weights ``w`` (in accumulator units) onto Lava's weight grid.

    ``mantissa = clip(rint(w / 2**e / step) · step, lo, hi)`` with ``(lo, hi, step) =
    weight_grid(mode, weight_bits)``; rounding is half-to-even (``np.rint``). ``mode`` defaults
    to :func:`sign_mode` of ``w`` (so Dale-signed matrices get the full 8-bit range). If
    ``weight_exp`` is None, the smallest ``e`` in ``WEIGHT_EXP_RANGE`` whose grid holds
    ``max |w|`` without clipping is taken (the most precise one); if none does, the largest
    ``e`` and the clipping is counted.

    Trap: Lava picks the sign mode from the *integer* matrix. A mixed-sign ``w`` whose small
    positive (negative) entries all round to 0 becomes single-signed, and Lava would then clip
    a mixed-grid ``-256`` to ``-255`` and re-truncate. In that case the weights are
    re-quantised on the grid of the mode Lava will see (with the opposite-signed entries set
    to 0, where they rounded anyway). The returned mantissa is therefore always left unchanged
    by :func:`lava_dense_weights`; ``max_abs_error`` is measured against the original ``w``.
    """
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise QuantizationError("quantize_weights: NaN or infinite weights")
    mode = sign_mode(w) if mode is None else mode
    if (mode == "excitatory" and np.any(w < 0)) or (mode == "inhibitory" and np.any(w > 0)):
        raise QuantizationError(f"quantize_weights: weights do not fit sign mode {mode!r}")
    mant, exp, n_clipped = _quantize_on_grid(w, weight_bits, weight_exp, mode)
    seen = sign_mode(mant)  # the mode Lava's determine_sign_mode will pick
    if seen != mode and np.any(lava_dense_weights(mant, weight_bits) != mant):
        w_seen = np.minimum(w, 0.0) if seen == "inhibitory" else np.maximum(w, 0.0)
        mant, exp, n_clipped = _quantize_on_grid(w_seen, weight_bits, weight_exp, seen)
        mode = seen
    err = float(np.max(np.abs(mant * 2.0**exp - w))) if w.size else 0.0
    return QuantizedWeights(mant, exp, mode, n_clipped, err)


def _quantize_on_grid(
    w: np.ndarray, weight_bits: int, weight_exp: int | None, mode: SignMode
) -> tuple[np.ndarray, int, int]:
    lo, hi, step = weight_grid(mode, weight_bits)
    e_lo, e_hi = WEIGHT_EXP_RANGE
    if weight_exp is None and not np.any(w):
        weight_exp = 0  # an all-zero matrix: any exponent is exact
    elif weight_exp is None:
        weight_exp = e_hi
        for e in range(e_lo, e_hi + 1):
            q = np.rint(w / 2.0**e / step) * step
            if q.min() >= lo and q.max() <= hi:
                weight_exp = e
                break
    elif not e_lo <= weight_exp <= e_hi:
        raise QuantizationError(f"weight_exp={weight_exp} outside [{e_lo}, {e_hi}]")
    q = np.rint(w / 2.0**weight_exp / step) * step
    n_clipped = int(np.count_nonzero((q < lo) | (q > hi)))
    return np.clip(q, lo, hi).astype(np.int64), int(weight_exp), n_clipped


def bias_effective(bias_mant, bias_exp) -> np.ndarray:
    """Lava's ``scale_bias``: ``bias_eff = floor(bias_mant · 2**bias_exp)`` (in ``v`` units).

    ``bias_mant`` signed 13-bit, ``bias_exp`` in ``[0, 7]`` -> ``|bias_eff| < 2**19``. The bias
    is added to ``v`` directly, *not* shifted by 6 like the activation: a bias of one
    activation unit is ``bias_mant = 1, bias_exp = 6``.
    """
    return scale_pow2(bias_mant, bias_exp)


def quantize_input(x, scale: float, bits: int) -> np.ndarray:
    """Direct (analog) input as a signed ``bits``-bit integer: ``saturate(rint(x / scale))``.

    ``scale`` is the real value of one integer unit; rounding half-to-even.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise QuantizationError("quantize_input: NaN or infinite input")
    return saturate_signed(np.rint(x / scale).astype(np.int64), bits)


# ---------------------------------------------------------------------------------------------
# Synapses
# ---------------------------------------------------------------------------------------------


def dense_accumulate(weight, s, weight_exp: int = 0) -> np.ndarray:
    """Lava Dense: ``a = wrap32( floor((Σ_j w_ij s_j) · 2**weight_exp) )``.

    ``weight [out, in]`` raw mantissas (8-bit, on the :func:`weight_grid`); ``s [B, in, ...]``
    binary spikes or graded payloads (contracted over axis 1, so ``[B, in, H, W]`` gives the
    1x1 channel mixing of the conv E-I circuit); result ``[B, out, ...]`` int64.

    Widths: the exact sum is computed in int64 (``|w| <= 256``, ``|s| < 2**24``, fan-in
    ``< 2**14`` keeps it inside 46 bits); the exponent shift floors (``scale_pow2``); the
    result is wrapped to 32 bits because Lava's ``a_buff`` travels in an int32 channel. Lava
    does **not** wrap Dense at 24 bits: ``count_outside_signed(a, ACC_BITS)`` is the overflow
    check for the documented 24-bit accumulator.

    **The int32 sum.** Lava's Dense sums in the dtype of its input messages: fed another
    synapse's int32 current it wraps the sum to 32 bits *before* the ``weight_exp`` shift,
    where this function shifts the exact sum first; the two agree while ``|Σ w·s| < 2**31``. A
    sum of ``2**31`` or more is outside this specification for a stock Dense: the Lava exporter
    uses one only where a bound proves every sum inside int32
    (``exporters.lava.translate.STOCK_SUM_LIMIT``), else spikefold's own synapse.
    """
    w, x = _i64(weight), _i64(s)
    acc = np.moveaxis(np.tensordot(x, w, axes=([1], [1])), -1, 1)  # int64: exact integer sum
    return dense_reduce(acc, weight_exp)


def dense_reduce(acc, weight_exp: int = 0) -> np.ndarray:
    """The reductions :func:`dense_accumulate` applies to the exact sum ``acc = Σ_j w_ij s_j``:
    ``wrap32( floor(acc · 2**weight_exp) )``. Separate (like :func:`conv_reduce`) so that a
    faster exact summation shares the one definition of the reductions."""
    return wrap_signed(scale_pow2(acc, weight_exp), LAVA_CHANNEL_BITS)


def _pair(v) -> tuple[int, int]:
    if np.isscalar(v):
        return int(v), int(v)
    a, b = v
    return int(a), int(b)


def conv2d(x, weight, stride=1, padding=0, groups: int = 1) -> np.ndarray:
    """torch's ``conv2d`` (cross-correlation, OIHW kernels, zero padding) in numpy, exact for
    integers (int64) and in the input dtype for floats.

    ``x [B, C_in, H, W]``, ``weight [C_out, C_in/groups, kh, kw]`` -> ``[B, C_out, H', W']``
    with ``H' = (H + 2 p_h - kh) // s_h + 1``. Lava's Conv instead *convolves* (scipy flips
    the kernel) in XY (WHC) layout; the same sum is obtained with (checked in
    tests/hwsim/test_arith_lava.py)::

        x_lava      = x[C, H, W].transpose(2, 1, 0)                       # [W, H, C]
        weight_lava = weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)      # [O, kw, kh, I]
        kernel_size, stride, padding = (kw, kh), (s_w, s_h), (p_w, p_h)   # XY order
        a           = a_lava.transpose(2, 1, 0)
    """
    x, w = np.asarray(x), np.asarray(weight)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    b, c_in, _, _ = x.shape
    c_out, c_per_group, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    win = win[:, :, ::sh, ::sw]  # [B, C_in, H', W', kh, kw]
    o_per_group = c_out // groups
    outs = []
    for g in range(groups):
        xg = win[:, g * c_per_group : (g + 1) * c_per_group]
        wg = w[g * o_per_group : (g + 1) * o_per_group]
        y = np.tensordot(xg, wg, axes=([1, 4, 5], [1, 2, 3]))  # [B, H', W', O]
        outs.append(np.moveaxis(y, -1, 1))
    return np.concatenate(outs, axis=1)


def conv_accumulate(
    weight, s, stride=1, padding=0, groups: int = 1, weight_exp: int = 0
) -> np.ndarray:
    """Lava Conv (``PyConvModelFixed``): ``a = floor( wrap24(Σ w·s) · 2**weight_exp )``.

    The sum (:func:`conv2d`, int64, exact) is wrapped to 24 bits as Lava's ``signed_clamp``
    does (a true modular wrap, unlike the LIF's :func:`lava_fold24`). Lava's Conv **ignores**
    its ``weight_exp`` Var: a graph whose Conv has ``weight_exp != 0`` is not bit-exact on
    Lava's stock Conv (the exporter must refuse it or use a custom process). Lava's Conv does
    not truncate weights by sign mode.

    **The int32 cast.** Lava 0.10's Conv sums in float64 and casts the sum to its weights'
    int32 *before* the 24-bit wrap, so it computes this function only while ``|Σ w·s| <
    2**31``; beyond, its result is not a wrap of the sum (Input ``(2, 1, 1)`` -> 1x1 weights
    255: ``x = 4,210,752`` agrees, ``4,210,753`` does not). A sum of ``2**31`` or more is
    outside this specification for a stock Conv: the Lava exporter uses one only where a bound
    proves every sum inside int32 (``exporters.lava.translate.STOCK_SUM_LIMIT``), else
    spikefold's own synapse, which computes this function.
    """
    acc = conv2d(_i64(s), _i64(weight), stride, padding, groups)
    return conv_reduce(acc, weight_exp)


def conv_reduce(acc, weight_exp: int = 0) -> np.ndarray:
    """The reductions :func:`conv_accumulate` applies to the exact sum ``acc = Σ w·s``:
    ``floor( wrap24(acc) · 2**weight_exp )``.

    Separate so that a faster exact summation (hwsim's simulator sums integer convolutions in
    float64, exact while ``|Σ|w·s|| < 2**53``) shares the one definition of the reductions.
    """
    return scale_pow2(wrap_signed(acc, ACC_BITS), weight_exp)


def sum_pool2d(x, kernel, stride=None, dtype=None) -> np.ndarray:
    """Sum over ``kernel`` windows (no padding) of ``x [B, C, H, W]``; exact for integers
    (int64 for integer or bool inputs, the input dtype for floats; ``dtype`` another one that
    the caller has proven to hold every sum).

    ``stride`` defaults to ``kernel``; rows and columns that fill no whole window are dropped
    (torch's floor mode). The result of pooling spikes is a graded count in ``[0, kh·kw]``.
    Computed as the sum of the ``kh·kw`` strided sub-grids ``x[.., i::s_h, j::s_w]`` (one
    addition per window element, no window copies), in the order ``(i, j)`` row-major.
    """
    x = np.asarray(x)
    kh, kw = _pair(kernel)
    sh, sw = _pair(kernel if stride is None else stride)
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    if dtype is None:
        dtype = np.int64 if x.dtype.kind in "biu" else x.dtype
    out = None
    for i in range(kh):
        for j in range(kw):
            part = x[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
            if out is None:
                out = part.astype(dtype)
            else:
                out += part
    return out


def avg_pool2d_float(x, kernel, stride=None) -> np.ndarray:
    """Float average pool: ``sum_pool2d(x) / (kh·kw)`` (torch's ``avg_pool2d``, no padding).
    The fixed format has no average pool: the quantiser folds ``1/(kh·kw)`` into the next
    layer's weights and keeps a :func:`sum_pool2d`."""
    kh, kw = _pair(kernel)
    return sum_pool2d(x, kernel, stride) / (kh * kw)


def dense_float(weight, x, bias=None) -> np.ndarray:
    """Float dense synapse: ``I = x W^T + b`` (torch ``F.linear``), ``x [B, in]``."""
    y = np.asarray(x) @ np.asarray(weight).T
    return y if bias is None else y + bias


def conv2d_float(weight, x, bias=None, stride=1, padding=0, groups: int = 1) -> np.ndarray:
    """Float conv synapse: :func:`conv2d` plus a per-channel bias ``[C_out]``."""
    y = conv2d(x, weight, stride, padding, groups)
    return y if bias is None else y + np.asarray(bias)[None, :, None, None]


# ---------------------------------------------------------------------------------------------
# Neurons
# ---------------------------------------------------------------------------------------------

Reset = Literal["soft", "hard"]


class Saturated(NamedTuple):
    """A saturating operation's result and how many entries it clipped."""

    value: np.ndarray
    n_saturated: int


class LifStepFixed(NamedTuple):
    """One fixed-point LIF or CUBA LIF step (:func:`lif_step_fixed`, :func:`cuba_lif_step_fixed`).

    ``spikes`` bool; ``v`` the voltage after reset; the counters are overflow events of this
    step: ``n_act_overflow`` activations outside ``ACT_BITS`` (Lava's declared, unenforced
    ``a_in`` width), ``n_u_folded`` currents changed by :func:`lava_fold24` (or by Lava's
    int32 channel), ``n_v_clipped`` voltages clipped to ``±STATE_MAX``; ``v_charged`` the
    voltage before the reset (after the clip), the fixed twin of the float ``H``; ``u`` the
    synaptic current after the step (CUBA LIF only; a LIF's current does not persist).
    """

    spikes: np.ndarray
    v: np.ndarray
    n_act_overflow: int
    n_u_folded: int
    n_v_clipped: int
    v_charged: np.ndarray | None = None
    u: np.ndarray | None = None


class LifStepFloat(NamedTuple):
    """One float LIF or CUBA LIF step: ``spikes`` bool, ``v`` after reset, ``h`` the charged
    potential, ``u`` the synaptic current after the step (CUBA LIF only)."""

    spikes: np.ndarray
    v: np.ndarray
    h: np.ndarray
    u: np.ndarray | None = None


class LiStepFixed(NamedTuple):
    """One fixed-point leaky-integrator step (:func:`li_step_fixed`): the new voltage ``v``
    (the LI's graded output) and the overflow events, named as in :class:`LifStepFixed`."""

    v: np.ndarray
    n_act_overflow: int
    n_u_folded: int
    n_v_clipped: int


def decay_fixed(v, decay: int) -> np.ndarray:
    """Lava's voltage decay: ``trunc(v · decay / 2**12)`` with ``decay = 4096 - dv``.

    ``decay`` in ``[1, 4096]`` (``dv`` is unsigned 12-bit: 0..4095, so a float decay ``a = 0``
    (tau = 1) is not representable). ``v`` is 24-bit, so ``v · decay`` fits 37 bits (Lava
    promotes to int64 for the same reason). Rounding is toward zero (:func:`shift_right_trunc`).
    The float decay ``a`` becomes ``decay = 4096 - round((1 - a)·4096)``. The CUBA LIF's
    current decays by the same function with ``current_decay`` in ``[0, 4095]``
    (:func:`cuba_current_fixed`).
    """
    if not 0 <= int(decay) <= DECAY_UNITY:
        raise ValueError(f"decay_fixed: decay must be in [0, {DECAY_UNITY}], got {decay}")
    return shift_right_trunc(_i64(v) * np.int64(decay), DECAY_SHIFT)


def cuba_current_fixed(u, a, current_decay: int) -> np.ndarray:
    """The synaptic current ``u`` of Lava's LIF (``AbstractPyLifModelFixed.subthr_dynamics``)::

        u' = fold24( wrap32( trunc(u · current_decay / 4096) + wrap32( wrap32(a) << 6 ) ) )

    ``current_decay = 4096 - (du + ds_offset) = 4095 - du`` in ``[0, 4095]``: Lava adds the
    1-bit ``ds_offset = 1`` to the 12-bit ``du`` (0..4095), so the current's factor can reach 0
    (``du = 4095``: the current does not persist, the plain LIF) but never 4096 (a current
    that never decays has no fixed form; its closest is ``4095/4096``). The float current decay
    ``c`` becomes ``current_decay = min(round(c · 4096), 4095)``, i.e. ``du = 4095 -
    current_decay``.

    Widths: ``u`` is the 24-bit state (after one fold it can exceed 24 bits, see
    :func:`lava_fold24`; Lava stores it in an int32), ``u · current_decay`` fits 44 bits (Lava
    promotes to int64), the truncating shift brings it back below 32 bits; Lava's sum of the
    decayed current and ``a << 6`` is an int32 addition (``wrap32``), then folded once at 24
    bits. The documented width of ``a`` is ``ACT_BITS = 16`` (callers count overflows).
    """
    if not 0 <= int(current_decay) < DECAY_UNITY:
        raise ValueError(
            f"cuba_current_fixed: current_decay must be in [0, {DECAY_UNITY - 1}], "
            f"got {current_decay}"
        )
    a32 = wrap_signed(a, LAVA_CHANNEL_BITS)
    act = wrap_signed(np.left_shift(a32, ACT_SHIFT), LAVA_CHANNEL_BITS)  # int32 shift in Lava
    decayed = decay_fixed(u, current_decay)  # < 2**31: |u| < 2**31 and the factor is < 1
    return lava_fold24(wrap_signed(decayed + act, LAVA_CHANNEL_BITS))


def lif_current_fixed(a) -> np.ndarray:
    """The current ``u`` a LIF takes from its activation ``a`` (Lava with ``du = 4095``).

    With ``du = 4095`` Lava's current decay factor is ``4096 - (du + 1) = 0``: the old ``u``
    is multiplied by 0 (the current does not persist) and :func:`cuba_current_fixed` reduces
    to::

        u = fold24( wrap32( wrap32(a) << 6 ) )

    ``wrap32`` twice because Lava carries ``a`` in an int32 channel and shifts it as int32;
    both are no-ops for ``|a| < 2**25``. The documented width of ``a`` is ``ACT_BITS = 16``
    (then ``a << 6`` fits 22 bits and nothing folds): callers count
    ``count_outside_signed(a, ACT_BITS)``.
    """
    return cuba_current_fixed(np.zeros((), np.int64), a, 0)


def _charge_fixed(v, u, decay: int, bias) -> tuple[np.ndarray, int]:
    """``clip( decay_fixed(v, decay) + u + bias, ±STATE_MAX )`` and how many entries the clip
    changed: Lava's voltage update (the clip is symmetric, ``neg_voltage_limit = -2**23 + 1``)."""
    raw = decay_fixed(v, decay) + _i64(u) + _i64(bias)
    v_new = np.clip(raw, -STATE_MAX, STATE_MAX)
    return v_new, int(np.count_nonzero(v_new != raw))


def _fire_fixed(v_new, vth, reset: Reset) -> tuple[np.ndarray, np.ndarray]:
    vth = _i64(vth)
    if np.any(vth < 0) or np.any(vth >= (1 << VTH_BITS)):
        raise ValueError(f"lif_step_fixed: vth must be unsigned {VTH_BITS}-bit")
    spikes = v_new > np.left_shift(vth, VTH_SHIFT)  # 17 + 6 = 23 bits: inside v's range
    return spikes, lif_reset_fixed(v_new, spikes, vth, reset)


def lif_step_fixed(v, a, *, decay: int, vth, bias=0, reset: Reset = "hard") -> LifStepFixed:
    """One fixed-point LIF step, Lava's ``PyLifModelBitAcc`` order of operations::

        u  = lif_current_fixed(a)                               24-bit (Lava fold)
        v' = clip( decay_fixed(v, decay) + u + bias, -STATE_MAX, STATE_MAX )
        s  = v' > (vth << 6)                                    strict
        hard: v' = 0 where s        soft: v' = v' - (vth << 6) where s

    ``v`` int 24-bit state; ``a`` the summed activation of the step (int, ``ACT_BITS``
    checked); ``decay`` in ``[1, 4096]``; ``vth`` unsigned 17-bit, a scalar for this step (a
    per-step schedule ``vth[t]`` is indexed by the caller) or an array broadcasting against
    ``v``; ``bias`` the *effective* bias in ``v`` units (:func:`bias_effective`). The clip is
    symmetric, ``±(2**23 - 1)``, as Lava's ``neg_voltage_limit = -2**23 + 1``. Soft reset and
    per-step ``vth`` are spikefold extensions (a custom process on Lava). Note the comparison:
    the float neuron spikes on ``H >= θ``, the fixed one on ``v > vth << 6``; the quantiser
    accounts for the strict inequality. It is :func:`cuba_lif_step_fixed` with
    ``current_decay = 0`` (``du = 4095``), without the current state.
    """
    out = cuba_lif_step_fixed(
        0, v, a, current_decay=0, decay=decay, vth=vth, bias=bias, reset=reset
    )
    return out._replace(u=None)


def cuba_lif_step_fixed(
    u, v, a, *, current_decay: int, decay: int, vth, bias=0, reset: Reset = "hard"
) -> LifStepFixed:
    """One fixed-point current-based (CUBA) LIF step: Lava's ``PyLifModelBitAcc`` with
    ``du < 4095``, in its order of operations::

        u' = cuba_current_fixed(u, a, current_decay)     24-bit current (Lava fold)
        v' = clip( decay_fixed(v, decay) + u' + bias, -STATE_MAX, STATE_MAX )
        s  = v' > (vth << 6)                              strict
        hard: v' = 0 where s        soft: v' = v' - (vth << 6) where s      (u' is not reset)

    ``u``, ``v`` the 24-bit states; ``a`` the summed activation (``ACT_BITS`` checked);
    ``current_decay = 4095 - du`` in ``[0, 4095]``, ``decay = 4096 - dv`` in ``[1, 4096]``;
    ``vth``, ``bias`` and ``reset`` as in :func:`lif_step_fixed`. ``n_u_folded`` counts the
    currents that Lava's int32 sum or 24-bit fold changed (``u' != trunc(u·c/4096) + a·64``).
    Returns :class:`LifStepFixed` with ``u`` set.
    """
    a = _i64(a)
    n_act = count_outside_signed(a, ACT_BITS)
    u_new = cuba_current_fixed(u, a, current_decay)
    exact = decay_fixed(u, current_decay) + np.left_shift(a, ACT_SHIFT)
    n_fold = int(np.count_nonzero(u_new != exact))
    v_new, n_clip = _charge_fixed(v, u_new, decay, bias)
    spikes, v_reset = _fire_fixed(v_new, vth, reset)
    return LifStepFixed(spikes, v_reset, n_act, n_fold, n_clip, v_new, u_new)


def li_step_fixed(v, a, *, decay: int, bias=0) -> LiStepFixed:
    """One fixed-point leaky-integrator (LI) step: the LIF's charge without a threshold::

        u  = lif_current_fixed(a)                                  24-bit (Lava fold)
        v' = clip( decay_fixed(v, decay) + u + bias, -STATE_MAX, STATE_MAX )

    The output is ``v'`` itself (graded, 24-bit, in ``v`` units: an activation of 1 adds 64).
    Lava's ``AbstractPyLifModelFixed`` computes exactly this with ``du = 4095``; a stock LIF
    would also compare ``v'`` with ``vth << 6`` and reset, which an LI never does. ``decay`` in
    ``[1, 4096]``, ``bias`` the effective bias in ``v`` units (:func:`bias_effective`).
    """
    a = _i64(a)
    n_act = count_outside_signed(a, ACT_BITS)
    u = lif_current_fixed(a)
    n_fold = int(np.count_nonzero(u != np.left_shift(a, ACT_SHIFT)))
    v_new, n_clip = _charge_fixed(v, u, decay, bias)
    return LiStepFixed(v_new, n_act, n_fold, n_clip)


def lif_reset_fixed(v, spikes, vth, reset: Reset) -> np.ndarray:
    """The reset of :func:`lif_step_fixed`, given the charged voltage ``v`` and the spikes::

        hard: v = 0 where s        soft: v = v - (vth << 6) where s

    Separate so that a simulator can reset with *given* spikes (teacher forcing in the
    verification ladder); with ``s = v > vth << 6`` a soft reset keeps ``v`` in range.
    """
    v, s = _i64(v), np.asarray(spikes, dtype=bool)
    if reset == "hard":
        return np.where(s, 0, v)
    if reset == "soft":
        return np.where(s, v - np.left_shift(_i64(vth), VTH_SHIFT), v)
    raise ValueError(f"lif_step_fixed: reset must be 'soft' or 'hard', got {reset!r}")


def _charge_float(v, i, decay: float, bias) -> np.ndarray:
    """``decay · v + (i + bias)`` in the dtype of ``i`` (the LIF's ``H``, the LI's new ``v``)."""
    i = np.asarray(i)
    cur = i if bias is None else i + np.asarray(bias, dtype=i.dtype)
    return np.asarray(decay, dtype=cur.dtype) * np.asarray(v, dtype=cur.dtype) + cur


def lif_step_float(
    v, i, *, decay: float, threshold, bias=None, reset: Reset = "soft"
) -> LifStepFloat:
    """One float LIF step, the training semantics (TECHNIQUES.md section 1)::

        H = decay · V + (I + bias)
        S = H >= θ                       (Θ(0) = 1)
        soft: V = H - θ·S      hard: V = H · (1 - S)

    ``threshold`` θ a scalar for this step (``θ[t]`` indexed by the caller) or an array
    broadcasting against ``v``; ``bias`` optional, broadcasting. Computed in the dtype of
    ``v``/``i`` (float32 graphs stay float32, as torch does). Returns :class:`LifStepFloat`.
    """
    h = _charge_float(v, i, decay, bias)
    spikes = h >= np.asarray(threshold, dtype=h.dtype)
    return LifStepFloat(spikes, lif_reset_float(h, spikes, threshold, reset), h)


def cuba_lif_step_float(
    u, v, i, *, current_decay: float, decay: float, threshold, bias=None, reset: Reset = "soft"
) -> LifStepFloat:
    """One float current-based (CUBA) LIF step: a decaying synaptic current feeds the LIF::

        U = current_decay · U + I
        H = decay · V + (U + bias)       S = H >= θ
        soft: V = H - θ·S      hard: V = H · (1 - S)      (U is not reset)

    The fixed twin is :func:`cuba_lif_step_fixed`; ``current_decay = 0`` is exactly
    :func:`lif_step_float` (``0·U + I == I``). Snntorch's ``Synaptic``, Norse's ``LIFCell``,
    Rockpool's ``LIFTorch`` and NIR's ``CubaLIF`` (forward Euler, ``current_decay = 1 -
    dt/τ_syn``, ``decay = 1 - dt/τ_mem``, input gains folded into the weights) are this
    neuron. Computed in the dtype of ``i``. Returns :class:`LifStepFloat` with ``u`` set.
    """
    i = np.asarray(i)
    u_new = np.asarray(current_decay, dtype=i.dtype) * np.asarray(u, dtype=i.dtype) + i
    out = lif_step_float(v, u_new, decay=decay, threshold=threshold, bias=bias, reset=reset)
    return out._replace(u=u_new)


def li_step_float(v, i, *, decay: float, bias=None) -> np.ndarray:
    """One float leaky-integrator (LI) step: ``V = decay · V + (I + bias)``, the LIF's ``H``
    without a threshold; the output is ``V`` (graded). Norse's ``LICell``/``LIBoxCell`` and
    NIR's ``LI`` (forward Euler, ``decay = 1 - dt/τ``, the input gain folded into the weights)
    are this neuron. Computed in the dtype of ``i``."""
    return _charge_float(v, i, decay, bias)


def lif_reset_float(h, spikes, threshold, reset: Reset) -> np.ndarray:
    """The reset of :func:`lif_step_float` with given spikes ``s`` (bool): soft ``V = H -
    θ·s``, hard ``V = H·(1 - s)``, in the dtype of ``h`` (teacher forcing resets with the
    reference's spikes)."""
    h = np.asarray(h)
    s = np.asarray(spikes, dtype=bool)
    th = np.asarray(threshold, dtype=h.dtype)
    if reset == "soft":
        v_new = h - th * s
    elif reset == "hard":
        v_new = h * (~s)
    else:
        raise ValueError(f"lif_step_float: reset must be 'soft' or 'hard', got {reset!r}")
    return v_new.astype(h.dtype, copy=False)


def fast_inhibitory_fixed(h, payload_exp: int, payload_bits: int) -> Saturated:
    """The E-I circuit's inhibitory population as graded spikes (TECHNIQUES.md section 2,
    **[choice]**): each unit emits, every step, the payload::

        p = saturate_unsigned( floor(h · 2**payload_exp), payload_bits )

    ``h`` its accumulated input current (``h >= 0`` by Dale's law; a negative ``h`` is
    clipped to 0 and counted), ``payload_bits <= 24`` (Loihi 2 graded spikes). The float
    format's payload is ``h`` itself (the reference code's real-valued ``h_I``).
    """
    if not 1 <= payload_bits <= PAYLOAD_BITS_MAX:
        raise ValueError(f"payload_bits must be in [1, {PAYLOAD_BITS_MAX}], got {payload_bits}")
    raw = scale_pow2(h, payload_exp)
    return Saturated(
        saturate_unsigned(raw, payload_bits), count_outside_unsigned(raw, payload_bits)
    )


# ---------------------------------------------------------------------------------------------
# E-I circuit
# ---------------------------------------------------------------------------------------------

Stabilisation = Literal["exact", "floor"]
EIVariant = Literal["divisive", "subtractive"]


class EIStepFixed(NamedTuple):
    """One fixed-point E-I circuit step (:func:`ei_step_fixed`).

    ``current`` the E current into the LIF (activation units, 24-bit), ``payload`` the
    inhibitory graded payloads ``p``, ``numerator`` ``N`` and ``denominator`` the stabilised
    ``D`` (all ones for the subtractive variant), ``n_saturated`` saturation events (payloads,
    accumulators, current), ``n_dead`` samples whose ``D`` was all zero (``current = b_E``).
    """

    current: np.ndarray
    payload: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    n_saturated: int
    n_dead: int


class EIStepFloat(NamedTuple):
    """One float E-I circuit step: as :class:`EIStepFixed`, without payload and saturation."""

    current: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    n_dead: int


def stabilise_denominator(den, mode: Stabilisation, floor=0) -> tuple[np.ndarray, np.ndarray]:
    """E-I Prop's stabilisation of the divisive denominator ``D [B, ...]`` (any dtype).

    * ``exact`` (training semantics): where ``D == 0``, use the smallest positive ``D`` of the
      same sample (row ``b``, over all channels and pixels). A sample with no positive ``D`` is
      *dead*: its ``D`` becomes 1 (a placeholder) and the caller sets ``I = b_E`` there.
    * ``floor`` (hardware-friendly, no reduction across the layer): ``D_s = max(D, floor)``
      with a positive ``floor`` calibrated on data; never dead.

    ``D >= 0`` by Dale's law; a negative entry raises :class:`GraphError`. Returns ``(D_s,
    alive)`` with ``alive`` a bool array ``[B]``. No epsilon anywhere.
    """
    d = np.asarray(den)
    if np.any(d < 0):
        raise GraphError("E-I denominator has negative entries: Dale's law is violated")
    if mode == "floor":
        if not floor > 0:
            raise GraphError(f"E-I floor stabilisation needs a positive floor, got {floor}")
        return np.maximum(d, np.asarray(floor, dtype=d.dtype)), np.ones(d.shape[0], bool)
    if mode != "exact":
        raise GraphError(f"unknown E-I stabilisation {mode!r} (expected 'exact' or 'floor')")
    flat = d.reshape(d.shape[0], -1)
    pos = flat > 0
    alive = pos.any(axis=1)
    big = np.iinfo(d.dtype).max if d.dtype.kind in "iu" else np.inf
    smallest = np.where(pos, flat, big).min(axis=1, initial=big)
    smallest = np.where(alive, smallest, 1).astype(d.dtype)
    shape = (-1,) + (1,) * (d.ndim - 1)
    return np.where(d > 0, d, smallest.reshape(shape)), alive


def _per_unit(v, ndim: int) -> np.ndarray:
    """A per-unit vector ``[C]`` shaped to broadcast against ``[B, C, ...]`` of rank ndim."""
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


def _mix(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``W x`` over the unit axis 1 of ``x [B, in, ...]`` (1x1 mixing at every pixel)."""
    return np.moveaxis(np.tensordot(x, w, axes=([1], [1])), -1, 1)


def ei_divide_fixed(num, den, g_e, g_e_exp: int) -> np.ndarray:
    """The E-I division: ``q = trunc( g_E · N · 2**g_e_exp / D )``, exactly, toward zero.

    Widths: ``N`` signed 25-bit (difference of two 24-bit accumulators), ``g_E`` unsigned
    ``GAIN_BITS`` (16) per E unit, ``D`` positive 24-bit (already stabilised), ``g_e_exp`` in
    ``GAIN_EXP_RANGE`` ([-24, 16]). ``g_E · N`` is 41 bits signed; for ``g_e_exp >= 0`` the
    numerator is shifted left (<= 57 bits), for ``g_e_exp < 0`` the denominator is (<= 47
    bits) — nested truncating divisions by positive integers compose, so both compute the
    exact rational ``g_E N 2**g_e_exp / D`` truncated once. Inputs outside these widths raise
    :class:`OverflowBoundError` instead of overflowing int64 silently.
    """
    num, den, g = _i64(num), _i64(den), _i64(g_e)
    e_lo, e_hi = GAIN_EXP_RANGE
    if not e_lo <= g_e_exp <= e_hi:
        raise OverflowBoundError(f"E-I g_e_exp={g_e_exp} outside [{e_lo}, {e_hi}]")
    if count_outside_signed(num, ACC_BITS + 1) or count_outside_unsigned(g, GAIN_BITS):
        raise OverflowBoundError("E-I division: numerator or g_E outside its stated width")
    if count_outside_unsigned(den, ACC_BITS) or np.any(den <= 0):
        raise OverflowBoundError("E-I division: denominator not a positive 24-bit integer")
    g = _per_unit(g, num.ndim)
    prod = g * num  # 16 + 25 bits signed: 41 bits
    if g_e_exp >= 0:
        return trunc_div(np.left_shift(prod, g_e_exp), den)  # <= 57 bits
    return trunc_div(prod, np.left_shift(den, -g_e_exp))  # den <= 24 + 24 = 48 bits


class EIInhibitory(NamedTuple):
    """The E-I circuit's inhibitory population in one step (:func:`ei_inhibitory_fixed`,
    :func:`ei_inhibitory_float`): the subtractive ``payload`` ``p``, the ``divisive`` payload
    ``q`` (None without ``g_I``, i.e. for the subtractive variant) and, fixed only, the
    saturation events ``n_saturated``."""

    payload: np.ndarray
    divisive: np.ndarray | None
    n_saturated: int = 0


class EIExcitatoryFixed(NamedTuple):
    """The E-I circuit's excitatory side in one fixed-point step (:func:`ei_excitatory_fixed`):
    the fields of :class:`EIStepFixed` without the payload."""

    current: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    n_saturated: int
    n_dead: int


def ei_inhibitory_fixed(
    acc_ie, *, g_i, g_i_exp: int, payload_exp: int, payload_bits: int
) -> EIInhibitory:
    """The inhibitory half of :func:`ei_step_fixed`: the two graded payloads every inhibitory
    unit sends through ``W_EI`` (a Lava exporter runs this as the inhibitory population)::

        p = fast_inhibitory_fixed(acc_ie, payload_exp, payload_bits)   unsigned payload_bits
        q = sat_u( floor(g_I · p · 2**g_i_exp), payload_bits )         divisive payload

    ``acc_ie [B, n_I, ...]``; ``g_i [n_I]`` unsigned 16-bit (None: no ``q``, the subtractive
    variant), ``g_i_exp`` in ``GAIN_EXP_RANGE``; ``g_I · p`` is at most 40 bits.
    """
    p = fast_inhibitory_fixed(acc_ie, payload_exp, payload_bits)
    if g_i is None:
        return EIInhibitory(p.value, None, p.n_saturated)
    g_lo, g_hi = GAIN_EXP_RANGE
    if not g_lo <= g_i_exp <= g_hi:
        raise OverflowBoundError(f"E-I g_i_exp={g_i_exp} outside [{g_lo}, {g_hi}]")
    if count_outside_unsigned(g_i, GAIN_BITS):
        raise OverflowBoundError("E-I g_I outside unsigned 16 bits")
    payload = p.value
    q_raw = scale_pow2(_per_unit(_i64(g_i), payload.ndim) * payload, g_i_exp)  # <= 40 bits
    sat = p.n_saturated + count_outside_unsigned(q_raw, payload_bits)
    return EIInhibitory(payload, saturate_unsigned(q_raw, payload_bits), sat)


def ei_excitatory_fixed(
    acc_ee,
    sub_raw,
    den_raw,
    *,
    g_e,
    g_e_exp: int,
    b_e,
    variant: EIVariant,
    stabilisation: Stabilisation,
    floor: int = 0,
) -> EIExcitatoryFixed:
    """The excitatory half of :func:`ei_step_fixed`, from the E unit's three dendritic
    accumulations ``acc_ee = W_EE x``, ``sub_raw = dense_accumulate(W_EI, p, w_ei_exp)`` and
    ``den_raw = dense_accumulate(W_EI, q, w_ei_exp)`` (None for the subtractive variant)::

        N   = sat_s(acc_ee, 24) - sat_s(sub_raw, 24)                     signed 25-bit
        subtractive (readout variant):  current = N
        divisive:  D_s, alive = stabilise_denominator(sat_s(den_raw, 24), stabilisation, floor)
                   current = sat_s( where(alive, ei_divide_fixed(N, D_s, g_E, g_e_exp), 0)
                                    + b_E, 24 )

    A Lava exporter runs this as the excitatory population's process.
    """
    sub_raw = _i64(sub_raw)
    sat = count_outside_signed(sub_raw, ACC_BITS)
    sub = saturate_signed(sub_raw, ACC_BITS)
    ee = _i64(acc_ee)
    sat += count_outside_signed(ee, ACC_BITS)
    num = saturate_signed(ee, ACC_BITS) - sub
    if variant == "subtractive":
        return EIExcitatoryFixed(num, num, np.ones_like(num), sat, 0)
    if variant != "divisive":
        raise GraphError(f"unknown E-I variant {variant!r}")
    if den_raw is None:
        raise GraphError("the divisive E-I variant needs the divisive accumulation (g_I)")
    d_raw = _i64(den_raw)
    sat += count_outside_signed(d_raw, ACC_BITS)
    den, alive = stabilise_denominator(saturate_signed(d_raw, ACC_BITS), stabilisation, floor)
    ratio = ei_divide_fixed(num, den, g_e, g_e_exp)
    alive_b = alive.reshape((-1,) + (1,) * (num.ndim - 1))
    cur_raw = np.where(alive_b, ratio, 0) + _per_unit(_i64(b_e), num.ndim)
    sat += count_outside_signed(cur_raw, ACC_BITS)
    current = saturate_signed(cur_raw, ACC_BITS)
    return EIExcitatoryFixed(current, num, den, sat, int(np.count_nonzero(~alive)))


def ei_step_fixed(
    acc_ee,
    acc_ie,
    *,
    w_ei,
    w_ei_exp: int,
    g_i,
    g_i_exp: int,
    g_e,
    g_e_exp: int,
    b_e,
    payload_exp: int,
    payload_bits: int,
    variant: EIVariant,
    stabilisation: Stabilisation,
    floor: int = 0,
) -> EIStepFixed:
    """One fixed-point step of an E-I circuit, given its two input accumulations.

    ``acc_ee = W_EE x`` and ``acc_ie = W_IE x`` ``[B, n_E|n_I, ...]`` come from
    :func:`dense_accumulate`/:func:`conv_accumulate` with the circuit's ``w_ee_exp``,
    ``w_ie_exp``. Then, every intermediate with its width::

        p   = fast_inhibitory_fixed(acc_ie, payload_exp, payload_bits)   unsigned payload_bits
        q   = sat_u( floor(g_I · p · 2**g_i_exp), payload_bits )         divisive payload
        sub = sat_s( floor((W_EI p) · 2**w_ei_exp), 24 )                 >= 0
        D   = sat_s( floor((W_EI q) · 2**w_ei_exp), 24 )                 >= 0
        N   = sat_s(acc_ee, 24) - sub                                    signed 25-bit
        subtractive (readout variant):  current = N
        divisive:  D_s, alive = stabilise_denominator(D, stabilisation, floor)
                   current = sat_s( where(alive, ei_divide_fixed(N, D_s, g_E, g_e_exp), 0)
                                    + b_E, 24 )

    ``W_EI [n_E, n_I]`` non-negative raw 8-bit mantissas (single-signed, so the full range
    [0, 255] survives Lava's Dense truncation), ``g_I [n_I]``, ``g_E [n_E]`` unsigned 16-bit,
    ``b_E [n_E]`` signed 24-bit in activation units; per-unit vectors broadcast over pixels
    (conv form). ``W_EI p`` contracts the channel axis (1x1 mixing at every pixel). In
    hardware terms the inhibitory unit sends two graded payloads (``p`` and ``q``) through the
    same ``W_EI`` to two dendritic accumulators of the E unit, which divides once per step.
    """
    inh = ei_inhibitory_fixed(
        acc_ie,
        g_i=None if variant == "subtractive" else g_i,  # the subtractive variant has no gains
        g_i_exp=g_i_exp,
        payload_exp=payload_exp,
        payload_bits=payload_bits,
    )
    sub_raw = dense_accumulate(w_ei, inh.payload, w_ei_exp)
    den_raw = None if inh.divisive is None else dense_accumulate(w_ei, inh.divisive, w_ei_exp)
    exc = ei_excitatory_fixed(
        acc_ee, sub_raw, den_raw, g_e=g_e, g_e_exp=g_e_exp, b_e=b_e, variant=variant,
        stabilisation=stabilisation, floor=floor,
    )  # fmt: skip
    sat = inh.n_saturated + exc.n_saturated
    return EIStepFixed(exc.current, inh.payload, exc.numerator, exc.denominator, sat, exc.n_dead)


def ei_step_float(
    i_ee,
    h_i,
    *,
    w_ei,
    g_i,
    g_e,
    b_e,
    variant: EIVariant,
    stabilisation: Stabilisation,
    floor: float = 0.0,
) -> EIStepFloat:
    """One float E-I circuit step, the training semantics (TECHNIQUES.md section 2)::

        I_sub = W_EI h_I                 D = W_EI (g_I ⊙ h_I)
        subtractive (readout variant):  current = I_EE - I_sub
        divisive:  D_s, alive = stabilise_denominator(D, stabilisation, floor)
                   current = where(alive, g_E ⊙ (I_EE - I_sub) / D_s, 0) + b_E

    ``i_ee = W_EE x`` and ``h_i = W_IE x`` ``[B, n_E|n_I, ...]``; per-unit vectors broadcast
    over pixels; computed in the inputs' dtype, in the order written (as ``models.ei``).
    """
    i_ee, h_i = np.asarray(i_ee), np.asarray(h_i)
    w = np.asarray(w_ei, dtype=h_i.dtype)
    inh = ei_inhibitory_float(h_i, g_i if variant == "divisive" else None)
    i_sub = _mix(w, inh.payload)
    d = None if inh.divisive is None else _mix(w, inh.divisive)
    return ei_excitatory_float(
        i_ee, i_sub, d, g_e=g_e, b_e=b_e, variant=variant, stabilisation=stabilisation,
        floor=floor,
    )  # fmt: skip


def ei_inhibitory_float(h_i, g_i) -> EIInhibitory:
    """The inhibitory half of :func:`ei_step_float`: ``payload = h_I`` (real-valued, as in
    training) and ``divisive = g_I ⊙ h_I`` (None when ``g_i`` is None), in ``h_I``'s dtype."""
    h_i = np.asarray(h_i)
    if g_i is None:
        return EIInhibitory(h_i, None)
    return EIInhibitory(h_i, _per_unit(g_i, h_i.ndim).astype(h_i.dtype) * h_i)


def ei_excitatory_float(
    i_ee,
    i_sub,
    d,
    *,
    g_e,
    b_e,
    variant: EIVariant,
    stabilisation: Stabilisation,
    floor: float = 0.0,
) -> EIStepFloat:
    """The excitatory half of :func:`ei_step_float`, from ``I_EE``, ``I_sub = W_EI h_I`` and
    ``D = W_EI (g_I ⊙ h_I)`` (None for the subtractive variant)::

        subtractive:  current = I_EE - I_sub
        divisive:     D_s, alive = stabilise_denominator(D, stabilisation, floor)
                      current = where(alive, g_E ⊙ (I_EE - I_sub) / D_s, 0) + b_E
    """
    i_ee, i_sub = np.asarray(i_ee), np.asarray(i_sub)
    num = i_ee - i_sub
    if variant == "subtractive":
        return EIStepFloat(num, num, np.ones_like(num), 0)
    if variant != "divisive":
        raise GraphError(f"unknown E-I variant {variant!r}")
    if d is None:
        raise GraphError("the divisive E-I variant needs the divisive accumulation (g_I)")
    nd = num.ndim
    den, alive = stabilise_denominator(np.asarray(d), stabilisation, floor)
    ratio = _per_unit(g_e, nd).astype(num.dtype) * num / den
    alive_b = alive.reshape((-1,) + (1,) * (nd - 1))
    current = np.where(alive_b, ratio, 0).astype(num.dtype) + _per_unit(b_e, nd).astype(num.dtype)
    return EIStepFloat(current, num, den, int(np.count_nonzero(~alive)))


# ---------------------------------------------------------------------------------------------
# Readout
# ---------------------------------------------------------------------------------------------


def readout_accumulate(total, current) -> Saturated:
    """The readout's running sum over time: ``total' = sat_s(total + current, 32)``.

    The readout is a non-spiking accumulator of the last layer's current; the prediction is
    ``argmax`` of the final total (ties: the lowest index, numpy's ``argmax``). The float
    format sums in the current's dtype without saturation.
    """
    raw = _i64(total) + _i64(current)
    return Saturated(saturate_signed(raw, READOUT_BITS), count_outside_signed(raw, READOUT_BITS))


# ---------------------------------------------------------------------------------------------
# The generated specification (docs/numeric-spec.md)
# ---------------------------------------------------------------------------------------------


def spec_markdown() -> str:
    """``docs/numeric-spec.md``: this module's docstring, its constants and every public
    function's and class's docstring, in source order."""
    mod = sys.modules[__name__]
    out = [
        "# Numeric specification",
        "",
        "<!-- Generated by `python -m hwsim.arith --markdown > docs/numeric-spec.md`; "
        "do not edit by hand (tests/hwsim/test_arith.py checks it is up to date). -->",
        "",
        inspect.cleandoc(mod.__doc__ or ""),
        "",
        "## Widths and constants",
        "",
        "| name | value |",
        "| --- | --- |",
    ]
    for name in __all__:
        val = getattr(mod, name)
        if isinstance(val, (int, tuple)) and not isinstance(val, bool):
            out.append(f"| `{name}` | `{val}` |")
    out.append("")
    for name in __all__:
        obj = getattr(mod, name)
        if name == "spec_markdown" or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if inspect.isfunction(obj):
            head = f"### `{name}{inspect.signature(obj)}`"
        else:
            head = f"### class `{name}`"
        out += [head, "", inspect.cleandoc(obj.__doc__ or ""), ""]
    return "\n".join(out).rstrip() + "\n"


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hwsim.arith", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--markdown", action="store_true", help="print docs/numeric-spec.md")
    args = parser.parse_args(argv)
    if not args.markdown:
        parser.print_help()
        return 2
    sys.stdout.write(spec_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
