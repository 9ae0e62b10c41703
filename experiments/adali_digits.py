"""AdaLi surrogate on ``digits``: the compute density over training (TECHNIQUES.md section 6).

An MLP (64-128-128-10, LIF, DAP init, T=4, BPTT) is trained with the AdaLi surrogate whose window
shrinks from ``[-0.5, 2.5]`` to ``[0.7, 1.3]`` over the epochs (linear and logarithmic
schedules, :class:`toolchain.callbacks.AdaLiCallback`); each epoch logs the compute density,
the fraction of training membrane potentials inside the window (the elements whose surrogate
gradient is non-zero). A sigmoid-surrogate run gives the reference accuracy.

Run: ``python -m experiments.adali_digits [--epochs 10]`` (6 s for the three runs,
docs/results.md).
"""

from __future__ import annotations

import argparse
import time

import torch

from models import build_model
from toolchain.callbacks import AdaLiCallback
from toolchain.data import load_dataset
from toolchain.train import TrainConfig, fit

__all__ = ["main"]


def _model(surrogate: str) -> torch.nn.Module:
    return build_model(
        {
            "arch": "mlp",
            "in_shape": [1, 8, 8],
            "num_classes": 10,
            "hidden": [128, 128],
            "neuron": {"surrogate": surrogate},
            "init": "dap",
        }
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    data = load_dataset("digits", seed=a.seed)
    cfg = TrainConfig(epochs=a.epochs, batch_size=64, lr=2e-3, T=a.T, seed=a.seed, progress=False)
    for schedule in ("linear", "log", None):
        torch.manual_seed(a.seed)
        t0 = time.perf_counter()
        if schedule is None:
            res = fit(_model("sigmoid"), data, cfg)
            print(f"sigmoid surrogate: test accuracy {res['test_accuracy']:.4f}")
            continue
        res = fit(_model("adali"), data, cfg, callbacks=[AdaLiCallback(a.epochs, schedule)])
        print(f"adali, {schedule} schedule:")
        for h in res["history"]:
            print(
                f"  epoch {h['epoch']:2d}  window [{h['adali_v_minus']:.3f}, "
                f"{h['adali_v_plus']:.3f}]  compute density {h['adali_compute_density']:.3f}  "
                f"test acc {h['test_accuracy']:.4f}"
            )
        print(f"  ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
