"""Quantisation of an E-I circuit (TECHNIQUES.md section 2, ``hwsim.arith.ei_step_fixed``).

Scales (real value of one integer unit), chosen in this order, each from a static worst case
over the circuit's input range so that no intermediate saturates:

* ``s_ie``: ``W_IE`` on its full excitatory grid (Dale: single-signed, all 8 bits);
  ``acc_ie = W_IE x`` exact (``w_ie_exp = 0``, lowered only if a dense sum would leave 32
  bits);
* payload ``p = floor(acc_ie · 2**payload_exp)``: the largest ``payload_exp <= 0`` whose worst
  case fits ``payload_bits``; ``s_p = s_ie · 2**-payload_exp``;
* ``s_ee``: ``W_EE`` on its full grid, ``w_ee_exp`` the largest exponent whose worst cases
  of ``acc_ee`` and of ``sub = W_EI p`` fit 24 bits; ``W_EI`` in units ``s_ee/s_p`` (``N =
  acc_ee - sub`` must be in one unit), its exponent picked by ``hwsim.arith.quantize_weights``.
  A positive ``w_ee_exp`` only shifts the exact sum left, and the finer ``s_ee`` keeps
  ``W_EI``'s exponent off the bottom of its range (where its mantissas would lose bits);
* ``s_q``: the divisive payload ``q = floor(g_I p 2**g_i_exp)`` uses all of ``payload_bits``
  at its worst case, and is coarsened until ``D = W_EI q`` fits 24 bits; ``s_D = s_ee s_q/s_p``;
* given the layer scale ``s_a`` (the LIF's): ``g_E`` in units ``s_p/(s_q s_a)`` (16-bit
  mantissa and exponent), ``b_E = rint(b_E/s_a)``, ``floor = rint(floor/s_D)``.

The divisive current ``g_E N / D`` has no finite worst case (``D`` can be one unit): its
bound is calibrated (:class:`Check` mode ``calibrated``) and its saturations are counted on
the calibration data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from hwsim import arith
from hwsim.errors import QuantizationError
from hwsim.graph import EICircuit, FastInhibitory
from toolchain.quantize.checks import Check
from toolchain.quantize.ranges import (
    TensorError,
    acc_bounds,
    grid_scale,
    quantize_unsigned,
    tensor_error,
)

__all__ = ["EIPlan", "plan_ei", "finish_ei"]

ACC_MAX = (1 << (arith.ACC_BITS - 1)) - 1


@dataclass
class EIPlan:
    """The part of an E-I circuit's quantisation that does not depend on the layer scale."""

    fields: dict
    s_ee: float
    s_p: float
    s_q: float
    n_lo: np.ndarray  # worst-case numerator N = acc_ee - sub per E unit
    n_hi: np.ndarray
    checks: list[Check] = field(default_factory=list)
    tensors: dict[str, TensorError] = field(default_factory=dict)

    @property
    def s_d(self) -> float:
        return self.s_ee * self.s_q / self.s_p


def _conv(node: EICircuit) -> bool:
    return node.form == "conv"


def _mix_hi(m_ei: np.ndarray, p_hi: np.ndarray, exp: int) -> np.ndarray:
    """Worst case of ``floor((W_EI p) 2**exp)`` per E unit for ``0 <= p <= p_hi``."""
    return arith.scale_pow2(np.asarray(m_ei, np.int64) @ np.asarray(p_hi, np.int64), exp)


def _weights(name: str, w: np.ndarray, unit: float, bits: int, exp: int | None):
    """``w`` (real) quantised in units ``unit`` per mantissa step; with its error report."""
    q = arith.quantize_weights(w / unit, bits, weight_exp=exp)
    grid = arith.weight_grid(q.sign_mode, bits)
    real_unit = unit * 2.0**q.weight_exp
    err = tensor_error(w, q.mantissa * real_unit, grid.step * real_unit, q.n_clipped)
    if q.n_clipped:
        raise QuantizationError(
            f"{name}: {q.n_clipped} entries clip at every weight exponent; the scales of this "
            "E-I circuit are out of the fixed format's range"
        )
    return q, err


def plan_ei(
    name: str,
    node: EICircuit,
    s_in: float,
    in_lo: int,
    in_hi: int,
    weight_bits: int,
    payload_bits: int,
) -> EIPlan:
    """Choose every scale of ``node`` that is independent of the layer scale (module
    docstring). ``s_in``, ``[in_lo, in_hi]``: the scale and integer range of its input."""
    checks: list[Check] = []
    tensors: dict[str, TensorError] = {}
    conv = _conv(node)
    w_ee, w_ie = np.asarray(node.w_ee, np.float64), np.asarray(node.w_ie, np.float64)
    u_ee = s_in * (grid_scale(w_ee, weight_bits) or 1.0)
    u_ie = s_in * (grid_scale(w_ie, weight_bits) or 1.0)

    # inhibitory synapses and payload
    e_ie, wrap = 0, (1 << 31) - 1
    while True:
        q_ie, err = _weights(f"{name}.w_ie", w_ie, u_ie * 2.0**-e_ie / s_in, weight_bits, e_ie)
        ie_lo, ie_hi = acc_bounds(q_ie.mantissa, in_lo, in_hi)
        post_hi = arith.scale_pow2(ie_hi, e_ie)
        if conv or post_hi.max(initial=0) <= wrap or e_ie == arith.WEIGHT_EXP_RANGE[0]:
            break
        e_ie -= 1
    tensors[f"{name}/w_ie"] = err
    if conv:
        checks.append(Check("acc_ie", int(max(-ie_lo.min(), ie_hi.max())), ACC_MAX, "24-bit"))
    s_ie = u_ie * 2.0**-e_ie
    ie_lo, ie_hi = arith.scale_pow2(ie_lo, e_ie), arith.scale_pow2(ie_hi, e_ie)
    p_top = (1 << payload_bits) - 1
    top = int(ie_hi.max(initial=0))
    pe = 0 if top <= p_top else -math.ceil(math.log2(top / p_top))
    while pe > arith.PAYLOAD_EXP_RANGE[0] and int(arith.scale_pow2(top, pe)) > p_top:
        pe -= 1
    if pe < arith.PAYLOAD_EXP_RANGE[0]:
        raise QuantizationError(f"{name}: inhibitory payload exponent {pe} below the range")
    p_hi = np.maximum(arith.scale_pow2(ie_hi, pe), 0)
    p_lo = arith.scale_pow2(ie_lo, pe)
    checks.append(Check("payload", int(p_hi.max(initial=0)), p_top, f"{payload_bits}-bit"))
    if p_lo.min(initial=0) < 0:  # a negative h_I clips to 0 in fixed, stays in float
        checks.append(Check("payload_sign", int(-p_lo.min()), 0, "unsigned (h_I >= 0)"))
    s_p = s_ie * 2.0**-pe

    # excitatory synapses and W_EI (sharing the unit s_ee), largest exponent that fits
    w_ei = np.asarray(node.w_ei, np.float64)
    for e_ee in range(arith.WEIGHT_EXP_RANGE[1], arith.WEIGHT_EXP_RANGE[0] - 1, -1):
        s_ee = u_ee * 2.0**-e_ee
        q_ee, err_ee = _weights(f"{name}.w_ee", w_ee, s_ee / s_in, weight_bits, e_ee)
        ee_lo, ee_hi = acc_bounds(q_ee.mantissa, in_lo, in_hi)
        q_ei, err_ei = _weights(f"{name}.w_ei", w_ei, s_ee / s_p, weight_bits, None)
        sub_hi = _mix_hi(q_ei.mantissa, p_hi, q_ei.weight_exp)
        post_lo, post_hi = arith.scale_pow2(ee_lo, e_ee), arith.scale_pow2(ee_hi, e_ee)
        local = [
            Check("acc_ee", int(max(-post_lo.min(), post_hi.max())), ACC_MAX, "24-bit"),
            Check("sub", int(sub_hi.max(initial=0)), ACC_MAX, "24-bit"),
        ]
        if all(c.ok for c in local):
            break
    if conv:
        checks.append(Check("acc_ee_sum", int(max(-ee_lo.min(), ee_hi.max())), ACC_MAX, "24-bit"))
    checks += local
    tensors[f"{name}/w_ee"], tensors[f"{name}/w_ei"] = err_ee, err_ei
    fields = dict(
        w_ee=q_ee.mantissa,
        w_ie=q_ie.mantissa,
        w_ei=q_ei.mantissa,
        inhibitory=FastInhibitory(payload_exp=int(pe)),
        w_ee_exp=int(q_ee.weight_exp),
        w_ie_exp=int(q_ie.weight_exp),
        w_ei_exp=int(q_ei.weight_exp),
    )
    plan = EIPlan(fields, s_ee, s_p, s_p, post_lo - sub_hi, post_hi, checks, tensors)
    if node.variant == "divisive":
        _plan_divisive(name, node, plan, p_hi, q_ei, payload_bits)
    return plan


def _plan_divisive(name, node, plan: EIPlan, p_hi, q_ei, payload_bits: int) -> None:
    g_i = np.asarray(node.g_i, np.float64)
    p_top = (1 << payload_bits) - 1
    peak = float(np.max(g_i * p_hi * plan.s_p, initial=0.0))
    s_q = peak / p_top if peak > 0 else plan.s_p
    for _ in range(64):
        g = quantize_unsigned(g_i * plan.s_p / s_q, arith.GAIN_BITS, arith.GAIN_EXP_RANGE)
        q_hi = arith.scale_pow2(g.mantissa * p_hi, g.exp)
        d_hi = _mix_hi(q_ei.mantissa, q_hi, q_ei.weight_exp)
        over = max(q_hi.max(initial=0) / p_top, d_hi.max(initial=0) / ACC_MAX)
        if over <= 1 and not g.n_clipped:
            break
        s_q *= max(over, 1.0) * (1 + 2.0**-10)
    else:  # pragma: no cover - the loop converges in a few rounds
        raise QuantizationError(f"{name}: no scale of the divisive payload fits its widths")
    plan.s_q = s_q
    plan.fields.update(g_i=g.mantissa, g_i_exp=int(g.exp))
    unit = 2.0**g.exp * s_q / plan.s_p
    plan.tensors[f"{name}/g_i"] = tensor_error(g_i, g.mantissa * unit, unit, g.n_clipped)
    plan.checks += [
        Check("q", int(q_hi.max(initial=0)), p_top, f"{payload_bits}-bit"),
        Check("den", int(d_hi.max(initial=0)), ACC_MAX, "24-bit"),
    ]


def finish_ei(
    name: str, node: EICircuit, plan: EIPlan, s_a: float | None
) -> tuple[EICircuit, list[str]]:
    """The fixed node given the layer scale ``s_a`` (None for the subtractive readout
    variant, whose output unit is ``s_ee``): ``g_E``, ``b_E`` and the floor. Returns the node
    and the hard problems (values that cannot be represented at this ``s_a``)."""
    f = dict(plan.fields)
    problems: list[str] = []
    if node.variant == "divisive":
        g_e = np.asarray(node.g_e, np.float64)
        g = quantize_unsigned(
            g_e * plan.s_p / (plan.s_q * s_a), arith.GAIN_BITS, arith.GAIN_EXP_RANGE
        )
        unit = 2.0**g.exp * plan.s_q * s_a / plan.s_p
        plan.tensors[f"{name}/g_e"] = tensor_error(g_e, g.mantissa * unit, unit, g.n_clipped)
        b_e = np.asarray(node.b_e, np.float64)
        b = np.rint(b_e / s_a).astype(np.int64)
        plan.tensors[f"{name}/b_e"] = tensor_error(b_e, b * s_a, s_a)
        if g.n_clipped:
            problems.append(f"g_E clips ({g.n_clipped} entries)")
        if np.abs(b).max(initial=0) > ACC_MAX:
            problems.append("b_E exceeds 24 bits")
        f.update(g_e=g.mantissa, g_e_exp=int(g.exp), b_e=b)
    if node.stabilisation == "floor":
        fl = max(1, int(np.rint(float(node.floor) / plan.s_d)))
        plan.tensors[f"{name}/floor"] = tensor_error(node.floor, fl * plan.s_d, plan.s_d)
        if fl > ACC_MAX:
            problems.append("floor exceeds 24 bits")
        f["floor"] = fl
    else:
        f["floor"] = 0
    fixed = dataclasses.replace(
        node,
        variant=node.variant,
        stabilisation=node.stabilisation,
        **f,
    )
    return fixed, problems
