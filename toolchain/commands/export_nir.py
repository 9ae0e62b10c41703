"""``spikefold export nir RUN_DIR``: the run's float hardware graph as a NIR file (``model.nir``),
optionally checked by rung 4 (the NIR graph executed by Norse against hwsim) into
``verify.json``. The mapping and its limits: ``docs/nir.md``."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome, check_out_path, positive_float, positive_int
from toolchain.rundir import GRAPH_FLOAT, MODEL_NIR


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory holding graph.float.npz (spikefold fold)")
    p.add_argument("--graph", help=f"float graph file (default RUN_DIR/{GRAPH_FLOAT})")
    p.add_argument("--out", help=f"NIR file to write (default RUN_DIR/{MODEL_NIR})")
    p.add_argument(
        "--dt", type=positive_float, default=1.0, help="NIR time step of one hwsim step (default 1)"
    )
    p.add_argument(
        "--portable",
        action="store_true",
        help="R = 1 on every neuron, gains folded into the weights: for readers that ignore R "
        "(Norse, Sinabs); docs/interop.md gives each reader's dt",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="run rung 4 (hwsim float vs Norse) on test samples; merge into RUN_DIR/verify.json",
    )
    p.add_argument(
        "--n", type=positive_int, default=256, help="test samples for --verify (default 256)"
    )
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.exports import export_nir_run

    check_out_path(args.out)

    res = export_nir_run(
        args.run_dir,
        dt=args.dt,
        portable=args.portable,
        graph=args.graph,
        out=args.out,
        verify_n=args.n if args.verify else None,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    data = {"model": res.files["nir"], **res.info, "rung4": res.rung}
    return Outcome(data, "\n".join(res.lines), ok=res.passed)
