"""Hardware graph -> Lava process graph (:class:`~exporters.lava.spec.LavaGraphSpec`).

One handler per node kind (a dispatch table keyed by type; an unmapped kind raises). The plain
subset runs on Lava's own processes, so that Lava's bit-accurate models are an independent
oracle (DESIGN.md section 4); everything else on spikefold's custom processes
(:mod:`exporters.lava.procs`), whose models call :mod:`hwsim.arith`:

==================  ============================================================================
graph node          Lava processes
==================  ============================================================================
Input               ``EncodedSource`` (the encoded dataset; graded for ``direct``)
Dense               stock ``Dense`` (``weight_exp``, ``num_weight_bits``) where a proven bound keeps
                    every sum inside int32 (:data:`STOCK_SUM_LIMIT`), else ``Synapse(dense)``; its
                    bias moves into the neurons it feeds (added to their activation), or stays in
                    a ``Synapse`` when a consumer is not a neuron
Conv2d              stock ``Conv`` where ``weight_exp == 0`` (Lava's ``Conv`` ignores it), no bias
                    must stay in the synapse and the bound holds; else ``Synapse(conv)``
SumPool2d/AvgPool2d ``Pool`` (zero latency)
Flatten             no process: a ``transpose`` + ``reshape`` virtual port on the connection
LIF                 stock ``LIFReset`` (``du = 4095``, ``dv = 4096 - decay``, resetting itself at
                    the layer's arrival step of every sample, so its bias acts from that step as
                    hwsim's gated bias does) for hard reset, constant threshold and a bias Lava's
                    13-bit mantissa/3-bit exponent holds exactly (a synapse bias only where the
                    bound of :data:`BIAS_FOLD_LIMIT` proves the move exact); else
                    ``SpikefoldLIF`` (soft reset, ``vth[t]``, any bias)
CubaLIF             the same, with the current persisting: stock ``LIFReset`` with ``du = 4095 -
                    current_decay`` when a LIF would be stock and no synapse bias feeds it (that
                    bias enters the current, for which the stock LIF has no input); else
                    ``SpikefoldLIF`` with ``current_decay``
LI                  ``SpikefoldLI``: Lava's own LIF sub-threshold model (``du = 4095``, ``dv =
                    4096 - decay``, the biases as a stock LIF's ``bias_mant``/``bias_exp``)
                    without threshold, sending the graded ``v``; a stock ``LIF`` cannot be used:
                    it sends spikes, never ``v``, and would spike and reset near ``2**23``
FastInhibitory      ``Inhibitory`` (graded payloads)
EICircuit           ``W_EE`` and ``W_IE`` (stock ``Dense``/``Conv`` or ``Synapse``) ->
                    ``Inhibitory`` (payloads ``p``, ``q``) -> two ``W_EI`` (stock ``Dense``, or
                    ``Synapse(mix)`` in conv form) -> ``Excitatory`` (E path held one step)
Add                 ``Delay(steps=0)`` (its InPort sums the inputs)
Delay               ``Delay``
Readout             ``Readout`` (sum over the ``T`` aligned steps)
==================  ============================================================================

Timing is the graph's ``lava`` timing (:func:`hwsim.graph.latency`): stock ``Dense``/``Conv``
and ``Synapse`` deliver one step late, the E-I circuit two, ``Delay`` its steps, all others at
once. A sample takes ``T + depth`` steps; samples follow one another in one run, and every
process starts a sample by itself (the custom ones at its first step, a stock ``LIFReset`` at
the layer's arrival step, stock synapses by draining their one-step buffer into steps that
precede their consumers' arrival; see :mod:`exporters.lava.runner`). An ``ideal`` graph is
accepted when it is also valid in ``lava`` timing (no residual paths to balance); otherwise
insert Delay nodes with ``toolchain.fold.to_lava_timing`` first.

Layout: conv-shaped populations are ``(W, H, C)`` in Lava (:mod:`exporters.lava.layout`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from exporters.lava.layout import lava_shape, swap_layout
from exporters.lava.spec import Connection, LavaGraphSpec, ProcSpec, Tap, Transform
from hwsim import arith
from hwsim.errors import ExportError, GraphError
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
    Node,
    Readout,
    SumPool2d,
)

__all__ = [
    "translate",
    "lava_timed",
    "threshold_schedule",
    "stock_lif_bias",
    "STOCK_SUM_LIMIT",
    "BIAS_FOLD_LIMIT",
]

STOCK_SUM_LIMIT = 1 << 31
"""Lava's stock synapses compute as :mod:`hwsim.arith` only while every sum ``Σ w·s`` stays
inside int32, so the exporter uses them only where ``max_i Σ_j |w_ij| · max|s| < 2**31`` is
proven from the weights and the bound of the input (else ``Synapse``, hwsim's arithmetic).
Measured on lava-nc 0.10.0 (``tests/exporters/test_lava_bounds.py`` replays both):

* ``Conv`` (``lava.proc.conv.utils.conv``) sums in float64 and then casts to the weights'
  int32 (``output.astype(weight.dtype)``) *before* its 24-bit wrap; a sum of ``2**31`` or more
  comes out as garbage where hwsim wraps the exact sum (Input ``(2, 1, 1)`` -> Conv 1x1 with
  weights 255: ``x = 4,210,752`` agrees, ``4,210,753`` does not).
* ``Dense`` sums in the dtype of its input messages: fed another stock synapse's int32
  ``a_out`` it wraps the sum to 32 bits *before* its ``weight_exp`` shift, where hwsim shifts
  the exact sum first and wraps after (:func:`hwsim.arith.dense_reduce`); the two differ for a
  negative ``weight_exp`` once the sum leaves int32.

Below the limit both orders give the same bits (a left shift and a wrap commute modulo
``2**32``; a right shift of an in-range sum is the same in int32 and int64)."""

BIAS_FOLD_LIMIT = 1 << (arith.STATE_BITS - 1 - arith.ACT_SHIFT)
"""``2**17``: hwsim adds a synapse's bias ``b`` to the activation, before Lava's int32 shift
and 24-bit fold (:func:`hwsim.arith.lif_current_fixed`); a stock LIF holding it as its own
bias adds ``b << 6`` to ``v`` after them. The two agree when neither fold can act, i.e. when
``|a| + |b| < 2**17`` for every activation ``a`` the inputs can deliver (then ``(a + b) << 6``
and ``a << 6`` lie inside the fold's range ``(-2**23, 2**23]``); the exporter moves a synapse
bias into a stock LIF only under that proven bound."""

GRADED_MESSAGE_BITS = 24  # num_message_bits of a stock synapse fed graded values (Loihi 2 max)
NEURON_KINDS = (LIF, CubaLIF, LI, FastInhibitory, Readout)  # nodes that sum currents: they
# can take a synapse's bias


@dataclass(frozen=True)
class _Ref:
    """A node's output inside the process graph."""

    proc: str
    port: str
    transform: Transform = ()
    graded: bool = False  # not binary spikes: a stock synapse must read it as graded
    # a proven max |value| of what the port carries in a fixed graph, without ``bias`` (None:
    # a float graph, or no bound known); it decides where stock synapses and biases are exact
    bound: int | None = None
    bias: np.ndarray | None = None  # a synapse bias for the neurons it feeds (Lava layout)


@dataclass
class _Ctx:
    graph: HardwareGraph
    fixed: bool
    period: int
    offsets: dict[str, int]
    shapes: dict[str, tuple[int, ...]]
    procs: dict[str, ProcSpec] = field(default_factory=dict)
    conns: list[Connection] = field(default_factory=list)
    refs: dict[str, _Ref] = field(default_factory=dict)

    @property
    def dtype(self):
        return np.int64 if self.fixed else np.float64

    @property
    def md(self):
        return self.graph.metadata

    def add(self, proc: str, kind: str, node: str, role: str, /, **params) -> str:
        """Add process ``proc`` (``params``: its constructor's arguments)."""
        if proc in self.procs:
            raise ExportError(f"process name {proc!r} is used twice (node {node!r})")
        self.procs[proc] = ProcSpec(kind, params, node, role)
        return proc

    def connect(self, ref: _Ref, proc: str, port: str) -> None:
        self.conns.append(Connection((ref.proc, ref.port), (proc, port), ref.transform))

    def inputs(self, name: str) -> list[_Ref]:
        return [self.refs[p] for p in self.graph.predecessors(name)]

    def one_input(self, name: str) -> _Ref:
        (ref,) = self.inputs(name)
        return ref

    def lava(self, name: str) -> tuple[int, ...]:
        return lava_shape(self.shapes[name])

    def pending_bias(self, name: str) -> np.ndarray:
        """The sum of the biases the node's synapses left to it (zeros if none), Lava layout."""
        total = np.zeros(self.lava(name), self.dtype)
        for ref in self.inputs(name):
            if ref.bias is not None:
                total = total + ref.bias
        return total

    def array(self, a) -> np.ndarray:
        """A node array in the spec's dtype (float64 widening is exact)."""
        return np.asarray(a, dtype=self.dtype)


def lava_timed(graph: HardwareGraph) -> HardwareGraph:
    """``graph`` in ``lava`` timing: itself, or an ``ideal`` graph re-labelled when that is
    valid (no paths to balance). Raises :class:`ExportError` pointing to
    ``toolchain.fold.to_lava_timing`` otherwise."""
    if graph.metadata.timing == "lava":
        return graph
    try:
        md = dataclasses.replace(graph.metadata, timing="lava")
        return dataclasses.replace(graph, metadata=md)
    except GraphError as exc:
        raise ExportError(
            "the graph has 'ideal' timing and paths that Lava's one-step synapses would "
            "unbalance; run toolchain.fold.to_lava_timing(graph) first "
            f"({str(exc).splitlines()[-1].strip()})"
        ) from None


def threshold_schedule(node: LIF | CubaLIF, offset: int, T: int, steps: int) -> np.ndarray:
    """The threshold at every step ``t`` of a sample: ``θ[clip(t - offset, 0, T - 1)]`` (the
    input step the layer is processing; hwsim's convention), or the scalar at every step."""
    th = np.asarray(node.threshold)
    if th.ndim == 0:
        return np.full(steps, th.item(), dtype=th.dtype)
    k = np.clip(np.arange(steps) - offset, 0, T - 1)
    return th.reshape(-1)[k]


def stock_lif_bias(total: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Lava's ``(bias_mant, bias_exp)`` per neuron holding the effective bias ``total`` (``v``
    units) exactly, ``floor(bias_mant · 2**bias_exp) == total`` with a 13-bit signed mantissa
    and ``bias_exp`` in ``[0, 7]`` (the smallest exponent that fits); None if a neuron's bias
    has no such form (then the exporter uses ``SpikefoldLIF``)."""
    total = np.asarray(total, dtype=np.int64)
    lo, hi = arith.signed_range(arith.BIAS_MANT_BITS)
    mant = np.zeros_like(total)
    exp = np.zeros_like(total)
    done = np.zeros(total.shape, bool)
    for e in range(arith.BIAS_EXP_RANGE[0], arith.BIAS_EXP_RANGE[1] + 1):
        m = total >> e  # exact where total is a multiple of 2**e
        fits = ~done & (m << e == total) & (m >= lo) & (m <= hi)
        mant, exp, done = np.where(fits, m, mant), np.where(fits, e, exp), done | fits
    if not done.all():
        return None
    if not np.array_equal(arith.bias_effective(mant, exp), total):  # the spec says so
        return None
    return mant, exp


# ---------------------------------------------------------------------------------------------
# Node handlers
# ---------------------------------------------------------------------------------------------


def _input(ctx: _Ctx, name: str, node: Input) -> _Ref:
    ctx.add(name, "spikefold.EncodedSource", name, "source", shape=ctx.lava(name), T=ctx.md.T,
            period=ctx.period)  # fmt: skip
    direct = node.encoding == "direct"
    bound = (1 << (ctx.md.widths.input_bits - 1)) if ctx.fixed and direct else 1
    return _Ref(name, "s_out", graded=direct, bound=bound if ctx.fixed else None)


def _bias_moves(ctx: _Ctx, name: str, bias, bound: int | None) -> bool:
    """Whether a synapse's bias moves into its consumers (their ``a_bias``) instead of staying
    in the synapse (then a ``Synapse`` process). It moves when every consumer is a neuron, and
    only where that keeps a plain LIF layer on Lava's own stock LIF: a CubaLIF would need the
    bias in its persistent current (no input of the stock LIF takes it), and into a LIF of a
    fixed graph the move must be proven exact (:data:`BIAS_FOLD_LIMIT`: ``bound``, the bound of
    the synapse's output without the bias, plus ``max|bias|``; one input; the total bias in
    Lava's mantissa/exponent form). Otherwise the synapse keeps it and the LIF stays stock."""
    if bias is None:
        return False
    for s in ctx.graph.successors(name):
        node = ctx.graph.nodes[s]
        if not isinstance(node, NEURON_KINDS):
            return False
        if not isinstance(node, (LIF, CubaLIF)) or not _plain(node):
            continue
        if isinstance(node, CubaLIF):
            return False
        if not ctx.fixed:
            continue
        b = np.abs(np.asarray(bias, dtype=np.int64))
        if len(ctx.graph.predecessors(s)) != 1 or bound is None:
            return False
        if bound + int(b.max(initial=0)) >= BIAS_FOLD_LIMIT:
            return False
        moved = np.broadcast_to(np.asarray(bias, dtype=np.int64), ctx.shapes[s])
        moved = swap_layout(moved, len(ctx.shapes[s])) << arith.ACT_SHIFT
        if stock_lif_bias(moved + _own_bias(ctx, s, node).astype(np.int64)) is None:
            return False
    return True


def _plain(node: LIF | CubaLIF) -> bool:
    """Hard reset and one threshold: the dynamics of Lava's stock LIF."""
    th = np.asarray(node.threshold).reshape(-1)
    return node.reset == "hard" and bool(np.all(th == th[0]))


def _message_bits(ref: _Ref) -> int:
    return GRADED_MESSAGE_BITS if ref.graded else 0


def _pred(ctx: _Ctx, name: str) -> str:
    return ctx.graph.predecessors(name)[0]


def _sum_bound(ctx: _Ctx, w: np.ndarray, src: _Ref) -> int | None:
    """A proven bound of ``|Σ w·s|`` over every output unit: ``max_o Σ |w[o]| · max|s|``
    (``w [out, ...]``: the inputs of output ``o`` along the other axes); None for a float
    graph or an input without a bound."""
    if not ctx.fixed or src.bound is None:
        return None
    per_output = np.abs(np.asarray(w, dtype=np.int64)).reshape(w.shape[0], -1).sum(axis=1)
    return int(per_output.max(initial=0)) * src.bound


def _scaled(bound: int, exp: int) -> int:
    """A bound of ``|floor(a · 2**exp)|`` for ``|a| <= bound`` (a right shift floors, so a
    negative ``a`` may grow by one: the ceiling)."""
    return bound << exp if exp >= 0 else -((-bound) >> -exp)


def _with_bias(bound: int | None, bias) -> int | None:
    if bound is None or bias is None:
        return bound
    return bound + int(np.abs(np.asarray(bias, dtype=np.int64)).max(initial=0))


def _dense_acc(ctx: _Ctx, w, src: _Ref) -> int | None:
    """The bound of a dense synapse's exact sum, on the weights Lava's ``Dense`` really uses
    after its truncation as well as on the graph's."""
    if not ctx.fixed:
        return None
    w_lava = arith.lava_dense_weights(w, ctx.md.widths.weight_bits)
    return _sum_bound(ctx, np.maximum(np.abs(w), np.abs(w_lava)), src)


def _dense_bound(ctx: _Ctx, w, exp: int, src: _Ref) -> int | None:
    """The bound of a dense synapse's output without bias, ``wrap32(floor(Σ w·s · 2**exp))``."""
    acc = _dense_acc(ctx, w, src)
    return None if acc is None else min(_scaled(acc, exp), 1 << (arith.LAVA_CHANNEL_BITS - 1))


def _conv_bound(ctx: _Ctx, w, exp: int, src: _Ref) -> int | None:
    """The bound of a convolution's output without bias, ``floor(wrap24(Σ w·s) · 2**exp)``."""
    acc = _sum_bound(ctx, w, src)
    return None if acc is None else _scaled(min(acc, 1 << (arith.ACC_BITS - 1)), exp)


def _stock_exact(ctx: _Ctx, acc: int | None) -> bool:
    """Whether a stock synapse computes as hwsim: always in a float graph (float64 sums in
    another order: ties only), in a fixed one when its sums stay inside int32
    (:data:`STOCK_SUM_LIMIT`)."""
    return not ctx.fixed or (acc is not None and acc < STOCK_SUM_LIMIT)


def _synapse(ctx: _Ctx, proc, node_name, role, kind, w, src: _Ref, in_shape, out_shape, **kw):
    bias = kw.pop("bias", None)
    params = dict(
        kind=kind, weight=ctx.array(w), in_shape=in_shape, out_shape=out_shape,
        bias=None if bias is None else ctx.array(bias), period=ctx.period, name=proc, **kw,
    )  # fmt: skip
    ctx.add(proc, "spikefold.Synapse", node_name, role, **params)
    ctx.connect(src, proc, "s_in")


def _dense_synapse(
    ctx: _Ctx, proc: str, node_name: str, role: str, w, exp: int, src: _Ref, in_shape,
    out_shape, *, bias=None, kind: str = "dense",
) -> int | None:  # fmt: skip
    """A dense synapse (``kind="mix"``: 1x1 channel mixing, always a ``Synapse``) on Lava's
    stock ``Dense`` where it is exact (:func:`_stock_exact`, on the weights Lava's ``Dense``
    really uses after its truncation) and no bias must stay inside, else on ``Synapse``.
    Returns the bound of its output, ``wrap32(floor(Σ w·s · 2**exp)) + bias``."""
    acc = _dense_acc(ctx, w, src)
    if kind == "dense" and bias is None and _stock_exact(ctx, acc):
        params = dict(weights=ctx.array(w), num_message_bits=_message_bits(src), name=proc)
        if ctx.fixed:
            params.update(weight_exp=int(exp), num_weight_bits=ctx.md.widths.weight_bits)
        ctx.add(proc, "lava.Dense", node_name, role, **params)
        ctx.connect(src, proc, "s_in")
    else:
        _synapse(ctx, proc, node_name, role, kind, w, src, in_shape, out_shape, bias=bias,
                 weight_exp=int(exp))  # fmt: skip
    return _with_bias(_dense_bound(ctx, w, exp, src), bias)


def _conv_synapse(
    ctx: _Ctx, proc: str, node_name: str, role: str, node, w, exp: int, src: _Ref, bias=None
) -> int | None:
    """A convolution on Lava's stock ``Conv`` where it is exact (:func:`_stock_exact`),
    ``weight_exp == 0`` (Lava's ``Conv`` ignores it) and no bias must stay inside, else on
    ``Synapse(conv)``. Returns the bound of its output, ``floor(wrap24(Σ w·s) · 2**exp) +
    bias``."""
    in_shape = ctx.lava(_pred(ctx, node_name))
    out_shape = lava_shape((w.shape[0], *ctx.shapes[node_name][1:]))
    acc = _sum_bound(ctx, w, src)
    if bias is None and (exp == 0 or not ctx.fixed) and _stock_exact(ctx, acc):
        # torch OIHW cross-correlation -> Lava [O, kw, kh, I] convolution (hwsim.arith.conv2d)
        w_lava = np.ascontiguousarray(ctx.array(w)[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))
        ctx.add(
            proc, "lava.Conv", node_name, role, weight=w_lava, input_shape=in_shape,
            padding=tuple(node.padding[::-1]), stride=tuple(node.stride[::-1]),
            groups=int(node.groups), num_message_bits=_message_bits(src), name=proc,
            **(dict(weight_exp=0, num_weight_bits=ctx.md.widths.weight_bits) if ctx.fixed else {}),
        )  # fmt: skip
        ctx.connect(src, proc, "s_in")
    else:
        _synapse(
            ctx, proc, node_name, role, "conv", w, src, in_shape, out_shape, bias=bias,
            weight_exp=int(exp), stride=tuple(node.stride), padding=tuple(node.padding),
            groups=int(node.groups),
        )  # fmt: skip
    return _with_bias(_conv_bound(ctx, w, exp, src), bias)


def _dense(ctx: _Ctx, name: str, node: Dense) -> _Ref:
    src = ctx.one_input(name)
    moves = _bias_moves(ctx, name, node.bias, _dense_bound(ctx, node.weight, node.weight_exp, src))
    bound = _dense_synapse(
        ctx, name, name, "synapse", node.weight, node.weight_exp, src,
        ctx.lava(_pred(ctx, name)), ctx.lava(name), bias=None if moves else node.bias,
    )  # fmt: skip
    bias = ctx.array(node.bias) if moves else None
    return _Ref(name, "a_out", graded=True, bound=bound, bias=bias)


def _conv(ctx: _Ctx, name: str, node: Conv2d) -> _Ref:
    src = ctx.one_input(name)
    moves = _bias_moves(ctx, name, node.bias, _conv_bound(ctx, node.weight, node.weight_exp, src))
    inside = None if moves else node.bias
    bound = _conv_synapse(ctx, name, name, "synapse", node, node.weight, node.weight_exp, src,
                          inside)  # fmt: skip
    bias = None
    if moves:
        bias = np.broadcast_to(ctx.array(node.bias), ctx.lava(name)).copy()  # channel axis last
    return _Ref(name, "a_out", graded=True, bound=bound, bias=bias)


def _pool(ctx: _Ctx, name: str, node: SumPool2d) -> _Ref:
    src = ctx.one_input(name)
    mode = "avg" if isinstance(node, AvgPool2d) else "sum"
    ctx.add(
        name, "spikefold.Pool", name, "pool", in_shape=ctx.lava(_pred(ctx, name)),
        out_shape=ctx.lava(name), kernel=tuple(node.kernel),
        stride=tuple(node.effective_stride), mode=mode, name=name,
    )  # fmt: skip
    ctx.connect(src, name, "s_in")
    kh, kw = node.kernel
    bound = None if src.bound is None else src.bound * kh * kw
    return _Ref(name, "s_out", graded=True, bound=bound)


def _flatten(ctx: _Ctx, name: str, node: Flatten) -> _Ref:
    src = ctx.one_input(name)
    shape = ctx.shapes[_pred(ctx, name)]
    if len(shape) == 1:
        return src
    # Lava (W, H, C) -> graph (C, H, W) -> C-order flat, as torch's flatten(1)
    extra = (("transpose", (2, 1, 0)), ("reshape", (int(np.prod(shape)),)))
    return dataclasses.replace(src, transform=src.transform + extra)


def _own_bias(ctx: _Ctx, name: str, node: LIF | CubaLIF | LI) -> np.ndarray:
    """A neuron's own bias in ``v`` units (fixed: effective), Lava layout, zeros if absent."""
    shape = ctx.lava(name)
    own = node.bias_broadcast(ctx.shapes[name])
    if own is None:
        return np.zeros(shape, ctx.dtype)
    own = np.broadcast_to(own, ctx.shapes[name])
    own = arith.bias_effective(own, node.bias_exp) if ctx.fixed else ctx.array(own)
    return swap_layout(own, len(shape)).astype(ctx.dtype)


def _lif(ctx: _Ctx, name: str, node: LIF | CubaLIF) -> _Ref:
    shape = ctx.lava(name)
    a_bias = ctx.pending_bias(name)  # the synapses' biases: activation units
    own_bias = _own_bias(ctx, name, node)  # v units
    th = np.asarray(node.threshold).reshape(-1)
    cuba = isinstance(node, CubaLIF)
    c = node.current_decay if cuba else 0  # fixed 4095 - du, float the factor itself
    offset = ctx.offsets[name]
    out = _Ref(name, "s_out", bound=1)
    if _plain(node):
        params = _stock_lif_params(ctx, name, node, th[0], a_bias, own_bias)
        if params is not None:
            # LIFReset zeroes u and v when its 1-based time step % reset_interval equals
            # reset_offset, before integrating: here at step t = offset of every sample, so
            # its bias acts from the arrival on, as hwsim's gated bias does (hwsim.sim), and
            # what it did before (the previous sample's tail) reaches no live step downstream
            ctx.add(
                name, "lava.LIFReset", name, "neuron", shape=shape,
                reset_interval=ctx.period, reset_offset=(offset + 1) % ctx.period, name=name,
                **params,
            )  # fmt: skip
            return _connect_neuron(ctx, name, "a_in", out)
    vth = threshold_schedule(node, offset, ctx.md.T, ctx.period)
    ctx.add(
        name, "spikefold.LIF", name, "neuron", shape=shape,
        decay=int(node.decay) if ctx.fixed else float(node.decay), vth=ctx.array(vth),
        bias=own_bias, a_bias=a_bias, reset=node.reset, period=ctx.period, offset=offset,
        current_decay=int(c) if ctx.fixed else float(c), name=name,
    )  # fmt: skip
    return _connect_neuron(ctx, name, "a_in", out)


def _li(ctx: _Ctx, name: str, node: LI) -> _Ref:
    """``SpikefoldLI``: the synapses' pending bias (activation units) and the LI's own bias both
    act on ``v`` (its current does not persist), as ``a_bias << 6 + bias`` in Lava's
    ``bias_mant``/``bias_exp``; the output is ``v``, graded."""
    shape = ctx.lava(name)
    a_bias, own_bias = ctx.pending_bias(name), _own_bias(ctx, name, node)
    common = dict(shape=shape, period=ctx.period, offset=int(ctx.offsets[name]), name=name)
    if ctx.fixed:
        fit = stock_lif_bias((a_bias.astype(np.int64) << arith.ACT_SHIFT) + own_bias)
        if fit is None:
            raise ExportError(
                f"node {name!r} (LI): its bias (with its synapses') has no 13-bit mantissa / "
                "3-bit exponent form (Lava's bias_mant, bias_exp); quantise the graph with "
                "toolchain.quantize, which gives the LI such a bias"
            )
        ctx.add(
            name, "spikefold.LI", name, "neuron", du=arith.DECAY_UNITY - 1,
            dv=arith.DECAY_UNITY - int(node.decay), bias_mant=fit[0], bias_exp=fit[1], **common,
        )  # fmt: skip
    else:
        ctx.add(
            name, "spikefold.LI", name, "neuron", du=1.0, dv=1.0 - float(node.decay),
            bias_mant=a_bias + own_bias, bias_exp=0.0, **common,
        )  # fmt: skip
    bound = arith.STATE_MAX if ctx.fixed else None
    return _connect_neuron(ctx, name, "a_in", _Ref(name, "s_out", graded=True, bound=bound))


def _stock_lif_params(
    ctx: _Ctx, name: str, node: LIF | CubaLIF, vth, a_bias, own_bias
) -> dict | None:
    """The parameters of a stock LIF computing ``node`` as hwsim does, or None.

    float: ``du = 1 - current_decay`` (a LIF's current does not persist: ``du = 1``), ``dv = 1
    - decay``, one bias. fixed: ``du = 4095 - current_decay`` (:func:`hwsim.arith.
    lif_current_fixed`), ``dv = 4096 - decay`` and the total bias ``(a_bias << 6) + own_bias``
    as ``(bias_mant, bias_exp)`` (:func:`stock_lif_bias`), provided that moving the synapse
    bias ``a_bias`` out of the activation is exact (:data:`BIAS_FOLD_LIMIT`, from the bounds of
    the inputs). A synapse bias into a CubaLIF enters its persistent current, for which a stock
    LIF has no input: None."""
    cuba = isinstance(node, CubaLIF)
    c = node.current_decay if cuba else 0
    if cuba and np.any(a_bias):
        return None
    if not ctx.fixed:
        return dict(du=1.0 - float(c), dv=1.0 - float(node.decay), vth=float(vth),
                    bias_mant=a_bias + own_bias, bias_exp=0.0)  # fmt: skip
    if np.any(a_bias):
        bounds = [ref.bound for ref in ctx.inputs(name)]
        if None in bounds or sum(bounds) + int(np.abs(a_bias).max()) >= BIAS_FOLD_LIMIT:
            return None
    fit = stock_lif_bias((a_bias.astype(np.int64) << arith.ACT_SHIFT) + own_bias)
    if fit is None:
        return None
    return dict(du=arith.DECAY_UNITY - 1 - int(c), dv=arith.DECAY_UNITY - int(node.decay),
                vth=int(vth), bias_mant=fit[0], bias_exp=fit[1])  # fmt: skip


def _connect_neuron(ctx: _Ctx, name: str, port: str, out: _Ref) -> _Ref:
    for ref in ctx.inputs(name):
        ctx.connect(ref, name, port)
    return out


def _payload_bound(ctx: _Ctx) -> int | None:
    return (1 << ctx.md.widths.payload_bits) - 1 if ctx.fixed else None


def _inhibitory_params(ctx: _Ctx, payload_exp: int) -> dict:
    if not ctx.fixed:
        return {}
    return dict(payload_exp=int(payload_exp), payload_bits=ctx.md.widths.payload_bits)


def _fast_inhibitory(ctx: _Ctx, name: str, node: FastInhibitory) -> _Ref:
    ctx.add(
        name, "spikefold.Inhibitory", name, "inhibitory", shape=ctx.lava(name), g_i=None,
        a_bias=ctx.pending_bias(name), name=name, **_inhibitory_params(ctx, node.payload_exp),
    )  # fmt: skip
    out = _Ref(name, "s_out", graded=True, bound=_payload_bound(ctx))
    return _connect_neuron(ctx, name, "a_in", out)


def _ei_circuit(ctx: _Ctx, name: str, node: EICircuit) -> _Ref:
    src = ctx.one_input(name)
    conv = node.form == "conv"
    e_shape = ctx.lava(name)
    i_shape = (*e_shape[:-1], node.n_i) if conv else (node.n_i,)
    p = {r: f"{name}.{r}" for r in ("ee", "ie", "inh", "ei_sub", "ei_den", "exc")}
    in_shape = ctx.lava(_pred(ctx, name))
    for role, w, exp, out_shape in (
        ("ee", node.w_ee, node.w_ee_exp, e_shape), ("ie", node.w_ie, node.w_ie_exp, i_shape)
    ):  # fmt: skip
        if conv:
            _conv_synapse(ctx, p[role], name, role, node, w, exp, src)
        else:
            _dense_synapse(ctx, p[role], name, role, w, exp, src, in_shape, out_shape)
    divisive = node.variant == "divisive"
    ctx.add(
        p["inh"], "spikefold.Inhibitory", name, "inhibitory", shape=i_shape,
        g_i=ctx.array(node.g_i) if divisive else None, a_bias=np.zeros(i_shape, ctx.dtype),
        name=p["inh"], **_inhibitory_params(ctx, node.inhibitory.payload_exp),
        **({"g_i_exp": int(node.g_i_exp)} if ctx.fixed and divisive else {}),
    )  # fmt: skip
    ctx.conns.append(Connection((p["ie"], "a_out"), (p["inh"], "a_in")))
    paths = [("ei_sub", "s_out")] + ([("ei_den", "s_div_out")] if divisive else [])
    payload = _Ref(p["inh"], "s_out", graded=True, bound=_payload_bound(ctx))
    for role, port in paths:
        ref = dataclasses.replace(payload, port=port)
        _dense_synapse(ctx, p[role], name, role, node.w_ei, node.w_ei_exp, ref, i_shape, e_shape,
                       kind="mix" if conv else "dense")  # fmt: skip
    gains = {}
    if divisive:
        gains = dict(g_e=ctx.array(node.g_e), b_e=ctx.array(node.b_e))
        if ctx.fixed:
            gains["g_e_exp"] = int(node.g_e_exp)
    floor = int(node.floor) if ctx.fixed else float(node.floor)
    ctx.add(
        p["exc"], "spikefold.Excitatory", name, "excitatory", shape=e_shape,
        variant=node.variant, stabilisation=node.stabilisation, floor=floor,
        period=ctx.period, name=p["exc"], **gains,
    )  # fmt: skip
    ctx.conns.append(Connection((p["ee"], "a_out"), (p["exc"], "a_in")))
    ctx.conns.append(Connection((p["ei_sub"], "a_out"), (p["exc"], "a_sub_in")))
    if divisive:
        ctx.conns.append(Connection((p["ei_den"], "a_out"), (p["exc"], "a_den_in")))
    # the E current: saturated to 24 bits (divisive), or the difference of two such
    # (subtractive): hwsim.arith.ei_excitatory_fixed
    bound = (1 << (arith.ACC_BITS - 1)) * (1 if divisive else 2) if ctx.fixed else None
    return _Ref(p["exc"], "a_out", graded=True, bound=bound)


def _add(ctx: _Ctx, name: str, node: Add) -> _Ref:
    ctx.add(name, "spikefold.Delay", name, "delay", shape=ctx.lava(name), steps=0,
            period=ctx.period, name=name)  # fmt: skip
    refs = ctx.inputs(name)
    for ref in refs:
        ctx.connect(ref, name, "s_in")
    bounds = [r.bound for r in refs]
    bound = None if None in bounds else sum(bounds)
    return _Ref(name, "s_out", graded=True, bound=bound)


def _delay(ctx: _Ctx, name: str, node: Delay) -> _Ref:
    src = ctx.one_input(name)
    if node.steps == 0:
        return src
    ctx.add(name, "spikefold.Delay", name, "delay", shape=ctx.lava(name), steps=int(node.steps),
            period=ctx.period, name=name)  # fmt: skip
    ctx.connect(src, name, "s_in")
    return _Ref(name, "s_out", graded=src.graded, bound=src.bound)


def _readout(ctx: _Ctx, name: str, node: Readout) -> _Ref:
    ctx.add(
        name, "spikefold.Readout", name, "readout", shape=ctx.lava(name),
        a_bias=ctx.pending_bias(name), start=int(ctx.offsets[name]), T=int(ctx.md.T),
        period=ctx.period, name=name,
    )  # fmt: skip
    return _connect_neuron(ctx, name, "a_in", _Ref(name, "a_out", graded=True))


HANDLERS: dict[type[Node], Callable[[_Ctx, str, Node], _Ref]] = {
    Input: _input,
    Dense: _dense,
    Conv2d: _conv,
    SumPool2d: _pool,
    AvgPool2d: _pool,
    Flatten: _flatten,
    LIF: _lif,
    CubaLIF: _lif,
    LI: _li,
    FastInhibitory: _fast_inhibitory,
    EICircuit: _ei_circuit,
    Add: _add,
    Delay: _delay,
    Readout: _readout,
}
"""Node kind -> translation handler (exact type)."""


def translate(graph: HardwareGraph) -> LavaGraphSpec:
    """The Lava process graph of ``graph`` (fixed or float; see the module docstring).

    Raises :class:`ExportError` for graphs Lava cannot run as they are: several inputs or
    readouts, an ``ideal`` graph that needs Delay nodes, an unmapped node kind.
    """
    graph = lava_timed(graph)
    md = graph.metadata
    inputs = graph.input_names()
    if len(inputs) != 1:
        raise ExportError(f"the Lava exporter takes graphs with one Input node, got {inputs}")
    readouts = [n for n, v in graph.nodes.items() if isinstance(v, Readout)]
    if len(readouts) > 1:
        raise ExportError(f"the Lava exporter takes at most one Readout node, got {readouts}")
    offsets = graph.arrival_offsets()
    period = md.T + max(offsets.values())
    ctx = _Ctx(graph, md.format == "fixed", period, offsets, graph.shapes())
    for name in graph.topological_order():
        node = graph.nodes[name]
        handler = HANDLERS.get(type(node))
        if handler is None:
            raise ExportError(f"node {name!r}: the Lava exporter has no mapping for {node.kind}")
        ctx.refs[name] = handler(ctx, name, node)
    taps = {
        name: Tap(ref.proc, ref.port, ref.transform, ref.bias) for name, ref in ctx.refs.items()
    }
    return LavaGraphSpec(
        T=md.T,
        steps=period,
        format=md.format,
        input_node=inputs[0],
        input=graph.nodes[inputs[0]],
        widths=md.widths,
        readout_node=readouts[0] if readouts else None,
        offsets=offsets,
        shapes=ctx.shapes,
        processes=ctx.procs,
        connections=tuple(ctx.conns),
        taps=taps,
        origin=dict(md.origin),
    )
