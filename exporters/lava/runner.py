"""Run a hardware graph (or its Lava process graph) in Lava's simulator.

Each sample runs ``T + depth`` steps (the graph's ``lava`` timing) under
``Loihi2SimCfg(select_tag="fixed_pt")`` for a fixed graph, ``"floating_pt"`` for a float one.
All samples run in one Lava runtime, compiled once, with one ``run()`` call per chunk of
samples and no Var writes between them: every process starts a sample by itself.

* Custom processes clear their state at the first step ``t = 0`` of every sample.
* A stock ``LIFReset`` zeroes ``u`` and ``v`` at its layer's arrival step ``t = offset``.
* Stock ``Dense``/``Conv`` need nothing: at ``t = 0`` they deliver what they accumulated at
  the previous sample's last step, into steps that precede every consumer's arrival.

Why that is exact (hwsim's own contract, :mod:`hwsim.sim`): a node's output at a step ``t >=
offset`` depends only on its inputs at steps ``>= offset - latency``, which are their
producers' own live steps (offsets add up along every path), down to the source, which sends
each sample at its steps ``0 .. T - 1``; a LIF starts from rest at ``t = offset``, where hwsim's
gated LIF starts too. So every node computes, at every step from its arrival offset on,
exactly what hwsim computes. *Before* its offset a node has not started the sample: a stock LIF
still runs the previous sample's tail (or, in the first sample, integrates its bias from rest)
and its spikes reach only the pre-arrival steps of its consumers. Those steps belong to no
sample: the records hold zeros there (hwsim's LIF rests there; its stateless nodes emit their
bias on a zero input, which no live step reads), and rung 2 compares every node from its
arrival offset on (:mod:`exporters.lava.rung2`).

The runtime's processes live and die with this one (:mod:`exporters.lava.lifecycle`): it is
stopped on success, on any exception, on ``KeyboardInterrupt`` and on SIGTERM, and every Lava
worker is killed by the kernel if this process dies without stopping it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from exporters.lava.build import LavaNetwork, build
from exporters.lava.layout import lava_shape, swap_layout
from exporters.lava.lifecycle import lava_runtime
from exporters.lava.spec import LavaGraphSpec
from exporters.lava.translate import translate
from hwsim.arith import FixedWidths
from hwsim.errors import DataError, ExportError
from hwsim.graph import GraphMetadata, HardwareGraph, Readout
from hwsim.sim import encode_inputs

__all__ = [
    "RUN_SECONDS",
    "LavaResult",
    "as_spec",
    "encode_for_spec",
    "read_probes",
    "run_lava",
    "run_lava_steps",
]

RUN_SECONDS = 1.0
"""The aim of one ``run()`` call: the samples per call grow (up to ``chunk``) until a call
takes about this long, so the progress bar moves about once a second while the cost of a call
(1.5-3 ms) stays negligible."""


@dataclass
class LavaResult:
    """What :func:`run_lava` returns, shaped as :class:`hwsim.sim.SimResult`.

    ``readout [B, K]`` the Readout's total over the ``T`` aligned steps (computed inside Lava
    by the ``Readout`` process); ``predictions [B]`` its argmax; ``records {node: [steps, B,
    *shape]}`` the per-step outputs of the recorded nodes in graph layout (int64 or float64),
    zeros before each node's arrival offset (the module docstring says why); ``counts {node:
    [steps]}`` their non-zero outputs summed over the batch; ``timings`` ``build_s`` (building
    processes, compiling, starting the runtime) and ``run_s`` (running the samples);
    ``models`` the ProcessModel Lava's compiler chose for each process of the spec
    (``module.Class``).
    """

    readout: np.ndarray | None
    predictions: np.ndarray | None
    records: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    offsets: dict[str, int]
    steps: int
    T: int
    format: str
    select_tag: str
    readout_node: str | None
    batch: int
    timings: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)

    def aligned(self, key: str) -> np.ndarray:
        """``records[key]`` over the ``T`` steps aligned with the input (as hwsim's)."""
        off = self.offsets[key]
        return self.records[key][off : off + self.T]

    def events(self, key: str) -> int:
        """Total events (non-zero outputs) of a recorded node over the run."""
        return int(self.counts[key].sum())


def as_spec(graph_or_spec: HardwareGraph | LavaGraphSpec) -> LavaGraphSpec:
    """The Lava process graph of a hardware graph (:func:`translate`), or the spec itself."""
    if isinstance(graph_or_spec, LavaGraphSpec):
        return graph_or_spec
    if isinstance(graph_or_spec, HardwareGraph):
        return translate(graph_or_spec)
    raise TypeError(f"expected a HardwareGraph or LavaGraphSpec, got {type(graph_or_spec)}")


def encode_for_spec(
    spec: LavaGraphSpec, x, generator: np.random.Generator | None = None
) -> dict[str, np.ndarray]:
    """Encode ``x`` for the spec's input exactly as hwsim does (:func:`hwsim.sim.encode_inputs`
    on a graph made of the spec's Input node), so a spec read from a file needs no graph."""
    widths = spec.widths if spec.format == "fixed" else None
    if spec.format == "fixed" and not isinstance(widths, FixedWidths):
        raise ExportError("a fixed Lava spec needs its widths to encode inputs")
    md = GraphMetadata(T=spec.T, format=spec.format, widths=widths)
    g = HardwareGraph(
        nodes={spec.input_node: spec.input, "_readout": Readout()},
        edges=[(spec.input_node, "_readout")],
        metadata=md,
    )
    return encode_inputs(g, x, generator)


def run_lava(
    graph_or_spec: HardwareGraph | LavaGraphSpec,
    x,
    *,
    record: bool | Iterable[str] = False,
    generator: np.random.Generator | None = None,
    chunk: int = 256,
    progress: bool = False,
    on_sample: Callable[[int], None] | None = None,
) -> LavaResult:
    """Run ``x`` (a batch ``[B, *shape]``, or ``[T, B, *shape]`` for a ``spikes`` input; see
    :func:`hwsim.sim.simulate`) through the graph in Lava. ``record``: True for every node or
    names of nodes whose per-step outputs to return; ``generator`` draws ``rate`` inputs (as
    hwsim does, so both see the same spikes for the same seed)."""
    spec = as_spec(graph_or_spec)
    return run_lava_steps(
        spec,
        encode_for_spec(spec, x, generator),
        record=record,
        chunk=chunk,
        progress=progress,
        on_sample=on_sample,
    )


def run_lava_steps(
    graph_or_spec: HardwareGraph | LavaGraphSpec,
    inputs: Mapping[str, np.ndarray],
    *,
    record: bool | Iterable[str] = False,
    chunk: int = 256,
    progress: bool = False,
    on_sample: Callable[[int], None] | None = None,
) -> LavaResult:
    """:func:`run_lava` on already encoded inputs ``{input: [T, B, *shape]}``
    (:func:`hwsim.sim.encode_inputs`), so hwsim and Lava can run the very same spikes.

    ``chunk``: at most this many samples per ``run()`` call (their number grows until a call
    takes :data:`RUN_SECONDS`); ``on_sample(i)`` is called for each sample once its call has
    returned (progress, cancellation)."""
    spec = as_spec(graph_or_spec)
    if set(inputs) != {spec.input_node}:
        raise DataError(f"inputs has {sorted(inputs)}, the graph's input is {spec.input_node!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise DataError(f"chunk must be a positive int, got {chunk!r}")
    x = np.asarray(inputs[spec.input_node])
    n = int(x.shape[1])
    names = list(spec.taps) if record is True else list(record or ())
    unknown = set(names) - set(spec.taps)
    if unknown:
        raise ExportError(f"record: no node named {sorted(unknown)}")
    dtype = np.int64 if spec.format == "fixed" else np.float64
    records = {k: np.zeros((spec.steps, n, *spec.shapes[k]), dtype) for k in names}
    ro_shape = spec.shapes.get(spec.readout_node, ())
    total = np.zeros((n, *ro_shape), dtype) if spec.readout_node else None
    timings = {"build_s": 0.0, "run_s": 0.0}
    models: dict[str, str] = {}
    bar = _progress(n, spec) if progress else None

    def done(i: int) -> None:
        if bar is not None:
            bar.update(1)
        if on_sample is not None:
            on_sample(i)

    try:
        if n:
            records, total = _run(spec, x, names, chunk, done, timings, models)
    finally:
        if bar is not None:
            bar.close()
    return LavaResult(
        readout=total,
        predictions=None if total is None else np.argmax(total.reshape(n, -1), axis=1),
        records=records,
        counts={k: np.count_nonzero(a.reshape(spec.steps, -1), axis=1) for k, a in records.items()},
        offsets=dict(spec.offsets),
        steps=spec.steps,
        T=spec.T,
        format=spec.format,
        select_tag=spec.select_tag,
        readout_node=spec.readout_node,
        batch=n,
        timings=timings,
        models=models,
    )


def _progress(n: int, spec: LavaGraphSpec):
    from tqdm import tqdm

    return tqdm(total=n, desc=f"Lava {spec.select_tag}", unit="sample")


def _run(spec: LavaGraphSpec, x: np.ndarray, names: list[str], chunk: int, done, timings,
         models):  # fmt: skip
    """Build, compile and start the runtime once, run every sample, read the probes."""
    n = int(x.shape[1])
    with tempfile.TemporaryDirectory(prefix="spikefold-lava-") as tmp:
        t0 = time.perf_counter()
        net = build(spec, x, tmp, names)
        with lava_runtime(net.source, spec.select_tag) as runtime:
            t1 = time.perf_counter()
            for name, proc in net.processes.items():
                cls = proc.model_class
                models[name] = f"{cls.__module__}.{cls.__qualname__}"
            start, size = 0, 1
            while start < n:
                stop = min(start + size, n)
                t = time.perf_counter()
                runtime.run((stop - start) * spec.steps)
                per_sample = (time.perf_counter() - t) / (stop - start)
                for i in range(start, stop):
                    done(i)
                size = int(min(chunk, max(1, RUN_SECONDS // max(per_sample, 1e-6))))
                start = stop
            t2 = time.perf_counter()
        timings["build_s"] += t1 - t0
        timings["run_s"] += t2 - t1
        return read_probes(net)


def read_probes(net: LavaNetwork) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """What the probes of a run of ``net`` wrote: ``records {node: [steps, n, *graph
    shape]}`` (zeros before each node's arrival offset) and the readout totals ``[n, *shape]``
    (None without a Readout)."""
    spec = net.spec
    records = {k: _graph_layout(spec, k, np.load(path)) for k, (_, path) in net.probes.items()}
    total = None
    if net.total is not None:
        last = np.load(net.total)  # [n, *Lava shape]: the totals the Readout wrote
        total = swap_layout(last, last.ndim - 1)
    return records, total


def _graph_layout(spec: LavaGraphSpec, node: str, a: np.ndarray) -> np.ndarray:
    """A probe file ``[n, steps, *port shape]`` as ``[steps, n, *graph shape]``, with the
    bias of a synapse whose bias moved into its neurons added back, and zeros before the
    node's arrival offset (steps that belong to no sample: the module docstring)."""
    tap = spec.taps[node]
    if tap.bias is not None:
        a = a + tap.bias
    shape = spec.shapes[node]
    if a.shape[2:] == lava_shape(shape) and len(shape) == 3:
        a = swap_layout(a, 3)
    a = np.ascontiguousarray(np.moveaxis(a, 0, 1))
    a[: spec.offsets[node]] = 0
    return a
