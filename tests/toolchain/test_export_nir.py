"""``spikefold export nir RUN_DIR``: a trained hard-reset digits run exported to model.nir and
checked by rung 4 into verify.json; the errors for a missing graph and a soft-reset graph."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from hwsim.graph import LIF
from hwsim.io import load_graph, save_graph
from toolchain.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    argv = ["train", "--dataset", "digits", "--arch", "mlp", "--epochs", "1", "-T", "4",
            "--name", "r", "--runs", str(root), "--no-progress",
            "--set", "model.hidden=[32]", "--set", "model.neuron.reset=hard"]  # fmt: skip
    torch.set_num_threads(1)
    assert main(argv) == 0
    from toolchain.fold import fold_run

    fold_run(root / "r")
    return root / "r"


def test_export_nir_writes_model_nir_and_rung4(run_dir, capsys):
    from exporters.nir_export import read_nir
    from hwsim.io import graphs_equal

    capsys.readouterr()
    assert main(["export", "nir", str(run_dir), "--verify", "--n", "60"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {run_dir / 'model.nir'}" in out and "rung 4 PASS" in out
    graph = load_graph(run_dir / "graph.float.npz")
    assert graphs_equal(read_nir(run_dir / "model.nir"), graph)
    rung = json.loads((run_dir / "verify.json").read_text())["rungs"]["4"]
    assert rung["passed"] and rung["settings"]["samples"] == 60 and rung["n_ties"] >= 0


def test_export_nir_errors(run_dir, tmp_path, capsys):
    assert main(["export", "nir", str(tmp_path)]) == 1
    assert "spikefold fold" in capsys.readouterr().err
    g = load_graph(run_dir / "graph.float.npz")
    lif = next(k for k, v in g.nodes.items() if isinstance(v, LIF))
    soft = dataclasses.replace(g, nodes=dict(g.nodes, **{lif: LIF(0.5, 1.0, "soft")}))
    path = save_graph(soft, tmp_path / "soft.npz")
    assert main(["export", "nir", str(run_dir), "--graph", str(path), "--out",
                 str(tmp_path / "soft.nir")]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert f"node {lif!r} (LIF): soft reset" in err and not (tmp_path / "soft.nir").exists()


@pytest.mark.parametrize("target", ["lava", "onnx", "nir"])
def test_export_verify_rejects_a_non_positive_n_before_writing(target, tmp_path, capsys):
    assert main(["export", target, str(tmp_path), "--verify", "--n", "0"]) == 2  # usage
    assert "argument --n: must be an integer >= 1, got 0" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
