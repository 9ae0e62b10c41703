"""``spikefold export lava RUN_DIR``: the run's fixed hardware graph as a Lava process graph
(``model.lava.json``), optionally checked by rung 2 (hwsim vs Lava) into ``verify.json``.
The mapping, the timing and the file format: ``docs/lava.md``."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome, check_out_path, positive_int, progress_enabled
from toolchain.rundir import GRAPH_FIXED, GRAPH_FLOAT, LAVA_JSON


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory holding graph.fixed.npz (spikefold quantize)")
    p.add_argument("--graph", help=f"graph file (default RUN_DIR/{GRAPH_FIXED})")
    p.add_argument(
        "--float",
        action="store_true",
        dest="float_graph",
        help=f"export the float graph (RUN_DIR/{GRAPH_FLOAT}) for Lava's floating_pt models",
    )
    p.add_argument("--out", help=f"file to write (default RUN_DIR/{LAVA_JSON})")
    p.add_argument(
        "--verify",
        action="store_true",
        help="run rung 2 (hwsim vs Lava fixed_pt, and floating_pt when graph.float.npz "
        "exists) on test samples; merge into RUN_DIR/verify.json",
    )
    p.add_argument(
        "--n", type=positive_int, default=16, help="test samples for --verify (default 16)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.exports import export_lava_run

    check_out_path(args.out)

    res = export_lava_run(
        args.run_dir,
        float_graph=args.float_graph,
        graph=args.graph,
        out=args.out,
        verify_n=args.n if args.verify else None,
        seed=args.seed,
        progress=progress_enabled(args),
    )
    data = {"model": res.files["lava"], **res.info, "rung2": res.rung}
    return Outcome(data, "\n".join(res.lines), ok=res.passed)
