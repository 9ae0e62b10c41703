"""What `make demo` runs (`spikefold run configs/demo.yaml`), end to end, with a test subset
for the rungs."""

import json
from pathlib import Path

import pytest

from toolchain.chain import ChainOptions, run_chain

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


@pytest.mark.slow
def test_demo_pipeline_end_to_end(tmp_path):
    res = run_chain(DEMO, tmp_path, ChainOptions(n=40), say=lambda line: None)
    run_dir = tmp_path / "demo"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary == res.summary and res.ok and summary["passed"]
    assert summary["test_accuracy"] >= 0.90
    stages = summary["stages"]
    assert [s["status"] for s in stages.values()] == ["ran"] * 6 + ["refused", "ran"]
    for stage, rung in [("verify", "rung0"), ("verify", "rung1"), ("lava", "rung2"),
                        ("onnx", "rung3")]:  # fmt: skip
        assert stages[stage][rung]["passed"], stages[stage][rung]["summary"]
    assert "E-I circuit is not expressible in NIR" in stages["nir"]["message"]
    verify = json.loads((run_dir / "verify.json").read_text())
    assert set(verify["rungs"]) == {"0", "1", "2", "3", "4"}
    assert verify["passed"], "a refusal is not a failure"
    assert verify["rungs"]["2"]["metrics"]["samples"] == 32
    # the report opens with the story: NIR refused with its reason, Lava priced on lava timing
    report = json.loads((run_dir / "report.json").read_text())
    nir = next(r for r in report["stages"] if r["stage"] == "nir")
    assert nir["status"] == "refused" and nir["reason"] == stages["nir"]["message"]
    assert report["meta"]["timing"] == "lava" and set(report["timings"]) == {"lava", "ideal"}
    assert (run_dir / "report.html").is_file() and stages["report"]["spikes_per_sample"] > 0
    for name in ("graph.float.npz", "graph.fixed.npz", "model.fixed.onnx", "checkpoint.pt"):
        assert (run_dir / name).is_file()
