"""``spikefold check RUN_DIR --target TARGET``: every design-rule violation of the run's graph
for a target, at once, each with its layer and the fix that exists (``toolchain.check``).
Exit status 0 when the target takes the network as it is, 1 when anything is listed."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome

CHECK_TARGETS = ("lava", "onnx", "nir", "loihi", "hwsim")  # toolchain.check.CHECK_TARGETS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory (graph.float.npz, graph.fixed.npz)")
    p.add_argument("--target", required=True, choices=CHECK_TARGETS, help="the target to check")
    p.add_argument("--graph", help="check this graph file instead of the run's")


def run(args: argparse.Namespace) -> Outcome:
    import dataclasses
    from pathlib import Path

    from hwsim.io import load_graph
    from toolchain import provenance
    from toolchain.check import PENDING, check_graph, graph_for

    path = Path(args.graph) if args.graph else graph_for(args.run_dir, args.target)
    if not args.graph:
        provenance.require_fresh(args.run_dir, [path.name])
    found = check_graph(load_graph(path), args.target)
    verdict = (
        f"{path}: {args.target} takes the network as it is"
        if not found
        else f"{path}: {len(found)} design-rule violation(s) for {args.target}"
    )
    lines = [verdict]
    for v in found:
        lines.append(f"  [{v.rule}] layer {v.layer!r}: {v.what}")
        lines.append(f"      fix: {v.fix or 'none known'}")
    note = PENDING.get(args.target)
    if note:
        lines.append(f"note: {note}")
    data = {
        "graph": str(path),
        "target": args.target,
        "ok": not found,
        "violations": [dataclasses.asdict(v) for v in found],
        "note": note,
    }
    return Outcome(data, "\n".join(lines), ok=not found)
