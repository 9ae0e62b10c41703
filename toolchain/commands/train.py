"""``spikefold train``: train from a config file and/or flags into ``runs/<name>/``.

``--nproc N`` trains data-parallel in ``N`` processes on this machine: the command starts
itself again under torch's launcher (``torchrun --standalone --nproc-per-node N -m
toolchain.cli train ...``, which a user may also type, e.g. with ``--nnodes`` for several
machines); see docs/reproducing.md.
"""

from __future__ import annotations

import argparse
import json

from toolchain.config import RunConfig, apply_overrides, load_config

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
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=["sgd", "adam"])
    p.add_argument("--lr", type=float)
    p.add_argument("-T", "--T", type=int, dest="T", help="time steps")
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
    p.add_argument("--resume", action="store_true", help="continue from RUNS/NAME/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="train data-parallel in N processes on this machine (torch's launcher: one per "
        "GPU with NCCL, or CPU processes with gloo)",
    )


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    if args.nproc < 1:
        from hwsim.errors import ConfigError

        raise ConfigError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        from toolchain.distributed import launch

        return launch(args.nproc, sys.argv[1:])
    from toolchain.pipeline import train_run

    raw = load_config(args.config) if args.config else {}
    overrides = [
        f"{key}={getattr(args, flag)}"
        for flag, key in FLAGS.items()
        if getattr(args, flag, None) is not None
    ]
    raw = apply_overrides(raw, overrides + list(args.set))
    if args.no_progress:
        raw.setdefault("train", {})["progress"] = False
    cfg = RunConfig.from_dict(raw)
    trained = train_run(cfg, runs_root=args.runs, resume=args.resume)
    summary = {k: trained.result[k] for k in ("test_accuracy", "train_accuracy", "epochs")}
    from toolchain.distributed import is_main_process

    if is_main_process():  # one summary from a data-parallel run
        print(json.dumps({"run_dir": str(trained.run_dir), **summary}, indent=2))
    return 0
