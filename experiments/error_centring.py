"""I-Norm's error centring in an E-I SNN: the demo's E-I MLP with and without it, over seeds.

``EIConfig.error_centring`` puts a :class:`models.gradnorm.GradNorm` on the error of the
excitatory current ``I_EE`` (``center``: ``δ - mean δ``; ``lateral``: ``δ - w·δ`` with one
fixed random inhibitory unit). This trains the E-I MLP (``{"arch": "ei_mlp"}``, E-I defaults,
T = 4, direct input) on digits with the demo's optimiser (SGD lr 0.05, momentum 0.9, weight
decay 5e-4, 1 warm-up epoch, cosine) for a few epochs, at two widths, and counts the runs that
end at chance (a silent hidden layer: every ``g_I`` clamped to 0, so ``D = 0``).

Run: ``python -m experiments.error_centring [--seeds 10 --epochs 3]`` (a few minutes,
docs/results.md).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from experiments.demo import demo_config
from experiments.results import md_table
from models.architectures import build_model
from toolchain.data import load_dataset
from toolchain.train import TrainConfig, fit

__all__ = ["MODES", "measure", "run", "render", "main"]

MODES = ("none", "center", "lateral")
#: the demo's optimiser and schedule (configs/demo.yaml), with this experiment's epochs and seeds
TRAIN = {k: v for k, v in demo_config()["train"].items() if k not in ("epochs", "seed")}
FULL = {"widths": (128, 64), "seeds": 10, "epochs": 3, "limit": None}
QUICK = {"widths": (32,), "seeds": 1, "epochs": 1, "limit": 300}
CHANCE = 0.2


def measure(widths, seeds: int, epochs: int, limit: int | None = None) -> dict:
    data = load_dataset("digits", seed=0, limit=limit)
    runs = []
    for width in widths:
        for seed in range(seeds):
            for mode in MODES:
                torch.manual_seed(seed)
                spec = {"arch": "ei_mlp", "in_shape": [1, 8, 8], "num_classes": 10}
                net = build_model({**spec, "hidden": [width], "ei": {"error_centring": mode}})
                cfg = TrainConfig(**TRAIN, epochs=epochs, seed=seed, progress=False)
                t0 = time.perf_counter()
                hist = fit(net, data, cfg)["history"]
                runs.append(
                    {
                        "width": width,
                        "seed": seed,
                        "mode": mode,
                        "acc": [h["test_accuracy"] for h in hist],
                        "rate": hist[-1]["test_spike_rate"],
                        "seconds": round(time.perf_counter() - t0, 2),
                    }
                )
    settings = {"widths": list(widths), "seeds": seeds, "epochs": epochs, "limit": limit}
    return {"settings": settings, "train": TRAIN, "runs": runs}


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`)."""
    torch.set_num_threads(1)
    return measure(**(QUICK if budget.quick else FULL))


def _gap(gap: list[float]) -> str:
    if not gap:
        return "—"
    mean, lo, hi = (100 * f(gap) for f in (statistics.mean, min, max))
    return f"{mean:+.2f} pp ({lo:+.1f} .. {hi:+.1f})"


def render(data: dict) -> dict[str, str]:
    st = data["settings"]
    rows, notes = [], []
    for width in st["widths"]:
        plain = {
            r["seed"]: r["acc"][-1]
            for r in data["runs"]
            if (r["width"], r["mode"]) == (width, "none")
        }
        for mode in MODES:
            rs = [r for r in data["runs"] if (r["width"], r["mode"]) == (width, mode)]
            final = [r["acc"][-1] for r in rs]
            dead = [r["seed"] for r in rs if r["acc"][-1] < CHANCE]
            alive = [r for r in rs if r["acc"][-1] >= CHANCE]
            gap = [r["acc"][-1] - plain[r["seed"]] for r in alive] if mode != "none" else []
            rows.append(
                [
                    width,
                    mode,
                    f"{statistics.mean(final):.4f}",
                    f"{min(final):.3f} .. {max(final):.3f}",
                    f"{len(dead)} / {len(rs)}"
                    + (f" (seeds {', '.join(map(str, dead))})" if dead else ""),
                    _gap(gap),
                    f"{statistics.mean(r['rate'] for r in rs):.3f}",
                ]
            )
            if mode != "none" and dead:
                notes.append(
                    f"`{mode}` ends at chance in {len(dead)} of {len(rs)} seeds at width {width}"
                )
    table = md_table(
        [
            "hidden",
            "error_centring",
            f"final test acc., mean of {st['seeds']} seeds",
            "min .. max",
            "runs ending at chance",
            "vs. plain, same seed (runs that train)",
            "hidden spike rate",
        ],
        rows,
    )
    sentence = (
        "Every run with error centring trains."
        if not notes
        else "; ".join(notes).capitalize() + "."
    )
    plain_dead = [r for r in data["runs"] if r["mode"] == "none" and r["acc"][-1] < CHANCE]
    sentence += (
        " The plain net never ends at chance."
        if not plain_dead
        else f" The plain net ends at chance in {len(plain_dead)} runs."
    )
    head = (
        f"E-I MLP 64-h-10 on digits, {st['epochs']} epoch(s), seeds 0-{st['seeds'] - 1}"
        + (f", {st['limit']} images" if st["limit"] else "")
        + ":"
    )
    return {"error_centring.table": f"{head}\n\n{table}\n\n{sentence}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=list(FULL["widths"]))
    p.add_argument("--seeds", type=int, default=FULL["seeds"])
    p.add_argument("--epochs", type=int, default=FULL["epochs"])
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    print(render(measure(a.widths, a.seeds, a.epochs))["error_centring.table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
