"""``spikefold run`` under hostile configs and run directories (issue 14): the chain validates
its config like ``train`` does and never retrains a run of another config silently."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import assert_error, assert_ok, cli, snapshot

GOOD = "name: c\ndata: {limit: 60}\nmodel: {arch: mlp, hidden: [4]}\ntrain: {epochs: 1, T: 1}\n"


@pytest.mark.parametrize(
    "content,names",
    [("train: {epochs: 1}\ntrain: {epochs: 2}\n", ["duplicate key 'train'"]),
     ("train: {epochs: ten}\n", ["train.epochs", "'ten'"]),
     (b"\xff\xfe\xfd", ["not a text file"]),
     ("model: {arch: mlp, neuron: {threshold: 0}}\n", ["model.neuron.threshold"]),
     ("train: {lr: 5e-05, optimizer: rmsprop}\n", ["train.optimizer"]),
     ("name: ''\n", ["name", "must not be empty"])],
    ids=["duplicate", "epochs-ten", "binary", "threshold", "optimizer", "empty-name"],
)  # fmt: skip
def test_run_refuses_a_bad_config_naming_the_file(tmp_path, content, names):
    path = tmp_path / "c.yaml"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    assert_error(cli("run", path, "--runs", tmp_path / "runs"), path, *names, rc=1)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_run_never_retrains_a_run_of_another_config_silently(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(GOOD)
    runs = tmp_path / "runs"
    assert_ok(cli("run", cfg, "--runs", runs, "--until", "fold"))
    before = snapshot(runs / "c")
    cfg.write_text(GOOD.replace("[4]", "[5]"))
    res = cli("run", cfg, "--runs", runs, "--until", "fold")
    assert_error(res, runs / "c", "different config", "model.hidden: [4] -> [5]", "--overwrite")
    assert snapshot(runs / "c") == before


@pytest.mark.parametrize("what", ["file", "empty-dir", "unknown-suffix"])
def test_run_names_a_source_that_is_neither_config_nor_run(tmp_path, what):
    path = {"file": tmp_path / "x.yaml", "empty-dir": tmp_path / "d",
            "unknown-suffix": tmp_path / "x.cfg"}[what]  # fmt: skip
    if what == "empty-dir":
        path.mkdir()
    else:
        path.write_text("name: x\n")
        if what == "file":
            path.unlink()
    assert_error(cli("run", path, "--runs", tmp_path / "runs"), path, rc=1)
