"""``spikefold train``: train from a config file and/or flags into ``runs/<name>/``.

``--nproc N`` trains data-parallel in ``N`` processes on this machine: the command starts
itself again under torch's launcher (``torchrun --standalone --nproc-per-node N -m
toolchain.cli train ...``, which a user may also type, e.g. with ``--nnodes`` for several
machines); see docs/reproducing.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.console import Outcome, check_runs_root, positive_float, positive_int
from toolchain.rundir import CONFIG

# flag -> dotted config key
FLAGS = {
    "name": "name",
    "dataset": "data.dataset",
    "data_root": "data.root",
    "arch": "model.arch",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "optimizer": "train.optimizer",
    "lr": "train.lr",
    "T": "train.T",
    "mode": "train.mode",
    "seed": "train.seed",
    "device": "train.device",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML or TOML run config (sections: name, data, model, train)")
    p.add_argument("--name", help="run name: outputs go to RUNS/NAME/")
    p.add_argument("--dataset", help="dataset name, e.g. digits, cifar100, nmnist (docs/data.md)")
    p.add_argument("--data-root", help="directory of the dataset's local files (docs/data.md)")
    p.add_argument("--arch", help="architecture name, e.g. mlp, vgg8, ei_mlp")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--optimizer", choices=["sgd", "adam"])
    p.add_argument("--lr", type=positive_float, help="learning rate, e.g. 0.001 or 5e-05")
    p.add_argument("-T", "--T", type=positive_int, dest="T", help="time steps")
    p.add_argument("--mode", choices=["bptt", "online"])
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any option, e.g. --set model.hidden=[256,128]",
    )
    p.add_argument("--runs", default="runs", help="root directory of run directories")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue RUNS/NAME from its checkpoint (its own config unless --config is given; "
        "only --epochs may change)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing RUNS/NAME: delete its checkpoint and every artifact made from it",
    )
    p.add_argument(
        "--nproc",
        type=positive_int,
        default=1,
        metavar="N",
        help="train data-parallel in N processes on this machine (torch's launcher: one per "
        "GPU with NCCL, or CPU processes with gloo)",
    )


def run(args: argparse.Namespace) -> Outcome | int:
    import os
    import sys

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        from toolchain.distributed import launch

        return launch(args.nproc, sys.argv[1:])  # the launched processes print the result
    from toolchain.config import (
        ConfigDict,
        RunConfig,
        apply_overrides,
        check_device,
        load_config,
        set_value,
    )
    from toolchain.console import progress_enabled
    from toolchain.pipeline import train_run

    check_runs_root(args.runs)
    raw = load_config(args.config) if args.config else ConfigDict()
    if args.resume and not args.config and args.name:  # continue the run with its own config
        saved = Path(args.runs) / args.name / CONFIG
        raw = load_config(saved) if saved.is_file() else raw
    for flag, key in FLAGS.items():  # typed by argparse: the value as given, never re-parsed
        value = getattr(args, flag, None)
        if value is not None:
            set_value(raw, key, value, "--" + flag.replace("_", "-"))
    raw = apply_overrides(raw, list(args.set))
    section = raw.get("train", {})
    if not progress_enabled(args) and isinstance(section, dict) and "progress" not in section:
        set_value(raw, "train.progress", False, "--no-progress")
    cfg = RunConfig.from_dict(raw)
    check_device(cfg.train.device, _where(raw, "train.device"))
    trained = train_run(cfg, runs_root=args.runs, resume=args.resume, overwrite=args.overwrite)
    summary = {k: trained.result[k] for k in ("test_accuracy", "train_accuracy", "epochs")}
    from toolchain.distributed import is_main_process

    if not is_main_process():
        return 0  # one summary from a data-parallel run: the main process prints it
    text = (
        f"trained {trained.run_dir} ({summary['epochs']} epochs): test accuracy "
        f"{summary['test_accuracy']:.2%}, train accuracy {summary['train_accuracy']:.2%}"
    )
    return Outcome({"run_dir": str(trained.run_dir), **summary}, text)


def _where(raw, key: str) -> str:
    """``--device`` / ``--set train.device=...`` / the config file, and the key."""
    from toolchain.config import _origin

    where = _origin(getattr(raw, "origins", {}), key)
    return f"{where}: {key}" if where else key
