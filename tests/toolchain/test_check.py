"""``spikefold check``: every design-rule violation at once, each with a fix that exists (and,
applied, removes it)."""

import json

import numpy as np
import pytest
import torch

from hwsim.errors import DesignRuleError
from hwsim.io import save_graph
from models import build_model
from toolchain.check import PENDING, check_graph
from toolchain.cli import main
from toolchain.fold import TargetLimits, check_design_rules, fold_model
from toolchain.quantize import quantize

T = 3


def _graph(arch: dict):
    torch.manual_seed(0)
    net = build_model({**arch, "in_shape": [1, 8, 8], "num_classes": 5})
    with torch.no_grad():
        net(torch.rand(T, 4, 1, 8, 8))  # E-I Init needs a first batch
    return fold_model(net.eval(), (1, 8, 8), T).graph


VGG = {"arch": "vgg", "layers": [6, "M", 8, "M"], "hidden": [12], "T": T}


def _rules(found, layer=None):
    return sorted({v.rule for v in found if layer is None or v.layer == layer})


def test_nir_lists_every_violation_at_once_and_each_named_fix_removes_its_own():
    soft_ots = _graph({**VGG, "norm": "osr_ots", "neuron": {"reset": "soft"}})
    lifs = [n for n, v in soft_ots.nodes.items() if v.kind == "LIF"]
    found = check_graph(soft_ots, "nir")
    for lif in lifs:  # both blockers of one layer, for every layer, in one list
        assert _rules(found, lif) == ["constant_threshold", "hard_reset"]
    fixes = {v.rule: v.fix for v in found}
    assert "--set model.neuron.reset=hard" in fixes["hard_reset"]
    assert "model.norm: osr" in fixes["constant_threshold"]
    # the fixes are real: retrained as they say, the violations are gone
    hard_ots = _graph({**VGG, "norm": "osr_ots", "neuron": {"reset": "hard"}})
    assert _rules(check_graph(hard_ots, "nir")) == ["constant_threshold"]
    hard_osr = _graph({**VGG, "norm": "osr", "neuron": {"reset": "hard"}})
    assert check_graph(hard_osr, "nir") == []


def test_loihi_lists_what_netx_refuses():
    ei = _graph({"arch": "ei_mlp", "hidden": [16], "neuron": {"reset": "soft"}})
    found = check_graph(ei, "loihi")
    assert {"no_ei_division", "binary_spikes", "hard_reset"} <= set(_rules(found))
    assert all(v.target == "loihi" and v.fix for v in found)
    assert "spikefold export netx" in PENDING["loihi"]
    assert check_graph(ei, "onnx") == []  # ONNX runs E-I circuits


def test_design_rules_raise_one_error_listing_every_violation():
    g = _graph({**VGG, "norm": "osr_ots"})
    found = check_graph(g, "lava")  # two AvgPool2d layers, both listed
    pools = [v.layer for v in found if v.rule == "node_kinds"]
    assert len(pools) == 2 and all("quantise first" in v.fix for v in found)
    small = TargetLimits(frozenset(n.kind for n in g.nodes.values()), 20, 40)
    with pytest.raises(DesignRuleError) as err:
        check_design_rules(g, "hwsim", small)
    rules = [v.rule for v in err.value.violations]
    assert rules.count("fan_in") >= 2 and "fan_out" in rules
    assert str(err.value).count("\n  design rule ") == len(err.value.violations)
    # the named fix for AvgPool2d on Lava: quantising turns it into a SumPool2d
    x = np.random.default_rng(0).random((16, 1, 8, 8))
    fixed = quantize(g, x, 8, allow_saturation=True).graph
    assert "node_kinds" not in _rules(check_graph(fixed, "lava"))


def test_check_cli_lists_violations_with_fixes_and_exits_1(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    g = _graph({**VGG, "norm": "osr_ots", "neuron": {"reset": "soft"}})
    save_graph(g, run_dir / "graph.float.npz")
    assert main(["check", str(run_dir), "--target", "nir"]) == 1
    out = capsys.readouterr().out
    assert "design-rule violation(s) for nir" in out and out.count("fix: ") >= 4
    assert "[hard_reset]" in out and "[constant_threshold]" in out
    assert main(["check", str(run_dir), "--target", "loihi", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and "export netx" in data["note"]
    assert {v["rule"] for v in data["violations"]} >= {"hard_reset", "constant_threshold"}
    assert main(["check", str(run_dir), "--target", "onnx"]) == 0
    assert "onnx takes the network as it is" in capsys.readouterr().out


def test_a_fixed_conv_graph_names_the_quantize_flag_that_exists():
    import argparse

    from toolchain.commands.quantize import add_arguments

    g = _graph({**VGG, "norm": "osr"})
    x = np.random.default_rng(0).random((16, 1, 8, 8))
    fixed = quantize(g, x, 8, allow_saturation=True).graph  # block1.conv gets weight_exp -3
    exps = [v for v in check_graph(fixed, "lava") if v.rule == "conv_weight_exp"]
    assert [v.layer for v in exps] == ["block1.conv"] and "--target lava" in exps[0].fix
    p = argparse.ArgumentParser()
    add_arguments(p)
    assert p.parse_args(["run", "--target", "lava"]).target == "lava"  # the flag exists
    assert check_graph(quantize(g, x, 8, allow_saturation=True, target="lava").graph, "lava") == []
