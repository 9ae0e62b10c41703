"""Rungs 0 and 1 of the verification ladder on three briefly trained networks (issue 5).

For a plain LIF MLP, an OSR+OTS VGG-style net and an E-I VGG-style net, all on ``digits``:
train (``toolchain.pipeline.train_run``), fold (``fold_run``), rung 0 (torch eval ↔ float
graph, layer by layer with teacher forcing, ties listed), quantise at 8, 6 and 4 bits and run
rung 1 (float ↔ fixed graph) for each. The 8-bit graph is written to the run directory
(``graph.fixed.npz``, ``quantize_report.json``) and rungs 0/1 to ``verify.json``. Prints a
markdown table and writes ``<runs>/fold_ladder/summary.json``.

Run: ``python -m experiments.fold_ladder`` (a few minutes on one core; trained runs
are reused when their checkpoint exists, ``--retrain`` trains them again).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from hwsim.verify import write_verify_json
from toolchain.config import RunConfig
from toolchain.fold import fold_run
from toolchain.pipeline import load_trained, train_run
from toolchain.quantize import quantize, write_quantized
from toolchain.verify import run_rung0, run_rung1

__all__ = ["NETS", "ladder", "run", "render", "main"]

_DIGITS = {"dataset": "digits", "test_fraction": 0.2, "seed": 0}
_LIF = {"tau": 2.0, "threshold": 1.0, "reset": "soft"}

#: name -> run config (training budget: seconds to a minute or two each on one core)
NETS: dict[str, dict] = {
    "mlp": {
        "data": _DIGITS,
        "model": {"arch": "mlp", "hidden": [128], "neuron": _LIF},
        "train": {"epochs": 15, "batch_size": 32, "optimizer": "adam", "lr": 3e-3,
                  "warmup_epochs": 1, "T": 4},
    },
    "vgg_osr_ots": {
        "data": _DIGITS,
        "model": {"arch": "vgg", "layers": [16, "M", 32, "M"], "hidden": [64],
                  "norm": "osr_ots", "T": 4, "neuron": {**_LIF, "online": True}},
        "train": {"epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 2e-3,
                  "warmup_epochs": 1, "T": 4, "mode": "online", "loss": "tet"},
    },
    "ei_vgg": {
        "data": _DIGITS,
        "model": {"arch": "ei_vgg8", "width": 0.25, "neuron": _LIF},
        "train": {"epochs": 10, "batch_size": 32, "optimizer": "sgd", "lr": 0.005,
                  "momentum": 0.9, "weight_decay": 5e-4, "warmup_epochs": 1, "T": 4},
    },
}  # fmt: skip

CALIB = 256  # training images used to calibrate the quantiser


def ladder(
    name: str,
    runs: Path,
    bits=(8, 6, 4),
    retrain: bool = False,
    seed: int = 0,
    target: str = "hwsim",
    input_bits: int = 8,
    epochs: int | None = None,
) -> dict:
    """Train (or reuse) ``NETS[name]``, then rung 0 and rung 1 at each of ``bits`` (quantised
    for ``target`` with ``input_bits``; the run's artifacts are written for the defaults
    only)."""
    run_dir = runs / name
    t0 = time.perf_counter()
    if retrain or not (run_dir / "checkpoint.pt").is_file():
        cfg = RunConfig.from_dict({"name": name, **NETS[name]})
        cfg.train.seed = seed
        cfg.train.progress = False
        if epochs is not None:  # the results generator's quick mode
            cfg.train.epochs = epochs
        train_run(cfg, runs_root=runs, overwrite=True)  # a rerun of the generator retrains
    t_train = time.perf_counter() - t0
    fold = fold_run(run_dir)
    model, _cfg, data = load_trained(run_dir)
    x, y = data.x_test, data.y_test
    r0 = run_rung0(model, fold, x, generator=torch.Generator().manual_seed(seed))
    calib = data.x_train[:CALIB].numpy().astype(np.float64)
    out = {
        "name": name,
        "test_samples": int(len(y)),
        "train_seconds": round(t_train, 1),
        "rung0": r0.to_dict(),
        "rung1": {},
    }
    r1_8 = q8 = None
    for b in bits:
        q = quantize(fold.graph, calib, b, input_bits=input_bits, target=target)
        r1 = run_rung1(fold, q, x.numpy(), y.numpy(), seed=seed)
        out["rung1"][str(b)] = {
            **r1.to_dict(),
            "quantize": {
                "static_ok": q.overflow["static_ok"],
                "saturation": q.overflow["saturation"],
                "max_err_steps": max(t["err_max_steps"] for t in q.report["tensors"].values()),
            },
        }
        if b == 8:
            r1_8, q8 = r1, q
    if q8 is not None and (target, input_bits) == ("hwsim", 8):
        settings = {"weight_bits": 8, "input_bits": 8, "target": target, "calib_samples": CALIB}
        write_quantized(run_dir, q8, settings)  # the graph measured above, not a second run
        write_verify_json(run_dir / "verify.json", [r0, r1_8])
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def _table(results: list[dict], bits) -> str:
    head = (
        "| network | test imgs | rung 0: spikes compared / ties / errors | rung 0 end-to-end "
        "agreement | " + " | ".join(f"{b}-bit: agree / acc float→fixed (Δ)" for b in bits) + " |"
    )
    lines = [head, "|" + " --- |" * (4 + len(bits))]
    for r in results:
        r0 = r["rung0"]
        comp = sum(la["compared"] for la in r0["layers"].values())
        e2e = r0["metrics"].get("prediction_agreement", float("nan"))
        cells = [
            r["name"],
            str(r["test_samples"]),
            f"{comp} / {r0['n_ties']} / {sum(la['errors'] for la in r0['layers'].values())}",
            f"{e2e:.2%}",
        ]
        for b in bits:
            m = r["rung1"][str(b)]["metrics"]
            cells.append(
                f"{m['prediction_agreement']:.2%} / {m['accuracy_float']:.2%}→"
                f"{m['accuracy_fixed']:.2%} ({100 * m['accuracy_delta']:+.2f} pp)"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`): retrains every net."""
    torch.set_num_threads(1)
    runs = Path(budget.runs) / "fold_ladder"
    nets, bits = (["mlp"], (8,)) if budget.quick else (list(NETS), (8, 6, 4))
    epochs = 1 if budget.quick else None
    results = [ladder(n, runs, bits, retrain=True, epochs=epochs) for n in nets]
    return {"bits": list(bits), "results": results}


def render(data: dict) -> dict[str, str]:
    return {"fold_ladder.table": _table(data["results"], data["bits"])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.fold_ladder")
    p.add_argument("--runs", default="runs/fold_ladder", help="root of the run directories")
    p.add_argument("--nets", nargs="*", default=list(NETS), choices=list(NETS))
    p.add_argument("--bits", nargs="*", type=int, default=[8, 6, 4])
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", default="hwsim", choices=["hwsim", "lava", "onnx"])
    p.add_argument("--input-bits", type=int, default=8)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = Path(a.runs)
    results = [
        ladder(n, runs, tuple(a.bits), a.retrain, a.seed, a.target, a.input_bits) for n in a.nets
    ]
    for r in results:
        print(f"{r['name']}: {r['rung0']['summary']}")
        for b in a.bits:
            print(f"  {b}-bit: {r['rung1'][str(b)]['summary']}")
    print(_table(results, a.bits))
    runs.mkdir(parents=True, exist_ok=True)
    tag = "" if (a.target, a.input_bits) == ("hwsim", 8) else f".{a.target}.in{a.input_bits}"
    (runs / f"summary{tag}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
