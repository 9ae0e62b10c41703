"""Integrated currents and firing rates of deep E-I SNNs right after E-I Init (DeepEISNN).

For a 16-layer E-I MLP and an E-I VGG-8 on ``digits`` (one batch, direct encoding), prints per
hidden layer the mean and std of the integrated current ``I`` and the firing rate of its LIF,
for ``init = ei`` (E-I Init), ``kaiming_clamped`` and ``kaiming`` (the paper's Table 2
ablations), and a finite-size scan: over seeds, the largest ``|mean| / std`` of any layer.

Run: ``python -m experiments.ei_init_stats [--seeds 20]`` (about a minute).
"""

from __future__ import annotations

import argparse
import time

import torch

from experiments.results import md_table
from models.architectures import build_model
from models.ei_arch import ei_layer_statistics
from toolchain.data import load_dataset

__all__ = ["NETS", "layer_table", "seed_scan", "measure", "run", "render", "main"]

NETS = {
    "mlp16": {"arch": "ei_mlp", "hidden": [512] * 15},
    "vgg8": {"arch": "ei_vgg8", "width": 1.0},
}


def _input(batch: int, T: int) -> torch.Tensor:
    data = load_dataset("digits", seed=0)
    x = data.x_train[:batch]
    return x.unsqueeze(0).expand(T, *x.shape)


def layer_table(net_cfg: dict, init: str, x: torch.Tensor, seed: int = 0) -> list[dict]:
    torch.manual_seed(seed)
    net = build_model({**net_cfg, "in_shape": [1, 8, 8], "num_classes": 10, "ei": {"init": init}})
    return ei_layer_statistics(net, x)


def passes(rows: list[dict]) -> bool:
    """The E-I Init claim: every layer std in [0.5, 2], |mean| < 0.2 std, rate > 0.5 %."""
    return all(
        0.5 <= r["std"] <= 2.0 and abs(r["mean"]) < 0.2 * r["std"] and r["rate"] > 0.005
        for r in rows
    )


def seed_scan(net_cfg: dict, x: torch.Tensor, seeds: int) -> tuple[int, float]:
    """(number of seeds failing :func:`passes`, worst |mean|/std over all seeds and layers)."""
    fails, worst = 0, 0.0
    for s in range(seeds):
        rows = layer_table(net_cfg, "ei", x, seed=s)
        fails += not passes(rows)
        worst = max(worst, max(abs(r["mean"]) / max(r["std"], 1e-12) for r in rows))
    return fails, worst


SCANS = {
    "mlp16 w=128": {"arch": "ei_mlp", "hidden": [128] * 15},
    "mlp16 w=512": NETS["mlp16"],
    "mlp16 w=1024": {"arch": "ei_mlp", "hidden": [1024] * 15},
    "vgg8 width=0.5": {"arch": "ei_vgg8", "width": 0.5},
    "vgg8 width=1": NETS["vgg8"],
    "vgg8 width=2": {"arch": "ei_vgg8", "width": 2.0},
}
INITS = ("ei", "kaiming_clamped", "kaiming")


def measure(seeds: int, batch: int = 64, T: int = 4, nets=None, scans=None) -> dict:
    x = _input(batch, T)
    t0 = time.perf_counter()
    nets = NETS if nets is None else nets
    tables = {
        f"{name}/{init}": layer_table(cfg, init, x) for name, cfg in nets.items() for init in INITS
    }
    scan = {}
    for name, cfg in (SCANS if scans is None else scans).items():
        fails, worst = seed_scan(cfg, x, seeds)
        scan[name] = {"fails": fails, "worst": worst}
    return {
        "settings": {"seeds": seeds, "batch": batch, "T": T},
        "tables": tables,
        "scan": scan,
        "seconds": round(time.perf_counter() - t0),
    }


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`)."""
    torch.set_num_threads(1)
    if budget.quick:
        small = {"mlp4": {"arch": "ei_mlp", "hidden": [64] * 3}}
        return measure(2, batch=16, T=2, nets=small, scans=small)
    return measure(20)


def _range(xs, fmt="{:.2f}") -> str:
    return f"{fmt.format(min(xs))} .. {fmt.format(max(xs))}"


def render(data: dict) -> dict[str, str]:
    rows = []
    for key, layers in data["tables"].items():
        name, init = key.split("/")
        stds = [r["std"] for r in layers]
        rates = [100 * r["rate"] for r in layers]
        ratio = max(abs(r["mean"]) / max(r["std"], 1e-12) for r in layers)
        rows.append([
            name, init, _range(stds), f"{ratio:.2f}", _range(rates, "{:.1f}") + " %",
            "yes" if passes(layers) else "no",
        ])  # fmt: skip
    table = md_table(
        ["net", "init", "std(I) over layers", "max \\|mean\\|/std", "firing rates",
         "E-I Init claim holds"],
        rows,
    )  # fmt: skip
    st = data["settings"]
    scan = md_table(
        ["net (init = ei)", f"seeds (of {st['seeds']}) with a layer off the claim",
         "worst \\|mean\\|/std"],
        [[k, v["fails"], f"{v['worst']:.2f}"] for k, v in data["scan"].items()],
    )  # fmt: skip
    head = (
        f"`digits`, one batch of {st['batch']} images, T = {st['T']}, direct encoding, seed 0 "
        f"({data['seconds']} s with the seed scan). The claim: every hidden layer has std(I) in "
        "[0.5, 2], \\|mean\\| < 0.2 std and fires (> 0.5 %):"
    )
    return {"ei_init_stats.table": f"{head}\n\n{table}\n\nFinite size:\n\n{scan}"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--T", type=int, default=4)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(render(measure(args.seeds, args.batch, args.T))["ei_init_stats.table"])


if __name__ == "__main__":
    main()
