"""AdaLi surrogate on ``digits``: compute density over training and accuracy against the
paper's baselines (TECHNIQUES.md section 6).

An MLP (64-128-128-10, LIF, DAP init, T=4, BPTT, Adam 2e-3) is trained with the AdaLi
surrogate whose window shrinks from ``[-0.5, 2.5]`` to ``[0.7, 1.3]`` over the epochs (linear
and logarithmic schedules, :class:`toolchain.callbacks.AdaLiCallback`; the masked backward);
each epoch logs the compute density, the fraction of training membrane potentials inside the
window (the elements whose surrogate gradient is non-zero). The same net with the sigmoid
surrogate and with the paper's SoftSign baseline (α = 2) gives the reference accuracies, over
several seeds so that a difference can be told from seed noise.

Run: ``python -m experiments.adali_digits [--epochs 10 --seeds 3]`` (about a minute,
docs/results.md). The backward's time: ``python -m bench adali``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from experiments.results import md_table
from models import build_model
from toolchain.callbacks import AdaLiCallback
from toolchain.data import load_dataset
from toolchain.train import TrainConfig, fit

__all__ = ["VARIANTS", "measure", "run", "render", "main"]

#: label -> (surrogate, AdaLi schedule or None)
VARIANTS = {
    "AdaLi linear": ("adali", "linear"),
    "AdaLi log": ("adali", "log"),
    "sigmoid (α = 4)": ("sigmoid", None),
    "SoftSign (α = 2)": ("softsign", None),
}
FULL = {"epochs": 10, "seeds": 3, "limit": None}
QUICK = {"epochs": 2, "seeds": 1, "limit": 300}


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


def measure(epochs: int, seeds: int, limit: int | None = None, T: int = 4) -> dict:
    runs = []
    for seed in range(seeds):
        data = load_dataset("digits", seed=0, limit=limit)
        cfg = TrainConfig(epochs=epochs, batch_size=64, lr=2e-3, T=T, seed=seed, progress=False)
        for label, (surrogate, schedule) in VARIANTS.items():
            torch.manual_seed(seed)
            callbacks = [] if schedule is None else [AdaLiCallback(epochs, schedule)]
            t0 = time.perf_counter()
            res = fit(_model(surrogate), data, cfg, callbacks=callbacks)
            runs.append(
                {
                    "variant": label,
                    "seed": seed,
                    "test_accuracy": res["test_accuracy"],
                    "seconds": round(time.perf_counter() - t0, 2),
                    "density": [h.get("adali_compute_density") for h in res["history"]],
                    "window": [
                        [h["adali_v_minus"], h["adali_v_plus"]]
                        for h in res["history"]
                        if "adali_v_minus" in h
                    ],
                }
            )
    return {"settings": {"epochs": epochs, "seeds": seeds, "limit": limit, "T": T}, "runs": runs}


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`)."""
    torch.set_num_threads(1)
    return measure(**(QUICK if budget.quick else FULL))


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def render(data: dict) -> dict[str, str]:
    st, runs = data["settings"], data["runs"]
    epochs = st["epochs"]
    first = [r for r in runs if r["seed"] == 0 and r["window"]]
    density = md_table(
        ["schedule", *(str(k) for k in range(1, epochs + 1)), "test acc."],
        [
            [r["variant"], *(f"{d:.3f}" for d in r["density"]), f"{r['test_accuracy']:.4f}"]
            for r in first
        ],
    )
    acc: dict[str, list[float]] = {}
    secs: dict[str, list[float]] = {}
    for r in runs:
        acc.setdefault(r["variant"], []).append(r["test_accuracy"])
        secs.setdefault(r["variant"], []).append(r["seconds"])
    rows = []
    for label, xs in acc.items():
        m, sd = _mean_sd(xs)
        rows.append(
            [
                label,
                f"{m:.4f} ± {sd:.4f}",
                " / ".join(f"{x:.4f}" for x in xs),
                f"{statistics.mean(secs[label]):.1f}",
            ]
        )
    accuracy = md_table(
        [
            "surrogate",
            f"test acc., mean ± std over {st['seeds']} seed(s)",
            "each seed",
            "s per run",
        ],
        rows,
    )
    # the sentence is decided by the numbers: an "edge" only beyond the spread of the seeds
    best_adali = max((k for k in acc if k.startswith("AdaLi")), key=lambda k: _mean_sd(acc[k])[0])
    others = [k for k in acc if not k.startswith("AdaLi")]
    m_a, sd_a = _mean_sd(acc[best_adali])
    parts = []
    for k in others:
        m_o, sd_o = _mean_sd(acc[k])
        gap = m_a - m_o
        spread = max(sd_a, sd_o)
        if st["seeds"] < 2:
            word = "one seed only: no claim"
        elif abs(gap) <= 2 * spread:
            word = "within twice the seed spread"
        else:
            word = "beyond twice the seed spread"
        parts.append(f"{100 * gap:+.2f} pp against {k} ({word})")
    sentence = f"Best AdaLi schedule ({best_adali}): " + "; ".join(parts) + "."
    d0 = [r["density"] for r in first]
    if d0:
        sentence += (
            f" The compute density falls from {min(d[0] for d in d0):.2f}-"
            f"{max(d[0] for d in d0):.2f} in epoch 1 to {min(d[-1] for d in d0):.2f}-"
            f"{max(d[-1] for d in d0):.2f} in epoch {epochs} (the paper: ≈65 % to ≈20 %)."
        )
    head = (
        f"Compute density per epoch (seed 0, {epochs} epochs"
        + (f", {st['limit']} images" if st["limit"] else "")
        + "):"
    )
    return {"adali.table": f"{head}\n\n{density}\n\n{accuracy}\n\n{sentence}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=FULL["epochs"])
    p.add_argument("--seeds", type=int, default=FULL["seeds"])
    p.add_argument("--T", type=int, default=4)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    print(render(measure(a.epochs, a.seeds, T=a.T))["adali.table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
