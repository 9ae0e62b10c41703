"""``spikefold export netx RUN_DIR``: the run's fixed hardware graph as a lava-dl NetX HDF5
file (``model.netx.h5``, the file ``lava.lib.dl.netx.hdf5.Network`` loads for Loihi 2),
optionally checked by rung 2N (the file loaded by NetX and run in Lava's ``fixed_pt``
simulator, against hwsim bit for bit) into ``verify.json``. What NetX cannot express is
refused with every reason (``spikefold check RUN --target loihi``). ``docs/loihi.md``."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome, positive_int
from toolchain.rundir import GRAPH_FIXED, NETX_H5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run_dir", help="a run directory holding graph.fixed.npz (spikefold quantize "
        "--target loihi)"
    )
    p.add_argument("--graph", help=f"graph file (default RUN_DIR/{GRAPH_FIXED})")
    p.add_argument("--out", help=f"file to write (default RUN_DIR/{NETX_H5})")
    p.add_argument(
        "--verify",
        action="store_true",
        help="run rung 2N (the file loaded by NetX, Lava fixed_pt, vs hwsim) on test samples; "
        "merge into RUN_DIR/verify.json",
    )
    p.add_argument(
        "--n", type=positive_int, default=8, help="test samples for --verify (default 8)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.exports import export_netx_run

    res = export_netx_run(
        args.run_dir,
        graph=args.graph,
        out=args.out,
        verify_n=args.n if args.verify else None,
        seed=args.seed,
    )
    data = {"model": res.files["netx"], **res.info, "rung2N": res.rung}
    return Outcome(data, "\n".join(res.lines), ok=res.passed)
