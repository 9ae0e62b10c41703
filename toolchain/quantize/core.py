"""Float hardware graph -> fixed-point hardware graph (DESIGN.md section 4, ``hwsim.arith``).

A *layer* is a neuron node (LIF, CubaLIF, LI or Readout) with its synapse predecessors (Dense,
Conv2d, EICircuit). Its weights, biases and thresholds share one scale ``s_a``, the real value
of one activation unit of the synapse outputs (the voltage of a LIF, CubaLIF or LI and a
CubaLIF's current are in ``s_a / 64``):

* weights: ``W · s_in / s_a`` on Lava's weight grid (``hwsim.arith.quantize_weights``: the
  sign mode decides the grid, so Dale-signed E-I matrices get the full 8-bit range and
  mixed-sign ones even values), with the layer's ``weight_exp``. The first synapse's
  mantissas span the whole grid (``s_a = grid_scale(W) · s_in · 2**-weight_exp``);
* thresholds ``vth = rint(θ/s_a - 1/64)`` (the fixed neuron spikes on ``v > vth << 6``),
  per step for OTS schedules; decay ``4096 - rint((1-a)·4096)``; a CubaLIF's current decay
  ``min(rint(c·4096), 4095)`` (Lava's ``4095 - du``);
* biases: a synapse bias feeding a LIF or LI moves into the neuron's 13-bit ``bias_mant``
  (``v`` units, ``2**bias_exp`` resolution: 64 times finer than the activation unit; exact,
  their current does not persist); a synapse feeding a CubaLIF (the bias enters the decaying
  current, not the membrane) or the Readout keeps its bias in activation units;
* an LI's output is its membrane (``v`` units, scale ``s_a / 64``); the Readout it feeds sums
  it at that scale (every input of such a Readout must be an LI, at one scale);
* pools: ``AvgPool2d`` becomes ``SumPool2d`` and its ``1/(kh·kw)`` goes into the value scale
  of the pooled counts, hence into the next synapse's weights (``W · s_in``);
* E-I circuits: :mod:`toolchain.quantize.ei`.

``weight_exp`` is chosen per layer: the largest exponent (finest activation unit) at which
every static worst-case bound fits its width (:mod:`toolchain.quantize.ranges`), capped at 0
(an exact accumulation) unless the threshold would get fewer than ``VTH_TARGET`` units. When
no exponent fits, :class:`OverflowBoundError` names the layer, unless
``allow_saturation=True``: then the bounds are the calibration maxima times ``margin`` and the
saturations on the calibration data are counted and reported.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from hwsim import arith
from hwsim.errors import OverflowBoundError, QuantizationError
from hwsim.graph import (
    LI,
    LIF,
    Add,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    EICircuit,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
    latency,
)
from toolchain.fold.rules import LIMITS, check_design_rules
from toolchain.quantize.calib import float_ranges, saturation_counts
from toolchain.quantize.checks import Check
from toolchain.quantize.ei import EIPlan, finish_ei, plan_ei
from toolchain.quantize.ranges import (
    TensorError,
    acc_bounds,
    grid_scale,
    membrane_bounds,
    quantize_current_decay,
    quantize_decay,
    quantize_lif_bias,
    quantize_threshold,
    tensor_error,
)

__all__ = ["QuantResult", "quantize", "VTH_TARGET", "DEFAULT_MARGIN"]

VTH_TARGET = 1024  # raise weight_exp above 0 only until the smallest threshold has this many units
DEFAULT_MARGIN = 2.0  # calibrated bounds: calibration maximum times this
ACC_MAX = (1 << (arith.ACC_BITS - 1)) - 1
ACT_MAX = (1 << (arith.ACT_BITS - 1)) - 1
VTH_MAX = (1 << arith.VTH_BITS) - 1
READOUT_MAX = (1 << (arith.READOUT_BITS - 1)) - 1
SYNAPSES = (Dense, Conv2d, EICircuit)
SPIKING = (LIF, CubaLIF)  # neurons with a threshold
MEMBRANES = (LIF, CubaLIF, LI)  # neurons with a membrane v (in s_a / 64)
LAYERS = (*MEMBRANES, Readout)  # the neurons a synapse may feed


@dataclass(frozen=True)
class QuantResult:
    """A quantised graph (``format="fixed"``), the per-tensor ``report`` (scale, clip
    fraction, rounding error rms/max) with per-layer choices, and the ``overflow`` analysis
    (static or calibrated bound of every accumulator/state against its width, saturation
    counts on the calibration data)."""

    graph: HardwareGraph
    report: dict
    overflow: dict

    def to_dict(self) -> dict:
        return {"report": self.report, "overflow": self.overflow}


@dataclass
class _Plan:
    """One candidate quantisation of a layer at scale ``s_a``."""

    s_a: float
    exp: int | None
    nodes: dict = field(default_factory=dict)
    checks: dict[str, list[Check]] = field(default_factory=dict)
    tensors: dict[str, TensorError] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    hard: list[str] = field(default_factory=list)
    policy: str = "static"

    def failing(self) -> list[tuple[str, Check]]:
        """Checks that must hold under this plan's policy and do not."""
        skip = "static" if self.policy == "calibrated" else None
        return [(n, c) for n, cs in self.checks.items() for c in cs if c.mode != skip and not c.ok]


def _bias_vector(shape: tuple[int, ...], b) -> np.ndarray:
    """A synapse/LIF bias as an array broadcasting against the population ``shape``:
    per-channel ``[C]`` becomes ``[C, 1, 1]``."""
    b = np.asarray(b, np.float64)
    if b.ndim == 1 and len(shape) > 1:
        return b.reshape((-1,) + (1,) * (len(shape) - 1))
    return b


def _compact_bias(shape: tuple[int, ...], b: np.ndarray) -> np.ndarray:
    """Back to a LIF bias field: ``()``, per channel ``[C]`` or the population's shape."""
    if b.ndim == 0 or b.shape == shape:
        return b
    if len(shape) > 1 and b.shape == (shape[0],) + (1,) * (len(shape) - 1):
        return b.reshape(-1)
    return np.broadcast_to(b, shape).copy()


class _Quantizer:
    def __init__(self, g, x, stats, widths, allow, margin, limits):
        self.g, self.x, self.stats, self.w = g, x, stats, widths
        self.limits = limits
        self.allow, self.margin = allow, float(margin)
        self.scale: dict[str, float] = {}
        self.rng: dict[str, tuple[int, int]] = {}
        self.fixed: dict = {}
        self.checks: dict[str, list[Check]] = {}
        self.policy: dict[str, str] = {}
        self.tensors: dict[str, TensorError] = {}
        self.layers: dict[str, dict] = {}
        self.meta_scales: dict[str, float] = {}
        offs: dict[str, int] = {}
        for n in g.topological_order():  # lava timing lasts T + depth steps: bound those too
            prev = max((offs[p] for p in g.predecessors(n)), default=0)
            offs[n] = prev + latency(g.nodes[n], "lava")
        self.steps = g.metadata.T + max(offs.values())

    # -- walk --------------------------------------------------------------------------------
    def run(self) -> None:
        for name in self.g.topological_order():
            node = self.g.nodes[name]
            if isinstance(node, SYNAPSES):
                self._check_synapse(name)
                continue
            handler = {
                Input: self._input,
                Flatten: self._pass,
                Delay: self._pass,
                AvgPool2d: self._pool,
                SumPool2d: self._pool,
                Add: self._add,
                LIF: self._layer,
                CubaLIF: self._layer,
                LI: self._layer,
                Readout: self._layer,
            }.get(type(node))
            if handler is None:
                raise QuantizationError(f"node {name!r}: the quantiser has no rule for {node.kind}")
            handler(name, node)

    def _check_synapse(self, name: str) -> None:
        succ = self.g.successors(name)
        if len(succ) != 1 or not isinstance(self.g.nodes[succ[0]], LAYERS):
            raise QuantizationError(
                f"synapse {name!r} feeds {succ}; the fixed format needs every synapse to feed "
                "exactly one LIF, CubaLIF, LI or Readout (its layer)"
            )

    def _input(self, name: str, node: Input) -> None:
        if node.encoding != "direct":
            self.fixed[name], self.scale[name], self.rng[name] = node, 1.0, (0, 1)
            return
        x = np.asarray(self.x, np.float64)
        top = (1 << (self.w.input_bits - 1)) - 1
        peak = float(np.abs(x).max(initial=0.0))
        s = peak / top if peak > 0 else 1.0
        q = arith.quantize_input(x, s, self.w.input_bits)
        self.tensors[f"{name}/x"] = tensor_error(x, q * s, s)
        lo = min(int(q.min(initial=0)), 0)
        self.fixed[name] = dataclasses.replace(node, scale=s)
        self.scale[name], self.rng[name] = s, (lo, int(q.max(initial=0)))
        self.meta_scales[name] = s

    def _pass(self, name: str, node) -> None:
        (p,) = self.g.predecessors(name)
        self.fixed[name], self.scale[name], self.rng[name] = node, self.scale[p], self.rng[p]

    def _pool(self, name: str, node: SumPool2d) -> None:
        (p,) = self.g.predecessors(name)
        k = node.kernel[0] * node.kernel[1]
        avg = isinstance(node, AvgPool2d)
        # the pooled count is exact; an average's 1/k lives in the value scale, so the next
        # synapse's weights (W · s_in) absorb it
        self.fixed[name] = SumPool2d(node.kernel, node.stride) if avg else node
        self.scale[name] = self.scale[p] / k if avg else self.scale[p]
        lo, hi = self.rng[p]
        self.rng[name] = (k * lo, k * hi)
        self.meta_scales[name] = self.scale[name]

    def _add(self, name: str, node: Add) -> None:
        preds = self.g.predecessors(name)
        scales = {self.scale[p] for p in preds}
        if max(scales) > min(scales) * (1 + 1e-12):
            raise QuantizationError(
                f"Add {name!r}: its inputs have different scales {sorted(scales)}; the fixed "
                "format adds integers of one scale"
            )
        self.fixed[name], self.scale[name] = node, self.scale[preds[0]]
        self.rng[name] = (sum(self.rng[p][0] for p in preds), sum(self.rng[p][1] for p in preds))

    # -- layers ------------------------------------------------------------------------------
    def _layer(self, name: str, node: LIF | CubaLIF | LI | Readout) -> None:
        preds = self.g.predecessors(name)
        if isinstance(node, Readout) and all(isinstance(self.g.nodes[p], LI) for p in preds):
            self._li_readout(name, node, preds)
            return
        if isinstance(node, LI):
            succ = self.g.successors(name)
            others = [s for s in succ if not isinstance(self.g.nodes[s], Readout)]
            if others:
                raise QuantizationError(
                    f"LI {name!r} feeds {others}; the fixed format sends an LI's graded 24-bit "
                    "membrane to a Readout only"
                )
        bad = [p for p in preds if not isinstance(self.g.nodes[p], SYNAPSES)]
        if bad:
            raise QuantizationError(
                f"{node.kind} {name!r}: input {bad[0]!r} is no synapse; the fixed format feeds "
                "neurons through Dense/Conv2d/EICircuit only"
            )
        eis = {}
        for p in preds:
            pn = self.g.nodes[p]
            if isinstance(pn, EICircuit):
                src = self.g.predecessors(p)[0]
                lo, hi = self.rng[src]
                eis[p] = plan_ei(
                    p, pn, self.scale[src], lo, hi, self.w.weight_bits, self.w.payload_bits
                )
        plan = self._choose(name, node, preds, eis)
        self.fixed.update(plan.nodes)
        self.checks.update(plan.checks)
        self.tensors.update(plan.tensors)
        for n in plan.checks:
            self.policy[n] = plan.policy
        self.layers[name] = dict(plan.info, scale=plan.s_a, policy=plan.policy)
        v_scale = plan.s_a / 64
        out_scale = {LIF: 1.0, CubaLIF: 1.0, LI: v_scale}.get(type(node), plan.s_a)
        self.scale[name], self.rng[name] = out_scale, plan.info.get("v_range", (0, 1))
        self.meta_scales[name] = out_scale
        for p in preds:
            self.scale[p] = self.meta_scales[p] = plan.s_a
            if p in eis:
                self.meta_scales[f"{p}/payload"] = eis[p].s_p
                self.meta_scales[f"{p}/ee"] = eis[p].s_ee
                if self.g.nodes[p].variant == "divisive":
                    self.meta_scales[f"{p}/den"] = eis[p].s_d
        if isinstance(node, MEMBRANES):
            self.meta_scales[f"{name}/v"] = v_scale
        if isinstance(node, CubaLIF):
            self.meta_scales[f"{name}/u"] = v_scale

    def _li_readout(self, name: str, node: Readout, preds: list[str]) -> None:
        """A Readout fed by LI nodes: it sums their membranes at the LIs' common scale. The
        32-bit sum is checked against the LIs' voltage bounds (static, or calibrated when an
        LI was scaled on calibration data) times ``T``."""
        scales = {self.scale[p] for p in preds}
        if max(scales) > min(scales) * (1 + 1e-12):
            raise QuantizationError(
                f"Readout {name!r}: its LI inputs have different scales {sorted(scales)}; the "
                "fixed format sums integers of one scale"
            )
        s, T = self.scale[preds[0]], self.g.metadata.T
        bound = sum(max(-self.rng[p][0], self.rng[p][1]) for p in preds) * T
        calibrated = any(self.policy.get(p) == "calibrated" for p in preds)
        mode = "calibrated" if calibrated else "static"
        if calibrated:
            bound = math.ceil(self.stats[name]["i_max"] * self.margin / s) * T
        check = Check("sum", bound, READOUT_MAX, "32-bit", mode)
        if not check.ok and not self.allow:
            raise OverflowBoundError(
                f"Readout {name!r}: the sum over T={T} steps of its LI membranes can overflow: "
                f"{check.describe()}; pass --allow-saturation (allow_saturation=True) to count "
                "saturations instead"
            )
        self.fixed[name], self.checks[name], self.policy[name] = node, [check], mode
        self.scale[name], self.rng[name] = s, (0, 1)
        self.meta_scales[name] = s
        self.layers[name] = {"scale": s, "policy": mode, "inputs": "LI membranes"}

    def _candidates(self, name, node, preds, eis) -> list[tuple[int | None, float]]:
        """Scales ``s_a`` to try, finest first (see the module docstring)."""
        lead = next((p for p in preds if isinstance(self.g.nodes[p], (Dense, Conv2d))), None)
        pinned = {eis[p].s_ee for p in eis if self.g.nodes[p].variant == "subtractive"}
        if pinned:
            if len(pinned) > 1:
                raise QuantizationError(f"{name!r}: inputs of different fixed scales")
            return [(None, pinned.pop())]
        spiking = isinstance(node, SPIKING)
        if lead is not None:
            src = self.g.predecessors(lead)[0]
            u0 = self.scale[src] * (grid_scale(self.g.nodes[lead].weight, self.w.weight_bits) or 1)
            e_cap = 0
            if spiking:
                units = float(np.min(node.threshold)) / u0
                if units < VTH_TARGET:
                    e_cap = min(arith.WEIGHT_EXP_RANGE[1], math.ceil(math.log2(VTH_TARGET / units)))
            if isinstance(self.g.nodes[lead], Conv2d) and self.limits.conv_weight_exp_zero:
                return [(0, u0)]  # the target's Conv ignores weight_exp
            if self.limits.weight_exp_zero:
                return [(0, u0)]  # NetX: the weights act as written
            return [(e, u0 * 2.0**-e) for e in range(e_cap, arith.WEIGHT_EXP_RANGE[0] - 1, -1)]
        # only divisive E-I circuits: a continuous scale from threshold and calibrated ranges
        st = self.stats[name]
        lows = [st["i_max"] * self.margin / ACT_MAX]
        if spiking:
            lows += [float(np.max(node.threshold)) / (VTH_MAX - 1)]
        if isinstance(node, MEMBRANES):
            peak = max(st["h_max"], st["u_max"])
            lows += [peak * self.margin * 64 / arith.STATE_MAX]
        lows += [float(np.abs(self.g.nodes[p].b_e).max(initial=0)) / ACC_MAX for p in eis]
        return [(None, max(max(lows), 1e-300) * (1 + 2.0**-20))]  # ceil-safe

    def _choose(self, name, node, preds, eis) -> _Plan:
        cands = self._candidates(name, node, preds, eis)
        plans = []
        for e, s_a in cands:
            plan = self._evaluate(name, node, preds, eis, s_a, e, "static")
            if not plan.hard and not plan.failing():
                return plan
            plans.append(plan)
        usable = [p for p in plans if not p.hard]
        if not usable:
            pinned = (
                " (its scale is pinned: the target's "
                + ("synapses need" if self.limits.weight_exp_zero else "Conv needs")
                + " weight_exp=0; fewer input_bits (`--input-bits`) coarsen a first layer)"
                if len(cands) == 1 and cands[0][0] == 0
                else ""
            )
            raise QuantizationError(
                f"layer {name!r}: no scale represents it: {'; '.join(plans[-1].hard)}{pinned}"
            )
        if not self.allow:
            worst = usable[-1]  # the coarsest scale: the most favourable for overflow
            what = "; ".join(f"{n}: {c.describe()}" for n, c in worst.failing())
            raise OverflowBoundError(
                f"layer {name!r} can overflow at every scale that keeps its weights and "
                f"threshold representable (coarsest weight_exp={worst.exp}): {what}. "
                "Pass --allow-saturation (allow_saturation=True) to scale it on calibration "
                "data and count saturations instead (or fewer --input-bits for a first layer)"
            )
        for e, s_a in cands:
            plan = self._evaluate(name, node, preds, eis, s_a, e, "calibrated")
            if not plan.hard and not plan.failing():
                return plan
        # nothing fits even the calibrated ranges: the coarsest usable scale saturates least
        coarsest = usable[-1]
        return self._evaluate(name, node, preds, eis, coarsest.s_a, coarsest.exp, "calibrated")

    def _evaluate(self, name, node, preds, eis, s_a, e_lead, policy) -> _Plan:
        plan = _Plan(s_a, e_lead, policy=policy)
        membrane = isinstance(node, MEMBRANES)
        # a LIF's and an LI's current does not persist: a synapse bias is exactly a bias of v
        bias_into_v = isinstance(node, (LIF, LI))
        shape = self.g.shapes()[name]
        a_lo, a_hi = np.zeros(1, np.int64), np.zeros(1, np.int64)
        bias = np.zeros(())
        unbounded = False
        lead_done = False
        for p in preds:
            pn = self.g.nodes[p]
            plan.checks[p] = []
            if isinstance(pn, EICircuit):
                ep: EIPlan = eis[p]
                plan.checks[p] += ep.checks
                fixed, hard = finish_ei(p, pn, ep, s_a if pn.variant == "divisive" else None)
                plan.tensors.update(ep.tensors)
                plan.nodes[p] = fixed
                plan.hard += [f"{p}: {h}" for h in hard]
                if pn.variant == "divisive":
                    unbounded = True
                else:
                    a_lo, a_hi = a_lo + ep.n_lo, a_hi + ep.n_hi
                continue
            src = self.g.predecessors(p)[0]
            s_in, (lo, hi) = self.scale[src], self.rng[src]
            exp = e_lead if not lead_done else None
            lead_done = True
            w = np.asarray(pn.weight, np.float64)
            try:
                q = arith.quantize_weights(w * s_in / s_a, self.w.weight_bits, weight_exp=exp)
            except QuantizationError as err:
                plan.hard.append(f"{p}: {err}")
                continue
            unit = s_a * 2.0**q.weight_exp / s_in
            step = arith.weight_grid(q.sign_mode, self.w.weight_bits).step * unit
            plan.tensors[f"{p}/weight"] = tensor_error(w, q.mantissa * unit, step, q.n_clipped)
            if q.n_clipped:
                plan.hard.append(f"{p}: {q.n_clipped} weights clip")
            acc_lo, acc_hi = acc_bounds(q.mantissa, lo, hi)
            if isinstance(pn, Conv2d):  # Lava's Conv wraps the exact sum at 24 bits
                plan.checks[p].append(Check("acc", _mag(acc_lo, acc_hi), ACC_MAX, "24-bit"))
            s_lo = arith.scale_pow2(acc_lo, q.weight_exp)
            s_hi = arith.scale_pow2(acc_hi, q.weight_exp)
            b_fixed = None
            if pn.bias is not None and bias_into_v:
                bias = bias + _bias_vector(shape, pn.bias)
            elif pn.bias is not None:
                b_real = np.asarray(pn.bias, np.float64)
                b_fixed = np.rint(b_real / s_a).astype(np.int64)
                plan.tensors[f"{p}/bias"] = tensor_error(b_real, b_fixed * s_a, s_a)
                s_lo, s_hi = s_lo + b_fixed, s_hi + b_fixed
            if isinstance(pn, Dense):
                plan.checks[p].append(Check("acc", _mag(s_lo, s_hi), ACC_MAX, "24-bit"))
            plan.nodes[p] = dataclasses.replace(
                pn, weight=q.mantissa, bias=b_fixed, weight_exp=int(q.weight_exp)
            )
            plan.info.setdefault("weight_exp", {})[p] = int(q.weight_exp)
            a_lo, a_hi = a_lo + s_lo, a_hi + s_hi
        st = self.stats.get(name, {"i_max": 0.0, "h_max": 0.0, "u_max": 0.0})
        calibrated = unbounded or policy == "calibrated"
        if membrane:
            self._neuron_fields(name, node, shape, s_a, bias, plan)
            if plan.hard:
                return plan
            nf = plan.nodes[name]
            b_eff = arith.bias_effective(0 if nf.bias is None else nf.bias, nf.bias_exp)
            cuba = isinstance(node, CubaLIF)
            plan.checks[name] = []
            if not unbounded:  # the worst case, kept in the report under either policy
                mb = membrane_bounds(
                    a_lo, a_hi, b_eff, b_eff, decay=nf.decay, steps=self.steps,
                    current_decay=nf.current_decay if cuba else 0,
                    resets=isinstance(node, SPIKING),
                )  # fmt: skip
                plan.checks[name].append(Check("a", _mag(a_lo, a_hi), ACT_MAX, "16-bit a_in"))
                if cuba:
                    u_mag = max(-mb.u_lo, mb.u_hi)
                    plan.checks[name].append(Check("u", u_mag, arith.STATE_MAX, "24-bit state"))
                v_mag = max(-mb.v_lo, mb.v_hi)
                plan.checks[name].append(Check("v", v_mag, arith.STATE_MAX, "24-bit state"))
                if isinstance(node, LI):  # its output: the range the Readout sums
                    plan.info["v_range"] = (mb.v_lo, mb.v_hi)
            if calibrated:
                a_cal = math.ceil(st["i_max"] * self.margin / s_a)
                v_cal = math.ceil(st["h_max"] * self.margin * 64 / s_a)
                plan.checks[name].append(Check("a", a_cal, ACT_MAX, "16-bit a_in", "calibrated"))
                if cuba:
                    u_cal = math.ceil(st["u_max"] * self.margin * 64 / s_a)
                    plan.checks[name].append(
                        Check("u", u_cal, arith.STATE_MAX, "24-bit state", "calibrated")
                    )
                plan.checks[name].append(
                    Check("v", v_cal, arith.STATE_MAX, "24-bit state", "calibrated")
                )
                if isinstance(node, LI):
                    plan.info["v_range"] = (-v_cal, v_cal)
        else:
            plan.nodes[name] = node
            T = self.g.metadata.T
            plan.checks[name] = []
            if not unbounded:
                plan.checks[name] += [Check("sum", _mag(a_lo, a_hi) * T, READOUT_MAX, "32-bit")]
            if calibrated:
                total = math.ceil(st["i_max"] * self.margin / s_a) * T
                plan.checks[name] += [Check("sum", total, READOUT_MAX, "32-bit", "calibrated")]
        return plan

    def _neuron_fields(self, name, node, shape, s_a, bias, plan: _Plan) -> None:
        """The fixed fields of a LIF, CubaLIF or LI at scale ``s_a`` (``bias``: the synapse
        biases moved into it, real units), with their errors; problems go to ``plan.hard``."""
        fields: dict = {}
        if isinstance(node, SPIKING):
            theta = np.asarray(node.threshold, np.float64)
            if np.any(theta <= 0):
                plan.hard.append(f"{name}: threshold <= 0 has no fixed form (vth is unsigned)")
                return
            vth = quantize_threshold(theta, s_a)
            if vth.max() > VTH_MAX:
                plan.hard.append(f"{name}: threshold {int(vth.max())} exceeds 17 bits")
            if vth.min() < 1:
                plan.hard.append(f"{name}: threshold rounds to 0 activation units")
            th_real = (vth + 1 / 64) * s_a  # the effective fixed threshold (strict inequality)
            plan.tensors[f"{name}/threshold"] = tensor_error(theta, th_real, s_a)
            fields["threshold"] = int(vth) if vth.ndim == 0 else vth
            plan.info.update(vth=vth.tolist(), threshold_units=vth.tolist())
        try:
            decay = quantize_decay(node.decay)
            if isinstance(node, CubaLIF):
                fields["current_decay"] = quantize_current_decay(node.current_decay)
        except QuantizationError as err:
            plan.hard.append(f"{name}: {err}")
            return
        if isinstance(node, CubaLIF):
            c = fields["current_decay"]
            plan.tensors[f"{name}/current_decay"] = tensor_error(
                node.current_decay, c / arith.DECAY_UNITY, 1 / arith.DECAY_UNITY
            )
            plan.info["current_decay"] = c
        if node.bias is not None:
            bias = bias + _bias_vector(shape, node.bias)
        b_field, b_exp = None, 0
        if np.ndim(bias) or np.any(bias):
            qb = quantize_lif_bias(np.asarray(bias) * 64 / s_a, self.limits.bias_exp)
            if qb is None:
                plan.hard.append(f"{name}: bias exceeds the 13-bit mantissa at bias_exp 7")
                return
            mant, b_exp = qb
            unit = s_a * 2.0**b_exp / 64
            plan.tensors[f"{name}/bias"] = tensor_error(bias, mant * unit, unit)
            b_field = _compact_bias(shape, mant)
        plan.tensors[f"{name}/decay"] = tensor_error(
            node.decay, decay / arith.DECAY_UNITY, 1 / arith.DECAY_UNITY
        )
        plan.nodes[name] = dataclasses.replace(
            node, decay=decay, bias=b_field, bias_exp=int(b_exp), **fields
        )
        plan.info.update(decay=decay, bias_exp=int(b_exp))


def _mag(lo, hi) -> int:
    return int(max(-np.min(lo), np.max(hi), 0))


def quantize(
    graph_float: HardwareGraph,
    calib_inputs,
    weight_bits: int = 8,
    allow_saturation: bool = False,
    *,
    payload_bits: int = 16,
    input_bits: int = 8,
    margin: float = DEFAULT_MARGIN,
    batch_size: int = 256,
    target: str = "hwsim",
) -> QuantResult:
    """Quantise a float graph to the fixed format of :mod:`hwsim.arith` (module docstring).

    ``calib_inputs``: calibration data as :func:`hwsim.sim.simulate` takes it (frames ``[N,
    *shape]``, or a ``[T, N, ...]`` spike train); it sets the direct input's scale (its
    largest magnitude maps to the top of ``input_bits``; the static bounds assume inputs in
    the calibration range), the E-I current ranges, and gives the saturation counts of the
    quantised graph. ``weight_bits`` 2..8. ``target`` (``hwsim`` | ``lava`` | ``onnx`` |
    ``loihi``, see :mod:`toolchain.fold.rules`): for ``lava`` every Conv2d keeps ``weight_exp =
    0`` (Lava's Conv ignores it); for ``loihi`` (NetX) every synapse does and neuron biases use
    ``bias_exp = 6``; the result must pass the target's design rules. Raises
    :class:`OverflowBoundError` naming the layer when a worst-case bound exceeds its width at
    every usable scale, or when the calibration run saturates, unless ``allow_saturation``;
    :class:`QuantizationError` for values without a fixed form; :class:`DesignRuleError`.
    """
    if graph_float.metadata.format != "float32":
        raise QuantizationError("quantize takes a float graph (metadata.format 'float32')")
    widths = arith.FixedWidths(weight_bits, payload_bits, input_bits)
    bad = widths.problems()
    if bad:
        raise QuantizationError("; ".join(bad))
    if not margin >= 1.0:
        raise QuantizationError(f"margin must be >= 1, got {margin}")
    if target not in LIMITS:
        raise QuantizationError(f"unknown target {target!r}; valid: {sorted(LIMITS)}")
    x = np.asarray(calib_inputs)
    if x.size == 0:
        raise QuantizationError("quantize needs calibration data; got an empty array")
    stats, float_pred = float_ranges(graph_float, x, batch_size)
    q = _Quantizer(graph_float, x, stats, widths, bool(allow_saturation), margin, LIMITS[target])
    q.run()
    md = graph_float.metadata
    origin = dict(md.origin, quantized=f"{weight_bits}-bit weights")
    meta = GraphMetadata(
        T=md.T, format="fixed", timing=md.timing, widths=widths, scales=q.meta_scales,
        origin=origin,
    )  # fmt: skip
    nodes = {n: q.fixed[n] for n in graph_float.nodes}
    graph = HardwareGraph(nodes, graph_float.edges, meta)
    check_design_rules(graph, target)
    sat, fixed_pred = saturation_counts(graph, x, batch_size)
    n_samples = int(len(fixed_pred))
    overflow = {
        "allow_saturation": bool(allow_saturation),
        "margin": margin,
        "steps_bounded": q.steps,
        "calibration_samples": n_samples,
        "layers": {
            n: {"policy": q.policy.get(n, "static"), "checks": [c.to_dict() for c in cs]}
            for n, cs in q.checks.items()
        },
        "saturation": sat,
    }
    static_ok = all(c.ok for cs in q.checks.values() for c in cs if c.mode != "calibrated")
    overflow["static_ok"] = static_ok
    overflow["ok"] = static_ok and not sat
    if sat and not allow_saturation:
        what = "; ".join(f"{n}: {ev}" for n, ev in sat.items())
        raise OverflowBoundError(
            f"saturation on the calibration data ({n_samples} samples) in layer(s) {what}; "
            "pass --allow-saturation (allow_saturation=True) to accept it"
        )
    agree = float(np.mean(float_pred == fixed_pred))
    report = {
        "target": target,
        "weight_bits": weight_bits,
        "payload_bits": payload_bits,
        "input_bits": input_bits,
        "calibration": {"samples": n_samples, "prediction_agreement": agree},
        "layers": q.layers,
        "tensors": {k: v.to_dict() for k, v in q.tensors.items()},
    }
    return QuantResult(graph, report, overflow)
