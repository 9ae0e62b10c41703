"""ONNX step model -> hardware graph, with every check a reader owes an untrusted file.

:func:`check_model` is run by the importer and by every runner before anything executes:
metadata and versions, the ``ai.spikefold`` domain version, a model-local function for every
custom op **identical** to the one this spikefold builds (so a body cannot be edited or
drift), ``onnx.checker`` with ``full_check=True``, the rebuilt hardware graph (its own
validation), and every declared shape against the shapes that graph implies. Every problem is
an :class:`~hwsim.errors.ExportError` naming the model and the node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from exporters.onnx.export import (
    IR_VERSION,
    META,
    SUMMING_KINDS,
    export_onnx,
    state_specs,
    synaptic_latency,
)
from exporters.onnx.ops import DOMAIN, KIND_FOR_OP, NONE, OPS, OPSET_VERSION, build_function
from hwsim import arith
from hwsim.errors import ExportError, GraphError
from hwsim.graph import (
    LI,
    LIF,
    SCHEMA_VERSION,
    Add,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    EICircuit,
    FastInhibitory,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Node,
    Readout,
    SumPool2d,
)
from hwsim.io import from_dict

__all__ = ["ModelInfo", "load_onnx", "check_model", "import_onnx"]

_REQUIRED = (
    "ir_version",
    "opset_version",
    "graph_schema_version",
    "spikefold_version",
    "T",
    "steps",
    "format",
    "timing",
    "widths",
    "scales",
    "origin",
    "nodes",
    "edges",
    "state",
)


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`check_model` learnt: the rebuilt ``graph`` and the run parameters."""

    graph: HardwareGraph
    steps: int
    state: list[dict]

    @property
    def format(self) -> str:
        return self.graph.metadata.format

    @property
    def T(self) -> int:  # noqa: N802 - the name of the quantity
        return self.graph.metadata.T

    @property
    def nodes(self) -> list[str]:
        return list(self.graph.nodes)

    @property
    def kinds(self) -> dict[str, str]:
        return {n: v.kind for n, v in self.graph.nodes.items()}

    @property
    def inputs(self) -> list[str]:
        return self.graph.input_names()

    @property
    def inputs_encoding(self) -> dict[str, str]:
        return {n: self.graph.nodes[n].encoding for n in self.inputs}

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {n: tuple(self.graph.nodes[n].shape) for n in self.inputs}

    @property
    def readouts(self) -> list[str]:
        return [n for n, v in self.graph.nodes.items() if isinstance(v, Readout)]


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Read an ONNX file (protobuf only: nothing is unpickled); ExportError naming the path."""
    path = Path(path)
    try:
        return onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise ExportError(f"{path}: no such ONNX file") from None
    except Exception as e:  # protobuf's DecodeError and friends
        raise ExportError(f"{path}: not a readable ONNX model: {e}") from None


def import_onnx(model: onnx.ModelProto | str | Path) -> HardwareGraph:
    """The hardware graph of a spikefold ONNX step model (a ModelProto or a path)."""
    where = str(model) if not isinstance(model, onnx.ModelProto) else "ONNX model"
    if not isinstance(model, onnx.ModelProto):
        model = load_onnx(model)
    return check_model(model, where).graph


def check_model(model: onnx.ModelProto, where: str = "ONNX model") -> ModelInfo:
    """Validate ``model`` as a spikefold step model and rebuild its hardware graph."""

    def fail(msg: str) -> ExportError:
        return ExportError(f"{where}: {msg}")

    meta = _metadata(model, fail)
    fmt = meta["format"]
    _check_opsets_and_functions(model, fmt, fail)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise fail(f"onnx.checker refuses the model: {e}") from None
    graph = _rebuild(model, meta, fail)
    steps = graph.metadata.T + max(graph.arrival_offsets().values(), default=0)
    if meta["steps"] != steps:
        raise fail(f"metadata steps={meta['steps']} but the graph needs {steps}")
    if meta["state"] != state_specs(graph):
        raise fail("metadata 'state' does not match the graph's state tensors")
    _check_shapes(model, graph, fail)
    return ModelInfo(graph=graph, steps=steps, state=meta["state"])


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _metadata(model: onnx.ModelProto, fail) -> dict:
    props = {p.key: p.value for p in model.metadata_props}
    missing = [k for k in _REQUIRED if META + k not in props]
    if missing:
        raise fail(
            f"not a spikefold step model: metadata_props lacks {[META + k for k in missing]}"
        )
    meta = {}
    for key, text in props.items():
        if key.startswith(META):
            try:
                meta[key[len(META) :]] = json.loads(text)
            except json.JSONDecodeError as e:
                raise fail(f"metadata {key!r} is not JSON: {e}") from None
    if meta["ir_version"] != IR_VERSION:
        raise fail(
            f"spikefold IR version {meta['ir_version']!r}; this spikefold reads {IR_VERSION}"
        )
    if meta["graph_schema_version"] != SCHEMA_VERSION:
        raise fail(
            f"hardware-graph schema version {meta['graph_schema_version']!r}; this spikefold "
            f"reads {SCHEMA_VERSION} (re-export with a matching spikefold)"
        )
    if meta["format"] not in ("float32", "fixed"):
        raise fail(f"unknown format {meta['format']!r}")
    return meta


def _check_opsets_and_functions(model: onnx.ModelProto, fmt: str, fail) -> None:
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get(DOMAIN) != OPSET_VERSION:
        raise fail(
            f"domain {DOMAIN!r} version {opsets.get(DOMAIN)!r} in opset_import; this spikefold "
            f"implements version {OPSET_VERSION} (re-export the model)"
        )
    funcs = {(f.domain, f.name): f for f in model.functions}
    used = set()
    for node in model.graph.node:
        if node.domain == DOMAIN:
            if node.op_type not in OPS:
                raise fail(f"node {node.name!r}: unknown op {DOMAIN}.{node.op_type}")
            used.add(node.op_type)
        elif node.domain in ("", "ai.onnx"):
            if node.op_type != "Add":
                raise fail(
                    f"node {node.name!r}: standard op {node.op_type} in the step graph; only "
                    "ai.spikefold ops and the Add nodes summing a node's inputs belong there"
                )
        else:
            raise fail(f"node {node.name!r}: foreign domain {node.domain!r}")
    for name in sorted(used):
        f = funcs.get((DOMAIN, name))
        if f is None:
            raise fail(
                f"custom op {DOMAIN}.{name} lacks its model-local function (FunctionProto); "
                "the model cannot run in a standard runtime"
            )
        if f != build_function(OPS[name], fmt):
            raise fail(
                f"the function of {DOMAIN}.{name} differs from this spikefold's definition "
                f"({fmt} format, op set version {OPSET_VERSION}); it was edited or written by "
                "another version"
            )


def _check_shapes(model: onnx.ModelProto, graph: HardwareGraph, fail) -> None:
    ref = export_onnx(graph)
    want = {v.name: _dims(v) for v in [*ref.graph.input, *ref.graph.output]}
    have = {v.name: _dims(v) for v in [*model.graph.input, *model.graph.output]}
    if set(want) != set(have):
        extra, lack = sorted(set(have) - set(want)), sorted(set(want) - set(have))
        raise fail(f"graph inputs/outputs differ from the graph's: extra {extra}, missing {lack}")
    for name, dims in want.items():
        if have[name] != dims:
            raise fail(
                f"tampered shape: {name!r} is declared {have[name]}, the hardware graph "
                f"implies {dims}"
            )


def _dims(v: onnx.ValueInfoProto) -> tuple:
    t = v.type.tensor_type
    if not t.HasField("shape"):
        return (t.elem_type, None)
    return (t.elem_type, tuple(d.dim_param or d.dim_value for d in t.shape.dim))


# ---------------------------------------------------------------------------------------------
# Rebuilding the hardware graph
# ---------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, model: onnx.ModelProto, fail) -> None:
        self.fail = fail
        self.inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.inputs = {v.name: v for v in model.graph.input}

    def array(self, node: onnx.NodeProto, pos: int):
        name = node.input[pos]
        if name == NONE:
            return None
        if name not in self.inits:
            raise self.fail(f"node {node.name!r}: parameter {name!r} is not an initializer")
        return np.array(self.inits[name])

    def scalar(self, node: onnx.NodeProto, pos: int, allow_array: bool = False):
        a = self.array(node, pos)
        if a is None or (a.ndim and not allow_array):
            raise self.fail(f"node {node.name!r}: parameter {node.input[pos]!r} must be 0-d")
        if a.ndim:
            return a
        return int(a) if a.dtype.kind in "iu" else float(a)


def _attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


class _NodeReader:
    """One custom node's hardware node: a method per op, chosen by :data:`_OPS_READ`."""

    def __init__(self, node: onnx.NodeProto, r: _Reader, widths, fail) -> None:
        self.node, self.r, self.widths, self.fail = node, r, widths, fail
        self.a = _attrs(node)
        op = OPS[node.op_type]
        missing = set(op.attributes) - set(self.a)
        if missing or len(node.input) != len(op.inputs):
            raise fail(
                f"node {node.name!r}: {node.op_type} lacks attributes/inputs {sorted(missing)}"
            )

    def read(self) -> Node:
        return _OPS_READ[self.node.op_type](self)

    def pads(self) -> tuple[int, int]:
        p = list(self.a["pads"])
        if len(p) != 4 or p[:2] != p[2:]:
            raise self.fail(f"node {self.node.name!r}: pads {p} are not symmetric [ph, pw, ph, pw]")
        return (p[0], p[1])

    def bits(self, name: str, field: str) -> None:
        """An attribute restating a width of the metadata (0 in a float model) must agree."""
        expect = 0 if self.widths is None else getattr(self.widths, field)
        if self.a[name] != expect:
            raise self.fail(
                f"node {self.node.name!r}: {name}={self.a[name]} disagrees with the metadata "
                f"({expect})"
            )

    def input_(self) -> Node:
        frame = self.r.inputs.get(self.node.input[0])
        if frame is None or not frame.type.tensor_type.HasField("shape"):
            raise self.fail(f"node {self.node.name!r}: its frame is not a typed graph input")
        shape = tuple(d.dim_value for d in frame.type.tensor_type.shape.dim[1:])
        self.bits("bits", "input_bits")
        return Input(shape, self.a["encoding"], scale=float(self.r.scalar(self.node, 1)))

    def dense(self) -> Node:
        w, b = self.r.array(self.node, 1), self.r.array(self.node, 2)
        return Dense(w, b, weight_exp=self.a["weight_exp"])

    def conv(self) -> Node:
        w, b, a = self.r.array(self.node, 1), self.r.array(self.node, 2), self.a
        return Conv2d(w, b, tuple(a["strides"]), self.pads(), a["group"], a["weight_exp"])

    def pool(self) -> Node:
        cls = SumPool2d if self.node.op_type == "SumPool2d" else AvgPool2d
        stride = tuple(self.a["strides"]) if self.a["strides"] else None
        return cls(tuple(self.a["kernel_shape"]), stride)

    def lif(self) -> Node:
        r, n = self.r, self.node
        th = r.scalar(n, 4, allow_array=True)
        return LIF(r.scalar(n, 3), th, self.a["reset"], r.array(n, 5), self.a["bias_exp"])

    def cuba_lif(self) -> Node:
        r, n, a = self.r, self.node, self.a
        th = r.scalar(n, 6, allow_array=True)
        return CubaLIF(r.scalar(n, 4), r.scalar(n, 5), th, a["reset"], r.array(n, 7), a["bias_exp"])

    def li(self) -> Node:
        r, n = self.r, self.node
        return LI(r.scalar(n, 3), r.array(n, 4), self.a["bias_exp"])

    def fast_inhibitory(self) -> Node:
        self.bits("payload_bits", "payload_bits")
        return FastInhibitory(payload_exp=self.a["payload_exp"])

    def ei_circuit(self) -> Node:
        self.bits("payload_bits", "payload_bits")
        a = self.a
        w_ee, w_ie, w_ei, g_i, g_e, b_e = (self.r.array(self.node, k) for k in range(1, 7))
        exps = {f"{w}_exp": a[f"{w}_exp"] for w in ("w_ee", "w_ie", "w_ei", "g_i", "g_e")}
        inh = FastInhibitory(payload_exp=a["payload_exp"])
        return EICircuit(
            w_ee, w_ie, w_ei, inh, g_i, g_e, b_e, variant=a["variant"],
            stabilisation=a["stabilisation"], floor=self.r.scalar(self.node, 7),
            stride=tuple(a["strides"]), padding=self.pads(), groups=a["group"], **exps,
        )  # fmt: skip


_OPS_READ = {
    "Input": _NodeReader.input_,
    "Dense": _NodeReader.dense,
    "Conv2d": _NodeReader.conv,
    "SumPool2d": _NodeReader.pool,
    "AvgPool2d": _NodeReader.pool,
    "FlattenCHW": lambda _: Flatten(),
    "LIF": _NodeReader.lif,
    "CubaLIF": _NodeReader.cuba_lif,
    "LI": _NodeReader.li,
    "FastInhibitory": _NodeReader.fast_inhibitory,
    "EICircuit": _NodeReader.ei_circuit,
    "ResidualAdd": lambda _: Add(),
    "Delay": lambda rd: Delay(rd.a["steps"]),
    "Readout": lambda _: Readout(),
}
"""Op name -> how its node becomes a hardware node (every op but Latency)."""

if set(_OPS_READ) | {"Latency"} != set(OPS):  # a new op needs its reader
    raise ImportError("exporters.onnx.importer does not read every ai.spikefold op")


def _rebuild(model: onnx.ModelProto, meta: dict, fail) -> HardwareGraph:
    widths = None
    if meta["widths"] is not None:
        try:
            widths = from_dict(arith.FixedWidths, meta["widths"], "metadata widths")
        except GraphError as e:
            raise fail(str(e)) from None
    r = _Reader(model, fail)
    producer = {}  # tensor -> the spikefold node whose output it is
    sums: dict[str, list[str]] = {}  # tensor -> the tensors a standard Add sums
    delayed: dict[str, tuple[str, int]] = {}  # Latency output -> (its input, steps)
    nodes: dict[str, Node] = {}
    derived: dict[str, dict[str, int]] = {}  # attributes the graph implies, checked below
    data_in: dict[str, str] = {}
    for node in model.graph.node:
        if node.domain != DOMAIN:
            sums[node.output[0]] = list(node.input)
            continue
        if node.op_type == "Latency":
            steps = _attrs(node).get("steps")
            if not isinstance(steps, int) or len(node.input) != 2:
                raise fail(f"node {node.name!r}: a Latency needs inputs (x, buf) and steps")
            delayed[node.output[0]] = (node.input[0], steps)
            continue
        if not node.name or node.output[0] != node.name:
            raise fail(f"node {node.name!r}: its first output must carry the node's name")
        if node.name in nodes:
            raise fail(f"node name {node.name!r} appears twice")
        try:
            nodes[node.name] = _NodeReader(node, r, widths, fail).read()
        except (GraphError, TypeError, ValueError) as e:
            if isinstance(e, ExportError):
                raise
            raise fail(f"node {node.name!r}: {e}") from None
        attrs = _attrs(node)
        derived[node.name] = {k: attrs[k] for k in ("t_offset", "window") if k in attrs}
        producer[node.output[0]] = node.name
        if KIND_FOR_OP[node.op_type] != "Input":
            src = node.input[0]
            if src in delayed:
                src, derived[node.name]["latency"] = delayed[src]
            data_in[node.name] = src

    def leaves(tensor: str, dst: str) -> list[str]:
        if tensor in producer:
            return [producer[tensor]]
        if tensor in sums:
            return [x for t in sums[tensor] for x in leaves(t, dst)]
        raise fail(f"node {dst!r}: its input {tensor!r} comes from no spikefold node")

    edges = set()
    for dst, tensor in data_in.items():
        srcs = leaves(tensor, dst)
        if len(srcs) > 1 and not isinstance(nodes[dst], SUMMING_KINDS):
            raise fail(f"node {dst!r}: a {nodes[dst].kind} takes one input, got {srcs}")
        edges |= {(s, dst) for s in srcs}
    order = [tuple(e) for e in meta["edges"]]
    if set(order) != edges or len(order) != len(edges):
        raise fail("metadata 'edges' disagree with the data flow of the ONNX graph")
    if sorted(meta["nodes"]) != sorted(nodes):
        raise fail("metadata 'nodes' disagree with the ai.spikefold nodes of the graph")
    try:
        md = GraphMetadata(
            T=meta["T"],
            format=meta["format"],
            timing=meta["timing"],
            widths=widths,
            scales={str(k): float(v) for k, v in meta["scales"].items()},
            origin={str(k): str(v) for k, v in meta["origin"].items()},
            spikefold_version=str(meta["spikefold_version"]),
            schema_version=meta["graph_schema_version"],
        )
        graph = HardwareGraph({n: nodes[n] for n in meta["nodes"]}, order, md)
    except GraphError as e:
        raise fail(f"the rebuilt hardware graph is invalid: {e}") from None
    _check_derived(graph, derived, fail)
    return graph


def _check_derived(graph: HardwareGraph, derived: dict, fail) -> None:
    """Attributes that restate the graph (arrival offsets, T, synaptic latency) must agree
    with it: a runtime uses them, so a stale one would silently change the results."""
    offsets = graph.arrival_offsets()
    for name, got in derived.items():
        want = {"latency": synaptic_latency(graph, name)}
        if isinstance(graph.nodes[name], (LIF, CubaLIF, LI, Readout)):
            want["t_offset"] = offsets[name]
        if isinstance(graph.nodes[name], Readout):
            want["window"] = graph.metadata.T
        have = {"latency": 0, **got}
        if have != want:
            raise fail(
                f"node {name!r}: {have} disagrees with the graph's arrival offsets, T and "
                f"{graph.metadata.timing} timing ({want})"
            )
