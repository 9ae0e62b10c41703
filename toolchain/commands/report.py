"""``spikefold report RUN_DIR``: the deployment story — the stage table, the network, energy on
each exported target's timing, per-layer detail — in report.json/.md/.html."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome, nonnegative_int, positive_int, progress_enabled


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory with graph.fixed.npz or graph.float.npz")
    p.add_argument("--n", type=positive_int, help="first N test samples (default: all)")
    p.add_argument(
        "--graph",
        choices=["auto", "fixed", "float"],
        default="auto",
        help="which graph to count (default: fixed if quantised, else float)",
    )
    p.add_argument(
        "--timing",
        choices=["auto", "ideal", "lava"],
        default="auto",
        help="timing to price: auto (lava when exported to Lava, and ideal; default), ideal "
        "(hwsim, ONNX, NIR) or lava (Lava: T + depth steps per sample)",
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
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")
    p.add_argument(
        "--lava-samples",
        type=nonnegative_int,
        default=0,
        help="also count the first K samples in Lava and compare (slow; default 0)",
    )


def run(args: argparse.Namespace) -> Outcome:
    import json

    from hwsim.describe import format_table
    from hwsim.report import tables
    from toolchain.report import report_run

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    paths = report_run(
        args.run_dir,
        n=args.n,
        graph=args.graph,
        timing=args.timing,
        models=models,
        tables=args.table,
        batch_size=args.batch_size,
        seed=args.seed,
        lava_samples=args.lava_samples,
        progress=progress_enabled(args),
    )
    rep = json.loads(paths.json.read_text(encoding="utf-8"))
    keep = ("meta", "stages", "timings", "timing_difference", "headline")
    data = {k: rep[k] for k in keep} | {"files": [str(p) for p in (paths.json, paths.md,
                                                                  paths.html)]}  # fmt: skip
    m = rep["meta"]
    lines = [f"{m['graph']} ({m['format']}, T={m['T']}), {m['samples']:,} {m['dataset']} test "
             f"samples; {tables.verdict(rep)}"]  # fmt: skip
    head, rows = tables.stage_rows(rep)
    cols = [0, 2, 3, 4, 5, 7, 9]  # stage, accuracy, rung, result, samples, differ, note

    def cell(text: str) -> str:  # a refusal's reason can run to a paragraph: the files hold it
        return text if len(text) <= 100 else text[:97] + "..."

    lines += [
        format_table([head[i] for i in cols], [[cell(r[i]) for i in cols] for r in rows]),
        "",
        format_table(*tables.timing_rows(rep)),
        tables.timing_note(rep),
    ]
    lava = rep.get("extra", {}).get("lava_crosscheck")
    if lava:
        lines.append(
            f"Lava cross-check on {lava['samples']} samples: counts equal {lava['counts_equal']}"
        )
    lines.append(f"wrote {paths.json}, {paths.md}, {paths.html}")
    return Outcome(data, "\n".join(lines))
