"""hwsim's simulator: run a :class:`~hwsim.graph.HardwareGraph` on a batch, step by step.

Semantics (DESIGN.md sections 3-4, ``docs/graph.md``, ``docs/numeric-spec.md``):

* **format**: a ``float32`` graph runs in float64 with the training semantics (the float
  functions of :mod:`hwsim.arith`, E-I adaptive stabilisation included); a ``fixed`` graph
  runs in int64 through the integer functions of :mod:`hwsim.arith` only
  (:mod:`hwsim.simops` holds one operation per node kind).
* **steps**: the run lasts ``steps = T + max(arrival offsets)`` steps (``T`` for an ``ideal``
  graph without Delay nodes). Input steps ``t >= T`` are zero.
* **latency**: a node of latency ``L`` (:func:`hwsim.graph.latency`: Delay ``steps``; in
  ``lava`` timing Dense/Conv2d 1 and EICircuit 2) computes at step ``t`` on the summed input
  of step ``t - L``, and on a zero input for ``t < L``.
* **bias gating**: a LIF holds its reset state (``v = 0``, no spikes) at the steps ``t`` before
  its arrival offset, so its bias (and a synapse bias folded into it) acts only from the first
  step that carries input. Stateless nodes (a Dense/Conv2d emitting its bias on a zero input)
  are not gated: what they emit before their offset reaches only the pre-offset steps of
  their consumers (offsets add up along every path), where a LIF ignores it and the readout
  does not sum. So a feed-forward graph runs in ``lava`` timing exactly as its ``ideal``
  run shifted by each node's offset, biases included. ``gate=False`` drops the gating: every
  neuron integrates its input and applies its bias from step 0, as the stock LIF processes
  that lava-dl's NetX builds do (``exporters.netx``, ``docs/loihi.md``); a threshold schedule
  is then read as if the offset were 0, so NetX graphs (constant thresholds) only.
* **thresholds**: a LIF with a schedule ``θ[T]`` uses ``θ[clip(t - offset, 0, T - 1)]`` at
  step ``t`` (aligned with the input step it is processing).
* **readout**: the single :class:`~hwsim.graph.Readout` node's current is summed over the
  ``T`` aligned steps ``offset .. offset + T - 1`` (fixed: 32-bit saturating,
  :func:`hwsim.arith.readout_accumulate`); the prediction is its ``argmax`` (lowest index on
  ties).

Inputs (``x``), per :class:`~hwsim.graph.Input` encoding: ``direct`` a frame ``[B, *shape]``
entering every step (fixed: :func:`hwsim.arith.quantize_input` with ``Input.scale`` and
``widths.input_bits``); ``rate`` a frame of probabilities in [0, 1], Bernoulli-encoded at every
step with ``generator`` (a :class:`numpy.random.Generator`; default ``default_rng(0)``);
``spikes`` a spike train ``[T, B, *shape]``. Graphs with several inputs take a dict by name.

Outputs: :class:`SimResult` — readout, predictions, event counts of every node at every step
(non-zero outputs summed over the batch), overflow/saturation counts, and on request the
per-step outputs of chosen nodes (``record``) plus their ops' probes (:mod:`hwsim.simops`):
for LIF and CubaLIF nodes the pre-reset membrane (``"<node>/h"``: float ``H``, fixed ``v``
before reset), for CubaLIF nodes the synaptic current (``"<node>/u"``).

Teacher forcing (``force={node: array[steps, B, *shape]}``) replaces a node's output for its
successors; the node's own record keeps what it computed. A forced LIF also resets with the
forced spikes, so its membrane follows the reference trajectory and a mismatch stays local
(the verification ladder's rung 0, :mod:`hwsim.verify`).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from hwsim import arith
from hwsim.errors import DataError, GraphError
from hwsim.graph import HardwareGraph, Input, Readout, latency
from hwsim.simops import Op, absmax, int_dtype, make_op, repeat_view

__all__ = [
    "SimResult",
    "simulate",
    "simulate_dataset",
    "iter_batches",
    "encode_inputs",
    "run_steps",
]


@dataclass
class SimResult:
    """What :func:`simulate` returns.

    ``readout [B, K]`` the Readout's total over the aligned ``T`` steps (None without a
    Readout node); ``predictions [B]`` its argmax; ``records`` ``{node: [steps, B, *shape]}``
    for recorded nodes (and their probes ``"<lif>/h"``, ``"<cubalif>/u"``); ``counts``
    ``{node: int64 [steps]}`` non-zero outputs summed over the batch, for every node;
    ``overflow`` ``{node: {event: count}}`` (see :mod:`hwsim.simops`); ``offsets`` the
    arrival offset of every node; ``steps`` the run length; ``T`` the graph's steps per
    sample; ``readout_node`` its name.
    """

    readout: np.ndarray | None
    predictions: np.ndarray | None
    records: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    overflow: dict[str, dict[str, int]]
    offsets: dict[str, int]
    steps: int
    T: int
    format: str
    timing: str
    readout_node: str | None = None
    batch: int = 0

    def aligned(self, key: str) -> np.ndarray:
        """``records[key]`` over the ``T`` steps aligned with the input (``offset .. offset +
        T - 1`` of its node), so ``ideal`` and ``lava`` runs compare step for step."""
        off = self.offsets[key.split("/", 1)[0]]
        return self.records[key][off : off + self.T]

    def events(self, key: str) -> int:
        """Total events of node ``key`` over the whole run."""
        return int(self.counts[key].sum())


def _readout_node(graph: HardwareGraph) -> str | None:
    names = [n for n, v in graph.nodes.items() if isinstance(v, Readout)]
    if len(names) > 1:
        raise GraphError(f"the simulator supports one Readout node, the graph has {names}")
    return names[0] if names else None


def encode_inputs(
    graph: HardwareGraph,
    x,
    generator: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """The per-step input of every Input node, ``{name: [T, B, *shape]}``, encoded as the
    module docstring says: a ``direct`` frame in the compute dtype (float64, or int64 for a
    fixed graph) as a read-only view repeating it ``T`` times (no copies); ``rate`` and
    ``spikes`` trains as ``uint8`` 0/1. Raises :class:`DataError` naming the input for wrong
    shapes or values."""
    md = graph.metadata
    fixed = md.format == "fixed"
    names = _plan(graph).input_names
    if not isinstance(x, Mapping):
        if len(names) != 1:
            raise DataError(f"the graph has inputs {names}: pass x as a dict by name")
        x = {names[0]: x}
    unknown = set(x) - set(names)
    if unknown or set(names) - set(x):
        raise DataError(f"x has inputs {sorted(x)}, the graph {names}")
    gen = np.random.default_rng(0) if generator is None else generator
    out = {}
    for name in names:
        node: Input = graph.nodes[name]
        a = np.asarray(x[name])
        seq = node.encoding == "spikes"
        want = ((md.T,) if seq else ()) + ("B",) + tuple(node.shape)
        lead = 2 if seq else 1
        if a.ndim != len(node.shape) + lead or a.shape[lead:] != tuple(node.shape):
            raise DataError(
                f"input {name!r} ({node.encoding}): expected shape {want}, got {a.shape}"
            )
        if seq and a.shape[0] != md.T:
            raise DataError(f"input {name!r}: a spike train of {a.shape[0]} steps, T={md.T}")
        if not np.all(np.isfinite(a.astype(np.float64))):
            raise DataError(f"input {name!r} has NaN or infinite values")
        if node.encoding == "rate":
            if a.size and (a.min() < 0 or a.max() > 1):
                raise DataError(f"input {name!r} (rate): probabilities must lie in [0, 1]")
            p = a.astype(np.float64)
            a = np.stack([gen.random(p.shape) < p for _ in range(md.T)])
        elif node.encoding == "spikes":
            if np.any((a != 0) & (a != 1)):
                raise DataError(f"input {name!r} (spikes): values must be 0 or 1")
        if node.encoding == "direct":
            a = arith.quantize_input(a, node.scale, md.widths.input_bits) if fixed else a
            # one frame for every step: a read-only view, not T copies (hwsim.simops
            # computes a stateless node of a frame once)
            a = np.ascontiguousarray(a, dtype=np.int64 if fixed else np.float64)
            out[name] = repeat_view(a, md.T)
        else:
            out[name] = np.ascontiguousarray(a, dtype=np.uint8)  # spikes: 0 or 1
    return out


def simulate(
    graph: HardwareGraph,
    x,
    record: bool | Iterable[str] = False,
    force: Mapping[str, np.ndarray] | None = None,
    generator: np.random.Generator | None = None,
    gate: bool = True,
) -> SimResult:
    """Run ``graph`` on one batch ``x`` (see the module docstring).

    ``record``: True for every node, or an iterable of node names (unknown names raise
    :class:`GraphError`); LIF and CubaLIF nodes also record ``"<name>/h"``, CubaLIF nodes
    ``"<name>/u"``. ``force``: ``{node: array [steps, B, *shape]}`` teacher forcing (an
    Input node may be forced too, e.g. with the spike train a torch encoder drew).
    ``generator`` draws ``rate`` inputs. ``gate=False``: neurons are not held in their reset
    state before their arrival offset (NetX's convention, module docstring).
    """
    return run_steps(graph, encode_inputs(graph, x, generator), record, force, gate=gate)


CHUNK_BYTES = 64 * 2**20
"""Working memory of one block of steps: :func:`run_steps` computes ``k`` steps at once, ``k``
chosen so that the widest node's float64 output for the block stays near this size (records
come on top). More steps per block means larger matrix products and fewer Python calls."""


def run_steps(
    graph: HardwareGraph,
    inputs: Mapping[str, np.ndarray],
    record: bool | Iterable[str] = False,
    force: Mapping[str, np.ndarray] | None = None,
    gate: bool = True,
    *,
    block_steps: int | None = None,
) -> SimResult:
    """:func:`simulate` on already encoded inputs ``{name: [T, B, *shape]}`` (as returned by
    :func:`encode_inputs`), so two graphs can be run on the very same spikes.

    The run goes node by node over blocks of ``block_steps`` consecutive steps (None: as many
    as :data:`CHUNK_BYTES` allows), each node computing the whole block at once
    (:mod:`hwsim.simops`); the result does not depend on the block size."""
    md = graph.metadata
    fixed = md.format == "fixed"
    plan = _plan(graph)
    order, shapes, offsets, steps = plan.order, plan.shapes, plan.offsets, plan.steps
    inputs = {k: np.asarray(v) for k, v in inputs.items()}
    batch = _check_inputs(graph, inputs, fixed)
    ro = plan.readout

    rec = set(graph.nodes) if record is True else set(record or ())
    unknown = rec - set(graph.nodes)
    if unknown:
        raise GraphError(f"record: no node named {sorted(unknown)}")
    forced = _check_force(graph, force or {}, steps, batch, fixed)
    if block_steps is not None and (
        isinstance(block_steps, bool) or not isinstance(block_steps, int) or block_steps < 1
    ):
        raise DataError(f"block_steps must be a positive int, got {block_steps!r}")

    ops, feed = _build_ops(graph, inputs, forced, batch, gate)
    lat, preds = plan.lat, plan.preds
    for n in order:
        ops[n].record_traces = n in rec
    records = {n: np.zeros((steps, batch, *shapes[n]), ops[n].out_dtype) for n in rec}
    for n in rec:
        for key in ops[n].traces:
            dt = ops[n].trace_dtype(key)
            records[f"{n}/{key}"] = np.zeros((steps, batch, *shapes[n]), dt)
    counts = {n: np.zeros(steps, np.int64) for n in order}
    acc = _Readout(fixed, batch, shapes[ro], offsets[ro], md.T) if ro else None
    tails: dict[str, np.ndarray] = {}

    k = block_steps or _block_steps(plan.widest, batch, steps)
    for t0, t1 in _blocks(steps, md.T, k):
        out: dict[str, np.ndarray] = {}
        for name in order:
            if name in inputs:
                x = _input_block(inputs[name], t0, t1, md.T)
            else:
                x = _sum([out[p] for p in preds[name]], feed[name])
            if lat[name]:  # the input of step t - L (zeros before the first arrival)
                x = _delayed(x, tails, name, lat[name])
            f = forced[name][t0:t1] if name in forced else None
            y = ops[name].run(x, t0, f)
            counts[name][t0:t1] = _nonzero_per_step(y)
            if name in rec:
                records[name][t0:t1] = y
                for key in ops[name].traces:
                    records[f"{name}/{key}"][t0:t1] = ops[name].trace[key]
            out[name] = y if f is None else f
        if acc is not None:
            acc.add(out[ro], t0)

    overflow = {n: dict(op.overflow) for n, op in ops.items() if op.overflow}
    if acc is not None and acc.n_saturated:
        overflow.setdefault(ro, {})["sat"] = acc.n_saturated
    total = None if acc is None else acc.total
    return SimResult(
        readout=total,
        predictions=None if total is None else np.argmax(total.reshape(batch, -1), axis=1),
        records=records,
        counts=counts,
        overflow=overflow,
        offsets=dict(offsets),
        steps=steps,
        T=md.T,
        format=md.format,
        timing=md.timing,
        readout_node=ro,
        batch=batch,
    )


def _check_inputs(graph: HardwareGraph, inputs: Mapping[str, np.ndarray], fixed: bool) -> int:
    """The batch size of encoded ``inputs``; :class:`DataError` for missing or extra inputs,
    wrong shapes, unequal batches or (fixed format) non-integer values."""
    names, md = _plan(graph).input_names, graph.metadata
    if set(inputs) != set(names):
        raise DataError(f"inputs has {sorted(inputs)}, the graph {names}")
    batches = set()
    for name in names:
        a, shape = inputs[name], tuple(graph.nodes[name].shape)
        if a.ndim != len(shape) + 2 or a.shape[0] != md.T or a.shape[2:] != shape:
            raise DataError(
                f"encoded input {name!r}: expected shape (T={md.T}, B, *{shape}), got {a.shape}"
            )
        if fixed and a.dtype.kind not in "biu":
            raise DataError(f"encoded input {name!r}: a fixed graph takes integers, got {a.dtype}")
        batches.add(a.shape[1])
    if len(batches) != 1:
        raise DataError(f"encoded inputs differ in batch size: {sorted(batches)}")
    return batches.pop()


class _Plan:
    """What :func:`run_steps` needs of a graph's structure, computed once per graph (kept
    while the graph lives; graphs are immutable): order, shapes, offsets, predecessors,
    latencies, the readout node."""

    def __init__(self, graph: HardwareGraph) -> None:
        md = graph.metadata
        self.order = graph.topological_order()
        self.shapes, self.offsets = graph.shapes(), graph.arrival_offsets()
        self.steps = md.T + max(self.offsets.values())
        self.preds = {n: graph.predecessors(n) for n in self.order}
        self.shape_in = {n: (graph.input_shapes(n) or [self.shapes[n]])[0] for n in self.order}
        self.lat = {n: latency(graph.nodes[n], md.timing) for n in self.order}
        self.readout = _readout_node(graph)
        self.input_names = graph.input_names()
        self.widest = max(int(np.prod(s)) for s in self.shapes.values())


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plan(graph: HardwareGraph) -> _Plan:
    if graph not in _PLANS:
        _PLANS[graph] = _Plan(graph)
    return _PLANS[graph]


def _build_ops(
    graph, inputs, forced, batch, gate=True
) -> tuple[dict[str, Op], dict[str, np.dtype]]:
    """Every node's operation, built in topological order with its input's proven bound and
    dtype (a forced node passes the forced values on), reset for ``batch``; and the dtype
    each node's summed input is fed in."""
    md = graph.metadata
    fixed = md.format == "fixed"
    plan = _plan(graph)
    shapes, offsets = plan.shapes, plan.offsets
    ops: dict[str, Op] = {}
    bound: dict[str, int | None] = {}
    dtype: dict[str, np.dtype] = {}
    feed: dict[str, np.dtype] = {}
    for name in plan.order:
        preds = plan.preds[name]
        if name in inputs:
            a = inputs[name]
            in_bound = absmax(a[:1] if a.strides[0] == 0 else a) if fixed else None
            feed[name] = a.dtype
        else:
            bs = [bound[p] for p in preds]
            in_bound = None if None in bs else sum(bs)
            dts = [dtype[p] for p in preds]
            if any(d.kind == "f" for d in dts):
                feed[name] = np.dtype(np.float64)
            elif len(dts) == 1:
                feed[name] = dts[0]
            else:
                feed[name] = int_dtype(in_bound)
        op = make_op(
            graph.nodes[name], fixed=fixed, widths=md.widths, T=md.T,
            shape_in=plan.shape_in[name], shape_out=shapes[name],
            offset=offsets[name] if gate else 0, in_bound=in_bound, in_dtype=feed[name],
        )  # fmt: skip
        op.reset(batch)
        ops[name] = op
        bound[name], dtype[name] = op.bound, op.out_dtype
        if name in forced:  # the successors see the forced values
            dtype[name] = forced[name].dtype
            if bound[name] is not None:
                bound[name] = max(bound[name], absmax(forced[name]))
    return ops, feed


def _block_steps(widest: int, batch: int, steps: int) -> int:
    return int(max(1, min(steps, CHUNK_BYTES // max(1, 8 * batch * widest))))


def _blocks(steps: int, T: int, k: int) -> list[tuple[int, int]]:
    """``[t0, t1)`` blocks of at most ``k`` steps, split at ``T`` (inputs end there, so each
    block's input is either all given or all zero)."""
    out = []
    for lo, hi in ((0, min(T, steps)), (T, steps)):
        out += [(t, min(t + k, hi)) for t in range(lo, hi, k)]
    return out


def _input_block(a: np.ndarray, t0: int, t1: int, T: int) -> np.ndarray:
    if t0 < T:
        return a[t0:t1]
    return repeat_view(np.zeros(a.shape[1:], a.dtype), t1 - t0)


def _sum(xs: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """The summed input of a node, in ``dtype`` (wide enough for the sum's proven bound)."""
    if len(xs) == 1:
        return xs[0]
    total = xs[0].astype(dtype, order="C")
    for x in xs[1:]:
        total += x
    return total


def _delayed(x: np.ndarray, tails: dict[str, np.ndarray], name: str, lag: int) -> np.ndarray:
    """``x`` shifted ``lag`` steps later: the block's first steps take the last ``lag`` inputs
    of the previous block (``tails``; zeros at the start of the run)."""
    k = x.shape[0]
    full = np.zeros((lag + k, *x.shape[1:]), x.dtype)  # C order (concatenating a stride-0
    if name in tails:  # view would put the step axis innermost: strided, BLAS-less steps)
        full[:lag] = tails[name]
    full[lag:] = x
    tails[name] = full[k:].copy()
    return full[:k]


def _nonzero_per_step(y: np.ndarray) -> np.ndarray:
    k = y.shape[0]
    if k > 1 and y.strides[0] == 0:  # the same output at every step of the block
        out = np.empty(k, np.int64)
        out[:] = np.count_nonzero(y[0])
        return out
    if y.size <= 1 << 16 and y.flags.c_contiguous:  # small: one call (a small bool copy)
        return np.count_nonzero(y.reshape(k, -1), axis=1).astype(np.int64, copy=False)
    # one whole-array count per step: count_nonzero with an axis makes a bool copy first
    return np.array([np.count_nonzero(y[i]) for i in range(k)], np.int64)


class _Readout:
    """The readout's sum over its ``T`` aligned steps ``offset .. offset + T - 1``; fixed:
    32-bit saturating (:func:`hwsim.arith.readout_accumulate`), float: in order, float64."""

    def __init__(self, fixed: bool, batch: int, shape, offset: int, T: int) -> None:
        self.fixed, self.offset, self.T = fixed, offset, T
        self.total = np.zeros((batch, *shape), np.int64 if fixed else np.float64)
        self.n_saturated = 0

    def add(self, y: np.ndarray, t0: int) -> None:
        lo, hi = max(t0, self.offset), min(t0 + y.shape[0], self.offset + self.T)
        if lo >= hi:
            return
        cur = y[lo - t0 : hi - t0]
        if self.fixed:
            # no step can saturate while |total| + Σ_t max|cur_t| stays inside 32 bits: then
            # the total is the plain sum (else the saturating sum, step by step)
            top = absmax(self.total) + len(cur) * absmax(cur[:1] if cur.strides[0] == 0 else cur)
            if top <= arith.signed_range(arith.READOUT_BITS)[1]:
                self.total = self.total + cur.sum(axis=0, dtype=np.int64)
                return
            for c in cur:
                s = arith.readout_accumulate(self.total, c)
                self.total, self.n_saturated = s.value, self.n_saturated + s.n_saturated
        else:
            for c in cur:  # in step order: float sums depend on it
                self.total = self.total + c


def _check_force(graph, force, steps: int, batch: int, fixed: bool) -> dict[str, np.ndarray]:
    shapes, out = graph.shapes(), {}
    for name, a in force.items():
        if name not in graph.nodes:
            raise GraphError(f"force: no node named {name!r}")
        a = np.asarray(a)
        want = (steps, batch, *shapes[name])
        if a.shape != want:
            raise DataError(
                f"force[{name!r}]: expected shape {want} (steps, B, ...), got {a.shape}"
            )
        if fixed and a.dtype.kind == "f":
            if not np.all(np.rint(a) == a):
                raise DataError(f"force[{name!r}]: a fixed graph takes integer values")
        out[name] = a.astype(np.int64 if fixed else np.float64)
    return out


def iter_batches(graph: HardwareGraph, x, batch_size: int, progress: str | None = None):
    """``x`` split into batches of ``batch_size`` samples along each input's sample axis (axis
    1 of a ``spikes`` train ``[T, N, ...]``, else 0), each batch of the same form as ``x`` (an
    array, or a dict by input name). ``progress``: a tqdm bar with that description. Raises
    :class:`DataError` for a bad ``batch_size`` or no samples."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"batch_size must be a positive int, got {batch_size!r}")
    xs = x if isinstance(x, Mapping) else {graph.input_names()[0]: x}
    xs = {k: np.asarray(v) for k, v in xs.items()}
    axis = {k: 1 if graph.nodes[k].encoding == "spikes" else 0 for k in xs}
    first = next(iter(xs))
    n = int(xs[first].shape[axis[first]])
    if n < 1:
        raise DataError("no samples to simulate")
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=progress, unit="batch")
    for s in starts:
        cut = slice(s, min(s + batch_size, n))  # a view (the encoding copies what it keeps)
        xb = {k: v[(slice(None),) * axis[k] + (cut,)] for k, v in xs.items()}
        yield xb if isinstance(x, Mapping) else xb[first]


def simulate_dataset(
    graph: HardwareGraph,
    x,
    batch_size: int = 256,
    *,
    record: bool | Iterable[str] = False,
    generator: np.random.Generator | None = None,
    progress: bool = False,
) -> SimResult:
    """:func:`simulate` over ``x [N, ...]`` (or ``[T, N, ...]`` for ``spikes``; a dict for
    several inputs) in batches of ``batch_size`` (:func:`iter_batches`), concatenated: readout
    and predictions along the samples, records along axis 1, counts and overflow summed.
    ``progress`` shows a tqdm bar. One ``generator`` serves all batches (rate inputs are
    reproducible for a seed)."""
    gen = np.random.default_rng(0) if generator is None else generator
    desc = f"hwsim {graph.metadata.format}" if progress else None
    return _concat([
        simulate(graph, xb, record=record, generator=gen)
        for xb in iter_batches(graph, x, batch_size, desc)
    ])  # fmt: skip


def _concat(parts: list[SimResult]) -> SimResult:
    first = parts[0]

    def cat(key: str) -> np.ndarray | None:
        if first.readout is None:
            return None
        return np.concatenate([getattr(p, key) for p in parts])

    overflow: dict[str, dict[str, int]] = {}
    for p in parts:
        for node, ev in p.overflow.items():
            for k, v in ev.items():
                overflow.setdefault(node, {})[k] = overflow.get(node, {}).get(k, 0) + v
    return SimResult(
        readout=cat("readout"),
        predictions=cat("predictions"),
        records={k: np.concatenate([p.records[k] for p in parts], axis=1) for k in first.records},
        counts={k: sum(p.counts[k] for p in parts) for k in first.counts},
        overflow=overflow,
        offsets=first.offsets,
        steps=first.steps,
        T=first.T,
        format=first.format,
        timing=first.timing,
        readout_node=first.readout_node,
        batch=sum(p.batch for p in parts),
    )
