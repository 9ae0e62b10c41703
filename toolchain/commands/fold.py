"""``spikefold fold RUN_DIR``: trained run -> ``RUN_DIR/graph.float.npz`` (+ ``fold.json``)."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome, unit_float


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory written by `spikefold train`")
    p.add_argument(
        "--ei-floor",
        type=unit_float,
        metavar="QUANTILE",
        help="E-I circuits: a calibrated floor stabilisation (quantile of the per-sample "
        "smallest positive denominator, 0 = minimum) instead of the exact training rule",
    )
    p.add_argument(
        "--constant-thresholds",
        action="store_true",
        help="rewrite every per-step threshold schedule whose values are all equal to that one "
        "value (exact; NetX/Loihi and NIR need one threshold); refused, listing every layer, "
        "where a schedule has different values (docs/loihi.md)",
    )


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.fold import fold_run
    from toolchain.rundir import GRAPH_FLOAT

    res = fold_run(
        args.run_dir, ei_floor=args.ei_floor, constant_thresholds=args.constant_thresholds
    )
    g = res.graph
    kinds: dict[str, int] = {}
    for node in g.nodes.values():
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    path = f"{args.run_dir}/{GRAPH_FLOAT}"
    text = (
        f"wrote {path} (T={g.metadata.T}; " + ", ".join(f"{n} {k}" for k, n in kinds.items()) + ")"
    )
    return Outcome({"graph": path, "T": g.metadata.T, "nodes": kinds}, text)
