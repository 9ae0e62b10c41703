"""Run a hardware graph (or its Lava process graph) in Lava's simulator.

Each sample runs ``T + depth`` steps (the graph's ``lava`` timing) under
``Loihi2SimCfg(select_tag="fixed_pt")`` for a fixed graph, ``"floating_pt"`` for a float one.
Samples run one after another in one Lava runtime: custom processes clear their state at the
first step of each sample, the stock ones (``LIF.v``, ``Dense.a_buff``, ``Conv.a_buf``) are
zeroed with ``Var.set`` between samples. Large sets run in chunks of ``chunk`` samples, one
runtime each (the whole chunk's input lives in the source process).

The runtime is always stopped: on success, on any exception and on ``KeyboardInterrupt``.
Lava's child processes are started with SIGINT ignored, so that a Ctrl-C in a terminal (sent
to the whole process group) interrupts only this process, which then stops the runtime and its
children cleanly instead of leaving half-dead workers behind.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

import exporters  # noqa: F401 - the Python 3.11 shim, before any Lava import

# isort: split
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg

from exporters.lava.build import build, source_data
from exporters.lava.layout import lava_shape, swap_layout
from exporters.lava.spec import LavaGraphSpec
from exporters.lava.translate import translate
from hwsim.arith import FixedWidths
from hwsim.errors import DataError, ExportError
from hwsim.graph import GraphMetadata, HardwareGraph, Readout
from hwsim.sim import encode_inputs

__all__ = ["LavaResult", "run_lava", "run_lava_steps", "encode_for_spec", "as_spec"]


@dataclass
class LavaResult:
    """What :func:`run_lava` returns, shaped as :class:`hwsim.sim.SimResult`.

    ``readout [B, K]`` the Readout's total over the ``T`` aligned steps (computed inside Lava
    by the ``Readout`` process); ``predictions [B]`` its argmax; ``records {node: [steps, B,
    *shape]}`` the per-step outputs of the recorded nodes in graph layout (int64 or float64);
    ``counts {node: [steps]}`` their non-zero outputs summed over the batch; ``timings``
    ``build_s`` (building processes, compiling, starting the runtime) and ``run_s`` (running
    the samples, resets included); ``models`` the ProcessModel Lava's compiler chose for each
    process of the spec (``module.Class``).
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
    ``on_sample(i)`` is called after each sample (progress, cancellation)."""
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
    try:
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)

            def done(i: int, start=start) -> None:
                if bar is not None:
                    bar.update(1)
                if on_sample is not None:
                    on_sample(start + i)

            part, part_total = _run_chunk(spec, x[:, start:stop], names, done, timings, models)
            for k, a in part.items():
                records[k][:, start:stop] = a
            if total is not None:
                total[start:stop] = part_total
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


@contextmanager
def _fork_guard():
    """The state Lava's forked workers should inherit, restored in this process afterwards.

    * SIGINT ignored (see the module docstring).
    * torch single-threaded: a worker that runs a torch op (Lava's stock ``Conv`` convolves
      with torch) after a fork from a process whose OpenMP thread pool is already running (any
      earlier torch op: a trained model, hwsim's convolutions) waits forever for pool threads
      that do not exist in the child. With one thread torch runs ops inline, no pool involved.
    """
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        if torch is not None:
            torch.set_num_threads(1)
        yield
    finally:
        if torch is not None:
            torch.set_num_threads(threads)
        if main:
            signal.signal(signal.SIGINT, old)


def _workers(proc) -> list:
    """Lava's worker processes (``multiprocessing.Process``) of ``proc``'s runtime. Lava 0.10
    has no public accessor: ``Runtime._messaging_infrastructure.actors``."""
    infra = getattr(proc.runtime, "_messaging_infrastructure", None)
    return list(getattr(infra, "actors", None) or [])


def _dead(worker) -> bool:
    try:
        return bool(getattr(worker, "_is_done", False)) or not worker.is_alive()
    except ValueError:  # a closed Process object: Lava joined it
        return True


def _child_errors(proc) -> list[str]:
    """The tracebacks of failed Lava workers (Lava logs them at INFO level only)."""
    out = []
    for w in _workers(proc):
        exc = getattr(w, "exception", None)
        if exc:
            out.append(str(exc[1]).strip())
    return out


def _stop(proc) -> None:
    """Stop ``proc``'s runtime, also after a failure.

    ``Process.stop()`` is the orderly way and works while every worker lives (after a normal
    run, between samples, after a KeyboardInterrupt here). When a worker raised, Lava has
    already joined all workers and raised a RuntimeError, and ``stop()`` would wait forever for
    the dead runtime service to answer; then the remaining workers are terminated and Lava's
    shared-memory manager is shut down directly (``Runtime._messaging_infrastructure``,
    ``Runtime._watchdog_manager``: Lava 0.10 has no public call for this case).
    """
    runtime = proc.runtime
    if runtime is None:
        return
    workers = _workers(proc)
    if not any(_dead(w) for w in workers):
        proc.stop()
        return
    for w in workers:
        if not _dead(w):
            w.terminate()
            w.join()
    infra = getattr(runtime, "_messaging_infrastructure", None)
    if infra is not None:
        infra.stop()
    watchdog = getattr(runtime, "_watchdog_manager", None)
    if watchdog is not None:
        watchdog.stop()


class _WorkerDied(Exception):
    """Raised in the main thread by :class:`_Watchdog` when a Lava worker has exited."""


class _Watchdog:
    """Interrupts a blocked ``run()`` when a Lava worker dies.

    Lava 0.10 reports a worker's exception only when every other worker finishes its step;
    a process downstream of the failed one waits forever for its input, and so does
    ``run()``. While a run is in progress a thread polls the workers; when one has exited it
    sends SIGUSR1 to the main thread, whose handler raises :class:`_WorkerDied` out of the
    blocked wait (POSIX lock waits are interruptible). Outside ``run()`` the signal is ignored.
    Only on the main thread (signal handlers live there); elsewhere a failed worker can hang.
    """

    def __init__(self, proc, period: float = 0.1) -> None:
        self.workers = _workers(proc)
        self.period = period
        self.in_run = False
        self._stop = threading.Event()
        self._thread = None
        self._old = None

    def _handler(self, signum, frame) -> None:
        if self.in_run:
            self.in_run = False
            raise _WorkerDied

    def _watch(self) -> None:
        while not self._stop.wait(self.period):
            if self.in_run and any(_dead(w) for w in self.workers):
                signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
                return

    def __enter__(self) -> _Watchdog:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGUSR1, self._handler)
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.in_run = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            signal.signal(signal.SIGUSR1, self._old)

    def run(self, proc, steps: int) -> None:
        self.in_run = True
        try:
            proc.run(condition=RunSteps(num_steps=steps))
        finally:
            self.in_run = False


def _run_chunk(spec: LavaGraphSpec, x: np.ndarray, names: list[str], done, timings, models):
    n = int(x.shape[1])
    with tempfile.TemporaryDirectory(prefix="spikefold-lava-") as tmp:
        t0 = time.perf_counter()
        net = build(spec, source_data(spec, x), names, tmp)
        source = net.source
        try:
            with _fork_guard():
                source.create_runtime(run_cfg=Loihi2SimCfg(select_tag=spec.select_tag))
            t1 = time.perf_counter()
            for name, proc in net.processes.items():
                cls = proc.model_class
                models[name] = f"{cls.__module__}.{cls.__qualname__}"
            targets = [getattr(p, v) for p, v in net.reset_targets()]
            zeros = [np.zeros(var.shape) for var in targets]
            with _Watchdog(source) as watchdog:
                for s in range(n):
                    if s:
                        for var, z in zip(targets, zeros):
                            var.set(z)
                    watchdog.run(source, spec.steps)
                    done(s)
            t2 = time.perf_counter()
        except (RuntimeError, _WorkerDied) as exc:
            errors = _child_errors(source)
            _stop(source)
            if errors or isinstance(exc, _WorkerDied):
                detail = "\n".join(e[-2000:] for e in errors) or "(no traceback: it was killed)"
                raise ExportError(f"a Lava process failed:\n{detail}") from None
            raise
        except BaseException:
            _stop(source)
            raise
        _stop(source)
        timings["build_s"] += t1 - t0
        timings["run_s"] += t2 - t1
        part = {k: _graph_layout(spec, k, np.load(path)) for k, (_, path) in net.probes.items()}
        total = None
        if net.total is not None:
            last = np.load(net.total[1])[:, -1]  # [n, *Lava shape]: the total after the sample
            total = swap_layout(last, last.ndim - 1)
    return part, total


def _graph_layout(spec: LavaGraphSpec, node: str, a: np.ndarray) -> np.ndarray:
    """A probe file ``[n, steps, *port shape]`` as ``[steps, n, *graph shape]``, with the
    bias of a synapse whose bias moved into its neurons added back."""
    tap = spec.taps[node]
    if tap.bias is not None:
        a = a + tap.bias
    shape = spec.shapes[node]
    if a.shape[2:] == lava_shape(shape) and len(shape) == 3:
        a = swap_layout(a, 3)
    return np.ascontiguousarray(np.moveaxis(a, 0, 1))
