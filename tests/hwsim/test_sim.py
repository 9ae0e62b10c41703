"""hwsim.sim: golden values on tiny graphs, timing modes, torch and arith references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import arith
from hwsim.errors import DataError, GraphError
from hwsim.graph import (
    LIF,
    Add,
    AvgPool2d,
    Conv2d,
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
)
from hwsim.sim import encode_inputs, iter_batches, run_steps, simulate, simulate_dataset
from hwsim.simops import conv_sum, dense_sum

W8 = arith.FixedWidths()


def chain(*nodes, T=4, fmt="float32", timing="ideal", widths=None, names=None):
    """A linear graph n0 -> n1 -> ... (or named)."""
    names = names or [f"n{i}" for i in range(len(nodes))]
    if fmt == "fixed" and widths is None:
        widths = W8
    return HardwareGraph(
        dict(zip(names, nodes)),
        list(zip(names[:-1], names[1:])),
        GraphMetadata(T=T, format=fmt, timing=timing, widths=widths),
    )


# ---------------------------------------------------------------------------------------------
# golden values derived by hand


@pytest.mark.parametrize(
    "reset, h_gold",
    [("soft", [0.625, 0.9375, 0.65625, 0.953125]), ("hard", [0.625, 0.9375, 0.625, 0.9375])],
)
def test_dense_lif_readout_golden(reset, h_gold):
    # I = 0.5*1 + 0.25*0.5 = 0.625 every step; a = 0.5; θ = [1, 0.875, 1.25, 0.5]
    # soft: H = .625, .9375 (>= .875: spike, V = .0625), .65625, .953125 (>= .5: spike)
    # hard: H = .625, .9375 (spike, V = 0), .625, .9375 (spike)
    g = chain(
        Input((2,)),
        Dense(np.array([[0.5, 0.25]])),
        LIF(0.5, np.array([1.0, 0.875, 1.25, 0.5]), reset),
        Dense(np.array([[2.0], [-1.0]]), np.array([0.5, 0.0])),
        Readout(),
    )
    r = simulate(g, np.array([[1.0, 0.5]]), record=True)
    assert r.steps == 4 and r.readout_node == "n4"
    np.testing.assert_array_equal(r.records["n2"][:, 0, 0], [0, 1, 0, 1])
    np.testing.assert_array_equal(r.records["n2/h"][:, 0, 0], h_gold)
    # readout: per step [2 s + .5, -s]; two spikes -> [2*2 + 4*.5, -2]
    np.testing.assert_array_equal(r.readout, [[6.0, -2.0]])
    assert r.predictions.tolist() == [0]
    np.testing.assert_array_equal(r.counts["n2"], [0, 1, 0, 1])


def test_fixed_dense_lif_golden():
    # a = 2 + 4 = 6 per step; u = 6 << 6 = 384; decay 2048 (a = 1/2); vth = 5 -> 320
    # t0: v = 384 > 320 spike, soft v = 64; t1: 32 + 384 = 416 spike, v = 96;
    # t2: 48 + 384 = 432 spike, v = 112; t3: 56 + 384 = 440 spike, v = 120
    # per-step vth [5, 7, 5, 7] -> 448 at t1: 416 no spike, v = 416; t2: 208 + 384 = 592 spike
    # (v = 272); t3: 136 + 384 = 520 > 448 spike
    g = chain(
        Input((2,), "spikes"),
        Dense(np.array([[2, 4]])),
        LIF(2048, np.array([5, 7, 5, 7]), "soft"),
        fmt="fixed",
    )
    r = simulate(g, np.ones((4, 1, 2)), record=True)
    np.testing.assert_array_equal(r.records["n2"][:, 0, 0], [1, 0, 1, 1])
    np.testing.assert_array_equal(r.records["n2/h"][:, 0, 0], [384, 416, 592, 272 // 2 + 384])


def test_conv_padding_stride_golden():
    # 2x2 ones kernel, stride 2, padding 1 on a 3x3 input: windows of the padded 5x5
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    for fmt, w in (("float32", np.ones((1, 1, 2, 2))), ("fixed", np.ones((1, 1, 2, 2), int))):
        g = chain(Input((1, 3, 3)), Conv2d(w, None, stride=2, padding=1), fmt=fmt, T=1)
        xin = x if fmt == "float32" else x  # fixed direct input: scale 1, 8-bit
        r = simulate(g, xin, record=["n1"])
        gold = [[1, 2 + 3], [4 + 7, 5 + 6 + 8 + 9]]
        np.testing.assert_array_equal(r.records["n1"][0, 0, 0], gold)


def test_pools_and_flatten():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    g = HardwareGraph(
        {"x": Input((1, 4, 4)), "sp": SumPool2d(2), "ap": AvgPool2d(2, stride=2), "f": Flatten()},
        [("x", "sp"), ("x", "ap"), ("sp", "f")],
        GraphMetadata(T=1),
    )
    r = simulate(g, x, record=True)
    gold = np.array([[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]])
    np.testing.assert_array_equal(r.records["sp"][0, 0, 0], gold)
    np.testing.assert_array_equal(r.records["ap"][0, 0, 0], gold / 4)
    np.testing.assert_array_equal(r.records["f"][0, 0], gold.reshape(-1))


def test_add_and_delay_golden():
    # a[t] = x[t-2] + y[t-2] with x = [1,0,1,1], y = [1,1,0,1]: [0, 0, 2, 1, 1, 2]
    nodes = {
        "x": Input((1,), "spikes"), "y": Input((1,), "spikes"), "dx": Delay(2),
        "dy1": Delay(1), "dy2": Delay(1), "a": Add(), "ro": Readout(),
    }  # fmt: skip
    edges = [("x", "dx"), ("y", "dy1"), ("dy1", "dy2"), ("dx", "a"), ("dy2", "a"), ("a", "ro")]
    with pytest.raises(GraphError, match="arrive at different steps"):
        HardwareGraph(nodes, [*edges[:-2], ("dy1", "a"), ("a", "ro")], GraphMetadata(T=4))
    g = HardwareGraph(nodes, edges, GraphMetadata(T=4))
    x = np.array([1, 0, 1, 1], float).reshape(4, 1, 1)
    y = np.array([1, 1, 0, 1], float).reshape(4, 1, 1)
    r = simulate(g, {"x": x, "y": y}, record=True)
    assert r.steps == 6  # T + max offset 2
    np.testing.assert_array_equal(r.records["dx"][:, 0, 0], [0, 0, 1, 0, 1, 1])
    np.testing.assert_array_equal(r.records["a"][:, 0, 0], [0, 0, 2, 1, 1, 2])
    np.testing.assert_array_equal(r.aligned("a")[:, 0, 0], [2, 1, 1, 2])
    np.testing.assert_array_equal(r.readout, [[6.0]])  # aligned window t = 2..5
    np.testing.assert_array_equal(r.counts["a"], [0, 0, 1, 1, 1, 1])


def test_readout_ties_pick_lowest_index():
    g = chain(Input((3,)), Dense(np.eye(3)), Readout(), T=2)
    r = simulate(g, np.array([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0]]))
    assert r.predictions.tolist() == [1, 0]


def _ei_dense(fmt: str, **kw) -> HardwareGraph:
    return chain(Input((2,), "spikes"), EICircuit(**kw), T=1, fmt=fmt)


def test_ei_float_golden_with_adaptive_stabilisation():
    # x = [1, 1]: I_EE = [1, 2], h_I = [2], I_sub = W_EI h_I = [2, 0], D = W_EI (g_I h_I) = [1, 0]
    # unit 1 has D = 0 -> the sample's smallest positive D (1): I = [(1-2)/1, (2-0)/1] + b_E
    # sample 2 is silent: every D = 0 -> dead, I = b_E
    kw = dict(
        w_ee=np.array([[1.0, 0.0], [0.0, 2.0]]), w_ie=np.array([[1.0, 1.0]]),
        w_ei=np.array([[1.0], [0.0]]), g_i=np.array([0.5]), g_e=np.array([1.0, 1.0]),
        b_e=np.array([0.0, 0.25]),
    )  # fmt: skip
    g = _ei_dense("float32", **kw)
    r = simulate(g, np.array([[[1.0, 1.0], [0.0, 0.0]]]), record=True)
    np.testing.assert_array_equal(r.records["n1"][0], [[-1.0, 2.25], [0.0, 0.25]])
    assert r.overflow["n1"]["dead"] == 1


def test_ei_fixed_golden():
    # acc_ee = [1, 2], acc_ie = [2]; p = 2; q = floor(3*2 / 2) = 3; sub = [2, 4]; D = [3, 6]
    # N = [-1, -2]; current = trunc(8 * N / D) + b_E = [trunc(-8/3), trunc(-16/6)] + [1, 0]
    kw = dict(
        w_ee=np.array([[1, 0], [0, 2]]), w_ie=np.array([[1, 1]]), w_ei=np.array([[1], [2]]),
        g_i=np.array([3]), g_e=np.array([8, 8]), b_e=np.array([1, 0]), g_i_exp=-1,
        inhibitory=FastInhibitory(payload_exp=0),
    )  # fmt: skip
    r = simulate(_ei_dense("fixed", **kw), np.ones((1, 1, 2)), record=True)
    np.testing.assert_array_equal(r.records["n1"][0, 0], [-2 + 1, -2 + 0])


# ---------------------------------------------------------------------------------------------
# timing: lava = ideal shifted by the arrival offsets (feed-forward nets, biased or not)


def _ff_net(fmt: str, timing: str, rng_seed=3, biased=False) -> HardwareGraph:
    rng = np.random.default_rng(rng_seed)
    fixed = fmt == "fixed"

    def b(n):  # a synapse bias (activation units) or a LIF bias (fixed: 13-bit mantissa)
        if not biased:
            return None
        return rng.integers(-40, 60, n) if fixed else rng.normal(size=n) * 0.3

    def w(*shape, sign=False):
        if fixed:
            return rng.integers(0, 100, shape) if sign else 2 * rng.integers(-60, 80, shape)
        a = rng.normal(size=shape) * 0.7
        return np.abs(a) if sign else a

    nodes = {
        "x": Input((2, 6, 6), "spikes"),
        "c1": Conv2d(w(4, 2, 3, 3), b(4), padding=1),
        "l1": LIF(2048 if fixed else 0.5, 200 if fixed else 1.0, "soft", b(4)),
        "pool": SumPool2d(2),
        "eic": EICircuit(
            w(6, 4, 3, 3, sign=True), w(2, 4, 3, 3, sign=True), w(6, 2, sign=True),
            FastInhibitory(payload_exp=-2 if fixed else 0),
            (rng.integers(1, 2**10, 2) if fixed else rng.random(2) + 0.1),
            (rng.integers(1, 2**10, 6) if fixed else rng.random(6) + 0.1),
            np.zeros(6, int) if fixed else np.zeros(6), padding=1,
            g_i_exp=-4 if fixed else 0, w_ei_exp=-6 if fixed else 0,
        ),
        "l2": LIF(4096 if fixed else 1.0, 200 if fixed else 0.8, "hard", b(6)),
        "flat": Flatten(),
        "fc": Dense(w(5, 54), b(5)),
        "ro": Readout(),
    }  # fmt: skip
    edges = [("x", "c1"), ("c1", "l1"), ("l1", "pool"), ("pool", "eic"), ("eic", "l2"),
             ("l2", "flat"), ("flat", "fc"), ("fc", "ro")]  # fmt: skip
    meta = GraphMetadata(T=5, format=fmt, timing=timing, widths=W8 if fixed else None)
    return HardwareGraph(nodes, edges, meta)


@pytest.mark.parametrize("fmt", ["float32", "fixed"])
def test_lava_timing_is_ideal_shifted_by_depth(fmt):
    ideal, lava = _ff_net(fmt, "ideal"), _ff_net(fmt, "lava")
    assert lava.arrival_offsets()["ro"] == 4  # conv 1 + E-I 2 + dense 1
    s = (np.random.default_rng(0).random((5, 3, 2, 6, 6)) < 0.4).astype(float)
    ri, rl = simulate(ideal, s, record=True), simulate(lava, s, record=True)
    assert rl.steps == 5 + 4 and ri.steps == 5
    for key in ri.records:
        np.testing.assert_array_equal(rl.aligned(key), ri.records[key], err_msg=key)
        off = rl.offsets[key.split("/")[0]]
        assert not rl.records[key][:off].any(), key  # nothing before the first arrival
    assert rl.events("l1") > 0 and rl.events("l2") > 0
    np.testing.assert_array_equal(rl.readout, ri.readout)


@pytest.mark.parametrize("fmt", ["float32", "fixed"])
def test_lava_timing_is_ideal_shifted_by_depth_with_biases(fmt):
    # conv + LIF + E-I + LIF + dense with synapse and neuron biases: the biases act only from
    # each LIF's arrival offset, so lava = ideal shifted, step for step
    ideal, lava = _ff_net(fmt, "ideal", biased=True), _ff_net(fmt, "lava", biased=True)
    s = (np.random.default_rng(1).random((5, 3, 2, 6, 6)) < 0.4).astype(float)
    ri, rl = simulate(ideal, s, record=True), simulate(lava, s, record=True)
    for key in ri.records:
        np.testing.assert_array_equal(rl.aligned(key), ri.records[key], err_msg=key)
    for key in ("l1", "l1/h", "l2", "l2/h"):
        assert not rl.records[key][: rl.offsets[key.split("/")[0]]].any(), key
    assert rl.events("l1") > 0 and rl.events("l2") > 0
    np.testing.assert_array_equal(rl.readout, ri.readout)


def _biased_mlp(fmt: str, timing: str) -> HardwareGraph:
    rng = np.random.default_rng(7)
    fixed = fmt == "fixed"
    dims = [(6, 12), (12, 9), (9, 4)]
    nodes, edges, prev = {"x": Input((6,), "spikes")}, [], "x"
    for i, (d, n) in enumerate(dims):
        w = 2 * rng.integers(-50, 70, (n, d)) if fixed else rng.normal(size=(n, d)) * 0.6
        fb = rng.integers(-30, 50, n) if fixed else rng.normal(size=n) * 0.3
        nodes[f"fc{i}"] = Dense(w, fb)
        edges.append((prev, f"fc{i}"))
        if i == len(dims) - 1:
            nodes["ro"], prev = Readout(), "ro"
        else:
            lb = rng.integers(-20, 80, n) if fixed else rng.normal(size=n) * 0.2
            decay, th = (3500, 150) if fixed else (0.8, 0.7)
            nodes[f"l{i}"], prev = LIF(decay, th, "soft", lb), f"l{i}"
        edges.append((f"fc{i}", prev))
    meta = GraphMetadata(T=6, format=fmt, timing=timing, widths=W8 if fixed else None)
    return HardwareGraph(nodes, edges, meta)


@pytest.mark.parametrize("fmt", ["float32", "fixed"])
def test_lava_timing_biased_mlp_is_ideal_shifted(fmt):
    ideal, lava = _biased_mlp(fmt, "ideal"), _biased_mlp(fmt, "lava")
    assert lava.arrival_offsets() == {
        "x": 0, "fc0": 1, "l0": 1, "fc1": 2, "l1": 2, "fc2": 3, "ro": 3
    }  # fmt: skip
    s = (np.random.default_rng(2).random((6, 4, 6)) < 0.5).astype(float)
    ri, rl = simulate(ideal, s, record=True), simulate(lava, s, record=True)
    for key in ri.records:
        np.testing.assert_array_equal(rl.aligned(key), ri.records[key], err_msg=key)
    assert rl.events("l0") > 0 and rl.events("l1") > 0
    np.testing.assert_array_equal(rl.readout, ri.readout)


def test_lava_timing_bias_waits_for_the_spikes():
    # the Dense bias reaches the LIF at step 0 but the LIF (offset 1) holds v = 0 until the
    # spikes arrive at step 1: H = 0, then 0.5 + 0.25 + 0.5, then 1.25 + 1.25
    g = chain(
        Input((1,), "spikes"), Dense(np.array([[0.5]]), np.array([0.25])),
        LIF(1.0, 10.0, bias=np.array([0.5])), timing="lava", T=2,
    )  # fmt: skip
    r = simulate(g, np.ones((2, 1, 1)), record=True)
    np.testing.assert_array_equal(r.records["n2/h"][:, 0, 0], [0.0, 1.25, 2.5])


# ---------------------------------------------------------------------------------------------
# the float simulator against torch (a hand-built model and its hand-built graph)


def test_float_sim_equals_torch_conv_net():
    torch = pytest.importorskip("torch")
    neurons = pytest.importorskip("models.neurons")
    torch.manual_seed(0)
    T, B = 4, 6
    conv = torch.nn.Conv2d(1, 3, 3, stride=2, padding=1).double()
    lif1 = neurons.LIF(tau=2.0, threshold=[0.5, 0.6, 0.4, 0.5], reset="hard").double()
    fc = torch.nn.Linear(3 * 4 * 4, 7).double()
    lif2 = neurons.LIF(tau=4.0, threshold=0.3).double()
    ro = torch.nn.Linear(7, 3, bias=False).double()
    x = torch.rand(B, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        c = conv(x.expand(T, *x.shape).reshape(T * B, 1, 8, 8)).reshape(T, B, 3, 4, 4)
        s1 = lif1(c)
        s2 = lif2(fc(s1.flatten(2)))
        out = ro(s2)
    npy = lambda p: p.detach().numpy()  # noqa: E731
    g = HardwareGraph(
        {
            "x": Input((1, 8, 8)),
            "conv": Conv2d(npy(conv.weight), npy(conv.bias), stride=2, padding=1),
            "lif1": LIF(0.5, np.array([0.5, 0.6, 0.4, 0.5]), "hard"),
            "flat": Flatten(),
            "fc": Dense(npy(fc.weight), npy(fc.bias)),
            "lif2": LIF(0.75, 0.3),
            "ro_fc": Dense(npy(ro.weight)),
            "ro": Readout(),
        },
        [
            ("x", "conv"),
            ("conv", "lif1"),
            ("lif1", "flat"),
            ("flat", "fc"),
            ("fc", "lif2"),
            ("lif2", "ro_fc"),
            ("ro_fc", "ro"),
        ],  # fmt: skip
        GraphMetadata(T=T),
    )
    r = simulate(g, x.numpy(), record=["lif1", "lif2", "ro"])
    assert s1.sum() > 0 and s2.sum() > 0
    np.testing.assert_array_equal(r.records["lif1"], s1.numpy())
    np.testing.assert_array_equal(r.records["lif2"], s2.numpy())
    np.testing.assert_allclose(r.records["ro"], out.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.readout, out.sum(0).numpy(), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the fixed simulator against a direct loop over hwsim.arith


def _fixed_mlp(rng, T=6) -> HardwareGraph:
    nodes = {
        "x": Input((12,), "direct", scale=1 / 127),
        "fc1": Dense(
            2 * rng.integers(-128, 128, (9, 12)), rng.integers(-300, 300, 9), weight_exp=-1
        ),
        "l1": LIF(3000, rng.integers(40, 400, T), "soft", rng.integers(-99, 99, 9), bias_exp=3),
        "fc2": Dense(2 * rng.integers(-128, 128, (4, 9)), weight_exp=2),
        "l2": LIF(4096, 90, "hard"),
        "fc3": Dense(rng.integers(0, 256, (3, 4))),
        "ro": Readout(),
    }  # fmt: skip
    names = list(nodes)
    return HardwareGraph(
        nodes, list(zip(names[:-1], names[1:])),
        GraphMetadata(T=T, format="fixed", widths=arith.FixedWidths(input_bits=8)),
    )  # fmt: skip


def _arith_loop(g: HardwareGraph, x: np.ndarray):
    n = g.nodes
    s = arith.quantize_input(x, n["x"].scale, 8)
    v1 = np.zeros((x.shape[0], 9), np.int64)
    v2 = np.zeros((x.shape[0], 4), np.int64)
    total = np.zeros((x.shape[0], 3), np.int64)
    spikes1, spikes2 = [], []
    b1 = arith.bias_effective(n["l1"].bias, n["l1"].bias_exp)
    for t in range(g.metadata.T):
        a1 = arith.dense_accumulate(n["fc1"].weight, s, -1) + n["fc1"].bias
        st1 = arith.lif_step_fixed(v1, a1, decay=3000, vth=n["l1"].threshold[t], bias=b1,
                                   reset="soft")  # fmt: skip
        v1 = st1.v
        a2 = arith.dense_accumulate(n["fc2"].weight, st1.spikes, 2)
        st2 = arith.lif_step_fixed(v2, a2, decay=4096, vth=90, reset="hard")
        v2 = st2.v
        total = arith.readout_accumulate(
            total, arith.dense_accumulate(n["fc3"].weight, st2.spikes)
        ).value
        spikes1.append(st1.spikes)
        spikes2.append(st2.spikes)
    return np.stack(spikes1), np.stack(spikes2), total


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_fixed_sim_equals_arith_loop(seed):
    rng = np.random.default_rng(seed)
    g = _fixed_mlp(rng)
    x = rng.random((5, 12)) * 1.5 - 0.25
    s1, s2, total = _arith_loop(g, x)
    r = simulate(g, x, record=["l1", "l2"])
    np.testing.assert_array_equal(r.records["l1"], s1)
    np.testing.assert_array_equal(r.records["l2"], s2)
    np.testing.assert_array_equal(r.readout, total)


def test_fixed_conv_fast_path_equals_conv_accumulate():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2**23, (2, 3, 7, 7))  # 24-bit payloads: the sums wrap at 24 bits
    w = 2 * rng.integers(-128, 128, (4, 3, 3, 3))
    g = chain(Input((3, 7, 7), "spikes"), Conv2d(w, None, stride=2, padding=1, weight_exp=-3),
              fmt="fixed", T=1)  # fmt: skip
    r = run_steps(g, {"n0": x[None]}, record=["n1"])
    gold = arith.conv_accumulate(w, x, 2, 1, 1, -3)
    np.testing.assert_array_equal(r.records["n1"][0], gold)
    assert r.overflow["n1"]["acc"] > 0  # wraps were counted
    # beyond 2**53 the exact int64 path is taken: same result as arith
    big = rng.integers(2**40, 2**41, (1, 3, 5, 5))
    np.testing.assert_array_equal(conv_sum(big, w, 1, 0, 1), arith.conv2d(big, w, 1, 0, 1))
    np.testing.assert_array_equal(conv_sum(x, w, 1, 2, 1), arith.conv2d(x, w, 1, 2, 1))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), exp=st.integers(-8, 7), bits=st.integers(1, 24))
def test_fixed_dense_fast_path_equals_dense_accumulate(seed, exp, bits):
    rng = np.random.default_rng(seed)
    x = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (3, 40))
    w = 2 * rng.integers(-128, 128, (5, 40))
    g = chain(Input((40,), "spikes"), Dense(w, None, weight_exp=exp), fmt="fixed", T=1)
    r = run_steps(g, {"n0": x[None]}, record=["n1"])
    np.testing.assert_array_equal(r.records["n1"][0], arith.dense_accumulate(w, x, exp))
    big = rng.integers(2**45, 2**46, (2, 40))  # past 2**53: the int64 product is used
    np.testing.assert_array_equal(
        arith.dense_reduce(dense_sum(big, w)), arith.dense_accumulate(w, big)
    )


# ---------------------------------------------------------------------------------------------
# inputs, forcing, batching, errors


def test_rate_encoding_is_bernoulli_and_seeded():
    g = chain(Input((200,), "rate"), Readout(), T=50)
    p = np.linspace(0, 1, 200)[None]
    a = encode_inputs(g, p, np.random.default_rng(1))["n0"]
    b = encode_inputs(g, p, np.random.default_rng(1))["n0"]
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 1.0}
    assert a[:, 0, 0].sum() == 0 and a[:, 0, -1].sum() == 50
    # total spikes: sum of 50 Bernoulli(p) per pixel; 5 sigma
    mean, var = 50 * p.sum(), 50 * (p * (1 - p)).sum()
    assert abs(a.sum() - mean) < 5 * np.sqrt(var)
    with pytest.raises(DataError, match="probabilities must lie in"):
        encode_inputs(g, p + 0.5)


def test_force_replaces_output_downstream_and_resets_lif():
    # LIF with I = 0.5, a = 1, θ = 1: computed spikes at t = 1, 3 (H = .5, 1, .5, 1)
    g = chain(Input((1,)), Dense(np.array([[0.5]])), LIF(1.0, 1.0), Dense(np.array([[1.0]])),
              Readout())  # fmt: skip
    x = np.ones((1, 1))
    free = simulate(g, x, record=True)
    np.testing.assert_array_equal(free.records["n2"][:, 0, 0], [0, 1, 0, 1])
    f = np.array([1.0, 0, 0, 0]).reshape(4, 1, 1)  # the teacher spikes at t = 0 only
    r = simulate(g, x, record=True, force={"n2": f})
    # reset with the forced spike: H = .5 (forced spike, V = -.5), 0, .5, 1
    np.testing.assert_array_equal(r.records["n2/h"][:, 0, 0], [0.5, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(r.records["n2"][:, 0, 0], [0, 0, 0, 1])  # own computation
    np.testing.assert_array_equal(r.records["n3"][:, 0, 0], [1, 0, 0, 0])  # the forced spikes
    np.testing.assert_array_equal(r.readout, [[1.0]])


def test_simulate_dataset_concatenates_batches():
    rng = np.random.default_rng(2)
    g = _fixed_mlp(rng)
    x = rng.random((23, 12))
    whole = simulate(g, x, record=["l1"])
    parts = simulate_dataset(g, x, batch_size=7, record=["l1"])
    np.testing.assert_array_equal(parts.readout, whole.readout)
    np.testing.assert_array_equal(parts.predictions, whole.predictions)
    np.testing.assert_array_equal(parts.records["l1"], whole.records["l1"])
    for k in whole.counts:
        np.testing.assert_array_equal(parts.counts[k], whole.counts[k])
    assert parts.batch == 23
    assert whole.counts["l1"].sum() == whole.records["l1"].sum()  # events = spikes


def test_input_and_option_errors():
    g = chain(Input((2,)), Dense(np.ones((1, 2))), LIF(0.5, 1.0))
    with pytest.raises(DataError, match=r"expected shape \('B', 2\)"):
        simulate(g, np.ones((3, 4)))
    with pytest.raises(DataError, match="NaN"):
        simulate(g, np.full((1, 2), np.nan))
    with pytest.raises(GraphError, match="record: no node named"):
        simulate(g, np.ones((1, 2)), record=["nope"])
    with pytest.raises(DataError, match=r"force\['n2'\]: expected shape"):
        simulate(g, np.ones((1, 2)), force={"n2": np.zeros((4, 1))})
    gs = chain(Input((2,), "spikes"), Readout(), T=3)
    with pytest.raises(DataError, match="values must be 0 or 1"):
        simulate(gs, np.full((3, 1, 2), 0.5))
    with pytest.raises(DataError, match="3 steps"):
        simulate(chain(Input((2,), "spikes"), Readout(), T=4), np.zeros((3, 1, 2)))
    with pytest.raises(DataError, match="batch_size"):
        simulate_dataset(g, np.ones((2, 2)), batch_size=0)
    with pytest.raises(DataError, match="no samples"):
        simulate_dataset(g, np.ones((0, 2)))


def test_iter_batches_splits_along_each_inputs_sample_axis():
    gs = chain(Input((2,), "spikes"), Readout(), T=3)
    x = np.arange(3 * 5 * 2).reshape(3, 5, 2)  # [T, N, 2]: samples on axis 1
    got = list(iter_batches(gs, x, 2))
    assert [b.shape for b in got] == [(3, 2, 2), (3, 2, 2), (3, 1, 2)]
    np.testing.assert_array_equal(np.concatenate(got, axis=1), x)
    g = chain(Input((2,)), Readout())
    got = list(iter_batches(g, {"n0": np.arange(10).reshape(5, 2)}, 4))
    assert [sorted(b) for b in got] == [["n0"], ["n0"]]
    np.testing.assert_array_equal(got[1]["n0"], [[8, 9]])
