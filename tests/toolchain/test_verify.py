"""toolchain.verify: record_torch, rungs 0/1 on a hand-built torch model and graph, and the
``spikefold verify`` / ``simulate`` commands on a trained run directory."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from hwsim.errors import VerificationError
from hwsim.graph import LIF, Dense, Flatten, GraphMetadata, HardwareGraph, Input, Readout
from models.base import TimeDistributed
from models.neurons import LIF as TorchLIF
from toolchain.fold import FoldResult
from toolchain.verify import encode_sequence, record_torch, run_rung0, run_rung1

T = 4


def _model(seed=0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        TimeDistributed(nn.Flatten()),
        TimeDistributed(nn.Linear(16, 12)),
        TorchLIF(tau=2.0, threshold=[1.0, 0.9, 1.1, 1.0]),
        TimeDistributed(nn.Linear(12, 8)),
        TorchLIF(tau=4.0, threshold=0.7, reset="hard"),
        TimeDistributed(nn.Linear(8, 3)),
    )
    with torch.no_grad():
        net[1].module.weight.mul_(4.0)
        net[3].module.weight.mul_(3.0)
    return net.eval()


def _fold(net: nn.Sequential, encoding="direct") -> FoldResult:
    """The equivalent float graph, built by hand (independent of toolchain.fold)."""
    p = lambda m: m.detach().numpy()  # noqa: E731
    l1, l2, l3 = net[1].module, net[3].module, net[5].module
    nodes = {
        "x": Input((1, 4, 4), encoding),
        "flat": Flatten(),
        "fc1": Dense(p(l1.weight), p(l1.bias)),
        "lif1": LIF(0.5, np.array([1.0, 0.9, 1.1, 1.0], np.float32)),
        "fc2": Dense(p(l2.weight), p(l2.bias)),
        "lif2": LIF(0.75, 0.7, "hard"),
        "fc3": Dense(p(l3.weight), p(l3.bias)),
        "ro": Readout(),
    }
    names = list(nodes)
    g = HardwareGraph(nodes, list(zip(names[:-1], names[1:])), GraphMetadata(T=T))
    return FoldResult(g, {"lif1": "2", "lif2": "4", "ro": "5.module"})


def test_record_torch_hooks_probes():
    net = _model().train()
    x = torch.rand(5, 1, 4, 4)
    seq = x.expand(T, *x.shape)
    rec = record_torch(net, seq, {"lif1": "2", "ro": "5.module", "ro_td": "5"})
    assert net.training  # restored
    assert rec["lif1"].shape == (T, 5, 12) and rec["ro"].shape == (T, 5, 3)
    with torch.no_grad():
        out = net.eval()(seq)
    np.testing.assert_array_equal(rec["ro"], out.numpy())  # the merged call was split back
    np.testing.assert_array_equal(rec["ro_td"], out.numpy())
    assert set(np.unique(rec["lif1"])) <= {0.0, 1.0}
    with pytest.raises(VerificationError, match="not in the model"):
        record_torch(net, seq, {"a": "nope"})
    assert not any(m._forward_hooks for m in net.modules())  # hooks removed


def test_run_rung0_passes_on_the_equivalent_graph_and_catches_a_bug():
    net = _model()
    fold = _fold(net)
    x = torch.rand(64, 1, 4, 4)
    res = run_rung0(net, fold, x, batch_size=25)
    assert res.passed, res.summary()
    assert res.n_errors == 0 and res.metrics["prediction_agreement"] > 0.95
    assert res.layers["lif1"].events_reference > 0 and res.layers["lif2"].events_reference > 0
    g = fold.graph
    w = g.nodes["fc2"].weight.copy()
    w[2] += 0.5
    nodes = {**g.nodes, "fc2": dataclasses.replace(g.nodes["fc2"], weight=w)}
    bad = FoldResult(dataclasses.replace(g, nodes=nodes), fold.probes)
    res = run_rung0(net, bad, x)
    assert not res.passed and res.first_divergence.layer == "lif2"
    assert res.layers["lif1"].mismatches == 0  # teacher forcing keeps the error local


def test_run_rung0_rate_encoding_shares_the_draws():
    net = _model(1)
    fold = _fold(net, encoding="rate")
    x = torch.rand(32, 1, 4, 4)
    res = run_rung0(net, fold, x, generator=torch.Generator().manual_seed(0))
    assert res.passed, res.summary()
    seq = encode_sequence(x, fold.graph, torch.Generator().manual_seed(0))
    assert seq.shape == (T, 32, 1, 4, 4) and set(seq.unique().tolist()) <= {0.0, 1.0}


def test_run_rung1_accepts_graphs():
    net = _model()
    g = _fold(net).graph
    res = run_rung1(
        g, _fixed_twin(g), np.random.default_rng(0).random((20, 1, 4, 4)), np.zeros(20, int)
    )
    assert set(res.metrics) >= {"accuracy_float", "accuracy_fixed", "readout_correlation"}


def _fixed_twin(g: HardwareGraph) -> HardwareGraph:
    """A crude quantisation by hand (not toolchain.quantize): enough to exercise rung 1."""
    from hwsim import arith

    nodes = dict(g.nodes)
    for k in ("fc1", "fc2", "fc3"):
        q = arith.quantize_weights(nodes[k].weight * 64, 8, weight_exp=0)
        nodes[k] = Dense(q.mantissa, np.rint(nodes[k].bias * 64).astype(np.int64))
    nodes["x"] = Input((1, 4, 4), "direct", scale=1 / 127)
    nodes["lif1"] = LIF(2048, np.array([64, 58, 70, 64]))
    nodes["lif2"] = LIF(3072, 45, "hard")
    meta = GraphMetadata(T=T, format="fixed", widths=arith.FixedWidths())
    return HardwareGraph(nodes, g.edges, meta)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from toolchain.cli import main

    root = tmp_path_factory.mktemp("runs")
    argv = ["train", "--dataset", "digits", "--arch", "mlp", "--epochs", "1", "-T", "4",
            "--name", "r", "--runs", str(root), "--no-progress",
            "--set", "model.hidden=[32]"]  # fmt: skip
    torch.set_num_threads(1)
    assert main(argv) == 0
    from toolchain.fold import fold_run

    fold_run(root / "r")
    return root / "r"


def test_cli_verify_and_simulate(run_dir, capsys):
    from toolchain.cli import main

    capsys.readouterr()
    assert main(["verify", str(run_dir), "--rungs", "0", "--n", "60"]) == 0
    out = capsys.readouterr().out
    assert "rung 0 PASS" in out
    data = json.loads((run_dir / "verify.json").read_text())
    assert data["rungs"]["0"]["passed"] and data["rungs"]["0"]["settings"]["samples"] == 60
    assert main(["verify", str(run_dir), "--rungs", "1"]) == 1  # graph.fixed.npz is missing
    assert "spikefold quantize" in capsys.readouterr().err
    graph = str(run_dir / "graph.float.npz")
    assert main(["simulate", graph, "--n", "50", "--json", "--no-progress"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["samples"] == 50 and 0.0 <= sim["accuracy"] <= 1.0 and sim["steps"] == 4
    assert main(["simulate", graph, "--n", "50", "--timing", "lava", "--no-progress"]) == 0
    assert "float32/lava" in capsys.readouterr().out


ARCHS = {
    "vgg_osr_ots": {"arch": "vgg", "layers": [8, "M", 16, "M"], "hidden": [32],
                    "norm": "osr_ots", "T": 4, "neuron": {"online": True}},
    "ei_mlp": {"arch": "ei_mlp", "hidden": [48, 24]},
    "ei_vgg8": {"arch": "ei_vgg8", "width": 0.125},
    "sew_resnet18": {"arch": "sew_resnet18", "width": 0.125, "norm": "bn"},
}  # fmt: skip


@pytest.mark.parametrize("name", list(ARCHS))
def test_rung0_on_folded_architectures(name):
    """toolchain.fold's graphs of briefly trained nets pass rung 0 (no errors)."""
    from models import build_model
    from toolchain.data import load_dataset
    from toolchain.fold import fold_model
    from toolchain.train import TrainConfig, fit

    torch.set_num_threads(1)
    data = load_dataset("digits", limit=256)
    model = build_model({**ARCHS[name], "in_shape": [1, 8, 8], "num_classes": 10})
    online = "online" in str(ARCHS[name])
    cfg = TrainConfig(epochs=1, T=4, progress=False, device="cpu",
                      mode="online" if online else "bptt")  # fmt: skip
    fit(model, data, cfg)
    model.eval()
    fold = fold_model(model, data.in_shape, 4, "direct", name)
    res = run_rung0(model, fold, data.x_test[:64])
    assert res.passed, res.summary()
    assert sum(la.events_reference for la in res.layers.values()) > 0


def test_cli_verify_rung1_after_quantize(run_dir, tmp_path, capsys):
    import shutil

    from toolchain import quantize
    from toolchain.cli import main

    run_dir = shutil.copytree(run_dir, tmp_path / "r")  # the shared run stays unquantised
    quantize.quantize_run(run_dir)
    capsys.readouterr()
    code = main(["verify", str(run_dir), "--n", "80"])
    out = capsys.readouterr().out
    assert "rung 0 PASS" in out and "rung 1 " in out
    data = json.loads((run_dir / "verify.json").read_text())
    r1 = data["rungs"]["1"]
    assert code == (0 if r1["passed"] else 1)
    assert r1["metrics"]["readout_correlation"] > 0.9
    assert r1["metrics"]["prediction_agreement"] > 0.8
