"""Lava process graph spec -> Lava processes, connected, with input data and probes.

Process classes are looked up in :data:`PROCESS_KINDS`, a fixed allow-list: a spec read from
a file never names a module to import.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exporters.lava.layout import lava_shape
from exporters.lava.spec import LavaGraphSpec, ProcSpec, Transform
from hwsim.errors import ExportError

__all__ = [
    "PROCESS_KINDS",
    "LavaNetwork",
    "process_class",
    "build",
    "instantiate",
    "var_shapes",
    "write_source",
]

PROCESS_KINDS: dict[str, tuple[str, str]] = {
    "lava.Dense": ("lava.proc.dense.process", "Dense"),
    "lava.Conv": ("lava.proc.conv.process", "Conv"),
    "lava.LIFReset": ("lava.proc.lif.process", "LIFReset"),
    "spikefold.EncodedSource": ("exporters.lava.procs.source.process", "EncodedSource"),
    "spikefold.Probe": ("exporters.lava.procs.probe.process", "Probe"),
    "spikefold.LIF": ("exporters.lava.procs.lif.process", "SpikefoldLIF"),
    "spikefold.LI": ("exporters.lava.procs.li.process", "SpikefoldLI"),
    "spikefold.Inhibitory": ("exporters.lava.procs.inhibitory.process", "Inhibitory"),
    "spikefold.Excitatory": ("exporters.lava.procs.excitatory.process", "Excitatory"),
    "spikefold.Synapse": ("exporters.lava.procs.synapse.process", "Synapse"),
    "spikefold.Delay": ("exporters.lava.procs.delay.process", "Delay"),
    "spikefold.Pool": ("exporters.lava.procs.pool.process", "Pool"),
    "spikefold.Readout": ("exporters.lava.procs.readout.process", "Readout"),
}
"""Process kind (as written in a spec) -> (module, class). ``lava.*`` are Lava's own."""


def process_class(kind: str) -> type:
    """The Process class of ``kind`` (:class:`ExportError` for a kind not in the list)."""
    try:
        module, cls = PROCESS_KINDS[kind]
    except KeyError:
        raise ExportError(
            f"unknown Lava process kind {kind!r}; known: {', '.join(PROCESS_KINDS)}"
        ) from None
    return getattr(importlib.import_module(module), cls)


@dataclass
class LavaNetwork:
    """Built Lava processes: ``processes`` by spec name, the ``source``, ``probes`` ``{node:
    (Probe process, file)}`` and ``total`` (the file into which the Readout writes its totals
    ``[n, *Lava shape]``, if there is a Readout)."""

    spec: LavaGraphSpec
    processes: dict[str, object]
    source: object
    n_samples: int
    probes: dict[str, tuple[object, Path]] = field(default_factory=dict)
    total: Path | None = None


def instantiate(name: str, p: ProcSpec, path: Path | None = None) -> object:
    """One Lava process from its spec; ``path`` the file of a run that the source reads
    (:func:`write_source`, required) or the Readout writes its totals into (optional)."""
    params = dict(p.params)
    if p.kind == "spikefold.EncodedSource" and path is None:
        raise ExportError("the source process needs the encoded input file")
    if path is not None:
        params["path"] = str(path)
    params.setdefault("name", name)
    try:
        return process_class(p.kind)(**params)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"process {name!r} ({p.kind}): cannot build it: {exc}") from None


def var_shapes(proc) -> dict[str, tuple[int, ...]]:
    """``{Var name: shape}`` of a Lava process."""
    return {v.name: tuple(int(s) for s in v.shape) for v in proc.vars}


def _port(proc, name: str, port: str):
    try:
        return getattr(proc, port)
    except AttributeError:
        raise ExportError(f"process {name!r} has no port {port!r}") from None


def _apply(port, transform: Transform):
    for op, arg in transform:
        if op == "transpose":
            port = port.transpose(axes=list(arg))
        elif op == "reshape":
            port = port.reshape(new_shape=tuple(arg))
        else:
            raise ExportError(f"unknown port transform {op!r}")
    return port


def build(
    spec: LavaGraphSpec,
    inputs: np.ndarray,
    work_dir: str | Path,
    record: Iterable[str] = (),
) -> LavaNetwork:
    """The Lava processes of ``spec``, connected: the source reading the encoded ``inputs [T,
    N, *graph shape]`` (:func:`hwsim.sim.encode_inputs`) from a file in ``work_dir``, and a
    :class:`~exporters.lava.procs.probe.process.Probe` on each node in ``record`` writing an
    ``.npy`` file there; the Readout writes its totals into one too.

    Checks every rebuilt process against the ``vars`` recorded in the spec.
    """
    work_dir = Path(work_dir)
    n = int(np.asarray(inputs).shape[1])
    files = {
        spec.process_of("source", spec.input_node): write_source(
            spec, inputs, work_dir / "input.npy"
        )
    }
    total = None
    if spec.readout_node is not None:
        total = work_dir / "total.npy"
        shape = lava_shape(spec.shapes[spec.readout_node])
        np.lib.format.open_memmap(total, mode="w+", dtype=_dtype(spec), shape=(n, *shape)).flush()
        files[spec.process_of("readout", spec.readout_node)] = total
    procs = {}
    for name, p in spec.processes.items():
        procs[name] = instantiate(name, p, files.get(name))
        if p.vars and var_shapes(procs[name]) != p.vars:
            raise ExportError(
                f"process {name!r} ({p.kind}): rebuilt Vars {var_shapes(procs[name])} differ "
                f"from the exported ones {p.vars}"
            )
    for c in spec.connections:
        src = _apply(_port(procs[c.src[0]], *c.src), c.transform)
        src.connect(_port(procs[c.dst[0]], *c.dst))
    source = procs[spec.process_of("source", spec.input_node)]
    net = LavaNetwork(spec, procs, source, n, total=total)
    for node in record:
        if node not in spec.taps:
            raise ExportError(f"record: no node named {node!r} in the Lava process graph")
        tap = spec.taps[node]
        net.probes[node] = _probe(spec, procs, tap.proc, tap.port, tap.transform, node, n,
                                  work_dir)  # fmt: skip
    return net


def _dtype(spec: LavaGraphSpec) -> type:
    return np.int64 if spec.format == "fixed" else np.float64


def _probe(spec, procs: Mapping, proc: str, port: str, transform: Transform, label: str,
           n: int, probe_dir: Path) -> tuple[object, Path]:  # fmt: skip
    from exporters.lava.procs.probe.process import Probe

    out = _apply(_port(procs[proc], proc, port), transform)
    shape = tuple(int(s) for s in out.shape)
    path = probe_dir / f"probe{len(list(probe_dir.glob('probe*.npy')))}.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=_dtype(spec),
                              shape=(n, spec.steps, *shape)).flush()  # fmt: skip
    probe = Probe(shape=shape, path=str(path), n_samples=n, period=spec.steps,
                  name=f"probe:{label}")  # fmt: skip
    out.connect(probe.a_in)
    return probe, path


def write_source(spec: LavaGraphSpec, inputs: np.ndarray, path: str | Path) -> Path:
    """Write the source's file: encoded inputs ``[T, N, *graph shape]``
    (:func:`hwsim.sim.encode_inputs`) as ``data [N, T_in, *Lava shape]``, ``T_in = 1`` for a
    ``direct`` frame (which the source repeats over the steps), in the smallest dtype that
    holds every value exactly (spikes: int8; a fixed graph's inputs: at most int32; float
    values: float32 where exact, else float64)."""
    a = np.asarray(inputs)
    shape = spec.shapes[spec.input_node]
    if a.ndim != len(shape) + 2 or a.shape[2:] != tuple(shape) or a.shape[0] != spec.T:
        raise ExportError(f"encoded input has shape {a.shape}, expected (T, N, *{shape})")
    if spec.input.encoding == "direct":
        a = a[:1]
    a = np.moveaxis(a, 0, 1)  # [N, T_in, *shape]
    if len(shape) == 3:
        a = a.transpose(0, 1, 4, 3, 2)
    path = Path(path)
    np.save(path, np.ascontiguousarray(a, dtype=_compact_dtype(a, spec.format == "fixed")))
    return path


def _compact_dtype(a: np.ndarray, fixed: bool) -> np.dtype:
    if not fixed:
        return np.dtype(np.float32 if np.array_equal(a.astype(np.float32), a) else np.float64)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if a.size == 0 or (info.min <= a.min() and a.max() <= info.max):
            return np.dtype(dtype)
    return np.dtype(np.int64)
