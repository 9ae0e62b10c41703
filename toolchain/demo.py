"""``make demo``: the whole spikefold pipeline on embedded data (scikit-learn's digits).

Stages so far: train. Each later stage (fold, quantise, export, simulate, verify, report)
appends its results to ``runs/demo/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from toolchain.config import RunConfig
from toolchain.pipeline import train_run
from toolchain.train import _atomic_write_text

DEMO_CONFIG = {
    "name": "demo",
    "data": {"dataset": "digits", "test_fraction": 0.2, "seed": 0},
    "model": {
        "arch": "mlp",
        "hidden": [128],
        "neuron": {"tau": 2.0, "threshold": 1.0, "reset": "soft", "surrogate": "sigmoid"},
    },
    "train": {
        "epochs": 15,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 3e-3,
        "warmup_epochs": 1,
        "T": 4,
        "encoding": "direct",
        "seed": 0,
    },
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m toolchain.demo", description=__doc__)
    p.add_argument("--runs", default="runs", help="root of the run directories")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.perf_counter()
    raw = json.loads(json.dumps(DEMO_CONFIG))
    raw["train"]["progress"] = not args.no_progress
    cfg = RunConfig.from_dict(raw)
    trained = train_run(cfg, runs_root=args.runs)
    summary = {
        "dataset": cfg.data.dataset,
        "arch": cfg.model["arch"],
        "T": cfg.train.T,
        "epochs": cfg.train.epochs,
        "test_accuracy": trained.result["test_accuracy"],
        "train_accuracy": trained.result["train_accuracy"],
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    out = trained.run_dir / "summary.json"
    _atomic_write_text(out, json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"summary: {Path(out).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
