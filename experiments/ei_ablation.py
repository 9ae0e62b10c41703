"""E-I SNN without normalisation on mnist5k: the full method and the ablations of DeepEISNN's
Table 2 (Kaiming init, clamped Kaiming, fixed-ε stabilisation, no W_EI gradient scaling), all
on the same budget. Prints a markdown table: best and final test accuracy, and what happened
(trains / transient drop to chance / collapses with no recovery / fails to train / diverges).

Run: ``python -m experiments.ei_ablation [--seeds 0 1]`` (about 1 to 1.5 minutes per variant
and seed on one core; ``--variants full no_scaling`` to run some).
"""

from __future__ import annotations

import argparse
import time

import torch

from experiments.results import md_table
from models.architectures import build_model
from toolchain.data import load_dataset
from toolchain.train import Callback, TrainConfig, TrainingDiverged, fit

__all__ = [
    "VARIANTS",
    "MODEL",
    "TRAIN",
    "run_variant",
    "verdict",
    "measure",
    "run",
    "render",
    "main",
]

#: name -> E-I options (models.ei.EIConfig)
VARIANTS: dict[str, dict] = {
    "full": {},
    "kaiming_clamped": {"init": "kaiming_clamped"},
    "kaiming": {"init": "kaiming"},
    "fixed_eps_1e-4": {"stabilization": ["fixed", 1e-4]},
    "fixed_eps_1e-2": {"stabilization": ["fixed", 1e-2]},
    "fixed_eps_1": {"stabilization": ["fixed", 1.0]},
    "no_scaling": {"grad_scaling": False},
}

MODEL = {"arch": "ei_vgg8", "width": 0.25}
TRAIN = {
    "epochs": 6,
    "batch_size": 32,
    "optimizer": "sgd",
    "lr": 0.005,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "warmup_epochs": 1,
    "T": 2,
}

CHANCE = 0.2  # below this a 10-class net has learnt (almost) nothing


class _History(Callback):
    def __init__(self) -> None:
        self.acc: list[float] = []

    def on_epoch_end(self, epoch, model, metrics):
        self.acc.append(float(metrics["test_accuracy"]))
        return None


def verdict(acc: list[float], diverged_at: int | None) -> str:
    """What happened, decided from the per-epoch test accuracies: a fall to chance after the
    peak is a *collapse* only when the last epoch is still at chance, else a transient drop."""
    best = max(acc, default=0.0)
    if diverged_at is not None:
        return f"diverges (non-finite loss) in epoch {diverged_at}"
    if best < CHANCE:
        return "fails to train"
    peak = acc.index(best)
    drop = next((k for k in range(peak + 1, len(acc)) if acc[k] < CHANCE), None)
    if drop is not None:
        if acc[-1] < CHANCE:
            return f"collapses in epoch {drop + 1}, no recovery"
        return f"transient drop to chance in epoch {drop + 1}, recovers to {acc[-1]:.3f}"
    if acc[-1] < best - 0.1:
        return f"degrades (best {best:.3f} at epoch {peak + 1})"
    return "trains"


def run_variant(
    name: str, ei: dict, data, train: dict, seed: int = 0, model: dict | None = None
) -> dict:
    torch.manual_seed(seed)
    net = build_model(
        {**(model or MODEL), "in_shape": list(data.in_shape), "num_classes": 10, "ei": ei}
    )
    hist = _History()
    diverged = None
    t0 = time.perf_counter()
    try:
        fit(net, data, TrainConfig(**train, seed=seed, progress=False), callbacks=[hist])
    except TrainingDiverged as exc:  # the trainer stops on a non-finite loss
        diverged = exc.epoch
    return {
        "variant": name,
        "acc": hist.acc,
        "best": max(hist.acc, default=float("nan")),
        "final": hist.acc[-1] if hist.acc else float("nan"),
        "verdict": verdict(hist.acc, diverged),
        "seconds": time.perf_counter() - t0,
    }


FULL = {"variants": list(VARIANTS), "seeds": (0, 1), "dataset": "mnist5k", "epochs": 6}
QUICK = {
    "variants": ["full", "no_scaling"],
    "seeds": (0,),
    "dataset": "digits",
    "epochs": 2,
    "limit": 400,
}


def measure(
    variants, seeds, dataset: str, epochs: int, lr: float = TRAIN["lr"], limit=None
) -> dict:
    data = load_dataset(dataset, seed=0, limit=limit)
    train = {**TRAIN, "epochs": epochs, "lr": lr}
    rows = [run_variant(n, VARIANTS[n], data, train, seed) | {"seed": seed} for n in variants
            for seed in seeds]  # fmt: skip
    return {
        "settings": {"dataset": dataset, "limit": limit, "seeds": list(seeds), "model": MODEL},
        "train": train,
        "rows": rows,
    }


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`)."""
    torch.set_num_threads(1)
    return measure(**(QUICK if budget.quick else FULL))


def _options(name: str) -> str:
    opts = VARIANTS[name]
    if not opts:
        return "defaults"
    return ", ".join(f"{k}={v!r}" for k, v in opts.items()).replace("'", '"')


def render(data: dict) -> dict[str, str]:
    seeds = data["settings"]["seeds"]
    by: dict[str, dict[int, dict]] = {}
    for r in data["rows"]:
        by.setdefault(r["variant"], {})[r["seed"]] = r
    rows = []
    for name, runs in by.items():
        cells = [name, f"`{_options(name)}`"]
        for s in seeds:
            r = runs[s]
            curve = " ".join(f"{a:.3f}" for a in r["acc"])
            cells.append(f"{r['best']:.3f} / {r['final']:.3f} ({curve})")
        cells.append("; ".join(f"seed {s}: {runs[s]['verdict']}" for s in seeds))
        rows.append(cells)
    table = md_table(
        ["variant", "E-I options", *(f"seed {s}: best / final (per epoch)" for s in seeds),
         "outcome"],
        rows,
    )  # fmt: skip
    t = data["train"]
    head = (
        f"E-I VGG-8 at width {MODEL['width']}, T = {t['T']}, SGD lr {t['lr']} momentum "
        f"{t['momentum']}, weight decay {t['weight_decay']}, {t['warmup_epochs']} warm-up epoch "
        f"then cosine, batch {t['batch_size']}, {t['epochs']} epochs, "
        f"`{data['settings']['dataset']}`"
        + (f" ({data['settings']['limit']} images)" if data["settings"]["limit"] else "")
        + f"; {min(r['seconds'] for r in data['rows']):.0f}-"
        f"{max(r['seconds'] for r in data['rows']):.0f} s per run on one thread:"
    )
    return {"ei_ablation.table": f"{head}\n\n{table}"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--epochs", type=int, default=TRAIN["epochs"])
    ap.add_argument("--lr", type=float, default=TRAIN["lr"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--dataset", default="mnist5k")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = measure(args.variants, args.seeds, args.dataset, args.epochs, args.lr)
    print(render(data)["ei_ablation.table"])


if __name__ == "__main__":
    main()
