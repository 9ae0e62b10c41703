"""``spikefold export onnx RUN_DIR``: the run's hardware graphs as ONNX step models
(``model.fixed.onnx`` from ``graph.fixed.npz``, ``model.float.onnx`` from
``graph.float.npz``, whichever exist), optionally checked by rung 3 (hwsim vs onnxruntime vs
onnx.reference) into ``verify.json``. The IR: ``docs/ir.md``."""

from __future__ import annotations

import argparse

from toolchain.console import (
    Outcome,
    check_out_path,
    nonnegative_int,
    positive_int,
    progress_enabled,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory holding graph.fixed.npz and/or graph.float.npz")
    p.add_argument(
        "--format",
        choices=["fixed", "float", "both"],
        default="both",
        help="which graph(s) to export (default: both, those that exist)",
    )
    p.add_argument("--graph", help="export this graph file instead (with --out)")
    p.add_argument("--out", help="ONNX file to write for --graph")
    p.add_argument(
        "--verify",
        action="store_true",
        help="run rung 3 on test samples (the fixed graph when present, else the float one); "
        "merge it into RUN_DIR/verify.json",
    )
    p.add_argument(
        "--n", type=positive_int, default=256, help="test samples for --verify (default 256)"
    )
    p.add_argument(
        "--reference-samples",
        type=nonnegative_int,
        default=16,
        help="samples also run in onnx.reference, which is slow (default 16)",
    )
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.exports import export_onnx_run

    check_out_path(args.out)

    res = export_onnx_run(
        args.run_dir,
        formats=["fixed", "float"] if args.format == "both" else [args.format],
        graph=args.graph,
        out=args.out,
        verify_n=args.n if args.verify else None,
        reference_samples=args.reference_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=progress_enabled(args),
    )
    return Outcome({"models": res.files, "rung3": res.rung}, "\n".join(res.lines), ok=res.passed)
