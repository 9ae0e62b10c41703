"""Run directories under hostile use (issue 14): a finished run is never overwritten
silently, a refused resume changes nothing, concurrent writers are refused by the lock, stale
artifacts are never reported or exported, and a full disk or a read-only directory keeps the
previous artifact intact with one clear error."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile

import pytest

from tests.hostile.conftest import TINIER, TINY, assert_error, assert_ok, cli, snapshot


def test_train_into_a_finished_run_is_refused_and_changes_nothing(run):
    """issue 14: `train` with the name of a finished run overwrote its checkpoint and config
    and left its old graphs, ONNX and Lava files beside them."""
    before = snapshot(run)
    res = cli("train", "--name", "r", "--runs", run.parent, *TINY, "--seed", "3")
    assert_error(res, run, "already holds a run", "--resume", "--overwrite")
    assert snapshot(run) == before
    assert_ok(cli("train", "--name", "r", "--runs", run.parent, *TINY, "--overwrite"))
    left = {p.name for p in run.iterdir()} - {".lock"}
    assert left == {"config.yaml", "checkpoint.pt", "metrics.json", "provenance.json"}


@pytest.mark.parametrize(
    "change,names",
    [
        (["--set", "model.hidden=[16]"], ["model.hidden: [8] -> [16]"]),
        (["--arch", "ei_mlp"], ["model.arch: 'mlp' -> 'ei_mlp'"]),
        (["-T", "4"], ["train.T: 2 -> 4"]),
        (["--lr", "0.5"], ["train.lr"]),
        (["--set", "data.test_fraction=0.3"], ["data.test_fraction: 0.2 -> 0.3"]),
        (["--epochs", "1", "--set", "train.seed=5"], ["train.seed"]),
    ],
    ids=["model", "arch", "T", "lr", "data", "seed"],
)
def test_a_refused_resume_changes_nothing(run, change, names):
    """issue 14: `train --resume` with a different model was refused with a raw traceback
    after config.yaml was overwritten; resuming a T=4 checkpoint at T=8 rewrote config.yaml
    silently."""
    before = snapshot(run)
    res = cli("train", "--name", "r", "--runs", run.parent, "--resume", *TINY, *change)
    assert_error(res, "cannot resume", *names, rc=1)
    assert snapshot(run) == before
    assert_ok(cli("fold", run))  # the run still folds


def test_a_resume_below_the_checkpoint_epoch_and_a_resume_of_nothing(run, tmp_path):
    res = cli("train", "--name", "r", "--runs", run.parent, "--resume", "--epochs", "1")
    assert_ok(res)  # the run's own config, already at epoch 1: nothing to do, no change
    res = cli("train", "--name", "none", "--runs", tmp_path, "--resume", *TINIER)
    assert_error(res, "checkpoint.pt", "no checkpoint to resume")
    assert not (tmp_path / "none").exists()


def test_two_trains_of_the_same_name_at_once_one_is_refused(tmp_path):
    """issue 14: two `train --name same` at once both succeeded, one overwriting the other."""
    argv = [sys.executable, "-m", "toolchain.cli", "train", "--name", "same", "--runs",
            str(tmp_path), *TINIER]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]  # fmt: skip
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close(), p.stderr.close()
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 1], results
    err = next(e for rc, e in results if rc == 1)
    assert "Traceback" not in err
    assert ("being written by another spikefold process" in err) or ("already holds a run" in err)


def test_stale_graphs_are_never_reported_or_exported(run):
    """issue 14: after a retrain, `report` counted a stale graph.fixed.npz and showed the old
    verify.json; `export onnx` wrote model.fixed.onnx from the stale fixed graph."""
    assert_ok(cli("export", "onnx", run, "--verify", "--n", "8", "--reference-samples", "0"))
    onnx_before = (run / "model.fixed.onnx").read_bytes()
    assert_ok(cli("train", "--name", "r", "--runs", run.parent, "--resume", "--epochs", "2"))
    for argv in (["report", run, "--n", "8"], ["export", "onnx", run],
                 ["export", "lava", run], ["run-lava", run, "--n", "2"],
                 ["simulate", run / "graph.fixed.npz", "--n", "4"], ["quantize", run]):  # fmt: skip
        assert_error(cli(*argv), "graph.float.npz is stale", f"spikefold fold {run}")
    assert (run / "model.fixed.onnx").read_bytes() == onnx_before
    assert not (run / "report.json").exists()
    assert_ok(cli("fold", run))
    assert_ok(cli("quantize", run))
    assert_ok(cli("export", "onnx", run))
    assert_ok(cli("export", "lava", run))
    res = cli("report", run, "--n", "8")  # the ONNX models are new, their rung is not
    assert_error(res, "verify.json rung 3 is stale", "spikefold export onnx")


def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    "argv,artifact",
    [
        (["quantize", "{run}", "--weight-bits", "6"], "graph.fixed.npz"),
        (["fold", "{run}"], "graph.float.npz"),
        (["export", "lava", "{run}"], "model.lava.json"),
        (["export", "onnx", "{run}"], "model.fixed.onnx"),
        (
            ["train", "--name", "r", "--runs", "{runs}", "--resume", "--epochs", "2"],
            "checkpoint.pt",
        ),
        (["report", "{run}", "--n", "8"], "report.json"),
    ],
    ids=["quantize", "fold", "export-lava", "export-onnx", "train-resume", "report"],
)
def test_a_full_disk_keeps_the_previous_artifact_intact(run, monkeypatch, argv, artifact):
    """issue 14: a full disk gave a raw traceback. Every write is atomic (temporary file,
    fsync, rename): ENOSPC at the fsync leaves the old file as it was and no temporary."""
    before = snapshot(run)
    monkeypatch.setattr(os, "fsync", _enospc)
    argv = [str(a).replace("{run}", str(run)).replace("{runs}", str(run.parent)) for a in argv]
    line = assert_error(cli(*argv), "No space left on device", rc=1)
    assert artifact in line or "provenance.json" in line or "config.yaml" in line, line
    monkeypatch.undo()
    after = snapshot(run)
    assert {k: v for k, v in after.items() if k != ".lock"} == {
        k: v for k, v in before.items() if k != ".lock"
    }
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert_ok(cli("simulate", run / "graph.fixed.npz", "--n", "4"))  # still fresh and usable


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS], ids=["EACCES", "EROFS"])
@pytest.mark.parametrize(
    "argv,artifact",
    [(["quantize", "{run}"], "graph.fixed.npz"), (["fold", "{run}"], "graph.float.npz"),
     (["report", "{run}", "--n", "8"], "report.json"),
     (["export", "lava", "{run}"], "model.lava.json")],
    ids=["quantize", "fold", "report", "export-lava"],
)  # fmt: skip
def test_a_read_only_run_directory_is_one_clear_error(run, monkeypatch, code, argv, artifact):
    """issue 14: a read-only run directory gave a raw traceback. (The suite may run as root,
    for whom chmod does not forbid writing, so the refusal of the file system is simulated
    where a temporary file is created.)"""
    before = snapshot(run)
    real = tempfile.mkstemp

    def refused(*a, dir=None, **k):
        if dir is not None and os.path.realpath(dir) == os.path.realpath(run):
            raise OSError(code, os.strerror(code), os.path.join(str(dir), ".tmp"))
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    argv = [str(a).replace("{run}", str(run)) for a in argv]
    assert_error(cli(*argv), artifact, os.strerror(code), "not writable", rc=1)
    monkeypatch.undo()
    assert snapshot(run) == before


def test_a_run_directory_whose_lock_cannot_be_made_is_named(run, monkeypatch):
    (run / ".lock").unlink()
    real = os.open

    def refused(path, flags, *a, **k):
        if str(path).endswith(".lock") and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", refused)
    assert_error(cli("quantize", run), run / ".lock", "Read-only file system")


def test_an_interrupt_is_130_and_leaves_no_temporary(run, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    before = snapshot(run)
    monkeypatch.setattr(os, "fsync", interrupted)
    res = cli("quantize", run, "--weight-bits", "6")
    assert res.rc == 130 and "interrupted" in res.err and "Traceback" not in res.err
    monkeypatch.undo()
    assert snapshot(run) == before
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
