"""Where Lava's stock synapses leave hwsim's arithmetic (issue 13, item 6), replayed in Lava.

Both graphs were found by differential fuzzing against lava-nc 0.10.0: a stock ``Conv`` sums in
float64 and casts to int32 before its 24-bit wrap, a stock ``Dense`` fed another synapse's
int32 current wraps its sum before a negative ``weight_exp`` shift. Each test runs the graph
twice in Lava: with the stock process forced in (it diverges from hwsim exactly where the sum
leaves int32) and as the exporter translates it (spikefold's ``Synapse``: rung 2 bit-exact).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import exporters  # noqa: F401 - installs the Python 3.11 shim; must precede every lava import

# isort: split
from exporters.lava import run_lava_steps, translate
from exporters.lava.rung2 import rung2_fixed
from exporters.lava.translate import STOCK_SUM_LIMIT
from hwsim import arith
from hwsim.graph import Conv2d, Dense, Flatten, GraphMetadata, HardwareGraph, Input, Readout
from hwsim.sim import encode_inputs, run_steps

pytest.importorskip("lava.proc.conv.models")


def _chain(nodes: dict, input_bits: int) -> HardwareGraph:
    md = GraphMetadata(
        T=2, format="fixed", timing="lava", widths=arith.FixedWidths(input_bits=input_bits)
    )
    names = list(nodes)
    return HardwareGraph(nodes, list(zip(names, names[1:])), md)


def _forced(spec, name: str, stock):
    """``spec`` with process ``name`` replaced by the stock process of another translation."""
    return dataclasses.replace(spec, processes=dict(spec.processes, **{name: stock}))


# -- (a) stock Conv: float64 sum, int32 cast, then the 24-bit wrap -----------------------------


def _conv_graph(input_bits: int) -> HardwareGraph:
    return _chain(
        {
            "x": Input((2, 1, 1), "direct", scale=1.0),
            "c": Conv2d(np.full((1, 2, 1, 1), 255)),
            "f": Flatten(),
            "ro": Readout(),
        },
        input_bits,
    )


def test_stock_conv_leaves_hwsim_where_the_sum_leaves_int32() -> None:
    # Input (2, 1, 1) -> Conv 1x1, weights 255: the sum is 510·x
    agree, diverge = 4_210_752, 4_210_753
    assert 510 * agree < 2**31 <= 510 * diverge
    x = np.array([agree, diverge], dtype=np.float64)[:, None, None, None] * np.ones((1, 2, 1, 1))
    g = _conv_graph(input_bits=24)
    inputs = encode_inputs(g, x)
    ref = run_steps(g, inputs, record=["c"])
    # 24 input bits: 510 · 2**23 >= 2**31, no bound: the exporter takes spikefold's Synapse
    spec = translate(g)
    assert spec.processes["c"].kind == "spikefold.Synapse"
    # 22 input bits: 510 · 2**22 < 2**31 proven, Lava's own Conv
    stock = translate(_conv_graph(input_bits=22)).processes["c"]
    assert stock.kind == "lava.Conv"
    forced = run_lava_steps(_forced(spec, "c", stock), inputs, record=["c"])
    off = spec.offsets["c"]
    live = slice(off, off + g.metadata.T)
    assert np.array_equal(forced.records["c"][live, 0], ref.records["c"][live, 0])
    assert not np.array_equal(forced.records["c"][live, 1], ref.records["c"][live, 1])
    # what hwsim computes: the exact sum wrapped to 24 bits (the numeric spec)
    assert ref.records["c"][off, 1].item() == arith.wrap_signed(510 * diverge, 24).item()
    # the exporter's translation is bit-exact on both samples
    res = rung2_fixed(g, x, spec=spec)
    assert res.passed, res.summary()


# -- (b) stock Dense after a synapse: int32 sum wrapped before a negative weight_exp -----------


N_MID = 261  # fan-in of the second synapse: 254 · (254 · 2**7) · 261 >= 2**31


def _dense_graph(n: int) -> HardwareGraph:
    return _chain(
        {
            "x": Input((1,), "spikes"),
            "d1": Dense(np.full((n, 1), 254), weight_exp=7),
            "d2": Dense(np.full((1, n), 254), weight_exp=-7),
            "ro": Readout(),
        },
        input_bits=8,
    )


def test_stock_dense_after_a_synapse_wraps_before_its_shift() -> None:
    total = 254 * (254 << 7) * N_MID
    assert total >= STOCK_SUM_LIMIT
    g = _dense_graph(N_MID)
    x = np.ones((g.metadata.T, 1, 1))
    inputs = encode_inputs(g, x)
    ref = run_steps(g, inputs, record=["d2"])
    spec = translate(g)
    assert spec.processes["d1"].kind == "lava.Dense"  # spikes in: 254 · 2**7, inside int32
    assert spec.processes["d2"].kind == "spikefold.Synapse"
    stock = translate(_dense_graph(N_MID - 1)).processes["d2"]  # one input fewer: inside int32
    assert stock.kind == "lava.Dense"
    stock = dataclasses.replace(
        stock,
        params=dict(stock.params, weights=spec.processes["d2"].params["weight"]),
        vars={k: (1, N_MID) if k == "weights" else s for k, s in stock.vars.items()},
    )
    forced = run_lava_steps(_forced(spec, "d2", stock), inputs, record=["d2"])
    off = spec.offsets["d2"]
    want = arith.wrap_signed(total >> 7, 32).item()  # hwsim: shift the exact sum, then wrap
    assert ref.records["d2"][off, 0, 0].item() == want
    lava = arith.wrap_signed(total, 32).item() >> 7  # Lava: wrap the sum, then shift
    assert forced.records["d2"][off, 0, 0].item() == lava != want
    res = rung2_fixed(g, x, spec=spec)
    assert res.passed, res.summary()
    assert res.metrics["readout_mismatches"] == 0
