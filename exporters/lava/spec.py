"""The Lava process graph as data: processes, their parameters, connections, taps (JSON).

:func:`exporters.lava.translate.translate` turns a hardware graph into a
:class:`LavaGraphSpec`; :func:`exporters.lava.build.build` turns the spec into Lava processes.
The spec is plain data, so it can be written to a JSON file, inspected, and rebuilt into Lava
processes without the training code (:func:`save_spec`, :func:`load_spec`).

File format (``*.lava.json``, :data:`SPEC_VERSION`)::

    {"magic": "spikefold-lava-process-graph", "version": 2,
     "T": 8, "steps": 11, "format": "fixed", "select_tag": "fixed_pt",
     "input_node": "x", "input": {Input node, hwsim.io.to_dict}, "widths": {...} | null,
     "readout_node": "ro" | null, "offsets": {node: offset}, "shapes": {node: [graph shape]},
     "processes": {name: {"kind": "lava.Dense", "node": "fc1", "role": "synapse",
                          "params": {...}, "vars": {...}}},
     "connections": [{"src": [proc, port], "dst": [proc, port],
                      "transform": [["transpose", [2, 1, 0]], ["reshape", [96]]]}],
     "taps": {node: {"proc": ..., "port": ..., "transform": [...], "bias": array | null}},
     "origin": {...}}

Arrays are written inline as ``{"$array": {"dtype": "int64", "shape": [...], "data": [...]}}``
(C order; float64 values written by Python's shortest round-trip ``repr``, so reading gives the
same bits). Lists in ``params`` are read back as tuples (shapes, strides). ``vars`` records,
per process, the name and shape of every Lava ``Var`` the process had when it was exported;
:func:`exporters.lava.build.build` checks a rebuilt process against it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwsim import io as hwio
from hwsim.arith import FixedWidths
from hwsim.errors import ExportError, GraphError
from hwsim.graph import Input

__all__ = [
    "SPEC_MAGIC",
    "SPEC_VERSION",
    "ProcSpec",
    "Connection",
    "Tap",
    "LavaGraphSpec",
    "spec_to_json",
    "spec_from_json",
    "save_spec",
    "load_spec",
]

SPEC_MAGIC = "spikefold-lava-process-graph"
SPEC_VERSION = 2
"""2: every process resets itself at the sample boundaries (stock ``LIFReset``), so a run of
many samples needs no Var writes; version 1 files (stock ``LIF`` reset by the runner) must be
re-exported."""
MAX_SPEC_BYTES = 1 << 30  # a VGG-16's spec is ~200 MB of JSON; refused beyond, unread

Transform = tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class ProcSpec:
    """One Lava process: ``kind`` a key of :data:`exporters.lava.build.PROCESS_KINDS`,
    ``params`` its constructor's keyword arguments, ``node`` the graph node it realises,
    ``role`` its part in that node (``synapse``, ``neuron``, ``ee``, ``ie``, ``inhibitory``,
    ``ei_sub``, ``ei_den``, ``excitatory``, ``source``, ``readout``, ``delay``, ``pool``),
    ``vars`` ``{Var: shape}`` recorded at export."""

    kind: str
    params: dict[str, Any]
    node: str
    role: str
    vars: dict[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Connection:
    """``src`` OutPort -> ``dst`` InPort, each ``(process, port)``; ``transform`` the Lava
    virtual-port chain applied to the source port (``transpose``/``reshape``)."""

    src: tuple[str, str]
    dst: tuple[str, str]
    transform: Transform = ()


@dataclass(frozen=True)
class Tap:
    """Where a graph node's per-step output can be observed: ``proc.port`` through
    ``transform``, plus ``bias`` (Lava layout) when the node's bias was moved into the neurons
    it feeds (a stock ``Dense``/``Conv``: the node's output is ``a_out + bias``)."""

    proc: str
    port: str
    transform: Transform = ()
    bias: np.ndarray | None = None


@dataclass(frozen=True)
class LavaGraphSpec:
    """A hardware graph as a Lava process graph (see the module docstring for the fields)."""

    T: int
    steps: int
    format: str
    input_node: str
    input: Input
    widths: FixedWidths | None
    readout_node: str | None
    offsets: dict[str, int]
    shapes: dict[str, tuple[int, ...]]
    processes: dict[str, ProcSpec]
    connections: tuple[Connection, ...]
    taps: dict[str, Tap]
    origin: dict[str, str] = field(default_factory=dict)

    @property
    def select_tag(self) -> str:
        """``fixed_pt`` for a fixed graph, ``floating_pt`` for a float one."""
        return "fixed_pt" if self.format == "fixed" else "floating_pt"

    @property
    def depth(self) -> int:
        """``steps - T``: the largest arrival offset."""
        return self.steps - self.T

    def process_of(self, role: str, node: str) -> str:
        """The name of the process with ``role`` realising ``node`` (ExportError if none)."""
        for name, p in self.processes.items():
            if p.node == node and p.role == role:
                return name
        raise ExportError(f"no {role!r} process for node {node!r}")

    def summary(self) -> str:
        """One line per process: name, kind, node and role."""
        rows = [f"{n:<24} {p.kind:<26} {p.node}/{p.role}" for n, p in self.processes.items()]
        head = (
            f"Lava process graph: {len(self.processes)} processes, {len(self.connections)} "
            f"connections, T={self.T}, {self.steps} steps per sample, {self.select_tag}"
        )
        return "\n".join([head, *rows])


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------

_ARRAY = "$array"


def _encode(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return {_ARRAY: {"dtype": v.dtype.str, "shape": list(v.shape), "data": v.ravel().tolist()}}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (tuple, list)):
        return [_encode(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _encode(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise ExportError(f"cannot write a value of type {type(v).__name__} into a Lava spec")


def _decode(v: Any, tuples: bool = True) -> Any:
    if isinstance(v, dict):
        if set(v) == {_ARRAY}:
            a = v[_ARRAY]
            dtype = np.dtype(a["dtype"])
            if dtype.kind not in "biuf":
                raise ExportError(f"array of dtype {dtype} in a Lava spec")
            data = np.array(a["data"])
            if data.dtype.kind not in "biuf" and data.size:
                raise ExportError(f"array of dtype {dtype} holds non-numbers")
            if dtype.kind in "biu" and data.dtype.kind == "f":
                if not np.all(np.isfinite(data)):
                    raise ExportError(f"array of dtype {dtype} holds NaN or infinite values")
                if not np.all(data == np.round(data)):
                    raise ExportError(f"array of dtype {dtype} holds non-integers")
            if dtype.kind in "iu" and data.size:
                info = np.iinfo(dtype)
                if data.min() < info.min or data.max() > info.max:
                    raise ExportError(f"array of dtype {dtype} holds values beyond its range")
            return data.astype(dtype).reshape(a["shape"])
        out = {}
        for k, x in v.items():
            try:
                out[k] = _decode(x, tuples)
            except ExportError as exc:
                raise ExportError(f"{k}: {exc}") from None
        return out
    if isinstance(v, list):
        items = [_decode(x, tuples) for x in v]
        return tuple(items) if tuples else items
    return v


def spec_to_json(spec: LavaGraphSpec) -> dict[str, Any]:
    """The spec as a JSON-able dict (arrays inline)."""
    procs = {
        name: {
            "kind": p.kind,
            "node": p.node,
            "role": p.role,
            "params": _encode(p.params),
            "vars": {k: list(s) for k, s in p.vars.items()},
        }
        for name, p in spec.processes.items()
    }
    conns = [
        {"src": list(c.src), "dst": list(c.dst), "transform": _encode(c.transform)}
        for c in spec.connections
    ]
    taps = {
        node: {"proc": t.proc, "port": t.port, "transform": _encode(t.transform),
               "bias": _encode(t.bias)}
        for node, t in spec.taps.items()
    }  # fmt: skip
    return {
        "magic": SPEC_MAGIC,
        "version": SPEC_VERSION,
        "T": spec.T,
        "steps": spec.steps,
        "format": spec.format,
        "select_tag": spec.select_tag,
        "input_node": spec.input_node,
        "input": _encode(hwio.to_dict(spec.input)),
        "widths": None if spec.widths is None else _encode(hwio.to_dict(spec.widths)),
        "readout_node": spec.readout_node,
        "offsets": dict(spec.offsets),
        "shapes": {k: list(s) for k, s in spec.shapes.items()},
        "processes": procs,
        "connections": conns,
        "taps": taps,
        "origin": dict(spec.origin),
    }


def spec_from_json(d: Mapping[str, Any], where: str = "Lava spec") -> LavaGraphSpec:
    """Read :func:`spec_to_json`'s dict back; :class:`ExportError` names ``where`` and the
    problem for anything malformed."""
    try:
        if d.get("magic") != SPEC_MAGIC:
            raise ExportError(f"{where}: not a spikefold Lava process graph (magic)")
        if d.get("version") != SPEC_VERSION:
            raise ExportError(
                f"{where}: version {d.get('version')}; this spikefold reads {SPEC_VERSION}. "
                "Re-export the graph with `spikefold export lava`."
            )
        procs = {}
        for name, p in d["processes"].items():
            try:
                params = _decode(p["params"])
            except ExportError as exc:
                raise ExportError(f"{where}: process {name!r}: {exc}") from None
            procs[name] = ProcSpec(
                kind=str(p["kind"]),
                params=params,
                node=str(p["node"]),
                role=str(p["role"]),
                vars={k: tuple(int(x) for x in s) for k, s in p.get("vars", {}).items()},
            )
        conns = tuple(
            Connection(tuple(c["src"]), tuple(c["dst"]), _decode(c.get("transform", [])))
            for c in d["connections"]
        )
        taps = {
            node: Tap(t["proc"], t["port"], _decode(t.get("transform", [])), _decode(t["bias"]))
            for node, t in d["taps"].items()
        }
        inp = hwio.from_dict(Input, _decode(d["input"], tuples=False), d["input_node"])
        widths = d.get("widths")
        widths = None if widths is None else hwio.from_dict(FixedWidths, widths, "widths")
        spec = LavaGraphSpec(
            T=int(d["T"]),
            steps=int(d["steps"]),
            format=str(d["format"]),
            input_node=str(d["input_node"]),
            input=inp,
            widths=widths,
            readout_node=d.get("readout_node"),
            offsets={k: int(v) for k, v in d["offsets"].items()},
            shapes={k: tuple(int(x) for x in s) for k, s in d["shapes"].items()},
            processes=procs,
            connections=conns,
            taps=taps,
            origin=dict(d.get("origin", {})),
        )
    except ExportError as exc:
        if str(exc).startswith(where):
            raise
        raise ExportError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, GraphError) as exc:
        msg = f"{where}: malformed Lava process graph ({type(exc).__name__}: {exc})"
        raise ExportError(msg) from None
    _check(spec, where)
    return spec


def _check(spec: LavaGraphSpec, where: str) -> None:
    problems = []
    if spec.format not in ("fixed", "float32"):
        problems.append(f"format {spec.format!r}")
    if (spec.format == "fixed") != (spec.widths is not None):
        problems.append("a fixed spec needs widths, a float one has none")
    if not 1 <= spec.T <= spec.steps:
        problems.append(f"T={spec.T}, steps={spec.steps}")
    for c in spec.connections:
        for end in (c.src, c.dst):
            if len(end) != 2 or end[0] not in spec.processes:
                problems.append(f"connection end {end!r} names no process")
    for node, t in spec.taps.items():
        if t.proc not in spec.processes:
            problems.append(f"tap of {node!r} names no process {t.proc!r}")
    from exporters.lava.build import PROCESS_KINDS

    for name, proc in spec.processes.items():
        if proc.kind not in PROCESS_KINDS:
            problems.append(f"process {name!r}: unknown Lava process kind {proc.kind!r}")
            continue
        problems += [f"process {name!r} (node {proc.node!r}): {p}" for p in _param_problems(
            proc, spec.format, spec.widths)]  # fmt: skip
    if problems:
        more = f"; ... and {len(problems) - 6} more" if len(problems) > 6 else ""
        raise ExportError(f"{where}: invalid Lava process graph: " + "; ".join(problems[:6]) + more)


def _values(v: Any) -> np.ndarray | None:
    """A numeric parameter as an array (None for anything else: names, flags, tuples of
    shapes)."""
    if isinstance(v, np.ndarray):
        return v if v.dtype.kind in "biuf" else None
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return np.asarray(v)
    return None


def _param_problems(proc: ProcSpec, fmt: str, widths: FixedWidths | None) -> list[str]:
    """The graph IR's rules on a process's parameters, by name (the same for every process
    kind): every number finite; thresholds > 0; decays in range; in a fixed spec, integers
    within the hardware widths (weights within the raw weight bits, exponents within their
    ranges, biases within the state width). A hand-edited weight of 10**6 or a negative
    threshold is refused here, before Lava runs it."""
    out = []
    fixed = fmt == "fixed" and widths is not None
    for key, raw in proc.params.items():
        a = _values(raw)
        if a is None or a.size == 0:
            continue
        if not np.all(np.isfinite(a)):
            out.append(f"{key} holds NaN or infinite values")
            continue
        if fixed and a.dtype.kind == "f" and not np.all(a == np.round(a)):
            out.append(f"{key} holds non-integers in a fixed-point spec")
            continue
        lo, hi = float(a.min()), float(a.max())
        bound = None
        if key == "vth":
            if lo <= 0:
                out.append(f"threshold {key} must be > 0, got {lo:g}")
            elif fixed and hi > (1 << widths.vth_bits) - 1:
                bound = (1, (1 << widths.vth_bits) - 1)
        elif key in ("decay", "du", "dv", "current_decay"):
            bound = (0, 4096) if fixed else (0.0, 1.0)
        elif not fixed:
            continue
        elif key == "weights" or key.startswith("w_"):
            bits = int(proc.params.get("num_weight_bits", widths.weight_raw_bits))
            bound = (-(1 << bits), 1 << bits)
        elif key == "num_weight_bits":
            bound = (1, widths.weight_raw_bits)
        elif key.endswith("_exp") and key != "payload_exp":
            bound = widths.weight_exp_range if key.startswith("w") else (-64, 64)
        elif key in ("bias", "a_bias", "bias_mant", "b_e", "floor"):
            bound = (-(1 << widths.state_bits), 1 << widths.state_bits)
        elif key in ("payload_bits",):
            bound = (1, 24)
        if bound is not None and (lo < bound[0] or hi > bound[1]):
            n = int(np.count_nonzero((a < bound[0]) | (a > bound[1])))
            out.append(
                f"{key}: {n} value(s) outside [{bound[0]}, {bound[1]}] (min {lo:g}, max {hi:g})"
            )
    return out


def save_spec(spec: LavaGraphSpec, path: str | Path) -> Path:
    """Write ``spec`` as JSON, atomically (:func:`hwsim.io.atomic_write_text`)."""
    return hwio.atomic_write_text(path, json.dumps(spec_to_json(spec), separators=(",", ":")))


def load_spec(path: str | Path) -> LavaGraphSpec:
    """Read a spec written by :func:`save_spec` (:class:`ExportError` naming the file)."""
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_SPEC_BYTES:
        raise ExportError(
            f"{path}: {path.stat().st_size:,} bytes, beyond the limit of {MAX_SPEC_BYTES:,} "
            "bytes for a Lava process graph"
        )
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path}: no such Lava process graph file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: unreadable Lava process graph ({exc})") from None
    if not isinstance(d, dict):
        raise ExportError(f"{path}: not a spikefold Lava process graph")
    return spec_from_json(d, str(path))
