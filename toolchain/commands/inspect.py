"""``spikefold inspect GRAPH_OR_RUN``: the table of a hardware graph's nodes (name, kind, input
and output shapes, parameters, bit widths, timing offsets, settings); ``--json`` for a program.

A run directory shows ``graph.fixed.npz`` when it was quantised, else ``graph.float.npz``
(``--graph`` chooses); ``--timing lava`` shows the graph as the Lava export runs it (Delay
nodes balancing the paths, each node's arrival offset)."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a hardware graph file (.npz) or a run directory")
    p.add_argument(
        "--graph",
        choices=["auto", "fixed", "float"],
        default="auto",
        help="for a run directory: which graph (default: fixed if quantised, else float)",
    )
    p.add_argument(
        "--timing",
        choices=["stored", "lava"],
        default="stored",
        help="show the graph as stored (default) or in Lava's timing (Delay nodes, offsets)",
    )


def run(args: argparse.Namespace) -> Outcome:
    from pathlib import Path

    from hwsim.describe import node_rows
    from hwsim.errors import ConfigError
    from hwsim.io import load_graph, to_dict
    from toolchain.report import resolve_graph

    path = Path(args.path)
    if path.is_dir():
        path = resolve_graph(path, args.graph)
    elif not path.exists():
        raise ConfigError(f"{path}: no such graph file or run directory (the PATH argument)")
    elif args.graph != "auto":
        raise ConfigError(f"--graph {args.graph} chooses a graph of a run directory; {path} is "
                          "a file")  # fmt: skip
    graph = load_graph(path)
    if args.timing == "lava":
        from toolchain.fold.timing import to_lava_timing

        graph = to_lava_timing(graph)
    meta = to_dict(graph.metadata)
    rows = node_rows(graph)
    out = {"file": str(path), "metadata": meta, "nodes": rows,
           "edges": [list(e) for e in graph.edges],
           "parameters": sum(r["params"] for r in rows)}  # fmt: skip
    return Outcome(out, f"{path}\n{graph.summary()}")
