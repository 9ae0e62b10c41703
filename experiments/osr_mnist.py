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
import time

import torch

from experiments.results import md_table
from models import build_model
from toolchain.data import load_dataset
from toolchain.train import TrainConfig, fit

__all__ = ["model_config", "measure", "run", "render", "main"]


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


def measure(T: int, epochs: int, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
            limit=None, run_dir=None, progress: bool = False) -> dict:  # fmt: skip
    """Train and test once; per-epoch history, the OTS eval thresholds and the wall time."""
    torch.manual_seed(seed)
    data = load_dataset("mnist5k", seed=seed, limit=limit)
    mcfg = model_config(T)
    net = build_model(mcfg)
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adam",
        lr=lr,
        mode="online",
        loss="tet",
        T=T,
        seed=seed,
        device="cpu",
        progress=progress,
    )
    t0 = time.perf_counter()
    res = fit(net, data, cfg, run_dir=run_dir, meta={"model": mcfg})
    thresholds = {
        name: [round(float(v), 4) for v in m.running_threshold]
        for name, m in net.named_modules()
        if hasattr(m, "running_threshold")
    }
    return {
        "T": T,
        "epochs": epochs,
        "train": len(data.y_train),
        "test": len(data.y_test),
        "test_accuracy": [h["test_accuracy"] for h in res["history"]],
        "thresholds": thresholds,
        "seconds": round(time.perf_counter() - t0),
    }


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`)."""
    torch.set_num_threads(1)
    if budget.quick:
        return {"runs": [measure(2, 1, limit=600)]}
    return {"runs": [measure(2, 10), measure(4, 10)]}


def render(data: dict) -> dict[str, str]:
    rows = []
    for r in data["runs"]:
        acc = r["test_accuracy"]
        first95 = next((k + 1 for k, a in enumerate(acc) if a >= 0.95), None)
        note = f" (≥ 0.95 from epoch {first95})" if first95 else ""
        rows.append([r["T"], r["epochs"], f"{acc[-1]:.4f}{note}", f"{r['seconds']} s"])
    table = md_table(["T", "epochs", "test accuracy", "wall time (one thread)"], rows)
    last = data["runs"][-1]
    th = "; ".join(
        f"{name} [{', '.join(f'{v:.2f}' for v in vals)}]"
        for name, vals in last["thresholds"].items()
    )
    return {
        "osr_mnist.table": f"`mnist5k` ({data['runs'][0]['train']:,} train / "
        f"{data['runs'][0]['test']:,} test):\n\n{table}\n\nEval thresholds learned by OTS at "
        f"T = {last['T']}: {th}."
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
    r = measure(a.T, a.epochs, a.batch_size, a.lr, a.seed, run_dir=a.run_dir,
                progress=a.progress)  # fmt: skip
    print(render({"runs": [r]})["osr_mnist.table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
