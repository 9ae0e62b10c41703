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

from models.architectures import build_model
from models.ei_arch import ei_layer_statistics
from toolchain.data import load_dataset

__all__ = ["NETS", "layer_table", "seed_scan", "main"]

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


def _fmt(rows: list[dict]) -> str:
    return " ".join(f"{r['mean']:+.2f}/{r['std']:.2f}/{100 * r['rate']:.1f}%" for r in rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--T", type=int, default=4)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    x = _input(args.batch, args.T)
    t0 = time.perf_counter()
    for name, cfg in NETS.items():
        for init in ("ei", "kaiming_clamped", "kaiming"):
            rows = layer_table(cfg, init, x)
            print(f"{name} init={init} pass={passes(rows)}: mean/std/rate per layer")
            print("   ", _fmt(rows))
    print("finite-size scan (init=ei): seeds failing / worst |mean|/std")
    for name, cfg in {
        "mlp16 w=128": {"arch": "ei_mlp", "hidden": [128] * 15},
        "mlp16 w=512": NETS["mlp16"],
        "mlp16 w=1024": {"arch": "ei_mlp", "hidden": [1024] * 15},
        "vgg8 width=0.5": {"arch": "ei_vgg8", "width": 0.5},
        "vgg8 width=1": NETS["vgg8"],
        "vgg8 width=2": {"arch": "ei_vgg8", "width": 2.0},
    }.items():
        fails, worst = seed_scan(cfg, x, args.seeds)
        print(f"    {name}: {fails}/{args.seeds} seeds fail, worst |mean|/std {worst:.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
