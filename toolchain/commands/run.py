"""``spikefold run CONFIG|RUN_DIR``: the whole chain, resumable (``toolchain.chain``).

train -> fold -> quantize -> verify -> export lava / onnx / nir with their rungs -> report. A
stage whose inputs are unchanged is skipped and says so; a target that refuses the network is
reported with its reason and the chain goes on; the exit status is 0 only when every rung
passed.
"""

from __future__ import annotations

import argparse

from toolchain.console import (
    WEIGHT_BITS,
    Outcome,
    check_runs_root,
    comma_list,
    int_range,
    positive_int,
)

TARGETS = ("lava", "onnx", "nir")  # toolchain.exports.TARGETS (not imported: --help stays light)
STAGES = ("train", "fold", "quantize", "verify", *TARGETS, "report")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a run config (YAML/TOML) or an existing run directory")
    p.add_argument(
        "--targets",
        type=comma_list(TARGETS),
        default=TARGETS,
        help="comma list of export targets (default: lava,onnx,nir)",
    )
    p.add_argument("--until", choices=STAGES, default="report", help="stop after this stage")
    p.add_argument("--runs", default="runs", help="root of the run directories (for a config)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="retrain a run directory that was trained with a different config",
    )
    p.add_argument(
        "--weight-bits",
        type=int_range(*WEIGHT_BITS),
        default=8,
        help="quantisation weight bits (2..8)",
    )
    p.add_argument(
        "--n",
        type=positive_int,
        help="test samples for rungs 0, 1, 3, 4 and the report (default: the whole test split)",
    )
    p.add_argument(
        "--lava-n", type=positive_int, default=32, help="test samples run in Lava (default 32)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.chain import ChainOptions, run_chain
    from toolchain.console import progress_enabled, say

    check_runs_root(args.runs)
    opts = ChainOptions(
        targets=tuple(args.targets),
        until=args.until,
        weight_bits=args.weight_bits,
        n=args.n,
        lava_n=args.lava_n,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=progress_enabled(args),
    )
    from hwsim.numfmt import fmt_percent

    res = run_chain(args.source, args.runs, opts, say=lambda line: say(args, line))
    verdict = "every rung passed" if res.ok else "FAILED: a stage failed or a rung did not pass"
    lines = [f"{verdict}; summary: {res.run_dir}/summary.json"]
    acc = {k: res.summary.get(k) for k in ("test_accuracy", "fixed_test_accuracy")}
    if acc["test_accuracy"] is not None and acc["fixed_test_accuracy"] is not None:
        lines.append(
            f"test accuracy {fmt_percent(acc['test_accuracy'])} (torch), "
            f"{fmt_percent(acc['fixed_test_accuracy'])} ({args.weight_bits}-bit hwsim)"
        )
    report = res.summary["stages"].get("report", {})
    if report.get("html"):
        lines.append(f"report: {report['html']}")
    return Outcome(res.summary, "\n".join(lines), ok=res.ok)
