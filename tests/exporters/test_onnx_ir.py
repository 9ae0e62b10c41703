"""exporters.onnx: export (checker), export -> import -> export, and the errors a reader owes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from exporters.onnx import (
    DOMAIN,
    OPS,
    OPSET_VERSION,
    check_model,
    export_onnx,
    import_onnx,
    run_onnx,
    save_onnx,
)
from exporters.onnx.examples import EXAMPLES, sew_net
from hwsim.errors import DataError, ExportError
from hwsim.graph import NODE_KINDS
from hwsim.io import graphs_equal

CASES = [
    (name, fmt, timing)
    for name in EXAMPLES
    for fmt in ("float32", "fixed")
    for timing in ("ideal", "lava")
]


def test_examples_cover_every_node_kind():
    kinds = {v.kind for f in EXAMPLES.values() for fmt in ("float32", "fixed")
             for v in f(fmt).nodes.values()}  # fmt: skip
    assert kinds == set(NODE_KINDS)


@pytest.mark.parametrize("name,fmt,timing", CASES)
def test_export_import_export_is_identity(name, fmt, timing):
    graph = EXAMPLES[name](fmt, timing)
    model = export_onnx(graph)  # full onnx.checker inside
    onnx.checker.check_model(model, full_check=True)
    back = import_onnx(model)
    assert graphs_equal(graph, back)
    assert export_onnx(back).SerializeToString() == model.SerializeToString()


def test_file_round_trip_and_metadata(tmp_path):
    graph = sew_net("fixed", "lava")
    path = save_onnx(export_onnx(graph), tmp_path / "m.onnx")
    assert graphs_equal(import_onnx(path), graph)
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
    assert meta["spikefold.T"] == 4 and meta["spikefold.format"] == "fixed"
    assert meta["spikefold.timing"] == "lava"
    assert meta["spikefold.steps"] == 4 + max(graph.arrival_offsets().values())
    assert meta["spikefold.widths"]["payload_bits"] == 12
    assert meta["spikefold.reset"] == {"l1": "soft", "l2": "hard"}
    assert meta["spikefold.rounding"]["decay"].startswith("trunc")
    states = {s["input"] for s in meta["spikefold.state"]}
    assert {"l1/v", "skip/buf", "c1/lat", "ro/total"} <= states
    assert not list(tmp_path.glob("*.tmp"))


def test_model_reads_as_an_ir():
    """One custom node per hardware node (Latency nodes in front of lava synapses), each op a
    model-local function of standard ops only."""
    graph = sew_net("fixed", "lava")
    model = export_onnx(graph)
    custom = [n for n in model.graph.node if n.domain == DOMAIN and n.op_type != "Latency"]
    assert [n.name for n in custom] == graph.topological_order()
    lat = {n.name for n in model.graph.node if n.op_type == "Latency"}
    assert lat == {f"{n}/latency" for n in ("c1", "c2", "fc", "ie", "ei")}
    std = [n.op_type for n in model.graph.node if n.domain != DOMAIN]
    assert std == ["Add", "Add"]  # the two summing nodes: add (l2 + skip) and ro (fcd + ei)
    for f in model.functions:
        assert f.domain == DOMAIN and f.name in OPS
        assert all(n.domain == "" for n in f.node)


# -- errors ---------------------------------------------------------------------------------


@pytest.fixture
def model():
    return export_onnx(sew_net("fixed", "ideal"))


def test_missing_function_is_named(model):
    lif = [f for f in model.functions if f.name == "LIF"][0]
    model.functions.remove(lif)
    with pytest.raises(ExportError, match=r"ai\.spikefold\.LIF lacks its model-local function"):
        import_onnx(model)
    with pytest.raises(ExportError, match="lacks its model-local function"):
        run_onnx(model, np.zeros((4, 1, 2, 4, 4)))


def test_wrong_domain_version_is_named(model):
    for o in model.opset_import:
        if o.domain == DOMAIN:
            o.version = OPSET_VERSION + 1
    with pytest.raises(
        ExportError, match=r"domain 'ai.spikefold' version 2 .* implements version 1"
    ):
        import_onnx(model)


def test_edited_function_body_is_refused(model):
    f = [f for f in model.functions if f.name == "LIF"][0]
    for node in f.node:  # strict spike comparison -> >=: a one-character semantic change
        if node.op_type == "Greater":
            node.op_type = "GreaterOrEqual"
            break
    with pytest.raises(ExportError, match="function of ai.spikefold.LIF differs"):
        import_onnx(model)


def test_tampered_weight_shape_is_named(model):
    init = [i for i in model.graph.initializer if i.name == "c2/weight"][0]
    w = numpy_helper.to_array(init)
    init.CopyFrom(numpy_helper.from_array(w[:, :3], "c2/weight"))
    with pytest.raises(ExportError, match=r"node 'c2' \(Conv2d\)"):
        import_onnx(model)


def test_tampered_declared_shape_is_named(model):
    out = [o for o in model.graph.output if o.name == "l2/h"][0]
    out.type.tensor_type.shape.dim[2].dim_value = 5
    with pytest.raises(ExportError, match=r"tampered shape: 'l2/h' is declared"):
        import_onnx(model)


def test_tampered_input_shape_is_named(model):
    frame = [i for i in model.graph.input if i.name == "x/x"][0]
    frame.type.tensor_type.shape.dim[1].dim_value = 3  # channels 2 -> 3
    # strict shape inference through the function bodies catches it (node x's output)
    with pytest.raises(ExportError, match="onnx.checker refuses.*node name: x"):
        import_onnx(model)


def test_stale_derived_attribute_is_refused():
    model = export_onnx(sew_net("float32", "lava"))
    lif = [n for n in model.graph.node if n.name == "l2"][0]
    for a in lif.attribute:
        if a.name == "t_offset":
            a.i += 1
    with pytest.raises(ExportError, match="node 'l2'.*arrival offsets"):
        import_onnx(model)


def test_foreign_and_unknown_nodes_are_refused(model):
    bad = helper.make_node("Relu", ["l1"], ["extra"], name="extra")
    model.graph.node.append(bad)
    with pytest.raises(ExportError, match="standard op Relu"):
        check_model(model)
    model.graph.node.pop()
    model.graph.node.append(helper.make_node("Frobnicate", ["l1"], ["z"], name="z", domain=DOMAIN))
    with pytest.raises(ExportError, match="unknown op ai.spikefold.Frobnicate"):
        check_model(model)


def test_metadata_problems(model):
    del model.metadata_props[:]
    with pytest.raises(ExportError, match="not a spikefold step model"):
        import_onnx(model)
    m2 = export_onnx(sew_net("fixed", "ideal"))
    for p in m2.metadata_props:
        if p.key == "spikefold.graph_schema_version":
            p.value = "99"
    with pytest.raises(ExportError, match="schema version 99"):
        import_onnx(m2)
    m3 = export_onnx(sew_net("fixed", "ideal"))
    for p in m3.metadata_props:
        if p.key == "spikefold.edges":
            p.value = json.dumps(json.loads(p.value)[:-1])
    with pytest.raises(ExportError, match="'edges' disagree"):
        import_onnx(m3)


def test_unreadable_files(tmp_path):
    with pytest.raises(ExportError, match="no such ONNX file"):
        import_onnx(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage\xff\xff")
    with pytest.raises(ExportError, match="junk.onnx"):
        import_onnx(junk)


def test_bad_inputs_to_the_runner(model):
    with pytest.raises(DataError, match="spike train of 3 steps"):
        run_onnx(model, np.zeros((3, 1, 2, 4, 4)))
    with pytest.raises(DataError, match=r"expected \[T, B, \*shape\]"):
        run_onnx(model, np.zeros((4, 1, 2, 5, 4)))
    with pytest.raises(ExportError, match="unknown ONNX backend"):
        run_onnx(model, np.zeros((4, 1, 2, 4, 4)), backend="tvm")


def test_float_scalars_keep_float64_and_schedules_keep_dtype():
    """Python floats travel as 0-d float64 initializers (ONNX float attributes are float32,
    which would round decay = 0.1); float32 arrays keep their dtype."""
    g = EXAMPLES["mlp"]("float32")
    lif = dataclasses.replace(g.nodes["lif1"], decay=0.1)
    g = dataclasses.replace(g, nodes={**g.nodes, "lif1": lif})
    model = export_onnx(g)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert inits["lif1/decay"].dtype == np.float64 and float(inits["lif1/decay"]) == 0.1
    assert inits["fc1/weight"].dtype == np.float32
    assert import_onnx(model).nodes["lif1"].decay == 0.1
