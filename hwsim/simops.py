"""The simulator's node operations: one small class per node kind (used by :mod:`hwsim.sim`).

Every operation is built once per run from its node, the graph's format and the node's
shapes, and then called once per time step with the **sum of its inputs** for that step
(``[B, *in_shape]``; the runner sums the predecessors' outputs and applies the latency of
``lava`` timing). It returns the node's output ``[B, *out_shape]``.

* float graphs compute in float64 with the training semantics (``hwsim.arith``'s ``*_float``
  functions): the node's float32 arrays are widened once, exactly.
* fixed graphs compute in int64 through ``hwsim.arith`` only; nothing here re-implements an
  integer operation. The one shortcut: the exact integer sums ``Σ w·s`` of Dense and Conv
  synapses are computed by BLAS/torch in float64 (:func:`dense_sum`, :func:`conv_sum`; numpy
  has no BLAS for int64, ~10x slower) and then reduced by ``hwsim.arith.dense_reduce`` /
  ``conv_reduce``. Float64 is exact while every partial sum stays below ``2**53`` in
  magnitude; the bound ``max|w| · max|x| · fan_in < 2**53`` is checked on every call and the
  exact int64 sum is used when it does not hold (never in practice: 8-bit weights and 24-bit
  payloads leave 21 bits of fan-in).

Overflow and saturation events of the fixed format are counted per node in ``overflow``
(names as in ``hwsim.arith``: ``act`` activations outside ``ACT_BITS``, ``fold`` currents
folded by Lava's 24-bit fold, ``clip`` voltages clipped, ``acc`` synaptic sums outside the
24-bit accumulator, ``sat`` E-I/payload/readout saturations, ``dead`` E-I samples whose
denominator was all zero).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hwsim import arith
from hwsim.errors import GraphError
from hwsim.nodes import (
    LI,
    LIF,
    Add,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    EICircuit,
    FastInhibitory,
    Flatten,
    Input,
    Node,
    Readout,
    Shape,
    SumPool2d,
)

__all__ = ["EXACT_FLOAT64", "Op", "OPS", "conv_sum", "dense_sum", "make_op"]

EXACT_FLOAT64 = 2**53
"""Integers up to this magnitude are exact in float64; a convolution summed in float64 is
exact when the sum of the absolute values of its terms stays below it."""


def conv_sum(x: np.ndarray, w: np.ndarray, stride, padding, groups: int) -> np.ndarray:
    """``Σ w·x`` of a 2-D convolution (torch semantics: cross-correlation, zero padding).

    Float arrays: float64 by torch. Integer arrays: the exact integer sum as int64 — by torch
    in float64 when ``max|w| · max|x| · (C_in/groups · kh · kw) < 2**53`` (then every partial
    sum, in any summation order, is an integer below ``2**53`` and float64 holds it exactly),
    else by the exact but slower :func:`hwsim.arith.conv2d` in int64.
    """
    import torch

    integer = w.dtype.kind in "iu"
    if integer:
        fan_in = int(np.prod(w.shape[1:]))
        big_w = int(np.abs(w).max(initial=0))
        big_x = int(np.abs(x).max(initial=0))
        if big_w * big_x * fan_in >= EXACT_FLOAT64:
            return arith.conv2d(x.astype(np.int64), w.astype(np.int64), stride, padding, groups)
    xt = torch.from_numpy(np.array(x, dtype=np.float64))  # copies: node arrays are read-only
    wt = torch.from_numpy(np.array(w, dtype=np.float64))
    y = torch.nn.functional.conv2d(xt, wt, stride=stride, padding=padding, groups=groups)
    y = y.numpy()
    # exact by the bound above; rint only removes the float type
    return np.rint(y).astype(np.int64) if integer else y


def dense_sum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Σ_j w_ij x_j`` for ``x [B, in]``, ``w [out, in]``: float64 for floats; for integers
    the exact int64 sum, by a float64 BLAS product when ``max|w| · max|x| · in < 2**53``
    (exact, as for :func:`conv_sum`), else by an int64 product."""
    if w.dtype.kind not in "iu":
        return x @ w.T
    big = int(np.abs(w).max(initial=0)) * int(np.abs(x).max(initial=0)) * w.shape[1]
    if big >= EXACT_FLOAT64:
        return x.astype(np.int64) @ w.astype(np.int64).T
    return np.rint(x.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)


class Op:
    """Base of the node operations. ``fixed`` selects the format; ``shape_in``/``shape_out``
    are per-sample shapes; ``offset`` the node's arrival offset (for per-step schedules).

    ``PROBES`` names the internal per-step quantities an op exposes as attributes after each
    step (``"h"``: a LIF's pre-reset potential; ``"u"``: a CUBA LIF's synaptic current); the
    simulator records them as ``"<node>/<probe>"`` when the node is recorded."""

    PROBES: tuple[str, ...] = ()

    def __init__(
        self,
        node: Node,
        *,
        fixed: bool,
        widths: arith.FixedWidths | None,
        T: int,
        shape_in: Shape,
        shape_out: Shape,
        offset: int,
    ) -> None:
        self.node = node
        self.fixed = fixed
        self.widths = widths
        self.T = T
        self.shape_in = shape_in
        self.shape_out = shape_out
        self.offset = offset
        self.dtype = np.int64 if fixed else np.float64
        self.overflow: dict[str, int] = {}

    def count(self, key: str, n: int) -> None:
        if n:
            self.overflow[key] = self.overflow.get(key, 0) + int(n)

    def arr(self, a) -> np.ndarray | None:
        """A node array in the compute dtype (float64 widening is exact)."""
        return None if a is None else np.asarray(a, dtype=self.dtype)

    def reset(self, batch: int) -> None:
        """Clear the state before a run of ``batch`` samples."""

    def step(self, x: np.ndarray, t: int, forced: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError


class IdentityOp(Op):
    """The nodes whose work the runner (``hwsim.sim``) does: :class:`Input` (encoded by the
    runner), :class:`Add` (its inputs summed), :class:`Delay` (its latency applied) and
    :class:`Readout` (the step's summed current; the runner accumulates the total)."""

    def step(self, x, t, forced=None):
        return x


class FlattenOp(Op):
    def step(self, x, t, forced=None):
        return x.reshape(x.shape[0], -1)


class DenseOp(Op):
    """float ``I = x W^T + b``; fixed ``a = dense_accumulate(W, s, weight_exp) + b``."""

    def __init__(self, node: Dense, **kw) -> None:
        super().__init__(node, **kw)
        self.w = self.arr(node.weight)
        self.b = self.arr(node.bias)

    def step(self, x, t, forced=None):
        if not self.fixed:
            return arith.dense_float(self.w, x, self.b)
        # = arith.dense_accumulate(w, x, weight_exp), with the exact sum from BLAS
        a = arith.dense_reduce(dense_sum(x, self.w), self.node.weight_exp)
        if self.b is not None:
            a = a + self.b
        self.count("acc", arith.count_outside_signed(a, arith.ACC_BITS))
        return a


def _conv_acc(op: Op, w: np.ndarray, x: np.ndarray, exp: int, conv: dict) -> np.ndarray:
    """float: the float64 convolution; fixed: :func:`hwsim.arith.conv_reduce` of the exact
    sum (24-bit wrap, ``weight_exp``), wraps counted as ``acc``."""
    acc = conv_sum(x, w, **conv)
    if not op.fixed:
        return acc
    op.count("acc", arith.count_outside_signed(acc, arith.ACC_BITS))
    return arith.conv_reduce(acc, exp)


class ConvOp(Op):
    """float torch ``conv2d``; fixed ``conv_accumulate(...) + bias``."""

    def __init__(self, node: Conv2d, **kw) -> None:
        super().__init__(node, **kw)
        self.w = self.arr(node.weight)
        self.b = self.arr(node.bias)
        self.conv = dict(stride=node.stride, padding=node.padding, groups=node.groups)

    def step(self, x, t, forced=None):
        y = _conv_acc(self, self.w, x, self.node.weight_exp, self.conv)
        return y if self.b is None else y + self.b[None, :, None, None]


class SumPoolOp(Op):
    def step(self, x, t, forced=None):
        return arith.sum_pool2d(x, self.node.kernel, self.node.effective_stride)


class AvgPoolOp(Op):
    def step(self, x, t, forced=None):
        return arith.avg_pool2d_float(x, self.node.kernel, self.node.effective_stride)


def _neuron_bias(op: Op, node: LIF | CubaLIF | LI):
    """The population's bias in the compute dtype, broadcasting against ``[B, *shape]``: the
    effective ``floor(bias · 2**bias_exp)`` (``v`` units) when fixed, 0 when absent."""
    b = node.bias_broadcast(op.shape_out)
    if op.fixed:
        return 0 if b is None else arith.bias_effective(b, node.bias_exp)
    return op.arr(b)


class LIFOp(Op):
    """LIF population; state ``v``. The threshold of step ``t`` is ``θ[k]`` with the input
    step ``k = clip(t - offset, 0, T - 1)`` (``lava`` timing shifts a layer by its offset).

    Before its arrival offset (``t < offset``) the population holds its reset state: ``v = 0``,
    no spikes, ``h = 0``. Its bias (and any synapse bias folded into it) therefore acts only
    from the first step that carries input, so a feed-forward ``lava`` run equals the
    ``ideal`` run shifted by each node's offset even with biases.

    ``forced`` spikes (teacher forcing) replace the computed spikes *in the reset*, so the
    membrane follows the reference trajectory; the computed spikes are returned.
    """

    PROBES = ("h",)

    def __init__(self, node: LIF | CubaLIF, **kw) -> None:
        super().__init__(node, **kw)
        th = node.threshold
        self.th = np.asarray(th).reshape(-1) if np.ndim(th) else np.asarray([th])
        self.th = self.th.astype(self.dtype)
        self.bias = _neuron_bias(self, node)
        self.v: np.ndarray | None = None
        self.h: np.ndarray | None = None  # the pre-reset potential of the last step

    def reset(self, batch: int) -> None:
        self.v = np.zeros((batch, *self.shape_out), self.dtype)

    def threshold(self, t: int):
        k = min(max(t - self.offset, 0), self.T - 1) if self.th.size > 1 else 0
        return self.th[k]

    def charge(self, x: np.ndarray, th):
        """One step of the neuron's arithmetic (``hwsim.arith``) from the state ``v``."""
        node = self.node
        if self.fixed:
            return arith.lif_step_fixed(
                self.v, x, decay=node.decay, vth=th, bias=self.bias, reset=node.reset
            )
        return arith.lif_step_float(
            self.v, x, decay=float(node.decay), threshold=th, bias=self.bias, reset=node.reset
        )

    def step(self, x, t, forced=None):
        if t < self.offset:  # not yet reached: no input, and the bias is gated off too
            self.h = np.zeros_like(self.v)
            return np.zeros_like(self.v)
        th = self.threshold(t)
        out = self.charge(x, th)
        if self.fixed:
            self.count("act", out.n_act_overflow)
            self.count("fold", out.n_u_folded)
            self.count("clip", out.n_v_clipped)
            self.h, v = out.v_charged, out.v
            if forced is not None:
                v = arith.lif_reset_fixed(self.h, forced != 0, th, self.node.reset)
        else:
            self.h, v = out.h, out.v
            if forced is not None:
                v = arith.lif_reset_float(self.h, forced != 0, th, self.node.reset)
        self.v = v
        return out.spikes.astype(self.dtype)


class CubaLIFOp(LIFOp):
    """Current-based LIF population: a :class:`LIFOp` with a second state, the synaptic
    current ``u`` (:func:`arith.cuba_lif_step_fixed` / :func:`arith.cuba_lif_step_float`),
    gated before the arrival offset like ``v`` (``u = 0``). Teacher forcing resets ``v`` with
    the forced spikes; ``u`` is never reset by a spike."""

    PROBES = ("h", "u")

    def reset(self, batch: int) -> None:
        super().reset(batch)
        self.u = np.zeros((batch, *self.shape_out), self.dtype)

    def charge(self, x, th):
        node = self.node
        if self.fixed:
            out = arith.cuba_lif_step_fixed(
                self.u, self.v, x, current_decay=node.current_decay, decay=node.decay, vth=th,
                bias=self.bias, reset=node.reset,
            )  # fmt: skip
        else:
            out = arith.cuba_lif_step_float(
                self.u, self.v, x, current_decay=float(node.current_decay),
                decay=float(node.decay), threshold=th, bias=self.bias, reset=node.reset,
            )  # fmt: skip
        self.u = out.u
        return out

    def step(self, x, t, forced=None):
        if t < self.offset:
            self.u = np.zeros_like(self.v)
        return super().step(x, t, forced)


class LIOp(Op):
    """Leaky-integrator population; state and graded output ``v``
    (:func:`arith.li_step_fixed` / :func:`arith.li_step_float`). Before its arrival offset
    it rests at ``v = 0`` and outputs 0 (the bias gated off, as a LIF's)."""

    def __init__(self, node: LI, **kw) -> None:
        super().__init__(node, **kw)
        self.bias = _neuron_bias(self, node)
        self.v: np.ndarray | None = None

    def reset(self, batch: int) -> None:
        self.v = np.zeros((batch, *self.shape_out), self.dtype)

    def step(self, x, t, forced=None):
        if t < self.offset:
            return self.v  # zeros: nothing has arrived
        if self.fixed:
            out = arith.li_step_fixed(self.v, x, decay=self.node.decay, bias=self.bias)
            self.count("act", out.n_act_overflow)
            self.count("fold", out.n_u_folded)
            self.count("clip", out.n_v_clipped)
            self.v = out.v
        else:
            self.v = arith.li_step_float(self.v, x, decay=float(self.node.decay), bias=self.bias)
        return self.v


class FastInhibitoryOp(Op):
    """float: the payload is the input current; fixed: :func:`arith.fast_inhibitory_fixed`."""

    def step(self, x, t, forced=None):
        if not self.fixed:
            return x
        p = arith.fast_inhibitory_fixed(x, self.node.payload_exp, self.widths.payload_bits)
        self.count("sat", p.n_saturated)
        return p.value


class EICircuitOp(Op):
    """The E-I circuit: ``W_EE x`` and ``W_IE x`` (dense or conv), then
    :func:`arith.ei_step_float` / :func:`arith.ei_step_fixed`."""

    def __init__(self, node: EICircuit, **kw) -> None:
        super().__init__(node, **kw)
        self.w_ee, self.w_ie, self.w_ei = (self.arr(node.w_ee), self.arr(node.w_ie), node.w_ei)
        self.conv = dict(stride=node.stride, padding=node.padding, groups=node.groups)
        self.i_ee: np.ndarray | None = None  # the last step's W_EE x (error bounds, rung 0)
        self.den: np.ndarray | None = None  # the last step's stabilised denominator

    def _syn(self, w: np.ndarray, x: np.ndarray, exp: int) -> np.ndarray:
        if self.node.form == "conv":
            return _conv_acc(self, w, x, exp, self.conv)
        if self.fixed:
            return arith.dense_reduce(dense_sum(x, w), exp)
        return arith.dense_float(w, x)

    def step(self, x, t, forced=None):
        n = self.node
        ee = self._syn(self.w_ee, x, n.w_ee_exp)
        ie = self._syn(self.w_ie, x, n.w_ie_exp)
        if self.fixed:
            out = arith.ei_step_fixed(
                ee, ie, w_ei=n.w_ei, w_ei_exp=n.w_ei_exp, g_i=n.g_i, g_i_exp=n.g_i_exp,
                g_e=n.g_e, g_e_exp=n.g_e_exp, b_e=n.b_e, payload_exp=n.inhibitory.payload_exp,
                payload_bits=self.widths.payload_bits, variant=n.variant,
                stabilisation=n.stabilisation, floor=n.floor,
            )  # fmt: skip
            self.count("sat", out.n_saturated)
        else:
            out = arith.ei_step_float(
                ee, ie, w_ei=n.w_ei, g_i=n.g_i, g_e=n.g_e, b_e=n.b_e, variant=n.variant,
                stabilisation=n.stabilisation, floor=float(n.floor),
            )  # fmt: skip
        self.count("dead", out.n_dead)
        self.i_ee, self.den = ee, out.denominator
        return out.current


OPS: dict[type[Node], Callable[..., Op]] = {
    Input: IdentityOp,
    Dense: DenseOp,
    Conv2d: ConvOp,
    SumPool2d: SumPoolOp,
    AvgPool2d: AvgPoolOp,
    Flatten: FlattenOp,
    LIF: LIFOp,
    CubaLIF: CubaLIFOp,
    LI: LIOp,
    FastInhibitory: FastInhibitoryOp,
    EICircuit: EICircuitOp,
    Add: IdentityOp,
    Delay: IdentityOp,
    Readout: IdentityOp,
}
"""Node kind -> operation class (exact type: AvgPool2d is not a SumPool2d here)."""


def make_op(node: Node, **kw) -> Op:
    """The operation of ``node``; an unmapped kind raises :class:`GraphError`."""
    try:
        cls = OPS[type(node)]
    except KeyError:
        raise GraphError(f"the simulator has no operation for node kind {node.kind}") from None
    return cls(node, **kw)
