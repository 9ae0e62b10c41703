"""toolchain.quantize: golden values of each rounding rule, Lava's weight grid, per-tensor error
bounds, AvgPool conversion, E-I scales, the overflow analysis, 8/6/4 bits, quantize_run/CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import arith
from hwsim.errors import OverflowBoundError, QuantizationError
from hwsim.graph import (
    LIF,
    AvgPool2d,
    Conv2d,
    Dense,
    EICircuit,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
)
from hwsim.io import load_graph
from hwsim.sim import simulate
from models import build_model
from toolchain.fold import fold_model
from toolchain.quantize import quantize
from toolchain.quantize.ranges import (
    acc_bounds,
    grid_scale,
    lif_v_bounds,
    quantize_decay,
    quantize_lif_bias,
    quantize_threshold,
    quantize_unsigned,
)

# ---------------------------------------------------------------------------------------------
# rounding rules, golden values derived by hand
# ---------------------------------------------------------------------------------------------


def test_threshold_accounts_for_the_strict_inequality():
    # θ/s_a = 100 exactly: vth = rint(100 - 1/64) = 100; fixed spikes at v >= 6401 (100 + 1/64)
    assert quantize_threshold(1.0, 0.01) == 100
    assert quantize_threshold(1.00501, 0.01) == 100  # 100.501 - 0.0156 = 100.485 -> 100
    assert quantize_threshold(1.00521, 0.01) == 101  # 100.521 - 0.0156 = 100.505 -> 101
    np.testing.assert_array_equal(quantize_threshold([0.5, 1.0], 0.25), [2, 4])


def test_decay_and_bias_golden_values():
    assert quantize_decay(0.5) == 2048 and quantize_decay(1.0) == 4096
    assert quantize_decay(0.75) == 3072
    with pytest.raises(QuantizationError, match="outside"):
        quantize_decay(0.0)
    m, e = quantize_lif_bias(np.array([4095.0, -100.0]))
    assert e == 0 and m.tolist() == [4095, -100]
    m, e = quantize_lif_bias(np.array([5000.0]))  # 5000/2 = 2500 fits 13 bits signed
    assert e == 1 and m.tolist() == [2500]
    assert quantize_lif_bias(np.array([4096.0 * 128])) is None


def test_unsigned_gain_golden_values():
    g = quantize_unsigned(np.array([1.0, 0.5]), 16, (-24, 16))
    # the most precise exponent with mantissas <= 65535: 2**-15 -> [32768, 16384]
    assert g.exp == -15 and g.mantissa.tolist() == [32768, 16384] and g.n_clipped == 0
    g = quantize_unsigned(np.array([3.0e6]), 16, (-24, 16))
    assert g.mantissa[0] * 2**g.exp == pytest.approx(3.0e6, rel=2**-15) and g.mantissa[0] < 2**16


def test_acc_and_voltage_bounds_golden():
    lo, hi = acc_bounds(np.array([[1, -2], [3, 0]]), 0, 1)
    assert lo.tolist() == [-2, 0] and hi.tolist() == [1, 3]
    lo, hi = acc_bounds(np.array([[2, -1]]), -3, 4)
    assert lo.tolist() == [2 * -3 - 4] and hi.tolist() == [2 * 4 + 3]
    # no leak: 3 steps of a = 10 -> v = 3 * 640; decay 1/2: 640, 960, 1120
    assert lif_v_bounds(0, 10, 0, 0, 4096, 3) == (0, 1920)
    assert lif_v_bounds(0, 10, 0, 0, 2048, 3) == (0, 1120)
    assert lif_v_bounds(-1, 0, 0, 0, 4096, 2) == (-128, 0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    bits=st.sampled_from([2, 4, 6, 8]),
    sign=st.sampled_from(["mixed", "excitatory", "inhibitory"]),
)
def test_full_grid_weights_round_within_half_a_step_on_lavas_grid(seed, bits, sign):
    """grid_scale maps the largest |w| onto the grid's end: no clipping, every mantissa left
    unchanged by Lava's Dense truncation, rounding error <= half a grid step."""
    w = np.random.default_rng(seed).normal(size=(7, 9))
    w = {"mixed": w, "excitatory": np.abs(w), "inhibitory": -np.abs(w)}[sign]
    u = grid_scale(w, bits)
    q = arith.quantize_weights(w / u, bits, weight_exp=0)
    grid = arith.weight_grid(q.sign_mode, bits)
    assert q.n_clipped == 0 and arith.count_lava_dense_changes(q.mantissa, bits) == 0
    assert np.max(np.abs(q.mantissa * u - w)) <= grid.step * u / 2 * (1 + 1e-12)
    assert np.all(q.mantissa % grid.step == 0)
    if sign != "mixed":  # single-signed (Dale) matrices reach the full 8-bit magnitude
        assert np.abs(q.mantissa).max() == 256 - grid.step
    else:  # mixed-sign: Lava keeps even values only at 8 bits, [-256, 254]
        assert q.mantissa.max() <= 256 - grid.step and q.mantissa.min() >= -256


# ---------------------------------------------------------------------------------------------
# whole graphs
# ---------------------------------------------------------------------------------------------


def _mlp_graph(seed=0, hidden=(20,), T=4):
    torch.manual_seed(seed)
    net = build_model({"arch": "mlp", "in_shape": [1, 8, 8], "num_classes": 5,
                       "hidden": list(hidden)})  # fmt: skip
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3)
    return fold_model(net.eval(), (1, 8, 8), T).graph


def _vgg_graph(T=3):
    torch.manual_seed(1)
    net = build_model({"arch": "vgg", "in_shape": [1, 8, 8], "num_classes": 5, "T": T,
                       "layers": [6, "M", 8], "hidden": [10], "norm": "osr_ots"})  # fmt: skip
    with torch.no_grad():
        for m in net.modules():
            if hasattr(m, "running_var"):
                m.running_var.fill_(0.01)
    return fold_model(net.eval(), (1, 8, 8), T).graph


X = np.random.default_rng(0).random((40, 1, 8, 8))


@pytest.mark.parametrize("bits", [8, 6, 4])
def test_mlp_quantises_at_8_6_4_bits_within_half_a_step(bits):
    g = _mlp_graph()
    res = quantize(g, X, bits)
    gq = res.graph
    assert gq.metadata.format == "fixed" and gq.metadata.widths.weight_bits == bits
    assert list(gq.nodes) == list(g.nodes) and gq.edges == g.edges
    for key, t in res.report["tensors"].items():
        assert t["clip_fraction"] == 0, key
        assert t["err_max_steps"] <= 0.5 + 1e-9, key
    for node in gq.nodes.values():
        if isinstance(node, Dense):
            assert arith.count_lava_dense_changes(node.weight, bits) == 0
            step = arith.weight_grid(arith.sign_mode(node.weight), bits).step
            assert np.all(node.weight % step == 0)
    # the hidden synapse bias moved into the LIF (13-bit mantissa); the readout keeps its own
    assert gq.nodes["m1"].bias is None and gq.nodes["m2"].bias is not None
    assert gq.nodes["m3"].bias is not None
    assert res.overflow["static_ok"] and res.overflow["saturation"] == {}
    agree = res.report["calibration"]["prediction_agreement"]
    assert agree >= {8: 0.95, 6: 0.9, 4: 0.5}[bits]


def test_fixed_currents_match_float_within_the_quantisation_bound():
    """Teacher-forced (same input spikes): a fixed Dense layer's current times its scale is
    within Σ|x| · (weight error) + |bias error| + one floor unit of the float current."""
    g = _mlp_graph(hidden=(16,))
    res = quantize(g, X, 8)
    gq, scales = res.graph, res.graph.metadata.scales
    a = simulate(g, X, record=["m1", "m2"])
    b = simulate(gq, X, record=["m1", "m2"])
    s_a = scales["m1"]
    x = arith.quantize_input(X.reshape(40, -1), scales["input"], 8) * scales["input"]
    w_err = res.report["tensors"]["m1/weight"]["err_max"]
    # the float graph's Dense includes the bias, the fixed one does not (it lives in the LIF)
    cur_f = a.records["m1"][0] - g.nodes["m1"].bias
    cur_q = b.records["m1"][0] * s_a
    x_f = X.reshape(40, -1)
    w = g.nodes["m1"].weight
    bound = np.abs(x).sum(1, keepdims=True) * w_err + np.abs(x - x_f) @ np.abs(w).T + s_a
    assert np.all(np.abs(cur_f - cur_q) <= bound + 1e-12)


def test_avgpool_becomes_sumpool_and_its_quarter_moves_into_the_next_weights():
    g = _vgg_graph()
    assert isinstance(g.nodes["block1.pool"], AvgPool2d)
    res = quantize(g, X, 8)
    gq, sc = res.graph, res.graph.metadata.scales
    assert type(gq.nodes["block1.pool"]) is SumPool2d
    assert sc["block1.pool"] == pytest.approx(1.0 / 4)  # spikes (scale 1) pooled over 2x2
    # real weight = mantissa * s_a * 2**e / s_in with s_in = 1/4: W/4 is what the sum sees
    node = gq.nodes["block2.conv"]
    real = node.weight * sc["block2.conv"] * 2.0**node.weight_exp / sc["block1.pool"]
    err = np.abs(real - g.nodes["block2.conv"].weight).max()
    assert err <= res.report["tensors"]["block2.conv/weight"]["scale"] / 2 * (1 + 1e-9)
    a = simulate(g, X, record=["block1.lif", "block2.lif"])
    f = {"block1.lif": a.records["block1.lif"].astype(np.int64)}
    b = simulate(gq, X, record=["block2.lif"], force=f)
    agree = np.mean(a.records["block2.lif"] == b.records["block2.lif"])
    assert agree > 0.97


def test_target_lava_keeps_conv_weight_exp_zero():
    g = _vgg_graph()
    res = quantize(g, X, 8, target="lava", input_bits=5)
    convs = [n for n in res.graph.nodes.values() if isinstance(n, Conv2d)]
    assert convs and all(c.weight_exp == 0 for c in convs)
    assert res.report["target"] == "lava"
    with pytest.raises(QuantizationError, match="unknown target"):
        quantize(g, X, 8, target="loihi9")


def test_ots_schedules_become_per_step_vth():
    res = quantize(_vgg_graph(), X, 8)
    node = res.graph.nodes["block1.lif"]
    assert node.threshold.shape == (3,) and node.threshold.dtype.kind == "i"
    s = res.graph.metadata.scales["block1.conv"]
    theta = _vgg_graph().nodes["block1.lif"].threshold
    np.testing.assert_array_equal(node.threshold, np.rint(theta / s - 1 / 64))


def test_ei_circuit_scales_and_dale_full_range():
    torch.manual_seed(2)
    net = build_model({"arch": "ei_mlp", "in_shape": [1, 8, 8], "num_classes": 5,
                       "hidden": [16]})  # fmt: skip
    with torch.no_grad():
        net(torch.rand(2, 8, 1, 8, 8))
    g = fold_model(net.eval(), (1, 8, 8), 3).graph
    res = quantize(g, X, 8)
    node: EICircuit = res.graph.nodes["m1"]
    for w in (node.w_ee, node.w_ie):  # full single-signed range: the largest weight is 255
        assert w.min() >= 0 and w.max() == 255
    assert 128 <= node.w_ei.max() <= 255 and node.w_ei.min() >= 0
    assert node.g_i.max() < 2**16 and node.g_e.max() < 2**16
    for k in ("w_ee", "w_ie", "w_ei", "g_i", "g_e", "b_e"):
        t = res.report["tensors"][f"m1/{k}"]
        assert t["err_max_steps"] <= 0.5 + 1e-9 and t["clip_fraction"] == 0, k
    checks = {c["quantity"]: c for c in res.overflow["layers"]["m1"]["checks"]}
    assert {"payload", "sub", "acc_ee", "q", "den"} <= set(checks)
    assert all(c["ok"] for c in checks.values())
    # teacher-forced: the fixed E-I current (times its scale) tracks the float one
    a = simulate(g, X, record=["m1"])
    b = simulate(res.graph, X, record=["m1"])
    fa, fb = a.records["m1"], b.records["m1"] * res.graph.metadata.scales["m1"]
    assert np.corrcoef(fa.ravel(), fb.ravel())[0, 1] > 0.999
    # the readout circuit keeps the subtractive form, its unit pinned to s_ee
    ro = res.graph.metadata.scales
    assert ro["m3"] == pytest.approx(ro["m3/ee"])


def _overflow_graph(T=40, theta=0.01) -> HardwareGraph:
    """Non-leaky neurons (decay 1), inhibitory-only weights, a small threshold: the voltage
    sinks by up to 64 · Σ|W| per step with nothing to reset it, and a coarser scale that
    would slow it down rounds the threshold to 0."""
    w = -np.ones((3, 64))
    nodes = {
        "x": Input((64,), "spikes"),
        "fc": Dense(w),
        "lif": LIF(1.0, theta, "soft"),
        "ro_w": Dense(np.eye(3)),
        "out": Readout(),
    }
    edges = [("x", "fc"), ("fc", "lif"), ("lif", "ro_w"), ("ro_w", "out")]
    return HardwareGraph(nodes, edges, GraphMetadata(T=T))


def test_network_that_overflows_the_24_bit_state_is_rejected_naming_the_layer():
    g = _overflow_graph()
    x = (np.random.default_rng(1).random((40, 8, 64)) < 0.5).astype(np.float64)
    with pytest.raises(OverflowBoundError, match=r"layer 'lif'.*lif: v: static bound \d+ > "
                                                 r"8388607 \(24-bit state\)"):  # fmt: skip
        quantize(g, x, 8)
    # allowed: scaled on the calibration ranges (half the inputs spike: it fits, no events)
    res = quantize(g, x, 8, allow_saturation=True)
    assert res.overflow["layers"]["lif"]["policy"] == "calibrated"
    assert not res.overflow["static_ok"] and res.overflow["saturation"] == {}
    # worst-case calibration data (every input spikes): no scale fits, saturations counted
    worst = quantize(g, np.ones_like(x), 8, allow_saturation=True)
    assert worst.overflow["saturation"]["lif"]["clip"] > 0 and not worst.overflow["ok"]
    # with a short run the same layer is statically safe at some exponent
    short = quantize(_overflow_graph(T=4), x[:4], 8)
    assert short.overflow["static_ok"] and short.overflow["saturation"] == {}


def test_static_bounds_hold_on_calibration_and_conv_graphs():
    res = quantize(_vgg_graph(), X, 8)
    assert res.overflow["static_ok"] and res.overflow["saturation"] == {}
    for name, layer in res.overflow["layers"].items():
        assert layer["policy"] == "static", name
        for c in layer["checks"]:
            assert c["ok"] and c["bound"] <= c["limit"], (name, c)
    assert any(isinstance(n, Conv2d) for n in res.graph.nodes.values())


def test_quantize_refuses_bad_inputs():
    g = _mlp_graph()
    with pytest.raises(QuantizationError, match="weight_bits=9"):
        quantize(g, X, 9)
    gq = quantize(g, X, 8).graph
    with pytest.raises(QuantizationError, match="float graph"):
        quantize(gq, X, 8)
    with pytest.raises(QuantizationError, match="calibration data"):
        quantize(g, X[:0], 8)
    nodes = {"x": Input((4,), "spikes"), "f": Flatten(), "out": Readout()}
    bad = HardwareGraph(nodes, [("x", "f"), ("f", "out")], GraphMetadata(T=2))
    with pytest.raises(QuantizationError, match="'out'.*'f' is no synapse"):
        quantize(bad, np.zeros((2, 3, 4)), 8)


def test_quantize_run_and_cli(tmp_path, capsys):
    from toolchain.cli import main
    from toolchain.config import RunConfig
    from toolchain.pipeline import train_run

    cfg = RunConfig.from_dict({
        "name": "q", "data": {"dataset": "digits", "limit": 200},
        "model": {"arch": "mlp", "hidden": [12]},
        "train": {"epochs": 1, "batch_size": 50, "T": 2, "progress": False},
    })  # fmt: skip
    train_run(cfg, runs_root=tmp_path)
    run = str(tmp_path / "q")
    assert main(["quantize", run]) == 1  # no graph yet: an error naming the missing file
    assert "graph.float.npz is missing" in capsys.readouterr().err
    assert main(["fold", run]) == 0
    capsys.readouterr()
    assert main(["quantize", run, "--weight-bits", "6", "--calib-samples", "64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["weight_bits"] == 6 and out["max_rounding_error_steps"] <= 0.5 + 1e-9
    rep = json.loads((tmp_path / "q" / "quantize_report.json").read_text())
    assert rep["settings"]["calib_samples"] == 64 and "m1/weight" in rep["report"]["tensors"]
    assert load_graph(tmp_path / "q" / "graph.fixed.npz").metadata.widths.weight_bits == 6
