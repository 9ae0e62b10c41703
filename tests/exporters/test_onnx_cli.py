"""``spikefold export onnx RUN_DIR``: files, formats, errors, and --verify into verify.json."""

from __future__ import annotations

import json

import torch

from exporters.onnx import import_onnx
from exporters.onnx.examples import ei_convnet, mlp
from hwsim.io import graphs_equal, save_graph
from toolchain.cli import main


def test_export_both_formats(tmp_path, capsys):
    fixed, flt = ei_convnet("fixed", "lava"), mlp("float32")
    save_graph(fixed, tmp_path / "graph.fixed.npz")
    save_graph(flt, tmp_path / "graph.float.npz")
    assert main(["export", "onnx", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "model.fixed.onnx (ONNX step model, fixed, lava timing, T=4)" in out
    assert graphs_equal(import_onnx(tmp_path / "model.fixed.onnx"), fixed)
    assert graphs_equal(import_onnx(tmp_path / "model.float.onnx"), flt)
    (tmp_path / "model.float.onnx").unlink()
    assert main(["export", "onnx", str(tmp_path), "--format", "fixed"]) == 0
    assert not (tmp_path / "model.float.onnx").exists()


def test_export_errors(tmp_path, capsys):
    assert main(["export", "onnx", str(tmp_path)]) == 1
    assert "spikefold fold" in capsys.readouterr().err
    save_graph(mlp("fixed"), tmp_path / "g.npz")
    assert main(["export", "onnx", str(tmp_path), "--graph", str(tmp_path / "g.npz")]) == 1
    assert "--graph needs --out" in capsys.readouterr().err
    argv = ["export", "onnx", str(tmp_path), "--graph", str(tmp_path / "g.npz"), "--out",
            str(tmp_path / "g.onnx")]  # fmt: skip
    assert main(argv) == 0 and (tmp_path / "g.onnx").exists()


def test_export_verify_on_a_trained_run(tmp_path, capsys):
    """A digits MLP trained for one epoch and folded: rung 3 of its float graph passes and
    lands in verify.json next to the other rungs."""
    from toolchain.fold import fold_run

    torch.set_num_threads(1)
    argv = ["train", "--dataset", "digits", "--arch", "mlp", "--epochs", "1", "-T", "4",
            "--name", "r", "--runs", str(tmp_path), "--no-progress",
            "--set", "model.hidden=[32]"]  # fmt: skip
    assert main(argv) == 0
    run_dir = tmp_path / "r"
    fold_run(run_dir)
    (run_dir / "verify.json").write_text(json.dumps({"rungs": {"0": {"passed": True}}}))
    capsys.readouterr()
    argv = ["export", "onnx", str(run_dir), "--verify", "--n", "64", "--reference-samples", "8"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "rung 3 PASS" in out
    data = json.loads((run_dir / "verify.json").read_text())
    assert set(data["rungs"]) == {"0", "3"}
    r3 = data["rungs"]["3"]
    assert r3["settings"]["format"] == "float32" and r3["settings"]["samples"] == 64
    assert r3["metrics"]["onnxruntime.prediction_agreement"] == 1.0
    assert r3["metrics"]["reference.samples"] == 8
