"""hwsim.graph and hwsim.io: round trips of every node kind, validation, corrupt files."""

from __future__ import annotations

import dataclasses
import json
import zipfile

import numpy as np
import pytest

from hwsim import arith, io
from hwsim.errors import GraphError
from hwsim.graph import (
    LI,
    LIF,
    NODE_KINDS,
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
    Readout,
    SumPool2d,
    latency,
)

T = 4


def make_graph(fmt: str) -> HardwareGraph:
    """A graph using every node kind, in ``fmt`` ("float32" or "fixed"), ``lava`` timing for
    the fixed one (Delay nodes balance the residual and the lowered E-I branch)."""
    rng = np.random.default_rng(7)
    fixed = fmt == "fixed"

    def w(*shape, sign=False):
        if fixed:  # on Lava's 8-bit grids: mixed -> even in [-256, 254]; single-signed [0, 255]
            return rng.integers(0, 256, shape) if sign else 2 * rng.integers(-128, 128, shape)
        a = rng.normal(size=shape).astype(np.float32)
        return np.abs(a) if sign else a

    def pos(*shape):
        return rng.integers(1, 2**16, shape) if fixed else rng.random(shape) + 0.1

    def exp(v):
        return v if fixed else 0

    thr = np.array([60, 61, 62, 63]) if fixed else np.array([1.0, 0.9, 1.1, 1.0])
    nodes = {
        "x": Input((2, 6, 6), "direct", scale=1 / 255 if fixed else 1.0),
        "c1": Conv2d(w(4, 2, 3, 3), None, stride=1, padding=1, weight_exp=exp(-2)),
        "l1": LIF(
            2048 if fixed else 0.5,
            thr,
            "soft",
            np.array([3, -2, 0, 1]) if fixed else np.zeros(4),
            bias_exp=exp(6),
        ),
        "c2": Conv2d(
            w(4, 2, 3, 3),
            (np.arange(4) - 2) if fixed else np.ones(4, np.float32),
            padding=(1, 1),
            groups=2,
            weight_exp=exp(1),
        ),
        "l2": LIF(4096 if fixed else 1.0, 64 if fixed else 1.0, "hard"),
        "skip": Delay(1 if fixed else 0),
        "add": Add(),
        "pool": SumPool2d(2) if fixed else AvgPool2d((2, 2), stride=2),
        "eic": EICircuit(
            w(8, 4, 3, 3, sign=True),
            w(2, 4, 3, 3, sign=True),
            w(8, 2, sign=True),
            FastInhibitory(payload_exp=exp(-3)),
            pos(2),
            pos(8),
            rng.integers(-5, 5, 8) if fixed else rng.normal(size=8),
            "divisive",
            "floor" if fixed else "exact",
            3 if fixed else 0,
            stride=1,
            padding=1,
            w_ee_exp=exp(-1),
            w_ie_exp=exp(0),
            w_ei_exp=exp(-4),
            g_i_exp=exp(-12),
            g_e_exp=exp(-3),
        ),
        "l3": LIF(3072 if fixed else 0.75, 100 if fixed else 1.0),
        "pool2": SumPool2d((3, 3), (3, 3)),
        "flat": Flatten(),
        "eid": EICircuit(
            w(5, 8, sign=True), w(2, 8, sign=True), w(5, 2, sign=True), variant="subtractive"
        ),
        "ie": Dense(w(3, 8, sign=True)),
        "inh": FastInhibitory(),
        "ei": Dense(w(5, 3), weight_exp=exp(3)),
        "dc": Dense(w(6, 8), np.arange(6) - 3 if fixed else None),
        "cuba": CubaLIF(
            3000 if fixed else 0.75,
            1024 if fixed else 0.25,
            70 if fixed else 1.0,
            "hard",
            np.array(5) if fixed else np.array(0.1),
            bias_exp=exp(2),
        ),
        "dl": Dense(w(5, 6)),
        "li": LI(2048 if fixed else 0.5, np.array([1, -1, 0, 2, 3]) if fixed else None,
                 bias_exp=exp(6)),  # fmt: skip
        "ro": Readout(),
    }
    edges = [
        ("x", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l2"), ("l1", "skip"), ("skip", "add"),
        ("l2", "add"), ("add", "pool"), ("pool", "eic"), ("eic", "l3"), ("l3", "pool2"),
        ("pool2", "flat"), ("flat", "eid"), ("eid", "ro"), ("flat", "ie"), ("ie", "inh"),
        ("inh", "ei"), ("ei", "ro"), ("flat", "dc"), ("dc", "cuba"), ("cuba", "dl"), ("dl", "li"),
        ("li", "ro"),
    ]  # fmt: skip
    meta = GraphMetadata(
        T=T,
        format=fmt,
        timing="lava" if fixed else "ideal",
        widths=arith.FixedWidths(weight_bits=8, payload_bits=12) if fixed else None,
        scales={"l1/v": 0.01, "x": 1 / 255} if fixed else {},
        origin={"model": "test", "config_hash": "abc123"},
    )
    return HardwareGraph(nodes, edges, meta)


@pytest.fixture(params=["float32", "fixed"])
def graph(request) -> HardwareGraph:
    return make_graph(request.param)


def test_factory_covers_every_node_kind():
    kinds = {n.kind for fmt in ("float32", "fixed") for n in make_graph(fmt).nodes.values()}
    assert kinds == set(NODE_KINDS)


def test_shapes_order_and_lookups(graph):
    shapes = graph.shapes()
    assert shapes["c1"] == (4, 6, 6) and shapes["pool"] == (4, 3, 3)
    assert shapes["eic"] == (8, 3, 3) and shapes["flat"] == (8,) and shapes["ro"] == (5,)
    order = graph.topological_order()
    assert all(order.index(s) < order.index(d) for s, d in graph.edges)
    assert graph.input_names() == ["x"] and graph.output_names() == ["ro"]
    assert graph.predecessors("add") == ["skip", "l2"]
    assert graph.successors("flat") == ["eid", "ie", "dc"]
    assert graph.input_shapes("ro") == [(5,), (5,), (5,)]
    with pytest.raises(GraphError, match="no node named"):
        graph.predecessors("nope")


def test_arrival_offsets_follow_lava_timing():
    g = make_graph("fixed")
    off = g.arrival_offsets()
    # c1 +1, c2 +1 (skip path: Delay 1), eic +2, ie/ei +1 each = the subtractive eid's +2
    assert off["l1"] == 1 and off["add"] == 2 and off["l3"] == 4 and off["ro"] == 6
    assert latency(g.nodes["eic"], "ideal") == 0 and latency(g.nodes["skip"], "ideal") == 1
    assert set(make_graph("float32").arrival_offsets().values()) == {0}


def test_every_node_round_trips_through_to_dict(graph):
    for name, node in graph.nodes.items():
        back = io.from_dict(type(node), io.to_dict(node), name)
        assert type(back) is type(node)
        assert io._tree_equal(io.to_dict(back), io.to_dict(node)), name
        generic = io.from_dict(NODE_KINDS[node.kind].__mro__[-2], io.to_dict(node), name)
        assert io._tree_equal(io.to_dict(generic), io.to_dict(node))


def test_file_round_trip_is_exact(graph, tmp_path):
    path = io.save_graph(graph, tmp_path / "g.graph.npz")
    back = io.load_graph(path)
    assert io.graphs_equal(graph, back)
    assert back.metadata.schema_version == SCHEMA_VERSION
    for name, node in graph.nodes.items():  # dtypes survive: int64 stays int64, f32 stays f32
        for f in dataclasses.fields(node):
            a, b = getattr(node, f.name), getattr(back.nodes[name], f.name)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and not b.flags.writeable
            else:
                assert type(a) is type(b) or dataclasses.is_dataclass(a)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_graphs_equal_detects_differences(graph):
    other = dataclasses.replace(graph, metadata=dataclasses.replace(graph.metadata, T=T))
    assert io.graphs_equal(graph, other)
    ro = dict(graph.nodes)
    ro["l2"] = dataclasses.replace(ro["l2"], reset="soft")
    assert not io.graphs_equal(graph, dataclasses.replace(graph, nodes=ro))


def test_nodes_are_immutable(graph):
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.nodes["l2"].reset = "soft"
    with pytest.raises(ValueError):
        graph.nodes["c1"].weight[0, 0, 0, 0] = 1


# -- files -------------------------------------------------------------------------------------


def _rewrite(path, mutate_header=None, mutate_arrays=None):
    with np.load(path, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    header = json.loads(members["__header__"].tobytes())
    if mutate_header:
        mutate_header(header)
    if mutate_arrays:
        mutate_arrays(header, members)
    members["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **members)


def _array_key(header, node, field):
    return header["graph"]["nodes"][node][field]["$array"]


def test_truncated_file_names_the_path(tmp_path):
    path = io.save_graph(make_graph("fixed"), tmp_path / "g.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphError, match=r"g\.npz.*truncated or corrupt"):
        io.load_graph(path)


def test_corrupt_bytes_fail_the_crc(tmp_path):
    path = io.save_graph(make_graph("float32"), tmp_path / "g.npz")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("a0.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside a0's payload
    path.write_bytes(bytes(data))
    with pytest.raises(GraphError, match=str(path.name)):
        io.load_graph(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(GraphError, match="no such graph file"):
        io.load_graph(tmp_path / "absent.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(GraphError, match="not a spikefold graph file"):
        io.load_graph(tmp_path / "other.npz")
    np.savez(tmp_path / "obj.npz", __header__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(GraphError, match="obj.npz"):  # allow_pickle=False refuses objects
        io.load_graph(tmp_path / "obj.npz")


def test_tampered_weight_shape_names_the_node(tmp_path):
    path = io.save_graph(make_graph("float32"), tmp_path / "g.npz")

    def shrink(header, members):
        key = _array_key(header, "ei", "weight")
        members[key] = members[key][:, :2]

    _rewrite(path, mutate_arrays=shrink)
    with pytest.raises(GraphError, match=r"g\.npz.*node 'ei' \(Dense\).*expects input \(2,\)"):
        io.load_graph(path)


def test_tampered_schema_version(tmp_path):
    path = io.save_graph(make_graph("fixed"), tmp_path / "g.npz")
    _rewrite(path, mutate_header=lambda h: h.update(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(GraphError, match=r"schema version 2; this spikefold reads version 1"):
        io.load_graph(path)


def test_nan_weights_in_file(tmp_path):
    path = io.save_graph(make_graph("float32"), tmp_path / "g.npz")

    def poison(header, members):
        key = _array_key(header, "c2", "weight")
        members[key] = members[key].copy()
        members[key][0, 0, 0, 0] = np.nan

    _rewrite(path, mutate_arrays=poison)
    with pytest.raises(GraphError, match=r"node 'c2' \(Conv2d\): weight has 1 NaN/infinite"):
        io.load_graph(path)


def test_unknown_kind_and_fields_in_file(tmp_path):
    path = io.save_graph(make_graph("float32"), tmp_path / "g.npz")
    _rewrite(path, mutate_header=lambda h: h["graph"]["nodes"]["l2"].update(kind="Izhikevich"))
    with pytest.raises(GraphError, match=r"nodes\['l2'\].*unknown node kind 'Izhikevich'"):
        io.load_graph(path)
    path = io.save_graph(make_graph("float32"), tmp_path / "g.npz")
    _rewrite(path, mutate_header=lambda h: h["graph"]["nodes"]["l2"].update(tau=2.0))
    with pytest.raises(GraphError, match=r"unknown field\(s\) \['tau'\]"):
        io.load_graph(path)
    path = io.save_graph(make_graph("float32"), tmp_path / "g.npz")
    _rewrite(path, mutate_header=lambda h: h["graph"]["nodes"]["l2"].pop("decay"))
    with pytest.raises(GraphError, match="missing field 'decay'"):
        io.load_graph(path)
    path = io.save_graph(make_graph("float32"), tmp_path / "g.npz")
    _rewrite(path, mutate_header=lambda h: h["graph"]["nodes"]["l2"].update(reset="leaky"))
    with pytest.raises(GraphError, match="'leaky' is not one of"):
        io.load_graph(path)


def test_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = io.save_graph(make_graph("float32"), tmp_path / "g.npz")
    before = path.read_bytes()

    def broken(fh, **arrays):
        fh.write(b"PK partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(io.np, "savez", broken)
    with pytest.raises(KeyboardInterrupt):
        io.save_graph(make_graph("fixed"), path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


# -- validation in memory ----------------------------------------------------------------------


def _meta(**kw):
    return GraphMetadata(T=T, **kw)


def _chain(*nodes, **meta):
    names = [f"n{i}" for i in range(len(nodes))]
    edges = list(zip(names, names[1:]))
    return HardwareGraph(dict(zip(names, nodes)), edges, _meta(**meta))


def test_cycle_is_refused():
    nodes = {"x": Input((3,)), "a": Dense(np.eye(3)), "b": LIF(0.5, 1.0)}
    with pytest.raises(GraphError, match=r"cycle through the nodes \['a', 'b'\]"):
        HardwareGraph(nodes, [("x", "a"), ("a", "b"), ("b", "a")], _meta())


def test_dangling_edges_self_loops_and_structure():
    nodes = {"x": Input((3,)), "a": Dense(np.eye(3))}
    with pytest.raises(GraphError, match="dangling: no node named 'ghost'"):
        HardwareGraph(nodes, [("x", "a"), ("a", "ghost")], _meta())
    with pytest.raises(GraphError, match="self-loop"):
        HardwareGraph(nodes, [("x", "a"), ("a", "a")], _meta())
    with pytest.raises(GraphError, match="node 'a' \\(Dense\\) has no incoming edge"):
        HardwareGraph(nodes, [], _meta())
    with pytest.raises(GraphError, match="no Input node"):
        HardwareGraph({"a": Dense(np.eye(3))}, [], _meta())
    with pytest.raises(GraphError, match="node name 'bad name'"):
        HardwareGraph({"bad name": Input((3,))}, [], _meta())


def test_shape_mismatches_name_the_node():
    with pytest.raises(GraphError, match="node 'n1' \\(Dense\\).*insert a Flatten"):
        _chain(Input((2, 3, 3)), Dense(np.zeros((4, 18))))
    with pytest.raises(GraphError, match="node 'n1' \\(Conv2d\\).*does not fit 3 input channels"):
        _chain(Input((3, 5, 5)), Conv2d(np.zeros((4, 2, 3, 3))))
    with pytest.raises(GraphError, match="does not fit the input"):
        _chain(Input((1, 2, 2)), Conv2d(np.zeros((4, 1, 3, 3))))
    with pytest.raises(GraphError, match="bias shape"):
        _chain(Input((3,)), Dense(np.zeros((4, 3)), np.zeros(3)))
    with pytest.raises(GraphError, match="w_ei shape"):
        _chain(
            Input((3,)),
            EICircuit(np.ones((4, 3)), np.ones((1, 3)), np.ones((4, 2)), variant="subtractive"),
        )


def test_unbalanced_lava_paths_need_delays():
    nodes = {"x": Input((3,)), "d": Dense(np.eye(3)), "l": LIF(0.5, 1.0), "add": Add()}
    edges = [("x", "d"), ("d", "l"), ("x", "add"), ("l", "add")]
    HardwareGraph(nodes, edges, _meta())  # ideal timing: balanced
    with pytest.raises(GraphError, match="insert Delay nodes"):
        HardwareGraph(nodes, edges, _meta(timing="lava"))


def test_value_checks():
    with pytest.raises(GraphError, match="weight has 1 NaN/infinite entries"):
        _chain(Input((2,)), Dense(np.array([[np.inf, 0.0]])))
    with pytest.raises(GraphError, match="a float graph holds float32/float64 arrays"):
        _chain(Input((2,)), Dense(np.array([[1, 0]])))
    with pytest.raises(GraphError, match="weight_exp=3 is a fixed-format field"):
        _chain(Input((2,)), Dense(np.ones((1, 2)), weight_exp=3))
    with pytest.raises(GraphError, match=r"threshold schedule has shape \(3,\)"):
        _chain(Input((2,)), Dense(np.ones((2, 2))), LIF(0.5, np.ones(3)))
    with pytest.raises(GraphError, match="w_ie: 1 negative entries violate Dale's law"):
        _chain(
            Input((2,)),
            EICircuit(np.ones((4, 2)), -np.eye(1, 2), np.ones((4, 1)), variant="subtractive"),
        )
    with pytest.raises(GraphError, match="divisive variant needs g_i, g_e and b_e"):
        _chain(Input((2,)), EICircuit(np.ones((4, 2)), np.ones((1, 2)), np.ones((4, 1))))
    with pytest.raises(GraphError, match="a fixed graph needs widths"):
        _chain(Input((2,)), format="fixed")


def _fixed(*nodes):
    return _chain(*nodes, format="fixed", widths=arith.FixedWidths())


def test_fixed_value_checks():
    ok = _fixed(Input((2,)), Dense(np.array([[254, -256]])), LIF(4096, 5, "hard"))
    assert ok.shapes()["n2"] == (1,)
    with pytest.raises(GraphError, match="off Lava's 8-bit mixed weight grid"):
        _fixed(Input((2,)), Dense(np.array([[255, -3]])))  # the DESIGN.md trap: odd, mixed
    with pytest.raises(GraphError, match="a fixed graph holds integer arrays"):
        _fixed(Input((2,)), Dense(np.ones((1, 2))))
    with pytest.raises(GraphError, match="decay=0.5 must be an integer"):
        _fixed(Input((2,)), Dense(np.ones((2, 2), int)), LIF(0.5, 5))
    with pytest.raises(GraphError, match=r"threshold: 1 entries outside \[0, 131071\]"):
        _fixed(Input((2,)), Dense(np.ones((2, 2), int)), LIF(4096, 2**17))
    with pytest.raises(GraphError, match="AvgPool2d is float-only"):
        _fixed(Input((1, 2, 2)), AvgPool2d(2))
    with pytest.raises(GraphError, match="widths: state_bits=32 differs"):
        _chain(Input((2,)), format="fixed", widths=arith.FixedWidths(state_bits=32))


def test_metadata_checks():
    with pytest.raises(GraphError, match=r"scales\['nope/v'\] names no node"):
        _chain(Input((2,)), scales={"nope/v": 1.0})
    with pytest.raises(GraphError, match="schema_version 9"):
        _chain(Input((2,)), schema_version=9)
    with pytest.raises(GraphError, match="T=0 must be a positive int"):
        HardwareGraph({"x": Input((2,))}, [], GraphMetadata(T=0))


def test_fixed_node_fields_drive_arith():
    """The fields of fixed nodes are exactly the arguments of hwsim.arith (the simulator's
    job in miniature): one step of the conv E-I circuit and of a LIF with per-channel bias."""
    g = make_graph("fixed")
    shapes = g.shapes()
    rng = np.random.default_rng(0)
    eic = g.nodes["eic"]
    x = rng.integers(0, 5, (2, *g.input_shapes("eic")[0]))  # graded pooled counts
    conv = dict(stride=eic.stride, padding=eic.padding, groups=eic.groups)
    acc_ee = arith.conv_accumulate(eic.w_ee, x, weight_exp=eic.w_ee_exp, **conv)
    acc_ie = arith.conv_accumulate(eic.w_ie, x, weight_exp=eic.w_ie_exp, **conv)
    out = arith.ei_step_fixed(
        acc_ee, acc_ie, w_ei=eic.w_ei, w_ei_exp=eic.w_ei_exp, g_i=eic.g_i, g_i_exp=eic.g_i_exp,
        g_e=eic.g_e, g_e_exp=eic.g_e_exp, b_e=eic.b_e,
        payload_exp=eic.inhibitory.payload_exp, payload_bits=g.metadata.widths.payload_bits,
        variant=eic.variant, stabilisation=eic.stabilisation, floor=eic.floor,
    )  # fmt: skip
    assert out.current.shape == (2, *shapes["eic"])
    lif = g.nodes["l1"]
    bias = arith.bias_effective(lif.bias_broadcast(shapes["l1"]), lif.bias_exp)
    step = arith.lif_step_fixed(
        np.zeros((2, *shapes["l1"]), np.int64), rng.integers(-50, 50, (2, *shapes["l1"])),
        decay=lif.decay, vth=lif.threshold[0], bias=bias, reset=lif.reset,
    )  # fmt: skip
    assert step.v.shape == (2, *shapes["l1"])
