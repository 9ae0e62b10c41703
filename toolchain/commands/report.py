"""``spikefold report RUN_DIR``: spikes, operations and energy -> report.json/.md/.html."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory with graph.fixed.npz or graph.float.npz")
    p.add_argument("--n", type=int, help="first N test samples (default: all)")
    p.add_argument(
        "--graph",
        choices=["auto", "fixed", "float"],
        default="auto",
        help="which graph to count (default: fixed if quantised, else float)",
    )
    p.add_argument(
        "--models",
        help="comma list of built-in price models (default: all: "
        "compute-fp32,compute-int8,memory,loihi)",
    )
    p.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="TOML",
        help="a user price table (TOML, see docs/energy.md); repeatable",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")
    p.add_argument(
        "--lava-samples",
        type=int,
        default=0,
        help="also count the first K samples in Lava and compare (slow; default 0)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import json

    from toolchain.report import make_report

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    paths = make_report(
        args.run_dir,
        n=args.n,
        graph=args.graph,
        models=models,
        tables=args.table,
        batch_size=args.batch_size,
        seed=args.seed,
        lava_samples=args.lava_samples,
        progress=not args.no_progress,
    )
    rep = json.loads(paths.json.read_text(encoding="utf-8"))
    h, m = rep["headline"], rep["meta"]
    print(
        f"{m['graph']} ({m['format']}/{m['timing']}, T={m['T']}), {m['samples']} "
        f"{m['dataset']} test samples, accuracy {m['accuracy']}"
    )
    print(
        f"per sample: {h['spikes_per_sample']:.1f} spikes, "
        f"{h['synaptic_ops_per_sample']:.1f} synaptic ops"
    )
    for name, e in h["energy"].items():
        line = f"  {name:<14} SNN {e['snn']}"
        if "ann" in e:
            line += f"; ANN-equivalent {e['ann']} (ANN/SNN {e.get('ann_over_snn', '-')})"
        if e.get("unpriced"):
            line += f"; unpriced: {', '.join(e['unpriced'])}"
        print(line)
    lava = rep.get("extra", {}).get("lava_crosscheck")
    if lava:
        print(f"Lava cross-check on {lava['samples']} samples: counts equal {lava['counts_equal']}")
    print(f"wrote {paths.json}, {paths.md}, {paths.html}")
    return 0
