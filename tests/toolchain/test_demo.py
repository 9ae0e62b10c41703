"""The demo pipeline end to end (what `make demo` runs), with a test subset for the rungs."""

import json

import pytest

from toolchain.demo import run_demo


@pytest.mark.slow
def test_demo_pipeline_end_to_end(tmp_path):
    summary = run_demo(tmp_path, progress=False, n_verify=40)
    on_disk = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert on_disk == summary
    assert summary["test_accuracy"] >= 0.90
    stages = summary["stages"]
    for rung in ("rung0", "rung1"):
        assert stages["verify"][rung]["passed"], stages["verify"][rung]["summary"]
    assert stages["onnx"]["rung3"]["passed"]
    assert stages["lava"]["rung2"]["passed"], stages["lava"]["rung2"]["summary"]
    assert "rung4" in stages["nir"] or "not expressible in NIR" in stages["nir"]["skipped"]
    verify = json.loads((tmp_path / "demo" / "verify.json").read_text())
    assert {"0", "1", "2", "3"} <= set(verify["rungs"])
    assert (tmp_path / "demo" / "report.html").is_file()
    # the report opens with the story: NIR refused with its reason, Lava priced on lava timing
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    nir = next(r for r in report["stages"] if r["stage"] == "nir")
    if "skipped" in stages["nir"]:
        assert nir["status"] == "refused" and nir["reason"] == stages["nir"]["skipped"]
        assert verify["passed"], "a refusal is not a failure"
    assert report["meta"]["timing"] == "lava" and set(report["timings"]) == {"lava", "ideal"}
    assert stages["report"]["spikes_per_sample"] > 0
    for name in ("graph.float.npz", "graph.fixed.npz", "model.fixed.onnx", "checkpoint.pt"):
        assert (tmp_path / "demo" / name).is_file()
