"""CubaLIF and LI on tiny hand-built graphs (exporters.onnx.examples: Input -> Dense ->
CubaLIF -> Dense -> LI -> Readout, and the conv variant): hwsim float against an independent
torch reference of the equations, lava timing as the ideal run shifted, quantisation (scales,
decays as Lava's du/dv, the current's overflow analysis), rung 1, counts, validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from exporters.onnx.examples import cuba_li_convnet, cuba_li_net
from hwsim import arith
from hwsim.counters import count_run
from hwsim.errors import DesignRuleError, GraphError, OverflowBoundError, QuantizationError
from hwsim.graph import LI, CubaLIF, Dense, GraphMetadata, HardwareGraph, Input, Readout
from hwsim.sim import simulate
from hwsim.verify import rung1
from toolchain.fold.rules import check_design_rules
from toolchain.quantize import quantize

T = 4
BUILDERS = {"dense": cuba_li_net, "conv": cuba_li_convnet}


def _inputs(graph: HardwareGraph, n: int, seed: int = 1) -> np.ndarray:
    node = graph.nodes[graph.input_names()[0]]
    rng = np.random.default_rng(seed)
    if node.encoding == "spikes":
        return (rng.random((graph.metadata.T, n, *node.shape)) < 0.4).astype(np.float64)
    return rng.random((n, *node.shape))


def _torch_reference(g: HardwareGraph, x: np.ndarray) -> dict[str, torch.Tensor]:
    """The example graphs' equations written directly in torch (float64), step by step:
    u = c·u + W s (+b); H = a·v + u + b_v; s = H >= θ[t]; reset; LI v = a·v + (W s + b);
    the readout sums v over the steps. Independent of hwsim's code paths."""
    n = g.nodes
    conv = "c1" in n
    seq = torch.as_tensor(x) if x.ndim == 5 else torch.as_tensor(x).expand(T, *x.shape)
    t64 = lambda a: torch.as_tensor(np.asarray(a, np.float64))  # noqa: E731
    cu = n["cuba"]
    u = v = vl = None
    spikes, total = [], 0
    for t in range(T):
        xt = seq[t]
        if conv:
            cur = F.conv2d(xt, t64(n["c1"].weight), padding=1)
        else:
            cur = xt @ t64(n["fc1"].weight).T
        u = cur if u is None else cu.current_decay * u + cur
        b = 0.0 if cu.bias is None else t64(cu.bias).reshape((-1,) + (1,) * (cur.dim() - 2))
        h = (0.0 if v is None else cu.decay * v) + (u + b)
        th = float(np.asarray(cu.threshold).reshape(-1)[min(t, np.size(cu.threshold) - 1)])
        s = (h >= th).double()
        v = h - th * s if cu.reset == "soft" else h * (1 - s)
        spikes.append(s)
        if conv:  # SumPool2d(2), Flatten, Dense
            z = F.avg_pool2d(s, 2) * 4
            y = z.flatten(1) @ t64(n["fc"].weight).T
        else:
            fc2 = n["fc2"]
            y = s @ t64(fc2.weight).T + t64(fc2.bias)
        li = n["li"]
        y = y + (0.0 if li.bias is None else t64(li.bias))
        vl = y if vl is None else li.decay * vl + y
        total = total + vl
    return {"cuba": torch.stack(spikes), "readout": total}


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_hwsim_float_equals_a_torch_reference(kind):
    g = BUILDERS[kind]("float32", "ideal", T=T)
    x = _inputs(g, 8)
    res = simulate(g, x, record=["cuba", "li"])
    ref = _torch_reference(g, x)
    spikes = res.records["cuba"]
    assert 0.05 < spikes.mean() < 0.8  # an active layer: the comparison means something
    np.testing.assert_array_equal(spikes, ref["cuba"].numpy())
    np.testing.assert_allclose(res.readout, ref["readout"].numpy(), rtol=1e-12, atol=1e-12)
    assert "cuba/u" in res.records and "cuba/h" in res.records  # the op's probes


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_lava_timing_is_the_ideal_run_shifted_biases_included(kind):
    # CubaLIF and LI hold their reset state (u = v = 0, bias gated) before their arrival
    ideal = BUILDERS[kind]("fixed", "ideal", T=T)
    lava = dataclasses.replace(ideal, metadata=dataclasses.replace(ideal.metadata, timing="lava"))
    x = _inputs(ideal, 5)
    a = simulate(ideal, x, record=True)
    b = simulate(lava, x, record=True)
    assert lava.arrival_offsets()["cuba"] == 1 and lava.arrival_offsets()["li"] == 2
    for key in ("cuba", "cuba/u", "cuba/h", "li"):
        np.testing.assert_array_equal(a.aligned(key), b.aligned(key))
        assert not b.records[key][: b.offsets[key.split("/")[0]]].any()
    np.testing.assert_array_equal(a.readout, b.readout)


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_quantise_and_rung1(kind):
    g = BUILDERS[kind]("float32", "ideal", T=T)
    calib, x = _inputs(g, 64, seed=2), _inputs(g, 32, seed=3)
    res = quantize(g, calib, 8, target="lava")
    q = res.graph.nodes
    # decays as Lava's dv and du: 4096 - dv = rint(a·4096); 4095 - du = rint(c·4096)
    assert q["cuba"].decay == 2048
    assert q["cuba"].current_decay == (2048 if kind == "dense" else 1024)
    assert q["li"].decay == (3072 if kind == "dense" else 2048)
    scales = res.graph.metadata.scales
    s_a = res.report["layers"]["cuba"]["scale"]
    assert scales["cuba/u"] == scales["cuba/v"] == s_a / 64
    assert scales["li"] == scales["li/v"] == scales["ro"]  # the readout sums v at its scale
    checks = {c["quantity"]: c for c in res.overflow["layers"]["cuba"]["checks"]}
    assert {"a", "u", "v"} <= set(checks) and checks["u"]["ok"]
    # the worst-case current bound is the geometric series of the activation bound
    a_max, c = checks["a"]["bound"], q["cuba"].current_decay
    assert 64 * a_max <= checks["u"]["bound"] <= 64 * a_max * 4096 / (4096 - c) + 4096
    assert {c["quantity"] for c in res.overflow["layers"]["ro"]["checks"]} == {"sum"}
    if kind == "dense":  # the Dense bias into the LI becomes the LI's bias (v units)
        assert q["fc2"].bias is None and q["li"].bias is not None
    check_design_rules(res.graph, "lava")
    r1 = rung1(g, res.graph, x, np.zeros(x.shape[1 if kind == "conv" else 0], np.int64))
    assert r1.metrics["spike_agreement/cuba"] > 0.9
    assert r1.metrics["readout_correlation"] > 0.99
    assert r1.metrics["prediction_agreement"] >= 0.9


def test_teacher_forcing_resets_the_membrane_not_the_current():
    g = cuba_li_net("float32", T=T)  # hard reset, no bias
    x = _inputs(g, 3)
    free = simulate(g, x, record=["cuba"])
    ones = np.ones_like(free.records["cuba"])
    forced = simulate(g, x, record=["cuba"], force={"cuba": ones})
    np.testing.assert_array_equal(forced.records["cuba/u"], free.records["cuba/u"])
    # a forced spike every step resets v to 0, so H[t] = a·0 + u[t]
    np.testing.assert_array_equal(forced.records["cuba/h"], forced.records["cuba/u"])
    assert not np.array_equal(free.records["cuba/h"], free.records["cuba/u"])


def test_a_synapse_bias_into_a_cubalif_stays_in_the_current():
    # the bias enters the decaying current, so it cannot move into the membrane's bias
    g = cuba_li_net("float32", T=T)
    nodes = dict(g.nodes)
    nodes["fc1"] = dataclasses.replace(nodes["fc1"], bias=np.full(12, 0.2, np.float32))
    g2 = dataclasses.replace(g, nodes=nodes)
    res = quantize(g2, _inputs(g2, 32), 8)
    fc1, s_a = res.graph.nodes["fc1"], res.report["layers"]["cuba"]["scale"]
    assert res.graph.nodes["cuba"].bias is None
    np.testing.assert_array_equal(fc1.bias, np.full(12, round(0.2 / s_a)))


def test_overflowing_current_is_named():
    # no leak on the current (c = 1 -> 4095/4096) over T = 300: the static bound of u grows
    # past 24 bits at every scale (v = u + 1/4096 of itself follows it)
    g = cuba_li_net("float32", T=300)
    nodes = dict(g.nodes)
    nodes["cuba"] = CubaLIF(1 / 4096, 1.0, 200.0, "hard")
    g2 = dataclasses.replace(g, nodes=nodes)
    with pytest.raises(OverflowBoundError, match="'cuba'.*u: static bound"):
        quantize(g2, _inputs(g2, 16), 8)


def test_li_feeds_a_readout_only_in_the_fixed_format():
    g = cuba_li_net("float32", T=T)
    nodes = dict(g.nodes)
    nodes["fc3"] = Dense(np.ones((3, 5), np.float32))
    nodes["ro"] = Readout()
    edges = [e for e in g.edges if e != ("li", "ro")] + [("li", "fc3"), ("fc3", "ro")]
    g2 = HardwareGraph(nodes, edges, g.metadata)
    simulate(g2, _inputs(g2, 2))  # the float simulator takes it
    with pytest.raises(QuantizationError, match="LI 'li' feeds \\['fc3'\\]"):
        quantize(g2, _inputs(g2, 8), 8)


def test_design_rule_li_feeds_readout():
    # a hand-built fixed graph where an LI's 24-bit membrane feeds a synapse: valid as a graph,
    # refused by every target's design rules (the quantiser never produces it)
    md = GraphMetadata(T=T, format="fixed", widths=arith.FixedWidths())
    nodes = {"x": Input((3,), "spikes"), "fc": Dense(np.full((2, 3), 2)), "li": LI(2048),
             "fo": Dense(np.full((2, 2), 2)), "ro": Readout()}  # fmt: skip
    chain = list(nodes)
    g = HardwareGraph(nodes, list(zip(chain, chain[1:])), md)
    for target in ("hwsim", "lava", "onnx"):
        with pytest.raises(DesignRuleError, match="li_feeds_readout.*'li'.*feeds \\['fo'\\]"):
            check_design_rules(g, target)
    ok = HardwareGraph({k: nodes[k] for k in ("x", "fc", "li", "ro")},
                       [("x", "fc"), ("fc", "li"), ("li", "ro")], md)  # fmt: skip
    assert "li_feeds_readout" in check_design_rules(ok, "lava")


def test_counts_membranes_and_currents():
    g = cuba_li_net("fixed", T=T)
    counts = count_run(g, _inputs(g, 6), batch_size=3)
    cu, li = counts.layers["cuba"], counts.layers["li"]
    n = 12 * 6  # neurons x samples
    assert cu.steps["updates"].tolist() == [n] * T
    assert cu.steps["current_updates"][0] == n and cu.steps["membrane_updates"][0] == n
    assert 0 < cu.total("current_updates") <= n * T
    assert li.steps["membrane_updates"][0] == 5 * 6 and "current_updates" not in li.steps
    assert li.static["state_words"] == 1 and cu.static["state_words"] == 2
    assert cu.static["state_bits"] == 2 * 12 * 24 and li.static["state_bits"] == 5 * 24
    nb = counts.neurobench()
    assert nb["MembraneUpdates"] == counts.per_sample("membrane_updates")
    assert 0 < nb["ActivationSparsity"] < 1
    assert counts.to_dict()["layers"]["cuba"]["firing_rate"] > 0


def test_validation_of_the_new_kinds():
    md = GraphMetadata(T=T)
    base = {"x": Input((3,), "spikes"), "fc": Dense(np.ones((2, 3), np.float32))}
    edges = [("x", "fc"), ("fc", "n")]
    bad = [
        (CubaLIF(0.5, 1.5, 1.0, "hard"), "current_decay=1.5 must be in \\[0, 1\\]"),
        (CubaLIF(0.5, 0.5, np.ones(3), "hard"), "threshold schedule has shape"),
        (CubaLIF(0.5, 0.5, 1.0, "never"), "reset must be"),
        (LI(-0.1), "decay=-0.1 must be in"),
        (LI(0.5, np.zeros(5)), "bias shape"),
    ]
    for node, msg in bad:
        with pytest.raises(GraphError, match=msg):
            HardwareGraph({**base, "n": node}, edges, md)
    with pytest.raises(TypeError):
        CubaLIF(0.5, 0.5, 1.0)  # reset has no default: the libraries differ
    fixed = GraphMetadata(T=T, format="fixed", widths=arith.FixedWidths())
    fbase = {"x": Input((3,), "spikes"), "fc": Dense(np.full((2, 3), 2))}
    for node, msg in [
        (CubaLIF(2048, 4096, 10, "hard"), "current_decay: 1 entries outside \\[0, 4095\\]"),
        (CubaLIF(0.5, 0, 10, "hard"), "decay=0.5 must be an integer"),
        (LI(2048, np.array(5000)), "bias: 1 entries outside"),
    ]:
        with pytest.raises(GraphError, match=msg):
            HardwareGraph({**fbase, "n": node}, edges, fixed)
