"""``spikefold verify RUN_DIR``: rungs 0 and 1 of the verification ladder -> verify.json."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome, positive_int, progress_enabled


def _rungs(text: str) -> tuple[int, ...]:
    try:
        rungs = tuple(sorted({int(r) for r in text.split(",") if r.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rungs takes e.g. 0,1; got {text!r}") from None
    if not rungs or not set(rungs) <= {0, 1}:
        raise argparse.ArgumentTypeError(f"this command runs rungs 0 and 1; got {text!r}")
    return rungs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory with checkpoint, graph.float.npz, ...")
    p.add_argument("--n", type=positive_int, help="first N test samples (default: all)")
    p.add_argument("--rungs", type=_rungs, default=(0, 1), help="comma list, default 0,1")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.verify import VERIFY_JSON, verify_run

    results = verify_run(
        args.run_dir,
        n=args.n,
        rungs=args.rungs,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=progress_enabled(args),
    )
    path = f"{args.run_dir}/{VERIFY_JSON}"
    lines = [r.summary() for r in results] + [f"wrote {path}"]
    data = {"verify_json": path, "rungs": {str(r.rung): r.to_dict() for r in results}}
    return Outcome(data, "\n".join(lines), ok=all(r.passed for r in results))
