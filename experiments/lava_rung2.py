"""Rung 2 of the verification ladder (hwsim ↔ Lava) on folded and quantised trained networks.

For the briefly trained ``digits`` networks of the other experiments — a plain LIF MLP, an
OSR+OTS VGG-style net (soft reset, per-step thresholds) and an E-I VGG-style net
(``experiments.fold_ladder``), and a SEW-ResNet-18 (residual ``Add``, Delay nodes
from ``to_lava_timing``; ``experiments.onnx_rung3``) — take the run's float graph
(``graph.float.npz``) and its 8-bit fixed graph (``graph.fixed.npz``, or quantised here as the
ONNX experiment does when the run has none), put both in ``lava`` timing and run rung 2 on
the first test samples: the fixed graph in hwsim against Lava's ``fixed_pt`` models
(bit-exact, every compared node at every step) and the float graph against ``floating_pt``
(spikes equal except ties). Runs are reused, never retrained; a missing run names the
experiment that makes it. Prints a markdown table and writes
``<runs>/lava_rung2/summary.json`` (the runs' own ``verify.json`` files are left alone).

Run: ``python -m experiments.lava_rung2`` (a few minutes on one core).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from exporters.lava import translate
from exporters.lava.rung2 import compared_layers, rung2_fixed, rung2_float
from hwsim.errors import ConfigError
from hwsim.graph import LIF, Readout
from hwsim.io import load_graph
from toolchain.fold import to_lava_timing
from toolchain.pipeline import load_run_dataset
from toolchain.quantize import quantize

__all__ = ["NETS", "evaluate", "run", "render", "main"]

#: name -> (run directory under <runs>, test samples, compare every node or spikes only)
NETS: dict[str, tuple[str, int, bool]] = {
    "mlp": ("fold_ladder/mlp", 128, True),
    "vgg_osr_ots": ("fold_ladder/vgg_osr_ots", 64, True),
    "ei_vgg": ("fold_ladder/ei_vgg", 32, True),
    # 60 Lava processes; probing only the 20 LIF layers and the readout keeps it ~80
    "sew_resnet18": ("onnx_rung3/sew_resnet18", 8, False),
}
CALIB = 256  # training images for the quantiser when a run has no graph.fixed.npz


def _graphs(run_dir: Path, data) -> tuple[object, object]:
    floating = load_graph(run_dir / "graph.float.npz")
    if (run_dir / "graph.fixed.npz").exists():
        fixed = load_graph(run_dir / "graph.fixed.npz")
    else:
        calib = data.x_train[:CALIB].numpy().astype(np.float64)
        fixed = quantize(floating, calib, 8, allow_saturation=True).graph
    return to_lava_timing(floating), to_lava_timing(fixed)


def evaluate(name: str, runs: Path, n: int | None = None, seed: int = 0) -> dict:
    """Rung 2 (fixed and float) on ``NETS[name]``'s trained run; returns one summary row."""
    sub, default_n, every_node = NETS[name]
    run_dir = runs / sub
    if not (run_dir / "graph.float.npz").exists():
        maker = sub.split("/")[0]  # the experiment module that makes the run
        raise ConfigError(f"{run_dir} has no graph.float.npz: run `python -m experiments.{maker}`")
    _cfg, data = load_run_dataset(run_dir)
    floating, fixed = _graphs(run_dir, data)
    n = n or default_n
    x = data.x_test[:n].numpy().astype(np.float64)
    y = data.y_test[:n].numpy()
    layers = None
    if not every_node:
        layers = [k for k in compared_layers(fixed) if isinstance(fixed.nodes[k], (LIF, Readout))]
    t0 = time.perf_counter()
    spec = translate(fixed)
    fx = rung2_fixed(
        fixed, x, generator=np.random.default_rng(seed), layers=layers, labels=y, spec=spec
    )
    t1 = time.perf_counter()
    fl = rung2_float(floating, x, generator=np.random.default_rng(seed), labels=y)
    t2 = time.perf_counter()
    print(fx.summary(), flush=True)
    print(fl.summary(), flush=True)
    stock = sum(p.kind.startswith("lava.") for p in spec.processes.values())
    return {
        "net": name,
        "run_dir": str(run_dir),
        "nodes": len(fixed.nodes),
        "lava_processes": len(spec.processes),
        "lava_stock": stock,
        "steps": spec.steps,
        "samples": n,
        "fixed_compared": sum(la.compared for la in fx.layers.values()),
        "fixed_mismatches": sum(la.mismatches for la in fx.layers.values()),
        "fixed_readout_mismatches": fx.metrics.get("readout_mismatches"),
        "fixed_first_divergence": None
        if fx.first_divergence is None
        else fx.first_divergence.describe(),
        "fixed_passed": fx.passed,
        "float_spikes": sum(la.compared for la in fl.layers.values()),  # LIF layers only
        "float_mismatches": sum(la.mismatches for la in fl.layers.values()),
        "float_ties": fl.n_ties,
        "float_errors": fl.n_errors,
        "float_prediction_agreement": fl.metrics.get("prediction_agreement"),
        "float_passed": fl.passed,
        "accuracy_lava_fixed": fx.metrics["accuracy_lava"],
        "accuracy_lava_float": fl.metrics["accuracy_lava"],
        "hwsim_ms_per_sample": round(1e3 * fx.metrics["hwsim_s_per_sample"], 2),
        "lava_ms_per_sample": round(1e3 * fx.metrics["lava_s_per_sample"], 1),
        "lava_build_s": round(fx.metrics["lava_build_s"], 1),
        "seconds": {"fixed": round(t1 - t0, 1), "float": round(t2 - t1, 1)},
        "layers_compared": "every node" if every_node else "LIF + readout",
    }


def _table(rows: list[dict]) -> str:
    head = (
        "| net | Lava processes (Lava's own) | steps | samples | fixed: compared / mismatches "
        "| float: LIF spikes / mismatches (ties) | accuracy | Lava ms/sample | hwsim ms/sample |"
    )
    out = [head, "|" + "---|" * 9]
    for r in rows:
        out.append(
            f"| {r['net']} | {r['lava_processes']} ({r['lava_stock']}) | {r['steps']} | "
            f"{r['samples']} | {r['fixed_compared']:,} / {r['fixed_mismatches']} | "
            f"{r['float_spikes']:,} / {r['float_mismatches']} ({r['float_ties']}) | "
            f"{r['accuracy_lava_fixed']:.1%} | {r['lava_ms_per_sample']} | "
            f"{r['hwsim_ms_per_sample']} |"
        )
    return "\n".join(out)


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`): runs the nets that
    ``fold_ladder`` and ``onnx_rung3`` trained under the same ``budget.runs``."""
    torch.set_num_threads(1)
    names, n = (["mlp"], 8) if budget.quick else (list(NETS), None)
    return {"rows": [evaluate(name, Path(budget.runs), n) for name in names]}


def render(data: dict) -> dict[str, str]:
    rows = data["rows"]
    ok = all(r["fixed_passed"] and r["float_passed"] for r in rows)
    verdict = (
        "Every rung passes: zero mismatches in `fixed_pt`, float spikes equal."
        if ok
        else "Not every rung passes: see the mismatch columns."
    )
    return {"lava_rung2.table": f"{_table(rows)}\n\n{verdict}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.lava_rung2")
    p.add_argument("--runs", default="runs", help="root of the run directories")
    p.add_argument("--nets", nargs="*", default=list(NETS), choices=list(NETS))
    p.add_argument("--n", type=int, help="test samples per net (default: per net)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = Path(args.runs)
    out = runs / "lava_rung2" / "summary.json"
    rows = {r["net"]: r for r in (json.loads(out.read_text()) if out.exists() else [])}
    for name in args.nets:  # rows of nets not run this time are kept
        rows[name] = evaluate(name, runs, args.n, args.seed)
    rows = [rows[k] for k in NETS if k in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(_table(rows))
    print(f"wrote {out}")
    return 0 if all(r["fixed_passed"] and r["float_passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
