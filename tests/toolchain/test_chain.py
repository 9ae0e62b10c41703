"""``spikefold run``: the whole chain on a tiny config, resumed, refused targets, rebuilds."""

import json

import pytest
import yaml

from toolchain.cli import main

TINY = {
    "name": "tiny",
    "data": {"dataset": "digits", "limit": 200},
    "model": {"arch": "mlp", "hidden": [12], "neuron": {"reset": "soft"}},
    "train": {"epochs": 1, "batch_size": 50, "T": 2, "seed": 0},
}
FAST = ["--n", "40", "--lava-n", "2"]
ALL = ["train", "fold", "quantize", "verify", "lava", "onnx", "nir", "report"]


def _config(tmp_path, **changes) -> str:
    cfg = json.loads(json.dumps(TINY))
    for section, values in changes.items():
        cfg[section].update(values)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One full chain (and its output) shared by the tests below; each copies it to change it."""
    root = tmp_path_factory.mktemp("chain")
    cfg = _config(root)
    runs = root / "runs"
    code, out = _run(["run", cfg, "--runs", str(runs), *FAST, "--json"])
    return root, cfg, runs, code, out


def _run(argv):
    import contextlib
    import io

    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, (buf.getvalue(), err.getvalue())


def test_every_stage_runs_nir_is_refused_with_its_reason_and_the_exit_is_0(first_run):
    root, _cfg, runs, code, (out, err) = first_run
    assert code == 0, err
    summary = json.loads(out)  # --json: stdout is the summary, the stage lines went to stderr
    stages = summary["stages"]
    assert list(stages) == ALL
    assert [stages[s]["status"] for s in ALL] == ["ran"] * 6 + ["refused", "ran"]
    assert (
        "soft reset" in stages["nir"]["message"]
        and "not expressible in NIR" in (stages["nir"]["message"])
    )
    for stage, rung in [("verify", "rung0"), ("verify", "rung1"), ("lava", "rung2"),
                        ("onnx", "rung3")]:  # fmt: skip
        assert stages[stage][rung]["passed"], stages[stage][rung]["summary"]
    assert "nir      refused" in err and "report   ran" in err
    run_dir = runs / "tiny"
    assert (run_dir / "report.html").is_file() and (run_dir / "model.lava.json").is_file()
    assert not (run_dir / "model.nir").exists()
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    verify = json.loads((run_dir / "verify.json").read_text())
    assert set(verify["rungs"]) == {"0", "1", "2", "3", "4"} and verify["passed"]
    assert verify["rungs"]["4"]["status"] == "refused"  # the report shows it with its reason
    assert verify["rungs"]["2"]["metrics"]["samples"] == 2
    assert verify["rungs"]["3"]["metrics"]["onnxruntime.samples"] == 40


def test_a_second_run_skips_every_stage_and_says_so(first_run, tmp_path):
    import shutil

    root, cfg, runs, _code, _out = first_run
    shutil.copytree(runs, tmp_path / "runs")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "tiny").iterdir()}
    code, (out, err) = _run(["run", cfg, "--runs", str(tmp_path / "runs"), *FAST])
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.split(" ")[0] in ALL]
    assert len(lines) == len(ALL)
    for stage, line in zip(ALL, lines):
        assert line.startswith(f"{stage:<8} skipped: inputs unchanged"), line
    assert "refused: node" in lines[ALL.index("nir")]  # the reason is remembered
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "tiny").iterdir()}
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed <= {"summary.json", "provenance.json", ".lock"}, changed
    assert "every rung passed" in out


def test_a_changed_option_rebuilds_that_stage_and_everything_after_it(first_run, tmp_path):
    import shutil

    root, cfg, runs, _code, _out = first_run
    shutil.copytree(runs, tmp_path / "runs")
    argv = ["run", cfg, "--runs", str(tmp_path / "runs"), *FAST, "--weight-bits", "6",
            "--targets", "onnx", "--json"]  # fmt: skip
    code, (out, err) = _run(argv)
    assert code == 0, err
    stages = json.loads(out)["stages"]
    assert list(stages) == ["train", "fold", "quantize", "verify", "onnx", "report"]
    assert [s["status"] for s in stages.values()] == ["skipped", "skipped"] + ["ran"] * 4
    run_dir = tmp_path / "runs" / "tiny"
    rep = json.loads((run_dir / "quantize_report.json").read_text())
    assert rep["settings"]["weight_bits"] == 6
    # the rebuilt stage says what changed, never silently
    assert "quantize ... (graph.fixed.npz was made with weight_bits=8, now 6)" in err
    # the Lava export and its rung were made from the 8-bit graph: removed, and said so
    assert "removed model.lava.json: stale (made from an older graph.fixed.npz)" in err
    assert not (run_dir / "model.lava.json").exists()
    assert set(json.loads((run_dir / "verify.json").read_text())["rungs"]) == {"0", "1", "3", "4"}


def test_until_stops_after_the_stage_and_a_changed_config_needs_overwrite(first_run, tmp_path):
    root, cfg, runs, _code, _out = first_run
    other = _config(tmp_path, train={"epochs": 1, "T": 3})
    code, (out, _err) = _run(["run", other, "--runs", str(runs), "--until", "fold", *FAST])
    assert code == 1
    assert "train.T: 2 -> 3" in _err and "--overwrite" in _err
    fresh = tmp_path / "fresh"
    code, (out, err) = _run(["run", other, "--runs", str(fresh), "--until", "fold", *FAST,
                             "--json"])  # fmt: skip
    assert code == 0, err
    assert list(json.loads(out)["stages"]) == ["train", "fold"]
    assert not (fresh / "tiny" / "graph.fixed.npz").exists()


def test_run_refuses_bad_flags_naming_them(tmp_path, capsys):
    assert main(["run", str(tmp_path), "--targets", "lava,tpu"]) == 2
    assert "argument --targets" in capsys.readouterr().err
    assert main(["run", str(tmp_path)]) == 1
    assert "not a run directory (no config.yaml)" in capsys.readouterr().err
