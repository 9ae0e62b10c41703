"""Rung 3 of the verification ladder on folded and quantised trained networks (issue 7).

For a plain LIF MLP, an OSR+OTS VGG-style net (soft reset, per-step thresholds), an E-I
VGG-style net and a SEW-ResNet-18 (residual Add), all briefly trained on ``digits``: train
(``toolchain.pipeline.train_run``; reused when the checkpoint exists), fold (``fold_run``),
quantise at 8 bits (``toolchain.quantize.quantize``), then export each of the float graph, the
fixed graph and the fixed graph in ``lava`` timing (``to_lava_timing``) to ONNX and run rung 3
(hwsim ↔ onnxruntime ↔ onnx.reference function bodies ↔ onnx.reference op classes) on the
whole test split. Rung 3 of the fixed graph goes into the run's ``verify.json`` and the ONNX
files into the run directory. Prints a markdown table and writes
``<runs>/onnx_rung3/summary.json``.

Run: ``python -m experiments.onnx_rung3`` (a few minutes on one core).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from exporters.onnx import StepModel, export_onnx, rung3, save_onnx
from hwsim.sim import simulate
from hwsim.verify import write_verify_json
from toolchain.config import RunConfig
from toolchain.fold import fold_run, to_lava_timing
from toolchain.pipeline import load_run_dataset, train_run
from toolchain.quantize import quantize

__all__ = ["NETS", "evaluate", "run", "render", "main"]

_DIGITS = {"dataset": "digits", "test_fraction": 0.2, "seed": 0}
_LIF = {"tau": 2.0, "threshold": 1.0, "reset": "soft"}
_ADAM = {"batch_size": 32, "optimizer": "adam", "lr": 3e-3, "warmup_epochs": 1, "T": 4}

#: name -> run config (seconds of training each on one core)
NETS: dict[str, dict] = {
    "mlp": {
        "data": _DIGITS,
        "model": {"arch": "mlp", "hidden": [128], "neuron": {**_LIF, "reset": "hard"}},
        "train": {**_ADAM, "epochs": 6},
    },
    "vgg_osr_ots": {
        "data": _DIGITS,
        "model": {"arch": "vgg", "layers": [16, "M", 32, "M"], "hidden": [64],
                  "norm": "osr_ots", "T": 4, "neuron": {**_LIF, "online": True}},
        "train": {**_ADAM, "epochs": 4, "lr": 2e-3, "mode": "online", "loss": "tet"},
    },
    "ei_vgg": {
        "data": _DIGITS,
        "model": {"arch": "ei_vgg8", "width": 0.25, "neuron": _LIF},
        "train": {"epochs": 4, "batch_size": 32, "optimizer": "sgd", "lr": 0.005,
                  "momentum": 0.9, "weight_decay": 5e-4, "warmup_epochs": 1, "T": 4},
    },
    "sew_resnet18": {
        "data": _DIGITS,
        "model": {"arch": "sew_resnet18", "width": 0.125, "norm": "bn", "neuron": _LIF},
        "train": {**_ADAM, "epochs": 2},
    },
}  # fmt: skip

CALIB = 256  # training images that calibrate the quantiser


def _throughput(graph, model, x) -> tuple[float, float]:
    """Seconds per sample of hwsim and of onnxruntime on ``x`` (batches of 64)."""
    t0 = time.perf_counter()
    for s in range(0, len(x), 64):
        simulate(graph, x[s : s + 64])
    t_sim = time.perf_counter() - t0
    stepper = StepModel(model, "onnxruntime")
    t0 = time.perf_counter()
    for s in range(0, len(x), 64):
        stepper.run(x[s : s + 64])
    return t_sim / len(x), (time.perf_counter() - t0) / len(x)


def evaluate(
    name: str, runs: Path, retrain: bool = False, seed: int = 0, epochs: int | None = None
) -> list[dict]:
    """Train (or reuse) ``NETS[name]``; rung 3 on its float, fixed and fixed-lava graphs."""
    run_dir = runs / name
    if retrain or not (run_dir / "checkpoint.pt").is_file():
        cfg = RunConfig.from_dict({"name": name, **NETS[name]})
        cfg.train.seed = seed
        cfg.train.progress = False
        if epochs is not None:  # the results generator's quick mode
            cfg.train.epochs = epochs
        train_run(cfg, runs_root=runs, overwrite=True)  # a rerun of the generator retrains
    fold = fold_run(run_dir)
    _cfg, data = load_run_dataset(run_dir)
    x, y = data.x_test.numpy().astype(np.float64), data.y_test.numpy()
    calib = data.x_train[:CALIB].numpy().astype(np.float64)
    fixed = quantize(fold.graph, calib, 8, allow_saturation=True).graph
    graphs = {"float": fold.graph, "fixed": fixed, "fixed-lava": to_lava_timing(fixed)}
    rows = []
    for variant, graph in graphs.items():
        model = export_onnx(graph)
        path = save_onnx(model, run_dir / f"model.{variant}.onnx")
        t0 = time.perf_counter()
        res = rung3(graph, x, labels=y, model=model, reference_samples=16, seed=seed)
        seconds = time.perf_counter() - t0
        if variant == "fixed":
            write_verify_json(run_dir / "verify.json", res)
        t_sim, t_ort = _throughput(graph, model, x[:128])
        m = res.metrics
        rows.append(
            {
                "net": name,
                "graph": variant,
                "nodes": len(graph.nodes),
                "steps": res.settings["T"] + max(graph.arrival_offsets().values()),
                "onnx_bytes": path.stat().st_size,
                "samples": len(y),
                "compared": sum(la.compared for la in res.layers.values()),
                "mismatches": sum(la.mismatches for la in res.layers.values()),
                "ties": res.n_ties,
                "readout_max_abs_error": m["readout_max_abs_error"],
                "current_max_abs_diff": m.get("onnxruntime.current_max_abs_diff"),
                "prediction_agreement": m["prediction_agreement"],
                "reference_samples": m["reference.samples"],
                "accuracy": m["accuracy_hwsim"],
                "passed": res.passed,
                "summary": res.summary(),
                "hwsim_ms_per_sample": round(1e3 * t_sim, 2),
                "onnxruntime_ms_per_sample": round(1e3 * t_ort, 2),
                "rung3_seconds": round(seconds, 1),
            }
        )
        print(res.summary(), flush=True)
    return rows


def _table(rows: list[dict]) -> str:
    head = ("| net | graph | nodes | steps | compared | mismatches | readout max abs Δ | "
            "pred. agreement | accuracy | hwsim ms/sample | onnxruntime ms/sample |")  # fmt: skip
    out = [head, "| " + " | ".join(["---"] * 11) + " |"]
    for r in rows:
        out.append(
            f"| {r['net']} | {r['graph']} | {r['nodes']} | {r['steps']} | {r['compared']:,} | "
            f"{r['mismatches']} | {r['readout_max_abs_error']:.3g} | "
            f"{r['prediction_agreement']:.2%} | {r['accuracy']:.2%} | "
            f"{r['hwsim_ms_per_sample']} | {r['onnxruntime_ms_per_sample']} |"
        )
    return "\n".join(out)


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`): retrains every net."""
    torch.set_num_threads(1)
    runs = Path(budget.runs) / "onnx_rung3"
    names, epochs = (["mlp"], 1) if budget.quick else (list(NETS), None)
    rows = [r for n in names for r in evaluate(n, runs, retrain=True, epochs=epochs)]
    return {"rows": rows}


def render(data: dict) -> dict[str, str]:
    rows = data["rows"]
    ok = all(r["passed"] for r in rows)
    verdict = (
        "Every graph passes: zero mismatches, identical predictions."
        if ok
        else "Not every graph passes: see the mismatches column."
    )
    return {"onnx_rung3.table": f"{_table(rows)}\n\n{verdict}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/onnx_rung3", help="root of the run directories")
    p.add_argument("--nets", default=",".join(NETS), help="comma list of " + ", ".join(NETS))
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = Path(a.runs)
    names = a.nets.split(",")
    unknown = [n for n in names if n not in NETS]
    if unknown:  # before any training, not a KeyError after the first nets
        p.error(f"unknown --nets {unknown}; known: {', '.join(NETS)}")
    rows = []
    for name in names:
        rows += evaluate(name, runs, a.retrain, a.seed)
    (runs / "summary.json").write_text(json.dumps(rows, indent=2))
    print(_table(rows))
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
