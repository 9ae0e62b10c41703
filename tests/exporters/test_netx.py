"""exporters.netx: the NetX HDF5 file as lava-dl 0.6.0's NetX reads it, spikefold's reader,
every refusal at once, and rung 2N (the file loaded by NetX itself, run in Lava fixed_pt)
against hwsim bit for bit, on hand-built dense and conv graphs."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest

import exporters  # noqa: F401 - the import shim; must precede every lava import

# isort: split
from exporters.netx import netx_violations, read_netx, rung2n, write_netx
from hwsim import arith
from hwsim.errors import ExportError
from hwsim.graph import (
    LIF,
    Add,
    Conv2d,
    CubaLIF,
    Dense,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
)
from hwsim.io import graphs_equal
from hwsim.sim import encode_inputs, run_steps

MD = dict(format="fixed", widths=arith.FixedWidths())


def _even(rng, *shape, lo=-50, hi=60):
    return (rng.integers(lo, hi, shape) * 2).astype(np.int64)  # Lava's mixed-sign 8-bit grid


def _chain(nodes: dict, T: int) -> HardwareGraph:
    names = list(nodes)
    return HardwareGraph(nodes, list(zip(names, names[1:])), GraphMetadata(T=T, **MD))


def dense_graph(seed: int = 1) -> HardwareGraph:
    """Spikes -> Dense(+bias) -> LIF(bias, leak) -> Dense -> CubaLIF -> Dense(+bias) -> Readout."""
    rng = np.random.default_rng(seed)
    return _chain({
        "x": Input((12,), "spikes"),
        "fc1": Dense(_even(rng, 16, 12), rng.integers(-3, 3, 16)),
        "lif1": LIF(3500, 150, "hard", rng.integers(-20, 20, 16), 6),
        "fc2": Dense(_even(rng, 8, 16)),
        "lif2": CubaLIF(3000, 2000, 100, "hard"),
        "fc3": Dense(_even(rng, 3, 8), np.array([1, -2, 3])),
        "out": Readout(),
    }, T=5)  # fmt: skip


def conv_graph(seed: int = 2) -> HardwareGraph:
    """A non-square map, padding, a strided conv, per-channel biases, Flatten, Dense head."""
    rng = np.random.default_rng(seed)
    return _chain({
        "x": Input((2, 7, 6), "spikes"),
        "c1": Conv2d(_even(rng, 4, 2, 3, 3, lo=-40), None, (1, 1), (1, 1)),
        "l1": LIF(3500, 120, "hard", rng.integers(-20, 20, 4), 6),
        "c2": Conv2d(_even(rng, 6, 4, 3, 3, lo=-40), rng.integers(-2, 3, 6), (2, 1), (0, 1)),
        "l2": LIF(4096, 150, "hard"),
        "fl": Flatten(),
        "fc3": Dense(_even(rng, 3, 108)),
        "out": Readout(),
    }, T=4)  # fmt: skip


def test_file_holds_what_netx_reads(tmp_path):
    g = dense_graph()
    p = write_netx(g, tmp_path / "m.netx.h5")
    with h5py.File(p) as f:
        layers = [f["layer"][k] for k in sorted(f["layer"], key=int)]
        assert [lay["type"][0].decode() for lay in layers] == ["input", "dense", "dense", "dense"]
        l1, l2, head = layers[1:]
        assert np.array_equal(l1["weight"], g.nodes["fc1"].weight)  # [out, in], as they act
        n1 = l1["neuron"]
        # NetX passes du = iDecay - 1 and dv = vDecay: a LIF's current does not persist
        assert (n1["iDecay"][()], n1["vDecay"][()], n1["vThMant"][()]) == (4096, 596, 150)
        # the synapse bias (activation units) joins the neuron's (bias_exp 6): NetX's bias_mant
        want = g.nodes["fc1"].bias + g.nodes["lif1"].bias
        assert np.array_equal(l1["bias"], want)
        assert l2["neuron"]["iDecay"][()] == 4096 - 2000  # CubaLIF: du = 4095 - current_decay
        assert "bias" not in l2 and "delay" not in l2
        assert (head["neuron"]["iDecay"][()], head["neuron"]["vDecay"][()]) == (4096, 0)
        assert head.attrs["spikefold_role"] == "readout"


@pytest.mark.parametrize("make", [dense_graph, conv_graph])
def test_reader_round_trips(make, tmp_path):
    g = make()
    back = read_netx(write_netx(g, tmp_path / "a.h5"))
    assert back.metadata.timing == "lava" and back.metadata.T == g.metadata.T
    assert set(back.nodes) == set(g.nodes)
    # the file's normal form (synapse biases in the neuron, bias_exp 6) is a fixed point
    assert graphs_equal(read_netx(write_netx(back, tmp_path / "b.h5")), back)
    # and it computes what the original computes, step for step
    x = (np.random.default_rng(0).random((g.metadata.T, 3, *g.nodes["x"].shape)) < 0.4)
    gl = dataclasses.replace(g, metadata=back.metadata)
    a = run_steps(gl, encode_inputs(gl, x.astype(np.int64)), record=True, gate=False)
    b = run_steps(back, encode_inputs(back, x.astype(np.int64)), record=True, gate=False)
    for n in ("lif1", "lif2", "l1", "l2"):
        if n in g.nodes:
            assert np.array_equal(a.records[n], b.records[n])
    assert np.array_equal(a.readout, b.readout)


def test_every_refusal_at_once_each_naming_its_layer(tmp_path):
    rng = np.random.default_rng(0)
    g = HardwareGraph(
        {
            "x": Input((1, 4, 4), "spikes"),
            "c": Conv2d(_even(rng, 2, 1, 3, 3), None, (1, 1), (1, 1), 1, -2),
            "l": LIF(4000, np.array([10, 12, 14]), "soft"),
            "p": SumPool2d((2, 2)),
            "f": Flatten(),
            "d1": Dense(_even(rng, 4, 8)),
            "d2": Dense(_even(rng, 4, 8)),
            "sum": Add(),
            "l2": LIF(4000, 20, "hard"),
            "fc": Dense(_even(rng, 2, 4)),
            "out": Readout(),
        },
        [("x", "c"), ("c", "l"), ("l", "p"), ("p", "f"), ("f", "d1"), ("f", "d2"),
         ("d1", "sum"), ("d2", "sum"), ("sum", "l2"), ("l2", "fc"), ("fc", "out")],
        GraphMetadata(T=3, **MD),
    )  # fmt: skip
    found = {(v.rule, v.layer) for v in netx_violations(g)}
    assert {("netx_weight_exp", "c"), ("hard_reset", "l"), ("constant_threshold", "l"),
            ("netx_pool", "p"), ("netx_residual", "sum"), ("netx_chain", "f")} <= found
    assert all(layer in g.nodes for _, layer in found)
    with pytest.raises(ExportError) as err:
        write_netx(g, tmp_path / "no.h5")
    assert f"{len(netx_violations(g))} violation(s)" in str(err.value)
    assert "layer 'l': soft reset" in str(err.value) and not (tmp_path / "no.h5").exists()


def test_netx_weight_mapping_is_exact_on_lavas_grid():
    """NetX re-derives each dense layer's exponent and weight bits from the file's integers
    (utils.optimize_weight_bits) and Lava's Dense truncates to them: every matrix on spikefold's
    weight grid (weight_exp 0) comes back as written."""
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import SignMode, truncate_weights

    rng = np.random.default_rng(0)
    for mode in ("mixed", "excitatory", "inhibitory"):
        for bits in (2, 5, 8):
            grid = arith.weight_grid(mode, bits)
            for _ in range(20):
                w = rng.integers(grid.lo // grid.step, grid.hi // grid.step + 1, (4, 9))
                w = w * grid.step
                w[0, 0] = grid.hi if mode != "inhibitory" else grid.lo
                out, nwb, exp, sign = optimize_weight_bits(w.copy())
                got = truncate_weights(out, sign_mode=SignMode(int(sign)), num_weight_bits=nwb)
                assert exp <= 0 and np.array_equal(np.asarray(got, np.int64), w << -exp)


@pytest.mark.parametrize("make", [dense_graph, conv_graph])
def test_rung2n_is_bit_exact(make, tmp_path):
    g = make()
    x = (np.random.default_rng(3).random((g.metadata.T, 3, *g.nodes["x"].shape)) < 0.4)
    r = rung2n(g, x.astype(np.int64), path=tmp_path / "m.h5")
    assert r.passed, r.summary()
    assert r.first_divergence is None and r.metrics["readout_mismatches"] == 0
    spiking = [n for n, v in g.nodes.items() if isinstance(v, (LIF, CubaLIF))]
    assert set(r.layers) == {*spiking, "out"}
    assert all(r.layers[n].events_ours > 0 for n in spiking)  # the layers do spike


def test_rung2n_reports_the_first_divergence_and_netx_starts_every_layer_at_once(tmp_path):
    g = dense_graph()
    x = (np.random.default_rng(3).random((g.metadata.T, 2, 12)) < 0.4).astype(np.int64)
    p = write_netx(g, tmp_path / "m.h5")
    # Lava's timing as spikefold's Lava export models it (a layer held at rest until its
    # input arrives) is not NetX's: the biased lif1 fires from step 0 in NetX
    from exporters.netx.runner import run_netx

    gl = read_netx(p)
    gated = run_steps(gl, encode_inputs(gl, x), record=["lif1"])
    got = run_netx(p, encode_inputs(gl, x)["x"], gated.steps)
    assert not np.array_equal(gated.records["lif1"], got.spikes["lif1"])
    # a file that differs from the graph: the rung names the layer and the step
    lif2 = g.nodes["lif2"]
    other = dataclasses.replace(g, nodes={**g.nodes, "lif2": dataclasses.replace(
        lif2, threshold=lif2.threshold + 40)})  # fmt: skip
    r = rung2n(other, x, path=p)
    assert not r.passed and r.first_divergence.layer == "lif2"
    assert "first divergence" in r.summary()


def pool_graph(seed: int = 5) -> HardwareGraph:
    """Sum pools after spiking layers: before a convolution and before Flatten + Dense (with a
    remainder column the pool drops)."""
    rng = np.random.default_rng(seed)
    return _chain({
        "x": Input((2, 8, 6), "spikes"),
        "c1": Conv2d(_even(rng, 4, 2, 3, 3, lo=-30), None, (1, 1), (1, 1)),
        "l1": LIF(3500, 90, "hard", rng.integers(-20, 20, 4), 6),
        "p1": SumPool2d((2, 2)),
        "c2": Conv2d(_even(rng, 6, 4, 3, 3, lo=-30), rng.integers(-2, 3, 6), (1, 1), (1, 1)),
        "l2": LIF(4096, 150, "hard"),
        "p2": SumPool2d((2, 2)),
        "fl": Flatten(),
        "fc3": Dense(_even(rng, 3, 12, lo=-30)),
        "out": Readout(),
    }, T=4)  # fmt: skip


def test_sum_pools_fold_into_the_next_synapse_bit_exactly(tmp_path):
    g = pool_graph()
    assert netx_violations(g) == []
    p = write_netx(g, tmp_path / "pool.h5")
    back = read_netx(p)
    assert "p1" not in back.nodes and "p2" not in back.nodes
    c2 = back.nodes["c2"]  # 3x3 after a 2x2 pool: one 6x6 kernel, stride 2, padding 2
    assert c2.weight.shape == (6, 4, 6, 6) and c2.stride == (2, 2) and c2.padding == (2, 2)
    x = (np.random.default_rng(4).random((4, 3, 2, 8, 6)) < 0.5).astype(np.int64)
    r = rung2n(g, x, path=p)
    assert r.passed, r.summary()
    assert r.layers["l2"].events_ours > 0
    # a pool whose stride is not its kernel has no such fold: refused with the reason
    rng = np.random.default_rng(0)
    odd = _chain({"x": Input((1, 4, 4), "spikes"), "c": Conv2d(_even(rng, 1, 1, 3, 3)),
                  "l": LIF(4000, 20, "hard"), "p1": SumPool2d((2, 2), (1, 1)), "f": Flatten(),
                  "d": Dense(_even(rng, 2, 1 * 1 * 1)), "out": Readout()}, T=2)  # fmt: skip
    (v,) = [v for v in netx_violations(odd) if v.layer == "p1"]
    assert v.rule == "netx_pool" and "stride equals its kernel" in v.what
