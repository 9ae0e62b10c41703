"""toolchain.fold: every pass exact on its own, the whole fold against torch, design rules,
lava timing, E-I floor calibration and fold_run."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from hwsim import arith
from hwsim.errors import ConfigError, DesignRuleError, GraphError
from hwsim.graph import (
    LIF,
    AvgPool2d,
    Delay,
    EICircuit,
    Flatten,
    GraphMetadata,
    HardwareGraph,
)
from hwsim.graph import Conv2d as GConv2d
from hwsim.graph import Dense as GDense
from hwsim.graph import Input as GInput
from hwsim.graph import Readout as GReadout
from hwsim.io import graphs_equal, load_graph
from hwsim.sim import simulate
from models import build_model
from models.base import TimeDistributed
from models.ei import EIConfig, EIConv2d, EILinear
from models.neurons import LIF as TorchLIF
from models.osr import OSR
from models.ots import OTSLIF
from toolchain.fold import (
    TargetLimits,
    calibrate_floor,
    check_design_rules,
    fold_model,
    fold_run,
    passes,
    to_lava_timing,
)

EPS32 = float(np.finfo(np.float32).eps)


def _randomise_norms(net: nn.Module, gen: torch.Generator) -> None:
    """Non-trivial eval statistics: running mean/var, affine parameters, OTS schedules."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (OSR, nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.running_mean.numel()
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.02 + 0.005)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.3)
            if isinstance(m, OTSLIF):
                m.running_threshold.copy_(torch.rand(m.T, generator=gen) * 0.6 + 0.7)


# ---------------------------------------------------------------------------------------------
# the passes, one by one
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["osr", "bn"])
def test_conv_norm_fold_matches_torch(norm):
    """conv + OSR/BN (eval) == one conv with W' = s⊙W, b' = s⊙b + t: to float64 rounding
    against the torch expression without intermediate roundings, and within the float32
    summation bound (fan_in + 3) eps32 · (|W|*|x| |s| + |t|) of the real float32 module."""
    gen = torch.Generator().manual_seed(1)
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=True)
    nm = OSR(5) if norm == "osr" else nn.BatchNorm2d(5)
    _randomise_norms(nm, gen)
    nm.eval()
    x = (torch.rand(4, 3, 6, 6, generator=gen) < 0.4).float()
    scale, shift = passes.norm_affine(nm, "n")
    w, b = passes.fold_affine(passes.to_f64(conv.weight), passes.to_f64(conv.bias), scale, shift)
    folded = arith.conv2d_float(w, x.double().numpy(), b, 1, 1)
    # the same expression in float64, unfolded
    with torch.no_grad():
        z = torch.nn.functional.conv2d(x.double(), conv.weight.double(), conv.bias.double(), 1, 1)
    ref64 = z.numpy() * scale[None, :, None, None] + shift[None, :, None, None]
    np.testing.assert_allclose(folded, ref64, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        y32 = (nm(conv(x).unsqueeze(0))[0] if norm == "osr" else nm(conv(x))).double().numpy()
        mag = torch.nn.functional.conv2d(x.double(), conv.weight.abs().double(), None, 1, 1)
    mag = (mag.numpy() + abs(conv.bias.detach().double().numpy())[None, :, None, None]) * np.abs(
        scale
    )[None, :, None, None] + np.abs(shift)[None, :, None, None]
    assert np.all(np.abs(y32 - folded) <= (27 + 3) * EPS32 * mag)


def test_linear_bn1d_fold_and_no_bias():
    gen = torch.Generator().manual_seed(2)
    fc = nn.Linear(7, 4, bias=False)
    bn = nn.BatchNorm1d(4)
    _randomise_norms(bn, gen)
    bn.eval()
    x = torch.rand(9, 7, generator=gen, dtype=torch.float64)
    s, t = passes.norm_affine(bn, "bn")
    w, b = passes.fold_affine(passes.to_f64(fc.weight), None, s, t)
    with torch.no_grad():
        ref = bn.double()(fc.double()(x)).numpy()
    np.testing.assert_allclose(arith.dense_float(w, x.numpy(), b), ref, rtol=1e-12, atol=1e-12)


def test_norm_without_running_stats_and_mismatched_width_raise():
    bn = nn.BatchNorm1d(4, track_running_stats=False)
    with pytest.raises(GraphError, match="bn0.*running statistics"):
        passes.norm_affine(bn, "bn0")
    with pytest.raises(GraphError, match="does not match"):
        passes.fold_affine(np.ones((3, 2)), None, np.ones(4), np.zeros(4))


def test_ots_buffer_becomes_threshold_schedule():
    """OTS eval thresholds running_threshold[t] -> LIF(threshold=[T]); the hwsim LIF with that
    schedule spikes exactly as the torch OTSLIF in eval mode on the same currents."""
    gen = torch.Generator().manual_seed(3)
    T = 5
    ots = OTSLIF(T=T, tau=2.0)
    ots.train()
    with torch.no_grad():  # a few training sequences move the per-step running thresholds
        for _ in range(4):
            ots(torch.randn(T, 8, 6, generator=gen) * 2 + 0.5)
    ots.eval()
    p = passes.lif_parameters(ots, T, "ots")
    np.testing.assert_array_equal(p["threshold"], ots.running_threshold.double().numpy())
    assert p["decay"] == 0.5 and p["reset"] == "soft"
    assert len(set(np.round(p["threshold"], 6))) > 1  # really per step
    cur = torch.randn(T, 16, 6, generator=gen) + 0.8
    with torch.no_grad():
        ref = ots(cur).numpy()
    v = np.zeros((16, 6))
    for t in range(T):
        out = arith.lif_step_float(
            v, cur[t].double().numpy(), decay=0.5, threshold=p["threshold"][t], reset="soft"
        )
        v = out.v
        np.testing.assert_array_equal(out.spikes, ref[t] == 1)


def test_lif_threshold_schedule_too_short_raises():
    with pytest.raises(ConfigError, match="ots.*T=3.*fewer than T=4"):
        passes.lif_threshold(OTSLIF(T=3), 4, "ots")
    with pytest.raises(ConfigError, match="2 steps"):
        passes.lif_threshold(TorchLIF(threshold=[1.0, 1.1]), 4, "lif")
    np.testing.assert_array_equal(
        passes.lif_threshold(TorchLIF(threshold=[1.0, 1.5, 2.0]), 2, "l"), [1.0, 1.5]
    )


def test_avgpool_node_equals_torch_and_adaptive_pool_is_a_global_sum():
    x = (torch.rand(3, 4, 6, 6) < 0.5).double()  # torch in float64: one rounding, as hwsim
    k, s = passes.avgpool_geometry(nn.AvgPool2d(2), "p")
    assert (k, s) == ((2, 2), (2, 2))
    np.testing.assert_array_equal(
        arith.avg_pool2d_float(x.numpy(), k, s), nn.AvgPool2d(2)(x).numpy()
    )
    ka = passes.adaptive_avgpool_geometry(nn.AdaptiveAvgPool2d(1), (4, 6, 6), "gp")
    assert ka == (6, 6)
    np.testing.assert_array_equal(
        arith.avg_pool2d_float(x.numpy(), ka, ka), nn.AdaptiveAvgPool2d(1)(x).numpy()
    )
    with pytest.raises(GraphError, match="pp.*padding"):
        passes.avgpool_geometry(nn.AvgPool2d(2, padding=1), "pp")
    with pytest.raises(GraphError, match="non-uniform"):
        passes.adaptive_avgpool_geometry(nn.AdaptiveAvgPool2d(4), (1, 6, 6), "ap")


def _ei_init(layer: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        layer(x)


def test_ei_parameters_and_circuit_match_torch():
    gen = torch.Generator().manual_seed(4)
    layer = EIConv2d(3, 8, 3, 1, 1)
    x = (torch.rand(2, 6, 3, 5, 5, generator=gen) < 0.3).float()
    _ei_init(layer, x)
    with torch.no_grad():
        layer.bias_e.normal_(0, 0.2, generator=gen)
    f = passes.ei_parameters(layer, "ei")
    assert f["variant"] == "divisive" and f["stabilisation"] == "exact"
    assert f["padding"] == (1, 1) and f["stride"] == (1, 1)
    node = EICircuit(**f)
    xin = x.flatten(0, 1)
    with torch.no_grad():
        ref = layer.circuit(xin).double().numpy()
    xs = xin.double().numpy()
    ee = arith.conv2d_float(node.w_ee, xs, None, 1, 1)
    ie = arith.conv2d_float(node.w_ie, xs, None, 1, 1)
    out = arith.ei_step_float(
        ee, ie, w_ei=node.w_ei, g_i=node.g_i, g_e=node.g_e, b_e=node.b_e,
        variant="divisive", stabilisation="exact",
    )  # fmt: skip
    np.testing.assert_allclose(out.current, ref, rtol=1e-5, atol=1e-5)
    ro = EILinear(12, 3, readout=True)
    _ei_init(ro, torch.rand(2, 4, 12))
    assert passes.ei_parameters(ro, "ro")["variant"] == "subtractive"


def test_dale_violation_names_tensor_and_count():
    layer = EILinear(6, 4)
    _ei_init(layer, torch.rand(2, 5, 6))
    with torch.no_grad():
        layer.weight_ei[0, 0] = -0.1
        layer.gain_e[:2] = -1.0
    with pytest.raises(GraphError, match=r"L3\.weight_ei: 1 of 4.*L3\.gain_e: 2 of 4"):
        passes.ei_parameters(layer, "L3")


def test_ei_uninitialised_and_fixed_eps_are_refused():
    with pytest.raises(ConfigError, match="never initialised"):
        passes.ei_parameters(EILinear(6, 4), "e0")
    layer = EILinear(6, 4, EIConfig(stabilization=("fixed", 0.1)))
    _ei_init(layer, torch.rand(2, 5, 6))
    with pytest.raises(ConfigError, match="e1: fixed-epsilon"):
        passes.ei_parameters(layer, "e1")


# ---------------------------------------------------------------------------------------------
# whole networks
# ---------------------------------------------------------------------------------------------

ARCHS = {
    "mlp": {"arch": "mlp", "hidden": [24, 12]},
    "mlp_bn": {"arch": "mlp", "hidden": [16], "norm": "bn"},
    "vgg_osr_ots": {"arch": "vgg", "layers": [6, "M", 8, "M"], "hidden": [12], "norm": "osr_ots"},
    "sew_resnet18": {"arch": "sew_resnet18", "width": 1 / 16, "norm": "osr_ots"},
    "ei_mlp": {"arch": "ei_mlp", "hidden": [16]},
    "ei_vgg8": {"arch": "ei_vgg8", "width": 1 / 16},
    "ei_sew_resnet18": {"arch": "ei_sew_resnet18", "width": 1 / 16},
}
T_NET = 3


def _tiny(key: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    cfg = dict(ARCHS[key], in_shape=[1, 8, 8], num_classes=5)
    if cfg.get("norm") == "osr_ots":
        cfg["T"] = T_NET
    net = build_model(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # E-I Init on a first batch; scale plain weights up so layers fire
        net(torch.rand(T_NET, 8, 1, 8, 8, generator=gen))
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)) and not key.startswith("ei"):
                m.weight.mul_(3.0)
    _randomise_norms(net, gen)
    return net.eval()


def _torch_probes(net, probes, x):
    outs, mods = {}, dict(net.named_modules())
    hooks = [
        mods[q].register_forward_hook(
            lambda m, i, o, n=n: outs.__setitem__(n, o.detach().double().numpy())
        )
        for n, q in probes.items()
    ]
    try:
        with torch.no_grad():
            y = net(x.unsqueeze(0).expand(T_NET, *x.shape))
    finally:
        for h in hooks:
            h.remove()
    return outs, y.sum(0).argmax(-1).numpy()


@pytest.mark.parametrize("key", list(ARCHS))
def test_fold_model_matches_torch_layer_by_layer(key):
    """Every LIF node spikes exactly as its torch module (no ties on these seeds), the readout
    currents agree to float32 precision, and every graph passes the hwsim design rules."""
    net = _tiny(key)
    ref_net = copy.deepcopy(net)
    res = fold_model(net, (1, 8, 8), T_NET, name=key)
    g = res.graph
    assert g.metadata.format == "float32" and g.metadata.timing == "ideal"
    check_design_rules(g, "hwsim")
    lifs = [n for n, v in g.nodes.items() if isinstance(v, LIF)]
    assert set(res.probes) == set(lifs) | {"output"}
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(9))
    ref, pred = _torch_probes(net, res.probes, x)
    sim = simulate(g, x.double().numpy(), record=True)
    fired = 0
    for node in lifs:
        np.testing.assert_array_equal(sim.records[node], ref[node], err_msg=node)
        fired += int(ref[node].sum())
    assert fired > 0
    np.testing.assert_allclose(sim.records["output"], ref["output"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(sim.predictions, pred)
    for a, b in zip(net.state_dict().values(), ref_net.state_dict().values()):
        assert torch.equal(a, b)  # folding never modifies the model


def test_fold_model_node_names_and_ots_schedules():
    res = fold_model(_tiny("vgg_osr_ots"), (1, 8, 8), T_NET)
    g = res.graph
    assert res.probes["block1.lif"] == "block1.lif" and res.probes["output"] == "readout"
    assert isinstance(g.nodes["block1.pool"], AvgPool2d)
    assert g.nodes["block1.lif"].threshold.shape == (T_NET,)
    assert "block1.norm" not in g.nodes  # folded into block1.conv
    assert g.nodes["block1.conv"].bias is not None


def test_unmapped_module_raises_naming_it():
    net = nn.Sequential(TimeDistributed(nn.Flatten()), TimeDistributed(nn.Linear(4, 3)), nn.ReLU())
    with pytest.raises(GraphError, match=r"module '2' \(torch\.nn\.modules\.activation\.ReLU\)"):
        fold_model(net, (4,), 2)


def test_norm_not_after_weight_layer_and_spiking_output_raise():
    net = nn.Sequential(OSR(4), TorchLIF())
    with pytest.raises(GraphError, match="'0'|0: OSR must directly follow"):
        fold_model(net, (4,), 2)
    net = nn.Sequential(TimeDistributed(nn.Linear(4, 3)), TorchLIF())
    with pytest.raises(GraphError, match="ends in LIF node 'm1'"):
        fold_model(net, (4,), 2)


# ---------------------------------------------------------------------------------------------
# lava timing, design rules, floor calibration
# ---------------------------------------------------------------------------------------------


def test_to_lava_timing_balances_sew_adds():
    g = to_lava_timing(fold_model(_tiny("sew_resnet18"), (1, 8, 8), T_NET).graph)
    assert g.metadata.timing == "lava"
    off = g.arrival_offsets()
    adds = [n for n, v in g.nodes.items() if v.kind == "Add"]
    assert len(adds) == 8
    for a in adds:
        assert len({off[p] for p in g.predecessors(a)}) == 1
    delays = {n: v.steps for n, v in g.nodes.items() if isinstance(v, Delay)}
    # identity shortcuts wait for two convs, conv shortcuts (the downsampling blocks) for one
    assert sorted(delays.values()) == [1, 1, 1, 2, 2, 2, 2, 2]
    assert to_lava_timing(g) is g


def test_to_lava_timing_without_biases_is_the_ideal_run_shifted():
    torch.manual_seed(5)
    net = build_model({"arch": "mlp", "in_shape": [6], "num_classes": 3, "hidden": [8],
                       "bias": False})  # fmt: skip
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(4)
    g = fold_model(net.eval(), (6,), 4).graph
    gl = to_lava_timing(g)
    x = np.random.default_rng(0).random((5, 6))
    a, b = simulate(g, x, record=True), simulate(gl, x, record=True)
    for node in ("m2", "output"):
        np.testing.assert_array_equal(b.aligned(node), a.records[node])
    np.testing.assert_array_equal(a.readout, b.readout)


def _fixed_conv_graph(weight_exp: int) -> HardwareGraph:
    nodes = {
        "x": GInput((1, 4, 4), "spikes"),
        "c": GConv2d(np.full((2, 1, 3, 3), 4), None, padding=1, weight_exp=weight_exp),
        "l": LIF(2048, 10, "hard"),
        "f": Flatten(),
        "d": GDense(np.full((3, 32), 2)),
        "o": GReadout(),
    }
    edges = [("x", "c"), ("c", "l"), ("l", "f"), ("f", "d"), ("d", "o")]
    meta = GraphMetadata(T=2, format="fixed", widths=arith.FixedWidths())
    return HardwareGraph(nodes, edges, meta)


def test_design_rules_name_rule_and_layer():
    g = fold_model(_tiny("vgg_osr_ots"), (1, 8, 8), T_NET).graph
    assert "fan_in" in check_design_rules(g, "hwsim")
    with pytest.raises(DesignRuleError, match="'node_kinds'.*lava.*'block1.pool'.*AvgPool2d"):
        check_design_rules(g, "lava")
    small = TargetLimits(frozenset({"Input", "Conv2d", "LIF", "AvgPool2d", "Flatten", "Dense",
                                    "Readout"}), max_fan_in=20, max_fan_out=10**6)  # fmt: skip
    with pytest.raises(DesignRuleError, match="'fan_in'.*'block2.lif'.*54 exceeds 20"):
        check_design_rules(g, "hwsim", small)
    few_out = dataclasses.replace(small, max_fan_in=10**6, max_fan_out=60)
    with pytest.raises(DesignRuleError, match="'fan_out'.*'block1.pool'.*72 exceeds 60"):
        check_design_rules(g, "hwsim", few_out)
    check_design_rules(_fixed_conv_graph(0), "lava")
    with pytest.raises(DesignRuleError, match="'conv_weight_exp'.*'c'.*weight_exp=2"):
        check_design_rules(_fixed_conv_graph(2), "lava")
    check_design_rules(_fixed_conv_graph(2), "hwsim")
    with pytest.raises(DesignRuleError, match="unknown target"):
        check_design_rules(g, "loihi9")


def test_calibrate_floor_is_the_smallest_positive_denominator():
    net = _tiny("ei_mlp")
    g = fold_model(net, (1, 8, 8), T_NET).graph
    x = np.random.default_rng(3).random((10, 1, 8, 8))
    gf = calibrate_floor(g, x)
    node, floor_node = g.nodes["m1"], gf.nodes["m1"]
    assert floor_node.stabilisation == "floor" and floor_node.floor > 0
    d = arith.ei_step_float(
        arith.dense_float(node.w_ee, x.reshape(10, -1)),
        arith.dense_float(node.w_ie, x.reshape(10, -1)),
        w_ei=node.w_ei, g_i=node.g_i, g_e=node.g_e, b_e=node.b_e,
        variant="divisive", stabilisation="exact",
    ).denominator  # fmt: skip
    assert floor_node.floor == pytest.approx(d[d > 0].min(), rel=1e-12)
    assert gf.nodes["m3"].variant == "subtractive"  # the readout is left alone
    a, b = simulate(g, x, record=["m2"]), simulate(gf, x, record=["m2"])
    # direct input: every step sees the same D, none below the floor -> identical spikes
    np.testing.assert_array_equal(a.records["m2"], b.records["m2"])


# ---------------------------------------------------------------------------------------------
# fold_run
# ---------------------------------------------------------------------------------------------


def test_fold_run_writes_the_graph(tmp_path):
    from toolchain.config import RunConfig
    from toolchain.pipeline import train_run

    cfg = RunConfig.from_dict({
        "name": "tiny", "data": {"dataset": "digits", "limit": 200},
        "model": {"arch": "mlp", "hidden": [12]},
        "train": {"epochs": 1, "batch_size": 50, "T": 2, "progress": False},
    })  # fmt: skip
    train_run(cfg, runs_root=tmp_path)
    res = fold_run(tmp_path / "tiny")
    g = load_graph(tmp_path / "tiny" / "graph.float.npz")
    assert graphs_equal(g, res.graph)
    assert g.metadata.origin["arch"] == "mlp" and len(g.metadata.origin["config_hash"]) == 16
    assert (tmp_path / "tiny" / "fold.json").is_file()


# ---------------------------------------------------------------------------------------------
# the folding-rule registry (docs/folding.md, "Your own modules")


class _TwoLayer(nn.Module):
    """A user's module with its own forward loop over time: no built-in rule knows it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 5)
        self.lif = TorchLIF(tau=2.0, threshold=0.5, reset="hard")
        self.out = nn.Linear(5, 3)

    def forward(self, x):  # x: [T, B, 6]
        return self.out(torch.stack([self.lif(self.fc(xt)) for xt in x]))


def test_unknown_module_error_says_how_to_register_and_a_rule_folds_it():
    from toolchain.fold import register_folding_rule
    from toolchain.fold.trace import HANDLERS

    net = _TwoLayer()
    with pytest.raises(GraphError, match=r"no folding rule.*register_folding_rule\(.*_TwoLayer\)"):
        fold_model(net, (6,), T=3)

    def fold_two_layer(tracer, m, name, value):
        for child in ("fc", "lif", "out"):
            value = tracer.trace(getattr(m, child), f"{name}.{child}" if name else child, value)
        return value

    register_folding_rule(_TwoLayer)(fold_two_layer)
    try:
        res = fold_model(net, (6,), T=3)
        plain = fold_model(nn.Sequential(net.fc, net.lif, net.out), (6,), T=3)
        assert [n.kind for n in res.graph.nodes.values()] == [
            n.kind for n in plain.graph.nodes.values()
        ]
        assert np.array_equal(res.graph.nodes["fc"].weight, plain.graph.nodes["m0"].weight)
        assert res.probes == {"lif": "lif", "output": "out"}
        with pytest.raises(GraphError, match="has spikefold's own folding rule"):
            register_folding_rule(nn.Linear, fold_two_layer)
    finally:
        HANDLERS.pop(_TwoLayer)
