"""Run directories own their history (issue 14): every artifact records what it was made
from, stale inputs are refused with the command that rebuilds them, a finished run is never
overwritten silently, a refused resume changes nothing, concurrent writers are refused."""

import json
import shutil
import subprocess
import sys

import pytest

from hwsim.errors import ConfigError, RunLockedError, StaleArtifactError
from toolchain import provenance
from toolchain.cli import main

TRAIN = "--dataset digits --set data.limit=200 --arch mlp --set model.hidden=[12] --epochs 1 "
TRAIN = (TRAIN + "--batch-size 50 -T 2").split()


def _train(runs, *extra) -> int:
    return main(["train", "--name", "r", "--runs", str(runs), *TRAIN, *extra])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A trained, folded, quantised and ONNX-exported run (copied by each test)."""
    runs = tmp_path_factory.mktemp("prov") / "runs"
    assert _train(runs) == 0
    run = str(runs / "r")
    for argv in (["fold", run], ["quantize", run], ["export", "onnx", run]):
        assert main(argv) == 0
    return runs


@pytest.fixture
def runs(built, tmp_path):
    return shutil.copytree(built, tmp_path / "runs")


def test_every_artifact_records_its_inputs_and_options(runs):
    run_dir = runs / "r"
    records = provenance.read_manifest(run_dir)
    assert set(records) >= {"config.yaml", "checkpoint.pt", "graph.float.npz", "fold.json",
                            "graph.fixed.npz", "model.fixed.onnx", "model.float.onnx"}  # fmt: skip
    fixed = records["graph.fixed.npz"]
    assert fixed.stage == "quantize" and fixed.options["weight_bits"] == 8
    assert fixed.inputs["graph.float.npz"] == provenance.digest(run_dir, "graph.float.npz")
    assert fixed.sha256 == provenance.digest(run_dir, "graph.fixed.npz")
    assert records["graph.float.npz"].inputs.keys() == {"config.yaml", "checkpoint.pt"}
    assert records["checkpoint.pt"].options["train"]["epochs"] == 1
    assert all(provenance.stale(run_dir, k) is None for k in records)


def test_train_into_a_finished_run_needs_resume_or_overwrite(runs, capsys):
    run_dir = runs / "r"
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    capsys.readouterr()
    assert _train(runs) == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    # --overwrite clears the old run's derived artifacts: no stale graph or ONNX beside it
    assert _train(runs, "--overwrite", "--seed", "1") == 0
    left = {p.name for p in run_dir.iterdir()}
    assert left == {"config.yaml", "checkpoint.pt", "metrics.json", "provenance.json", ".lock"}


def test_a_refused_resume_changes_nothing(runs, capsys):
    run_dir = runs / "r"
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    capsys.readouterr()
    assert _train(runs, "--resume", "--set", "model.hidden=[16]") == 1
    err = capsys.readouterr().err
    assert "cannot resume" in err and "model.hidden: [12] -> [16]" in err
    assert "Traceback" not in err
    assert _train(runs, "--resume", "-T", "4") == 1
    assert "train.T: 2 -> 4" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


def test_after_a_resume_every_stage_refuses_the_stale_artifacts_naming_the_rebuild(runs, capsys):
    run = str(runs / "r")
    onnx_before = (runs / "r" / "model.fixed.onnx").read_bytes()
    # continue the run with its own config for one more epoch: the checkpoint changes
    assert main(["train", "--name", "r", "--runs", str(runs), "--resume", "--epochs", "2"]) == 0
    capsys.readouterr()
    for argv in (["quantize", run], ["verify", run], ["export", "onnx", run],
                 ["export", "lava", run], ["report", run], ["check", run, "--target", "lava"],
                 ["simulate", f"{run}/graph.fixed.npz"]):  # fmt: skip
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "graph.float.npz is stale (made from an older config.yaml and checkpoint.pt)" in (
            err
        ), argv
        assert f"`spikefold fold {run}`" in err, argv
    # nothing was written from the stale graphs
    assert (runs / "r" / "model.fixed.onnx").read_bytes() == onnx_before
    assert not (runs / "r" / "report.json").exists()
    assert main(["fold", run]) == 0
    capsys.readouterr()
    assert main(["export", "onnx", run]) == 1  # the fixed graph is now the stale one
    err = capsys.readouterr().err
    assert "graph.fixed.npz is stale (made from an older graph.float.npz" in err
    assert f"`spikefold quantize {run}`" in err
    assert main(["quantize", run]) == 0 and main(["export", "onnx", run]) == 0


def test_report_refuses_a_rung_made_from_an_older_graph(runs, capsys):
    run = str(runs / "r")
    assert main(["export", "onnx", run, "--verify", "--n", "20", "--reference-samples", "0"]) == 0
    assert main(["quantize", run, "--weight-bits", "6"]) == 0
    capsys.readouterr()
    assert main(["report", run, "--n", "20"]) == 1
    err = capsys.readouterr().err
    assert "model.fixed.onnx is stale (made from an older graph.fixed.npz)" in err
    assert main(["export", "onnx", run]) == 0  # the models again, but not the rung
    capsys.readouterr()
    assert main(["report", run, "--n", "20"]) == 1
    err = capsys.readouterr().err
    assert "verify.json rung 3 is stale (made from an older graph.fixed.npz)" in err
    assert "spikefold export onnx" in err and "--verify --n 20" in err


def test_a_hand_edited_artifact_is_refused(runs, capsys):
    path = runs / "r" / "graph.fixed.npz"
    path.write_bytes(path.read_bytes() + b"\0")  # not what spikefold quantize wrote
    capsys.readouterr()
    assert main(["export", "lava", str(runs / "r")]) == 1
    err = capsys.readouterr().err
    assert "graph.fixed.npz is stale (it was changed after `spikefold quantize" in err


def test_a_second_writer_is_refused_while_the_first_holds_the_run(runs):
    run_dir = runs / "r"
    with provenance.run_lock(run_dir, "spikefold train --name r"):
        with provenance.run_lock(run_dir, "nested call in the same process"):
            pass  # re-entrant within a process (spikefold run calls the stage functions)
        proc = subprocess.run(
            [sys.executable, "-m", "toolchain.cli", "train", "--name", "r", "--runs", str(runs),
             *TRAIN, "--overwrite"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 1
        assert "is being written by another spikefold process (pid" in proc.stderr
        assert "spikefold train --name r" in proc.stderr
        probe = subprocess.run([sys.executable, "-c", _LOCK_PROBE, str(run_dir)],
                               capture_output=True, text=True)  # fmt: skip
        assert probe.stdout.strip() == RunLockedError.__name__
    assert (run_dir / "checkpoint.pt").is_file()  # the refused writer touched nothing
    assert main(["fold", str(run_dir)]) == 0  # released


_LOCK_PROBE = """
import sys
from toolchain import provenance
try:
    with provenance.run_lock(sys.argv[1], "probe"):
        print("acquired")
except Exception as exc:
    print(type(exc).__name__)
"""


def test_staleness_follows_the_chain_and_options_decide_what_is_current(tmp_path):
    d = tmp_path
    (d / "a").write_text("1")
    provenance.record(d, "s1", "make a", ["a"])
    (d / "b").write_text("from a")
    provenance.record(d, "s2", "make b {run}", ["b"], ["a"], {"k": 1})
    (d / "c").write_text("from b")
    provenance.record(d, "s3", "make c", ["c"], ["b", str(d / "a")])
    assert provenance.is_current(d, {"b": {"k": 1}}) and not provenance.is_current(
        d, {"b": {"k": 2}}
    )
    (d / "a").write_text("2")  # edited by hand: the first stale file upstream is named
    s = provenance.stale(d, "c")
    assert (s.key, s.why) == ("a", "it was changed after `make a` wrote it")
    assert s.rebuild == ("make a", "make b {run}", "make c")
    provenance.record(d, "s1", "make a", ["a"])  # a rebuilt: b and then c are stale
    s = provenance.stale(d, "c")
    assert (s.key, s.why, s.rebuild) == ("b", "made from an older a", ("make b {run}", "make c"))
    with pytest.raises(StaleArtifactError, match=r"b is stale .*`make b .*`, then `make c`"):
        provenance.require_fresh(d, ["c"])
    (d / "manifestless").mkdir()
    provenance.require_fresh(d / "manifestless", ["anything"])  # no history: taken as it is
    (d / "provenance.json").write_text("{not json")
    with pytest.raises(ConfigError, match="provenance.json: not a readable provenance manifest"):
        provenance.read_manifest(d)


def test_a_rung_entry_has_its_own_history(tmp_path):
    from hwsim.verify import write_verify_json

    (tmp_path / "g").write_text("graph")
    write_verify_json(tmp_path / "verify.json", {"3": {"passed": True, "n": 1}})
    provenance.record(tmp_path, "verify", "rung it", [provenance.rung_key(3)], ["g"])
    assert provenance.stale(tmp_path, "verify.json#3") is None
    write_verify_json(tmp_path / "verify.json", {"2": {"passed": True}})  # another rung: fine
    assert provenance.stale(tmp_path, "verify.json#3") is None
    write_verify_json(tmp_path / "verify.json", {"3": {"passed": False}})  # rewritten elsewhere
    assert "changed after" in provenance.stale(tmp_path, "verify.json#3").why
    data = json.loads((tmp_path / "verify.json").read_text())
    assert set(data["rungs"]) == {"2", "3"}


def test_a_refused_train_leaves_no_directory_behind(tmp_path, capsys):
    assert main(["train", "--name", "new", "--runs", str(tmp_path), "--arch", "nope"]) == 1
    assert not (tmp_path / "new").exists()
