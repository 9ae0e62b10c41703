"""hwsim.describe / HardwareGraph.summary() and repr: the node table of hand-built graphs (every
cell derived by hand), timing offsets in both timings, and a repr that stays one short line
however large the arrays."""

from __future__ import annotations

import dataclasses

import numpy as np

from hwsim import arith, describe
from hwsim.graph import (
    LIF,
    NODE_KINDS,
    Dense,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
)


def _fixed_graph(n_in: int = 4, n_hidden: int = 3) -> HardwareGraph:
    w1 = 4 * (np.arange(n_hidden * n_in, dtype=np.int64).reshape(n_hidden, n_in) % 7)  # 6-bit grid
    nodes = {
        "x": Input((1, 2, n_in // 2), "direct", scale=0.5),
        "flat": Flatten(),
        "fc1": Dense(w1, np.zeros(n_hidden, np.int64), weight_exp=-2),
        "lif": LIF(2048, np.array([100, 90, 80]), "hard"),
        "fc2": Dense(np.full((2, n_hidden), 4, np.int64)),
        "out": Readout(),
    }
    names = list(nodes)
    md = GraphMetadata(T=3, format="fixed", widths=arith.FixedWidths(weight_bits=6))
    return HardwareGraph(nodes, list(zip(names, names[1:])), md)


def test_node_rows_by_hand():
    rows = {r["name"]: r for r in describe.node_rows(_fixed_graph())}
    assert list(rows) == ["x", "flat", "fc1", "lif", "fc2", "out"]
    assert rows["x"] == {"name": "x", "kind": "Input", "inputs": [], "output": [1, 2, 2],
                         "params": 0, "bits": "8-bit input", "offset": 0,
                         "settings": "encoding=direct, scale=0.5"}  # fmt: skip
    assert rows["flat"]["inputs"] == [[1, 2, 2]] and rows["flat"]["output"] == [4]
    assert rows["flat"]["bits"] == "-" and rows["flat"]["params"] == 0
    assert rows["fc1"]["params"] == 3 * 4 + 3  # weights and bias entries
    assert rows["fc1"]["bits"] == "6-bit w" and rows["fc1"]["settings"] == "weight_exp=-2"
    # decay, and a threshold schedule of T = 3 entries
    assert rows["lif"]["params"] == 1 + 3 and rows["lif"]["bits"] == "24-bit v, 17-bit θ"
    assert rows["lif"]["settings"] == "decay=2048, threshold=[3 steps], reset=hard"
    assert rows["fc2"]["params"] == 6 and rows["out"]["bits"] == "32-bit sum"
    assert [r["offset"] for r in rows.values()] == [0] * 6


def test_offsets_in_lava_timing_and_float_bits():
    g = _fixed_graph()
    lava = dataclasses.replace(g, metadata=dataclasses.replace(g.metadata, timing="lava"))
    assert [r["offset"] for r in describe.node_rows(lava)] == [0, 0, 1, 1, 2, 2]
    flt = HardwareGraph(
        {"x": Input((2,), "rate"), "fc": Dense(np.ones((2, 2), np.float32)), "ro": Readout()},
        [("x", "fc"), ("fc", "ro")], GraphMetadata(T=2))  # fmt: skip
    assert [r["bits"] for r in describe.node_rows(flt)] == ["-", "float32", "float32"]


def test_summary_table_and_a_short_repr():
    g = _fixed_graph()
    text = g.summary()
    lines = text.splitlines()
    assert lines[0] == ("HardwareGraph: 6 nodes, 5 edges; fixed (6-bit weights), ideal timing, "
                        "T=3, schema 1")  # fmt: skip
    head = lines[2].split()
    assert head == list(describe.COLUMNS)
    body = [ln.split()[0] for ln in lines[4:10]]
    assert body == ["x", "flat", "fc1", "lif", "fc2", "out"]
    assert lines[-1] == f"parameters: {15 + 4 + 6}"
    assert repr(g) == ("HardwareGraph(6 nodes, 5 edges, fixed (6-bit weights), ideal timing, "
                       "T=3: x -> flat -> fc1 -> lif -> fc2 -> out)")  # fmt: skip
    big = _fixed_graph(n_in=400, n_hidden=300)  # 120,000 weights
    assert len(repr(big)) < 200 and "\n" not in repr(big) and "array" not in repr(big)
    assert "120,300" in big.summary()  # fc1: 300 x 400 weights + 300 biases


def test_every_node_kind_has_its_widths_described():
    described = set(describe._FIXED_BITS) | set(describe._HOLDS_NOTHING)
    missing = [k for k, cls in NODE_KINDS.items() if cls not in described]
    assert not missing, f"add the fixed-format widths of {missing} to hwsim.describe"


def test_node_reprs_name_shapes_and_dtypes_never_values():
    from hwsim.graph import EICircuit, FastInhibitory

    w = np.arange(300 * 400, dtype=np.int64).reshape(300, 400)
    dense = Dense(w, np.zeros(300, np.int64), weight_exp=-2)
    assert repr(dense) == "Dense(weight=int64[300, 400], bias=int64[300], weight_exp=-2)"
    # fields at their default are left out; a scalar stays a scalar, a schedule a shape
    assert repr(LIF(0.5, 1.0)) == "LIF(decay=0.5, threshold=1.0)"
    lif = LIF(2048, np.array([100, 90, 80]), "hard")
    assert repr(lif) == "LIF(decay=2048, threshold=int64[3], reset='hard')"
    ei = EICircuit(np.ones((6, 4), np.float32), np.ones((2, 4), np.float32),
                   np.ones((6, 2), np.float32), FastInhibitory(payload_exp=-3))  # fmt: skip
    assert repr(ei) == ("EICircuit(w_ee=float32[6, 4], w_ie=float32[2, 4], w_ei=float32[6, 2], "
                        "inhibitory=FastInhibitory(payload_exp=-3))")  # fmt: skip
    # every node of a graph, every kind: one short line, no array values
    for node in _fixed_graph(n_in=400, n_hidden=300).nodes.values():
        text = repr(node)
        assert "\n" not in text and len(text) < 100 and "array" not in text, text
    for cls in NODE_KINDS.values():  # no kind gets the dataclass repr back
        assert cls.__repr__ is Dense.__repr__, cls
