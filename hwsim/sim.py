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

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from hwsim import arith
from hwsim.errors import DataError, GraphError
from hwsim.graph import HardwareGraph, Input, Readout, latency
from hwsim.simops import Op, make_op

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
    """The per-step input of every Input node, ``{name: [T, B, *shape]}`` in the compute dtype
    (float64, or int64 for a fixed graph), encoded as the module docstring says. Raises
    :class:`DataError` naming the input for wrong shapes or values."""
    md = graph.metadata
    fixed = md.format == "fixed"
    names = graph.input_names()
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
        elif fixed:
            a = arith.quantize_input(a, node.scale, md.widths.input_bits)
        if node.encoding == "direct":
            a = np.broadcast_to(a, (md.T, *a.shape))
        # order="C": astype of the broadcast view above would otherwise keep T innermost,
        # and every step's slice would be strided (a 10x slower matrix product)
        out[name] = a.astype(np.int64 if fixed else np.float64, order="C")
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
    ``"<name>/u"``. ``force``: ``{node: array
    [steps, B, *shape]}`` teacher forcing (an Input node may be forced too, e.g. with the
    spike train a torch encoder drew). ``generator`` draws ``rate`` inputs. ``gate=False``:
    neurons are not held in their reset state before their arrival offset (NetX's convention,
    module docstring).
    """
    return run_steps(graph, encode_inputs(graph, x, generator), record, force, gate=gate)


def run_steps(
    graph: HardwareGraph,
    inputs: Mapping[str, np.ndarray],
    record: bool | Iterable[str] = False,
    force: Mapping[str, np.ndarray] | None = None,
    gate: bool = True,
) -> SimResult:
    """:func:`simulate` on already encoded inputs ``{name: [T, B, *shape]}`` (as returned by
    :func:`encode_inputs`), so two graphs can be run on the very same spikes."""
    md = graph.metadata
    fixed = md.format == "fixed"
    dtype = np.int64 if fixed else np.float64
    order = graph.topological_order()
    shapes, offsets = graph.shapes(), graph.arrival_offsets()
    steps = md.T + max(offsets.values())
    batch = next(iter(inputs.values())).shape[1]
    ro = _readout_node(graph)

    rec = set(graph.nodes) if record is True else set(record or ())
    unknown = rec - set(graph.nodes)
    if unknown:
        raise GraphError(f"record: no node named {sorted(unknown)}")
    forced = _check_force(graph, force or {}, steps, batch, dtype)

    ops: dict[str, Op] = {}
    lat, buf = {}, {}
    preds = {n: graph.predecessors(n) for n in order}
    for name in order:
        node = graph.nodes[name]
        ins = graph.input_shapes(name)
        ops[name] = make_op(
            node, fixed=fixed, widths=md.widths, T=md.T,
            shape_in=ins[0] if ins else shapes[name], shape_out=shapes[name],
            offset=offsets[name] if gate else 0,
        )  # fmt: skip
        ops[name].reset(batch)
        lat[name] = latency(node, md.timing)
        if lat[name]:
            buf[name] = deque()
    records = {n: np.zeros((steps, batch, *shapes[n]), dtype) for n in rec}
    probes = {n: ops[n].PROBES for n in rec}
    records.update(
        {f"{n}/{p}": np.zeros((steps, batch, *shapes[n]), dtype) for n in rec for p in probes[n]}
    )
    counts = {n: np.zeros(steps, np.int64) for n in order}
    total = np.zeros((batch, *shapes[ro]), dtype) if ro else None
    ro_sat = 0

    for t in range(steps):
        out: dict[str, np.ndarray] = {}
        for name in order:
            op = ops[name]
            if name in inputs:
                xin = inputs[name][t] if t < md.T else np.zeros_like(inputs[name][0])
            else:
                xs = [out[p] for p in preds[name]]
                xin = xs[0] if len(xs) == 1 else sum(xs[1:], xs[0])
            if lat[name]:  # the input of step t - L (zeros before the first arrival)
                buf[name].append(xin)
                xin = buf[name].popleft() if len(buf[name]) > lat[name] else np.zeros_like(xin)
            f = forced[name][t] if name in forced else None
            y = op.step(xin, t, f)
            counts[name][t] = np.count_nonzero(y)
            if name in rec:
                records[name][t] = y
                for p in probes[name]:
                    records[f"{name}/{p}"][t] = getattr(op, p)
            out[name] = y if f is None else f
        if ro is not None and offsets[ro] <= t < offsets[ro] + md.T:
            if fixed:
                acc = arith.readout_accumulate(total, out[ro])
                total, ro_sat = acc.value, ro_sat + acc.n_saturated
            else:
                total = total + out[ro]

    overflow = {n: dict(op.overflow) for n, op in ops.items() if op.overflow}
    if ro_sat:
        overflow.setdefault(ro, {})["sat"] = ro_sat
    return SimResult(
        readout=total,
        predictions=None if total is None else np.argmax(total.reshape(batch, -1), axis=1),
        records=records,
        counts=counts,
        overflow=overflow,
        offsets=offsets,
        steps=steps,
        T=md.T,
        format=md.format,
        timing=md.timing,
        readout_node=ro,
        batch=batch,
    )


def _check_force(graph, force, steps: int, batch: int, dtype) -> dict[str, np.ndarray]:
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
        if dtype == np.int64 and a.dtype.kind == "f":
            if not np.all(np.rint(a) == a):
                raise DataError(f"force[{name!r}]: a fixed graph takes integer values")
        out[name] = a.astype(dtype)
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
        xb = {k: np.take(v, range(s, min(s + batch_size, n)), axis=axis[k]) for k, v in xs.items()}
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
