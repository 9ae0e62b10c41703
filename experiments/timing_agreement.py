"""``ideal`` vs ``lava`` timing on trained, folded runs: prediction agreement and accuracy.

For each run directory (``config.yaml``, ``graph.float.npz`` and, if present,
``graph.fixed.npz``; otherwise the float graph is quantised at the default widths on 256
training images), simulate the test split in the graph's ``ideal`` timing and after
``toolchain.fold.to_lava_timing``, and print one JSON line per run with, per format, the
accuracy of each, their prediction agreement and whether the readouts are equal. For a
feed-forward graph the two must agree exactly (a LIF rests until its arrival offset, so its
bias does not act on the steps before its input arrives: ``docs/simulator.md``).

Run: ``python -m experiments.timing_agreement runs/fold_ladder/vgg_osr_ots ...``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from hwsim.io import load_graph
from hwsim.sim import simulate_dataset
from toolchain.config import RunConfig, load_config
from toolchain.fold import to_lava_timing
from toolchain.pipeline import load_run_data
from toolchain.quantize import quantize

__all__ = ["agreement", "main"]


def agreement(run_dir: str | Path) -> dict:
    """``{format: {n, acc_ideal, acc_lava, agreement, readout_equal}}`` for one run."""
    run = Path(run_dir)
    data = load_run_data(RunConfig.from_dict(load_config(run / "config.yaml")))
    x, y = data.x_test.numpy(), data.y_test.numpy()
    out: dict = {"run": str(run)}
    for fmt in ("float", "fixed"):
        path = run / f"graph.{fmt}.npz"
        if path.exists():
            g = load_graph(path)
        else:
            g = quantize(load_graph(run / "graph.float.npz"), data.x_train[:256].numpy()).graph
        ri = simulate_dataset(g, x, generator=np.random.default_rng(0))
        rl = simulate_dataset(to_lava_timing(g), x, generator=np.random.default_rng(0))
        out[fmt] = dict(
            n=len(y),
            acc_ideal=float((ri.predictions == y).mean()),
            acc_lava=float((rl.predictions == y).mean()),
            agreement=float((ri.predictions == rl.predictions).mean()),
            readout_equal=bool(np.array_equal(ri.readout, rl.readout)),
        )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for run in args.runs:
        print(json.dumps(agreement(run)))


if __name__ == "__main__":
    main()
