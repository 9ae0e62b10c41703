"""A straightforward per-step reference of :func:`hwsim.sim.run_steps`, outside the product.

For every step, for every node in topological order: the node's :mod:`hwsim.arith` function
on int64 (fixed) or float64 (float) arrays of that one step, its overflow events counted as
the function reports them. Records and counts are int64/float64, a ``direct`` input is stored
as ``T`` copies, and every synaptic sum is the int64 sum of :mod:`hwsim.arith` (no BLAS, no
bound): hwsim's simulator as it was before it ran blocks of steps.

It serves as the oracle the simulator's fast paths are checked against bit for bit
(``tests/hwsim/test_sim_fast.py``) and as the "before" of ``bench/bench_hwsim.py``. The one
shared piece is the float format's convolution (torch in float64, as the simulator always
computed it: float results are compared bit for bit too). Every node kind of
:mod:`hwsim.nodes` is covered (CubaLIF and LI included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from hwsim import arith
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
    FastInhibitory,
    Flatten,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
    latency,
)
from hwsim.sim import SimResult
from hwsim.simops import conv_sum

__all__ = ["reference_run"]


class _Ctx:
    """One node's constants and state in a reference run."""

    def __init__(self, graph: HardwareGraph, name: str, batch: int) -> None:
        self.node = graph.nodes[name]
        md = graph.metadata
        self.fixed, self.widths, self.T = md.format == "fixed", md.widths, md.T
        self.offset = graph.arrival_offsets()[name]
        self.shape = graph.shapes()[name]
        self.dtype = np.int64 if self.fixed else np.float64
        self.v = np.zeros((batch, *self.shape), self.dtype)
        self.h = None
        self.u = np.zeros((batch, *self.shape), self.dtype)  # CubaLIF current
        self.overflow: dict[str, int] = {}

    def count(self, key: str, n: int) -> None:
        if n:
            self.overflow[key] = self.overflow.get(key, 0) + int(n)


def _mix(w, x) -> np.ndarray:
    """The exact int64 sum ``Σ_j w_ij x_bj..`` over axis 1 (as ``arith.dense_accumulate``)."""
    return np.moveaxis(np.tensordot(x, np.asarray(w, np.int64), axes=([1], [1])), -1, 1)


def _dense_acc(c: _Ctx, w, x, exp: int) -> np.ndarray:
    """``arith.dense_accumulate`` (its exact sum, then ``dense_reduce``)."""
    return arith.dense_reduce(_mix(w, x), exp)


def _conv_acc(c: _Ctx, w, x, exp: int) -> np.ndarray:
    n = c.node
    acc = arith.conv2d(x, np.asarray(w, np.int64), n.stride, n.padding, n.groups)
    c.count("acc", arith.count_outside_signed(acc, arith.ACC_BITS))
    return arith.conv_reduce(acc, exp)


def _conv_float(c: _Ctx, w, x) -> np.ndarray:
    n = c.node
    return conv_sum(x, np.asarray(w, np.float64), n.stride, n.padding, n.groups)


def _dense(c: _Ctx, x, t, f):
    n = c.node
    if not c.fixed:
        b = None if n.bias is None else n.bias.astype(np.float64)
        return arith.dense_float(n.weight.astype(np.float64), x, b)
    a = _dense_acc(c, n.weight, x, n.weight_exp)
    if n.bias is not None:
        a = a + n.bias
    c.count("acc", arith.count_outside_signed(a, arith.ACC_BITS))
    return a


def _conv(c: _Ctx, x, t, f):
    n = c.node
    y = _conv_acc(c, n.weight, x, n.weight_exp) if c.fixed else _conv_float(c, n.weight, x)
    return y if n.bias is None else y + n.bias.astype(c.dtype)[None, :, None, None]


def _lif(c: _Ctx, x, t, f):
    n = c.node
    if t < c.offset:
        c.h = np.zeros_like(c.v)
        return np.zeros_like(c.v)
    th = np.asarray(n.threshold).reshape(-1)
    th = th[min(max(t - c.offset, 0), c.T - 1)] if th.size > 1 else th[0]
    b = n.bias_broadcast(c.shape)
    if c.fixed:
        bias = 0 if b is None else arith.bias_effective(b, n.bias_exp)
        out = arith.lif_step_fixed(c.v, x, decay=n.decay, vth=th, bias=bias, reset=n.reset)
        c.count("act", out.n_act_overflow)
        c.count("fold", out.n_u_folded)
        c.count("clip", out.n_v_clipped)
        c.h, c.v = out.v_charged, out.v
        if f is not None:
            c.v = arith.lif_reset_fixed(c.h, f != 0, th, n.reset)
    else:
        bias = None if b is None else b.astype(np.float64)
        out = arith.lif_step_float(
            c.v, x, decay=float(n.decay), threshold=float(th), bias=bias, reset=n.reset
        )
        c.h, c.v = out.h, out.v
        if f is not None:
            c.v = arith.lif_reset_float(c.h, f != 0, float(th), n.reset)
    return out.spikes.astype(c.dtype)


def _cuba(c: _Ctx, x, t, f):
    n = c.node
    if t < c.offset:
        c.h, c.u = np.zeros_like(c.v), np.zeros_like(c.v)
        return np.zeros_like(c.v)
    th = np.asarray(n.threshold).reshape(-1)
    th = th[min(max(t - c.offset, 0), c.T - 1)] if th.size > 1 else th[0]
    b = n.bias_broadcast(c.shape)
    if c.fixed:
        bias = 0 if b is None else arith.bias_effective(b, n.bias_exp)
        out = arith.cuba_lif_step_fixed(
            c.u, c.v, x, current_decay=n.current_decay, decay=n.decay, vth=th, bias=bias,
            reset=n.reset,
        )  # fmt: skip
        c.count("act", out.n_act_overflow)
        c.count("fold", out.n_u_folded)
        c.count("clip", out.n_v_clipped)
        c.h, c.v, c.u = out.v_charged, out.v, out.u
        if f is not None:
            c.v = arith.lif_reset_fixed(c.h, f != 0, th, n.reset)
    else:
        bias = None if b is None else b.astype(np.float64)
        out = arith.cuba_lif_step_float(
            c.u, c.v, x, current_decay=float(n.current_decay), decay=float(n.decay),
            threshold=float(th), bias=bias, reset=n.reset,
        )  # fmt: skip
        c.h, c.v, c.u = out.h, out.v, out.u
        if f is not None:
            c.v = arith.lif_reset_float(c.h, f != 0, float(th), n.reset)
    return out.spikes.astype(c.dtype)


def _li(c: _Ctx, x, t, f):
    n = c.node
    if t < c.offset:
        return np.zeros_like(c.v)
    b = n.bias_broadcast(c.shape)
    if c.fixed:
        bias = 0 if b is None else arith.bias_effective(b, n.bias_exp)
        out = arith.li_step_fixed(c.v, x, decay=n.decay, bias=bias)
        c.count("act", out.n_act_overflow)
        c.count("fold", out.n_u_folded)
        c.count("clip", out.n_v_clipped)
        c.v = out.v
    else:
        bias = None if b is None else b.astype(np.float64)
        c.v = arith.li_step_float(c.v, x, decay=float(n.decay), bias=bias)
    return c.v


def _fast_inhibitory(c: _Ctx, x, t, f):
    if not c.fixed:
        return x
    p = arith.fast_inhibitory_fixed(x, c.node.payload_exp, c.widths.payload_bits)
    c.count("sat", p.n_saturated)
    return p.value


def _ei(c: _Ctx, x, t, f):
    n = c.node
    if not c.fixed:
        if n.form == "conv":
            ee, ie = _conv_float(c, n.w_ee, x), _conv_float(c, n.w_ie, x)
        else:
            ee = arith.dense_float(n.w_ee.astype(np.float64), x)
            ie = arith.dense_float(n.w_ie.astype(np.float64), x)
        out = arith.ei_step_float(
            ee, ie, w_ei=n.w_ei, g_i=n.g_i, g_e=n.g_e, b_e=n.b_e, variant=n.variant,
            stabilisation=n.stabilisation, floor=float(n.floor),
        )  # fmt: skip
    else:
        syn = _conv_acc if n.form == "conv" else _dense_acc
        ee, ie = syn(c, n.w_ee, x, n.w_ee_exp), syn(c, n.w_ie, x, n.w_ie_exp)
        out = arith.ei_step_fixed(
            ee, ie, w_ei=n.w_ei, w_ei_exp=n.w_ei_exp, g_i=n.g_i, g_i_exp=n.g_i_exp,
            g_e=n.g_e, g_e_exp=n.g_e_exp, b_e=n.b_e, payload_exp=n.inhibitory.payload_exp,
            payload_bits=c.widths.payload_bits, variant=n.variant,
            stabilisation=n.stabilisation, floor=n.floor,
        )  # fmt: skip
        c.count("sat", out.n_saturated)
    c.count("dead", out.n_dead)
    return out.current


_STEP = {
    Input: lambda c, x, t, f: x,
    Dense: _dense,
    Conv2d: _conv,
    SumPool2d: lambda c, x, t, f: arith.sum_pool2d(x, c.node.kernel, c.node.effective_stride),
    AvgPool2d: lambda c, x, t, f: arith.avg_pool2d_float(
        x, c.node.kernel, c.node.effective_stride
    ),
    Flatten: lambda c, x, t, f: x.reshape(x.shape[0], -1),
    LIF: _lif,
    CubaLIF: _cuba,
    LI: _li,
    FastInhibitory: _fast_inhibitory,
    EICircuit: _ei,
    Add: lambda c, x, t, f: x,
    Delay: lambda c, x, t, f: x,
    Readout: lambda c, x, t, f: x,
}


def reference_run(
    graph: HardwareGraph,
    inputs: Mapping[str, np.ndarray],
    record: bool | Iterable[str] = False,
    force: Mapping[str, np.ndarray] | None = None,
) -> SimResult:
    """:func:`hwsim.sim.run_steps` computed step by step (see the module docstring)."""
    md = graph.metadata
    fixed = md.format == "fixed"
    dtype = np.int64 if fixed else np.float64
    order = graph.topological_order()
    shapes, offsets = graph.shapes(), graph.arrival_offsets()
    steps = md.T + max(offsets.values())
    inputs = {k: np.array(v, dtype=dtype, order="C") for k, v in inputs.items()}  # T copies
    batch = next(iter(inputs.values())).shape[1]
    force = {k: np.asarray(v, dtype=dtype) for k, v in (force or {}).items()}
    ro = next((n for n in order if isinstance(graph.nodes[n], Readout)), None)
    rec = set(graph.nodes) if record is True else set(record or ())
    ctx = {n: _Ctx(graph, n, batch) for n in order}
    lat = {n: latency(graph.nodes[n], md.timing) for n in order}
    hist: dict[str, list[np.ndarray]] = {n: [] for n in order}  # inputs waiting their latency
    records = {n: np.zeros((steps, batch, *shapes[n]), dtype) for n in rec}
    lifs = [n for n in rec if isinstance(graph.nodes[n], (LIF, CubaLIF))]
    cubas = [n for n in lifs if isinstance(graph.nodes[n], CubaLIF)]
    records.update({f"{n}/h": np.zeros((steps, batch, *shapes[n]), dtype) for n in lifs})
    records.update({f"{n}/u": np.zeros((steps, batch, *shapes[n]), dtype) for n in cubas})
    counts = {n: np.zeros(steps, np.int64) for n in order}
    total = np.zeros((batch, *shapes[ro]), dtype) if ro else None
    ro_sat = 0
    for t in range(steps):
        out: dict[str, np.ndarray] = {}
        for name in order:
            if name in inputs:
                x = inputs[name][t] if t < md.T else np.zeros_like(inputs[name][0])
            else:
                xs = [out[p] for p in graph.predecessors(name)]
                x = sum(xs[1:], xs[0])
            if lat[name]:
                hist[name].append(x)
                x = hist[name].pop(0) if len(hist[name]) > lat[name] else np.zeros_like(x)
            f = force[name][t] if name in force else None
            y = _STEP[type(graph.nodes[name])](ctx[name], x, t, f)
            counts[name][t] = np.count_nonzero(y)
            if name in rec:
                records[name][t] = y
                if name in lifs:
                    records[f"{name}/h"][t] = ctx[name].h
                if name in cubas:
                    records[f"{name}/u"][t] = ctx[name].u
            out[name] = y if f is None else f
        if ro is not None and offsets[ro] <= t < offsets[ro] + md.T:
            if fixed:
                acc = arith.readout_accumulate(total, out[ro])
                total, ro_sat = acc.value, ro_sat + acc.n_saturated
            else:
                total = total + out[ro]
    overflow = {n: dict(c.overflow) for n, c in ctx.items() if c.overflow}
    if ro_sat:
        overflow.setdefault(ro, {})["sat"] = ro_sat
    return SimResult(
        readout=total,
        predictions=None if total is None else np.argmax(total.reshape(batch, -1), axis=1),
        records=records, counts=counts, overflow=overflow, offsets=offsets, steps=steps,
        T=md.T, format=md.format, timing=md.timing, readout_node=ro, batch=batch,
    )  # fmt: skip
