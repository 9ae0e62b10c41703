"""Online training of an OSR + OTS conv SNN on ``mnist5k`` (TECHNIQUES.md section 4).

A small VGG-style net (``conv3x3(16) -> OSR -> OTS-LIF -> avgpool -> conv3x3(32) -> OSR ->
OTS-LIF -> avgpool -> readout``, online LIFs) is trained by :func:`toolchain.train.fit` in
``mode="online"`` (one backward per time step, no gradient through time) with the per-step
TET loss, and tested in eval mode: OSR with its running statistics (one affine per channel) and
OTS with its stored per-step thresholds — the fixed network that folds onto hardware.

Run: ``python -m experiments.osr_mnist [--epochs 10 --T 2] [--run-dir runs/osr_mnist]``
(about a minute per 10 epochs at T=2 on one CPU core).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from models import build_model
from toolchain.data import load_dataset
from toolchain.train import TrainConfig, fit

__all__ = ["model_config", "main"]


def model_config(T: int, channels: tuple[int, int] = (16, 32)) -> dict:
    """The experiment's network config (``models.build_model``)."""
    c1, c2 = channels
    return {
        "arch": "vgg",
        "in_shape": [1, 28, 28],
        "num_classes": 10,
        "layers": [c1, "M", c2, "M"],
        "norm": "osr_ots",
        "T": T,
        "neuron": {"online": True},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--T", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-dir", default=None, help="write checkpoint.pt and metrics.json here")
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    data = load_dataset("mnist5k", seed=a.seed)
    mcfg = model_config(a.T)
    net = build_model(mcfg)
    cfg = TrainConfig(
        epochs=a.epochs,
        batch_size=a.batch_size,
        optimizer="adam",
        lr=a.lr,
        mode="online",
        loss="tet",
        T=a.T,
        seed=a.seed,
        device="cpu",
        progress=a.progress,
    )
    t0 = time.perf_counter()
    res = fit(net, data, cfg, run_dir=a.run_dir, meta={"model": mcfg})
    wall = time.perf_counter() - t0
    for h in res["history"]:
        print(
            f"epoch {h['epoch']:2d}  train acc {h['train_accuracy']:.4f}  "
            f"test acc {h['test_accuracy']:.4f}  test spike rate {h['test_spike_rate']:.3f}  "
            f"{h['wall_seconds']:.0f} s"
        )
    thresholds = {
        name: [round(float(v), 4) for v in m.running_threshold]
        for name, m in net.named_modules()
        if hasattr(m, "running_threshold")
    }
    print(f"OTS per-step eval thresholds: {json.dumps(thresholds)}")
    print(
        f"mnist5k ({len(data.y_train)} train / {len(data.y_test)} test), T={a.T}, "
        f"{a.epochs} epochs online: test accuracy {res['test_accuracy']:.4f}, "
        f"wall time {wall:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
