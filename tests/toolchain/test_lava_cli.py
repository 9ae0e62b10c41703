"""``spikefold export lava`` and ``spikefold run-lava`` on a briefly trained digits MLP."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import exporters  # noqa: F401 - installs the Python 3.11 shim; must precede every lava import

# isort: split
from exporters.lava import load_lava
from toolchain.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    torch.set_num_threads(1)
    argv = ["train", "--dataset", "digits", "--arch", "mlp", "--epochs", "1", "-T", "4",
            "--name", "r", "--runs", str(root), "--no-progress",
            "--set", "model.hidden=[32]"]  # fmt: skip
    assert main(argv) == 0
    assert main(["fold", str(root / "r")]) == 0
    return root / "r"


def test_export_needs_the_quantised_graph(run_dir, tmp_path, capsys):
    # a copy without what the other test may have written: this one runs in any order
    run_dir = shutil.copytree(
        run_dir, tmp_path / "r", ignore=shutil.ignore_patterns("graph.fixed.npz", "*.lava.json")
    )
    assert main(["export", "lava", str(run_dir)]) == 1
    assert "spikefold quantize" in capsys.readouterr().err
    assert main(["run-lava", str(run_dir), "--n", "2"]) == 1
    assert "spikefold export lava" in capsys.readouterr().err


def test_export_verify_and_run(run_dir, capsys):
    assert main(["quantize", str(run_dir)]) == 0
    (run_dir / "verify.json").write_text(json.dumps({"rungs": {"1": {"passed": True}}}))
    capsys.readouterr()
    assert main(["export", "lava", str(run_dir), "--verify", "--n", "8"]) == 0
    out = capsys.readouterr().out
    assert "model.lava.json (5 Lava processes: 2 Lava's own, 3 spikefold; fixed_pt" in out
    assert "rung 2 PASS (fixed graph" in out and "rung 2 PASS (float graph" in out
    spec = load_lava(run_dir / "model.lava.json")
    assert spec.processes["m1"].kind == "lava.Dense" and spec.T == 4 and spec.steps == 6
    data = json.loads((run_dir / "verify.json").read_text())
    assert set(data["rungs"]) == {"1", "2"} and data["passed"]
    r2 = data["rungs"]["2"]
    assert r2["metrics"]["samples"] == 8 and r2["first_divergence"] is None
    assert r2["float"]["passed"] and r2["metrics"]["readout_mismatches"] == 0
    assert main(["export", "lava", str(run_dir), "--float"]) == 0
    assert load_lava(run_dir / "model.float.lava.json").select_tag == "floating_pt"
    capsys.readouterr()
    assert main(["run-lava", str(run_dir), "--n", "8", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # the same 8 samples as the rung-2 run above: Lava's accuracy is hwsim's (bit-exact)
    assert summary["samples"] == 8
    assert summary["accuracy"] == r2["metrics"]["accuracy_hwsim"] == r2["metrics"]["accuracy_lava"]
    assert summary["spikes_per_sample"]["m2"] > 0


def test_run_lava_refuses_a_stale_export(run_dir, tmp_path, capsys):
    run_dir = shutil.copytree(run_dir, tmp_path / "stale")
    assert main(["quantize", str(run_dir)]) == 0
    assert main(["export", "lava", str(run_dir)]) == 0
    assert main(["quantize", str(run_dir), "--weight-bits", "6"]) == 0  # re-quantised later
    capsys.readouterr()
    assert main(["run-lava", str(run_dir), "--n", "2"]) == 1
    err = capsys.readouterr().err
    assert "model.lava.json is stale (made from an older graph.fixed.npz)" in err
    assert f"`spikefold export lava {run_dir}`" in err
