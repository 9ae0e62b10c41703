"""AdaLi's masked backward against the dense surrogates, side by side in one run.

Two measurements, one CPU thread, every variant interleaved in the same loop (best of
``REPEATS`` rounds, so a burst of load on the shared machine hits all of them alike):

1. **The spike function alone** on a ``[T=4, B=64, 4096]`` membrane drawn ``N(1, 1.5²)``:
   forward + backward time of the dense sigmoid surrogate, AdaLi with the dense backward and
   AdaLi with the masked backward (:mod:`models.adali`), at the schedule's first window, a
   middle one and its last (compute densities of about 68 %, 38 % and 16 % here; the paper
   reports 65 % falling to 20 %), and the bytes each saves for its backward.
2. **A whole training epoch** of the AdaLi experiment's MLP (64-128-128-10, LIF, T = 4, BPTT,
   batch 64, digits) with the sigmoid surrogate and with AdaLi (dense and masked backward) at
   the widest and the narrowest window of the schedule.

The masked backward computes the same gradients bit for bit (``tests/models/test_adali.py``);
what this measures is only whether skipping the out-of-window elements is faster here.

Run: ``python -m bench adali`` (about a minute).
"""

from __future__ import annotations

import time

import torch

REPEATS = 7
SHAPE = (4, 64, 4096)
#: AdaLi windows (V⁻, V⁺) around θ = 1: the schedule's first, a middle and its last
WINDOWS = {"wide": (-0.5, 2.5), "middle": (0.1, 1.6), "narrow": (0.7, 1.3)}


def _surrogates(window: tuple[float, float]) -> dict:
    from models.adali import AdaLiSpike
    from models.surrogates import get_surrogate

    return {
        "sigmoid": get_surrogate("sigmoid"),
        "adali dense": AdaLiSpike(v_minus=window[0], v_plus=window[1], backward="dense").eval(),
        "adali masked": AdaLiSpike(v_minus=window[0], v_plus=window[1], backward="masked").eval(),
    }


def _saved_bytes(fn, x: torch.Tensor) -> int:
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return total


def spike_function(shape=SHAPE, repeats: int = REPEATS) -> list[dict]:
    """Forward and backward seconds of each surrogate at each window (best of ``repeats``)."""
    gen = torch.Generator().manual_seed(0)
    u = 1.0 + 1.5 * torch.randn(shape, generator=gen)  # membrane potential U
    grad = torch.randn(shape, generator=gen)
    x0 = u - 1.0  # the surrogate sees x = U - θ
    rows = []
    for name_w, window in WINDOWS.items():
        fns = _surrogates(window)
        density = float(((u >= window[0]) & (u <= window[1])).float().mean())
        best = {k: [float("inf"), float("inf")] for k in fns}
        for _ in range(repeats):
            for key, fn in fns.items():
                x = x0.clone().requires_grad_()
                t0 = time.perf_counter()
                s = fn(x)
                t1 = time.perf_counter()
                s.backward(grad)
                t2 = time.perf_counter()
                best[key] = [min(best[key][0], t1 - t0), min(best[key][1], t2 - t1)]
        for key, fn in fns.items():
            rows.append(
                {
                    "window": name_w,
                    "v_minus": window[0],
                    "v_plus": window[1],
                    "density": density,
                    "surrogate": key,
                    "forward_ms": 1e3 * best[key][0],
                    "backward_ms": 1e3 * best[key][1],
                    "saved_bytes_per_element": _saved_bytes(fn, x0.clone().requires_grad_())
                    / x0.numel(),
                }
            )
    return rows


def training_epoch(repeats: int = 3, limit: int | None = None) -> list[dict]:
    """Seconds per training epoch of the AdaLi MLP (fresh net per run, same seed)."""
    from models import build_model
    from models.adali import set_adali_window
    from toolchain.data import load_dataset
    from toolchain.train import TrainConfig, fit

    data = load_dataset("digits", seed=0, limit=limit)
    cfg = TrainConfig(epochs=1, batch_size=64, lr=2e-3, T=4, progress=False)
    variants = [("sigmoid", "sigmoid", None, None)]
    for name_w in ("wide", "narrow"):
        for backward in ("dense", "masked"):
            variants.append((f"adali {backward}", "adali", backward, name_w))
    best = {v: float("inf") for v in variants}
    accuracy = {}
    for rnd in range(repeats + 1):  # round 0 warms up (first-call allocations), not timed
        for v in variants:
            label, surrogate, backward, name_w = v
            params = {} if backward is None else {"backward": backward}
            torch.manual_seed(0)
            net = build_model(
                {
                    "arch": "mlp",
                    "in_shape": [1, 8, 8],
                    "num_classes": 10,
                    "hidden": [128, 128],
                    "neuron": {"surrogate": surrogate, "surrogate_params": params},
                    "init": "dap",
                }
            )
            if name_w is not None:
                set_adali_window(net, *WINDOWS[name_w])
            t0 = time.perf_counter()
            res = fit(net, data, cfg)
            if rnd > 0:
                best[v] = min(best[v], time.perf_counter() - t0)
            accuracy[v] = res["test_accuracy"]
    return [
        {"surrogate": v[0], "window": v[3], "seconds": best[v], "test_accuracy": accuracy[v]}
        for v in variants
    ]


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`)."""
    torch.set_num_threads(1)
    if budget.quick:
        return {
            "spike": spike_function((4, 16, 1024), repeats=2),
            "epoch": training_epoch(repeats=1, limit=300),
            "threads": 1,
        }
    return {"spike": spike_function(), "epoch": training_epoch(), "threads": 1}


def render(data: dict) -> dict[str, str]:
    from experiments.results import md_table

    by = {(r["window"], r["surrogate"]): r for r in data["spike"]}
    rows = []
    for r in data["spike"]:
        ref = by[(r["window"], "sigmoid")]
        total, ref_total = (x["forward_ms"] + x["backward_ms"] for x in (r, ref))
        rows.append(
            [
                f"[{r['v_minus']:g}, {r['v_plus']:g}] ({100 * r['density']:.0f} % inside)",
                r["surrogate"],
                f"{r['forward_ms']:.2f}",
                f"{r['backward_ms']:.2f}",
                f"{total:.2f}",
                f"{total / ref_total:.2f}",
                f"{r['saved_bytes_per_element']:.2f}",
            ]
        )
    spike = md_table(
        [
            "AdaLi window (compute density)",
            "surrogate",
            "forward ms",
            "backward ms",
            "total ms",
            "total / sigmoid",
            "saved bytes per element",
        ],
        rows,
    )
    ep = data["epoch"]
    sig = next(r for r in ep if r["surrogate"] == "sigmoid")
    epoch = md_table(
        ["surrogate", "AdaLi window", "s per epoch", "/ sigmoid", "test acc. after 1 epoch"],
        [
            [
                r["surrogate"],
                "—" if r["window"] is None else f"{r['window']} {WINDOWS[r['window']]}",
                f"{r['seconds']:.2f}",
                f"{r['seconds'] / sig['seconds']:.2f}",
                f"{r['test_accuracy']:.4f}",
            ]
            for r in ep
        ],
    )
    masked = [r for r in data["spike"] if r["surrogate"] == "adali masked"]
    dense = {r["window"]: r for r in data["spike"] if r["surrogate"] == "adali dense"}
    faster = [r["window"] for r in masked if r["backward_ms"] < dense[r["window"]]["backward_ms"]]
    verdict = (
        f"The masked backward is faster than the dense AdaLi backward at {len(faster)} of "
        f"{len(masked)} windows ({', '.join(faster) or 'none'})"
    )
    totals = [
        (r["forward_ms"] + r["backward_ms"])
        / (dense[r["window"]]["forward_ms"] + dense[r["window"]]["backward_ms"])
        for r in masked
    ]
    verdict += (
        f"; forward + backward together (the masked forward also extracts the indices) it "
        f"takes {min(totals):.2f}-{max(totals):.2f}x the dense AdaLi's time."
    )
    return {"adali_bench.table": f"{spike}\n\n{epoch}\n\n{verdict}"}


def main() -> None:
    from pathlib import Path

    from experiments.results import Budget

    out = render(run(Budget(quick=False, runs=Path("runs"), img=Path("docs/img"))))
    print(out["adali_bench.table"])


if __name__ == "__main__":
    main()
