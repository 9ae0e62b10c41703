"""The ``spikefold`` command line and run configs."""

import json
import subprocess
import sys

import pytest
import torch
import yaml

from hwsim.errors import ConfigError
from toolchain.cli import COMMANDS, NOT_BUILT, main
from toolchain.config import RunConfig, apply_overrides, load_config
from toolchain.pipeline import load_trained
from toolchain.train import evaluate


def test_help_lists_every_subcommand():
    out = subprocess.run(
        [sys.executable, "-m", "toolchain.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in COMMANDS:
        assert name in out


def test_unbuilt_subcommand_says_so_and_fails(capsys, monkeypatch):
    # Every planned subcommand is built now; a planned one (module None) must never fake output.
    monkeypatch.setitem(COMMANDS, "deploy", (None, "deploy to a chip"))
    assert main(["deploy", "anything"]) == NOT_BUILT
    captured = capsys.readouterr()
    assert "not built yet" in captured.err and captured.out == ""


def test_train_from_config_file_and_flags(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "name": "from-file",
                "data": {"dataset": "digits", "limit": 200},
                "model": {"arch": "mlp", "hidden": [16]},
                "train": {"epochs": 1, "T": 2, "batch_size": 50},
            }
        )
    )
    rc = main(
        [
            "train",
            "--config",
            str(cfg),
            "--name",
            "cli",
            "--lr",
            "0.01",
            "--runs",
            str(tmp_path / "runs"),
            "--no-progress",
            "--json",
            "--set",
            "model.hidden=[8]",
        ]
    )
    assert rc == 0
    run_dir = tmp_path / "runs" / "cli"
    printed = json.loads(capsys.readouterr().out)
    assert printed["run_dir"] == str(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics) == 1
    saved = load_config(run_dir / "config.yaml")
    assert saved["train"]["lr"] == 0.01 and saved["model"]["hidden"] == [8]
    model, rc_cfg, data = load_trained(run_dir)
    assert model[1].module.out_features == 8 and rc_cfg.name == "cli"
    # the reloaded checkpoint reproduces the logged test accuracy exactly
    again = evaluate(model, data.x_test, data.y_test, rc_cfg.train)["accuracy"]
    assert again == metrics[0]["test_accuracy"] == printed["test_accuracy"]
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_train_error_is_reported_not_raised(tmp_path, capsys):
    rc = main(["train", "--arch", "nope", "--runs", str(tmp_path), "--no-progress"])
    assert rc == 1
    assert "unknown architecture 'nope'" in capsys.readouterr().err


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match="unknown config section"):
        RunConfig.from_dict({"trian": {}})
    with pytest.raises(ConfigError, match="unknown data option"):
        RunConfig.from_dict({"data": {"datset": "digits"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)
    toml = tmp_path / "c.toml"
    toml.write_text('name = "t"\n[train]\nepochs = 2\n')
    assert RunConfig.from_dict(load_config(toml)).train.epochs == 2
    assert apply_overrides({}, ["train.lr=0.5"]) == {"train": {"lr": 0.5}}
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["train.lr"])
