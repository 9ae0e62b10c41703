"""``spikefold export netx`` on briefly trained nets (a plain MLP and a conv net): quantised for
NetX, exported, loaded by lava-dl's NetX, rung 2N bit-exact; and the refusal lists of the
demo's E-I net and of the OSR+OTS net, each reason naming its layer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import exporters  # noqa: F401 - the import shim; must precede every lava import

# isort: split
from exporters.netx import netx_violations, read_netx, write_netx
from hwsim.errors import ExportError
from hwsim.io import load_graph, save_graph
from hwsim.sim import simulate
from models import build_model
from toolchain.check import check_graph
from toolchain.cli import main
from toolchain.fold import fold_model


def _train(root, name, argv):
    torch.set_num_threads(1)
    base = ["train", "--dataset", "digits", "--epochs", "1", "--name", name,
            "--runs", str(root), "--no-progress", "--set", "model.neuron.reset=hard"]  # fmt: skip
    assert main(base + argv) == 0
    # no threshold schedules here: the exact rewrite has nothing to do, and says nothing
    assert main(["fold", str(root / name), "--constant-thresholds"]) == 0
    return root / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("netx_runs")
    mlp = _train(root, "mlp", ["--arch", "mlp", "-T", "4", "--set", "model.hidden=[16]"])
    cnn = _train(root, "cnn", ["--arch", "vgg", "-T", "3", "--set", "model.layers=[4,4]",
                               "--set", "model.hidden=[]", "--set", "train.encoding=poisson"])
    return {"mlp": (mlp, ["--input-bits", "3"]), "cnn": (cnn, [])}


@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_trained_net_exports_and_rung_2n_is_bit_exact(runs, net, capsys):
    run_dir, qflags = runs[net]
    assert main(["quantize", str(run_dir), "--target", "loihi", *qflags]) == 0
    assert main(["check", str(run_dir), "--target", "loihi"]) == 0
    capsys.readouterr()
    assert main(["export", "netx", str(run_dir), "--verify", "--n", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    r = data["rung2N"]
    assert r["passed"] and r["first_divergence"] is None
    assert r["metrics"]["samples"] == 3 and r["metrics"]["readout_mismatches"] == 0
    assert all(la["mismatches"] == 0 for la in r["layers"].values())
    assert sum(la["events_ours"] for la in r["layers"].values()) > 0
    entry = json.loads((run_dir / "verify.json").read_text())["rungs"]["2N"]
    assert entry["passed"] and entry["settings"]["select_tag"] == "fixed_pt"
    # the file round-trips through spikefold's reader: same predictions as the run's graph
    g = load_graph(run_dir / "graph.fixed.npz")
    back = read_netx(run_dir / "model.netx.h5")
    x = np.random.default_rng(0).random((4, 1, 8, 8))
    a = simulate(dataclass_lava(g), x, gate=False, generator=np.random.default_rng(1))
    b = simulate(back, x, gate=False, generator=np.random.default_rng(1))
    assert np.array_equal(a.readout, b.readout)


def dataclass_lava(g):
    import dataclasses

    return dataclasses.replace(g, metadata=dataclasses.replace(g.metadata, timing="lava"))


def _config_graph(config: str, in_shape, T: int):
    """The float graph of a paper config's model (untrained: one training-mode batch sets the
    E-I initialisation and the OTS running thresholds)."""
    raw = yaml.safe_load(open(f"configs/{config}"))
    model = {**raw["model"], "in_shape": list(in_shape), "num_classes": 10}
    torch.manual_seed(0)
    net = build_model(model)
    with torch.no_grad():
        net(torch.rand(T, 4, *in_shape))
    return fold_model(net.eval(), tuple(in_shape), T).graph


def _by_layer(found):
    out: dict[str, set[str]] = {}
    for v in found:
        out.setdefault(v.layer, set()).add(v.rule)
    return out


def test_demo_ei_net_refusal_list_names_every_layer(tmp_path):
    g = _config_graph("demo.yaml", (1, 8, 8), 4)
    found = check_graph(g, "loihi")
    rules = _by_layer(found)
    eis = [n for n, v in g.nodes.items() if v.kind == "EICircuit"]
    lifs = [n for n, v in g.nodes.items() if v.kind == "LIF"]
    assert eis and lifs
    for n in eis:  # the hidden layer divides; the readout layer subtracts: both send payloads
        divisive = g.nodes[n].variant == "divisive"
        want = {"binary_spikes"} | ({"no_ei_division"} if divisive else set())
        assert want <= rules[n]
    assert any(g.nodes[n].variant == "divisive" for n in eis)
    for n in lifs:
        assert "hard_reset" in rules[n]  # the demo trains with soft reset
    assert all(v.layer in g.nodes or v.layer == "-" for v in found)
    assert all(v.target == "loihi" for v in found)
    with pytest.raises(ExportError) as err:
        write_netx(g, tmp_path / "demo.h5")
    msg = str(err.value)
    for n in eis + lifs:
        assert f"layer {n!r}" in msg


def test_osr_ots_net_refusal_list_names_every_layer():
    g = _config_graph("osr_ots_mnist5k.yaml", (1, 28, 28), 2)
    found = netx_violations(g)
    rules = _by_layer(found)
    lifs = [n for n, v in g.nodes.items() if v.kind == "LIF"]
    pools = [n for n, v in g.nodes.items() if v.kind in ("AvgPool2d", "SumPool2d")]
    assert len(pools) == 2 and lifs
    for n in lifs:  # OTS: a threshold per step; the config's neuron resets softly
        assert {"constant_threshold", "hard_reset"} <= rules[n], (n, rules.get(n))
    for n in pools:
        assert "netx_pool" in rules[n]
    assert "fixed_graph" in rules["-"]
    by_rule = {v.rule: v for v in found}
    assert "NotImplementedError" in by_rule["netx_pool"].what


def test_cli_refusal_is_recorded_for_rung_2n(tmp_path, capsys):
    run_dir = tmp_path / "ei"
    run_dir.mkdir()
    save_graph(_config_graph("demo.yaml", (1, 8, 8), 4), run_dir / "graph.fixed.npz")
    assert main(["export", "netx", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert "NetX cannot express this graph" in err
    entry = json.loads((run_dir / "verify.json").read_text())["rungs"]["2N"]
    assert entry["status"] == "refused" and "no_ei_division" in entry["reason"]
    assert not (run_dir / "model.netx.h5").exists()
