"""Hardware graph -> ONNX step model (the spiking IR, docs/ir.md).

The model computes **one time step**: inputs ``t`` (int64 step index), one frame per
:class:`~hwsim.graph.Input` node (``<name>/x``, float64 ``[B, *shape]``) and the state of the
previous step; outputs every node's output (named after the node), each LIF's pre-reset
membrane ``<lif>/h`` and the next state. The state pairs are listed in the metadata
(``spikefold.state``) so any runtime can loop the model (:mod:`exporters.onnx.runner`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from exporters.onnx.body import DEFAULT_OPSET
from exporters.onnx.ops import (
    DOMAIN,
    NONE,
    OP_FOR_KIND,
    OPS,
    OPSET_VERSION,
    compute_type,
    functions_for,
)
from hwsim.errors import ExportError
from hwsim.graph import (
    LI,
    LIF,
    SPIKING_KINDS,
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
    latency,
)
from hwsim.io import to_dict, write_error

__all__ = [
    "IR_VERSION",
    "META",
    "PROBES",
    "ROUNDING",
    "SUMMING_KINDS",
    "export_onnx",
    "save_onnx",
    "state_specs",
    "synaptic_latency",
]

IR_VERSION = 1
"""Version of the spiking IR's conventions (names, metadata, state layout)."""

META = "spikefold."
"""Prefix of every ``metadata_props`` key."""

SUMMING_KINDS = (LIF, CubaLIF, LI, Readout, FastInhibitory, Add)
"""Kinds whose input is the sum of their predecessors' outputs (a chain of standard ``Add``
nodes named ``<node>/sum<k>`` forms it when there are several)."""

ROUNDING = {
    "input": "round half to even, then saturate to input_bits (hwsim.arith.quantize_input)",
    "weight_exp": "floor (arithmetic shift right) for negative exponents",
    "bias_exp": "exact (exponent >= 0)",
    "dense": "exact sum, floor shift, wrap to 32 bits (Lava int32 channel)",
    "conv": "exact sum, wrap to 24 bits, then floor shift",
    "current": "wrap32(wrap32(a) << 6), then Lava's one-fold 24-bit wrap",
    "cuba_current": "trunc(u * current_decay / 4096) toward zero, plus wrap32(wrap32(a) << 6) "
    "in int32 (wrap32), then Lava's one-fold 24-bit wrap",
    "decay": "trunc(v * decay / 4096) toward zero",
    "voltage": "saturate to +-(2**23 - 1) (symmetric)",
    "spike": "v > vth << 6 (strict)",
    "payload": "floor shift, saturate to [0, 2**payload_bits - 1]",
    "ei_accumulators": "saturate to 24 bits",
    "ei_division": "trunc(g_E * N * 2**g_e_exp / D) toward zero",
    "readout": "saturate to 32 bits",
}
"""The rounding and reduction of every fixed-point operation (``spikefold.rounding``)."""

_OUT_STATE = {
    LIF: ("v",),
    CubaLIF: ("current", "v"),  # "current", not "u": "<node>/u" is the probe output
    LI: ("v",),
    Readout: ("total",),
    Delay: ("buf",),
}

PROBES = {"LIF": ("h",), "CubaLIF": ("h", "u")}
"""Per node kind, the extra outputs ``<node>/<probe>`` of the step model, as hwsim's records
(:mod:`hwsim.simops`): a LIF's and a CubaLIF's pre-reset membrane ``h``, a CubaLIF's current
``u`` after the step."""


def synaptic_latency(graph: HardwareGraph, name: str) -> int:
    """Steps of ``name``'s input latency that a ``Latency`` op realises in front of it: the
    :func:`~hwsim.graph.latency` of a synapse in ``lava`` timing (0 for Delay nodes, whose
    own op delays)."""
    node = graph.nodes[name]
    return 0 if isinstance(node, Delay) else latency(node, graph.metadata.timing)


def state_specs(graph: HardwareGraph) -> list[dict]:
    """The state tensors of the step model, in topological order: ``{"node", "input",
    "output", "shape"}`` with ``shape`` per step, ``"B"`` for the batch axis (LIF and LI ``v``,
    CubaLIF ``current`` (its ``u``) then ``v``, Readout ``total``: ``["B", *shape]``; Delay
    ``buf`` and the ``lat`` buffer of a synapse with latency: ``[steps, "B", *shape]``). Every
    state starts at zero."""
    shapes = graph.shapes()
    out = []

    def add(name: str, field: str, shape: list) -> None:
        out.append(
            {"node": name, "input": f"{name}/{field}", "output": f"{name}/{field}_next",
             "shape": shape}
        )  # fmt: skip

    for name in graph.topological_order():
        node = graph.nodes[name]
        lat = synaptic_latency(graph, name)
        if lat:
            add(name, "lat", [lat, "B", *graph.input_shapes(name)[0]])
        for field in _OUT_STATE.get(type(node), ()):
            shape = ["B", *shapes[name]]
            add(name, field, [node.steps, *shape] if isinstance(node, Delay) else shape)
    return out


class _Builder:
    def __init__(self, graph: HardwareGraph) -> None:
        self.graph = graph
        self.fmt = graph.metadata.format
        self.dtype = compute_type(self.fmt)
        self.shapes = graph.shapes()
        self.offsets = graph.arrival_offsets()
        self.nodes: list = []
        self.inits: dict[str, TensorProto] = {}
        self.inputs: list = [helper.make_tensor_value_info("t", TensorProto.INT64, [])]
        self.outputs: list = []
        self.used_ops: set[str] = set()

    # -- helpers --------------------------------------------------------------------------------
    def vi(self, name: str, shape, dtype: int | None = None):
        dims = [d if isinstance(d, str) else int(d) for d in shape]
        return helper.make_tensor_value_info(name, self.dtype if dtype is None else dtype, dims)

    def param(self, node: str, field: str, value) -> str:
        """An initializer ``<node>/<field>`` holding ``value`` in its own dtype and shape (a
        Python int becomes a 0-d int64, a float a 0-d float64); None -> :data:`NONE`."""
        if value is None:
            if NONE not in self.inits:
                zero = np.zeros((), dtype=helper.tensor_dtype_to_np_dtype(self.dtype))
                self.inits[NONE] = numpy_helper.from_array(zero, NONE)
            return NONE
        if isinstance(value, (bool, np.bool_)):
            raise ExportError(f"node {node!r}: field {field} is a bool; expected a number")
        if isinstance(value, (int, np.integer)):
            arr = np.asarray(value, dtype=np.int64)
        elif isinstance(value, (float, np.floating)):
            arr = np.asarray(value, dtype=np.float64)
        else:
            arr = np.asarray(value)
        name = f"{node}/{field}"
        self.inits[name] = numpy_helper.from_array(np.array(arr, order="C"), name)
        return name

    def summed(self, name: str) -> str:
        preds = self.graph.predecessors(name)
        acc = preds[0]
        for k, p in enumerate(preds[1:], start=1):
            out = f"{name}/sum{k}"
            self.nodes.append(helper.make_node("Add", [acc, p], [out], name=out))
            acc = out
        return acc

    def source(self, name: str) -> str:
        """The single input of ``name``, behind a ``Latency`` op in ``lava`` timing."""
        src = self.graph.predecessors(name)[0]
        lat = synaptic_latency(self.graph, name)
        if not lat:
            return src
        shape = ["B", *self.shapes[src]]
        buf, buf_next = self.state(name, "lat", [lat, *shape])
        self.custom("Latency", f"{name}/latency", [src, buf], [f"{name}/latency", buf_next],
                    steps=lat)  # fmt: skip
        return f"{name}/latency"

    def state(self, name: str, field: str, shape) -> tuple[str, str]:
        i, o = f"{name}/{field}", f"{name}/{field}_next"
        self.inputs.append(self.vi(i, shape))
        self.outputs.append(self.vi(o, shape))
        return i, o

    def custom(self, kind: str, name: str, inputs, outputs, **attrs) -> None:
        op = OPS[OP_FOR_KIND.get(kind, kind)]
        self.used_ops.add(op.name)
        missing = set(op.attributes) - set(attrs)
        if missing or len(inputs) != len(op.inputs) or len(outputs) != len(op.outputs):
            raise ExportError(f"node {name!r}: internal signature mismatch for {kind}")  # a bug
        node = helper.make_node(op.name, list(inputs), list(outputs), name=name, domain=DOMAIN)
        for key in op.attributes:  # declaration order: deterministic bytes
            value = attrs[key]
            typ = onnx.AttributeProto.INTS if isinstance(value, list) else None
            node.attribute.append(helper.make_attribute(key, value, attr_type=typ))
        self.nodes.append(node)

    # -- per kind (dispatch table _KINDS below) ------------------------------------------------
    def add(self, name: str, node: Node) -> None:
        try:
            handler = _KINDS[type(node)]
        except KeyError:  # every kind of hwsim.nodes has an entry; a new kind must get one
            raise ExportError(f"node {name!r}: no ONNX export for node kind {node.kind}") from None
        handler(self, name, node, ["B", *self.shapes[name]])
        self.outputs.append(self.vi(name, ["B", *self.shapes[name]]))

    def input_(self, name: str, node: Input, shape: list) -> None:
        frame = f"{name}/x"
        self.inputs.append(self.vi(frame, shape, TensorProto.DOUBLE))
        widths = self.graph.metadata.widths
        bits = widths.input_bits if widths is not None else 0
        scale = self.param(name, "scale", float(node.scale))
        self.custom("Input", name, [frame, scale], [name], encoding=node.encoding, bits=bits)

    def synapse(self, name: str, node: Dense | Conv2d, shape: list) -> None:
        w, b = self.param(name, "weight", node.weight), self.param(name, "bias", node.bias)
        attrs = {"weight_exp": int(node.weight_exp)}
        if isinstance(node, Conv2d):
            attrs |= _conv_attrs(node.stride, node.padding, node.groups)
        self.custom(node.kind, name, [self.source(name), w, b], [name], **attrs)

    def pool(self, name: str, node: SumPool2d, shape: list) -> None:  # and AvgPool2d
        stride = [] if node.stride is None else list(node.stride)
        src = self.graph.predecessors(name)[0]
        self.custom(node.kind, name, [src], [name], kernel_shape=list(node.kernel), strides=stride)

    def flatten(self, name: str, node: Flatten, shape: list) -> None:
        self.custom("Flatten", name, [self.graph.predecessors(name)[0]], [name])

    def lif(self, name: str, node: LIF, shape: list) -> None:
        v, v_next = self.state(name, "v", shape)
        ins = [self.summed(name), v, "t"] + [
            self.param(name, f, getattr(node, f)) for f in ("decay", "threshold", "bias")
        ]
        outs = [name, v_next, f"{name}/h"]
        attrs = {"reset": node.reset, "bias_exp": int(node.bias_exp)}
        self.custom("LIF", name, ins, outs, t_offset=self.offsets[name], **attrs)
        self.outputs.append(self.vi(f"{name}/h", shape))

    def cuba_lif(self, name: str, node: CubaLIF, shape: list) -> None:
        u, u_next = self.state(name, "current", shape)
        v, v_next = self.state(name, "v", shape)
        fields = ("decay", "current_decay", "threshold", "bias")
        params = [self.param(name, f, getattr(node, f)) for f in fields]
        ins = [self.summed(name), u, v, "t", *params]
        outs = [name, u_next, v_next, f"{name}/h", f"{name}/u"]
        attrs = {"reset": node.reset, "bias_exp": int(node.bias_exp)}
        self.custom("CubaLIF", name, ins, outs, t_offset=self.offsets[name], **attrs)
        self.outputs += [self.vi(f"{name}/h", shape), self.vi(f"{name}/u", shape)]

    def li(self, name: str, node: LI, shape: list) -> None:
        v, v_next = self.state(name, "v", shape)
        ins = [self.summed(name), v, "t"] + [
            self.param(name, f, getattr(node, f)) for f in ("decay", "bias")
        ]
        self.custom("LI", name, ins, [name, v_next], bias_exp=int(node.bias_exp),
                    t_offset=self.offsets[name])  # fmt: skip

    def fast_inhibitory(self, name: str, node: FastInhibitory, shape: list) -> None:
        attrs = _payload_attrs(node, self.graph.metadata.widths)
        self.custom("FastInhibitory", name, [self.summed(name)], [name], **attrs)

    def ei_circuit(self, name: str, node: EICircuit, shape: list) -> None:
        fields = ("w_ee", "w_ie", "w_ei", "g_i", "g_e", "b_e", "floor")
        ins = [self.source(name)] + [self.param(name, f, getattr(node, f)) for f in fields]
        attrs = dict(variant=node.variant, stabilisation=node.stabilisation)
        attrs |= _conv_attrs(node.stride, node.padding, node.groups)
        for w in ("w_ee", "w_ie", "w_ei", "g_i", "g_e"):
            attrs[f"{w}_exp"] = int(getattr(node, f"{w}_exp"))
        attrs |= _payload_attrs(node.inhibitory, self.graph.metadata.widths)
        self.custom("EICircuit", name, ins, [name], **attrs)

    def residual_add(self, name: str, node: Add, shape: list) -> None:
        self.custom("Add", name, [self.summed(name)], [name])

    def delay(self, name: str, node: Delay, shape: list) -> None:
        buf, buf_next = self.state(name, "buf", [node.steps, *shape])
        src = self.graph.predecessors(name)[0]
        self.custom("Delay", name, [src, buf], [name, buf_next], steps=int(node.steps))

    def readout(self, name: str, node: Readout, shape: list) -> None:
        total, total_next = self.state(name, "total", shape)
        ins, outs = [self.summed(name), total, "t"], [name, total_next]
        window = self.graph.metadata.T
        self.custom("Readout", name, ins, outs, t_offset=self.offsets[name], window=window)


_KINDS = {
    Input: _Builder.input_,
    Dense: _Builder.synapse,
    Conv2d: _Builder.synapse,
    SumPool2d: _Builder.pool,
    AvgPool2d: _Builder.pool,
    Flatten: _Builder.flatten,
    LIF: _Builder.lif,
    CubaLIF: _Builder.cuba_lif,
    LI: _Builder.li,
    FastInhibitory: _Builder.fast_inhibitory,
    EICircuit: _Builder.ei_circuit,
    Add: _Builder.residual_add,
    Delay: _Builder.delay,
    Readout: _Builder.readout,
}
"""Node kind -> the builder method that emits its ONNX node (keyed by exact type)."""


def _conv_attrs(stride, padding, groups) -> dict:
    ph, pw = padding
    return {"strides": list(stride), "pads": [ph, pw, ph, pw], "group": int(groups)}


def _payload_attrs(node: FastInhibitory, widths) -> dict:
    bits = widths.payload_bits if widths is not None else 0
    return {"payload_exp": int(node.payload_exp), "payload_bits": int(bits)}


def _metadata(graph: HardwareGraph) -> dict[str, str]:
    md = graph.metadata
    offsets = graph.arrival_offsets()
    lifs = {n: v.reset for n, v in graph.nodes.items() if isinstance(v, SPIKING_KINDS)}
    values = {
        "ir_version": IR_VERSION,
        "opset_version": OPSET_VERSION,
        "graph_schema_version": md.schema_version,
        "spikefold_version": md.spikefold_version,
        "T": md.T,
        "steps": md.T + max(offsets.values(), default=0),
        "format": md.format,
        "timing": md.timing,
        "widths": None if md.widths is None else to_dict(md.widths),
        "scales": md.scales,
        "origin": md.origin,
        "rounding": ROUNDING if md.format == "fixed" else None,
        "reset": lifs,
        "offsets": offsets,
        "inputs": {n: graph.nodes[n].encoding for n in graph.input_names()},
        "readouts": [n for n, v in graph.nodes.items() if isinstance(v, Readout)],
        "nodes": list(graph.nodes),
        "edges": [list(e) for e in graph.edges],
        "state": state_specs(graph),
    }
    return {META + k: json.dumps(v, sort_keys=False) for k, v in values.items()}


def export_onnx(graph: HardwareGraph) -> onnx.ModelProto:
    """The ONNX step model of ``graph`` (float or fixed, ``ideal`` or ``lava`` timing).

    Checked with ``onnx.checker.check_model(full_check=True)``; raises :class:`ExportError`
    if the checker refuses the model (a bug of this exporter, reported with its message).
    """
    if not isinstance(graph, HardwareGraph):
        raise ExportError(f"export_onnx takes a HardwareGraph, got {type(graph).__name__}")
    b = _Builder(graph)
    for name in graph.topological_order():
        b.add(name, graph.nodes[name])
    fmt = graph.metadata.format
    onnx_graph = helper.make_graph(
        b.nodes,
        "spikefold_step",
        b.inputs,
        b.outputs,
        initializer=list(b.inits.values()),
        doc_string=f"One time step of a spikefold hardware graph ({fmt}, "
        f"{graph.metadata.timing} timing); loop it T times with the state of spikefold.state.",
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[
            helper.make_operatorsetid("", DEFAULT_OPSET),
            helper.make_operatorsetid(DOMAIN, OPSET_VERSION),
        ],
        functions=functions_for(fmt, b.used_ops),
        ir_version=10,
        producer_name="spikefold",
        producer_version=graph.metadata.spikefold_version,
        doc_string="spikefold spiking IR (docs/ir.md)",
    )
    helper.set_model_props(model, _metadata(graph))
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the exported ONNX model fails onnx.checker: {e}") from None
    return model


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (temporary file, fsync, rename); returns it."""
    path = Path(path)
    data = model.SerializeToString()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        named = write_error(exc, path)
        if named is exc:
            raise
        raise named from exc
    return path
