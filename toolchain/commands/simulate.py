"""``spikefold simulate GRAPH``: run a hardware graph in hwsim on a dataset's test split.

``--nproc N`` shards the test set over ``N`` processes started by torch's launcher (gloo): each
simulates a contiguous block of samples and the main process gathers and reports the whole
(:func:`toolchain.distributed.simulate_sharded`).
"""

from __future__ import annotations

import argparse
import time

from toolchain.console import Outcome, positive_int, progress_enabled


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", help="a hardware graph file (*.npz written by fold/quantize)")
    p.add_argument(
        "--dataset",
        default="digits",
        help="dataset name, e.g. digits, cifar100, nmnist (docs/data.md)",
    )
    p.add_argument("--data-root", help="directory of the dataset's local files (docs/data.md)")
    p.add_argument("--n", type=positive_int, help="first N test samples (default: all)")
    p.add_argument(
        "--timing",
        choices=["ideal", "lava"],
        help="timing mode (default: the graph's; 'lava' converts an ideal graph)",
    )
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")
    p.add_argument(
        "--nproc",
        type=positive_int,
        default=1,
        metavar="N",
        help="shard the samples over N processes (rate inputs then draw seed + rank)",
    )


def run(args: argparse.Namespace) -> Outcome | int:
    import os
    import sys
    from pathlib import Path

    import numpy as np

    from hwsim.errors import ConfigError
    from hwsim.graph import SPIKING_KINDS
    from hwsim.io import load_graph
    from toolchain import provenance
    from toolchain.data import load_dataset
    from toolchain.distributed import init_context, launch, simulate_sharded

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return launch(args.nproc, sys.argv[1:])  # the launched processes print the result
    from toolchain.pipeline import reshape_frames

    path = Path(args.graph)
    provenance.require_fresh(path.parent, [path.name])  # a graph of a run: refused when stale
    graph = load_graph(path)
    if args.timing and args.timing != graph.metadata.timing:
        if args.timing == "ideal":
            raise ConfigError(f"{args.graph} is lava-timed; simulate it as is or re-fold")
        from toolchain.fold import to_lava_timing

        graph = to_lava_timing(graph)
    (inp,) = graph.input_names()
    data = load_dataset(args.dataset, root=args.data_root, T=graph.metadata.T)
    # an imported graph's input may be a vector or (C, 1, L): frames are reshaped to it
    data = reshape_frames(data, graph.nodes[inp].shape)
    x, y = data.inputs("test", args.n), data.y_test[: args.n].numpy()
    ctx = init_context("cpu")
    start = time.perf_counter()
    res = simulate_sharded(
        graph, x, ctx, args.batch_size, args.seed, progress=progress_enabled(args) and ctx.main
    )
    wall = time.perf_counter() - start
    if not ctx.main:
        return 0  # the main process reports the gathered result; this one prints nothing
    n = len(y)
    shapes = graph.shapes()
    layers = {}
    for name, node in graph.nodes.items():
        if isinstance(node, SPIKING_KINDS):
            ev = res.events(name)
            size = int(np.prod(shapes[name]))
            layers[name] = {
                "spikes_per_sample": ev / n,
                "firing_rate": ev / (n * size * graph.metadata.T),
                "neurons": size,
            }
    out = {
        "graph": str(args.graph),
        "format": graph.metadata.format,
        "timing": graph.metadata.timing,
        "dataset": args.dataset,
        "samples": n,
        "T": graph.metadata.T,
        "steps": res.steps,
        "accuracy": float(np.mean(res.predictions == y)),
        "spikes_per_sample": sum(v["spikes_per_sample"] for v in layers.values()),
        "layers": layers,
        "overflow": res.overflow,
        "wall_s": wall,
        "sample_steps_per_s": n * res.steps / wall if wall > 0 else None,
    }
    lines = [
        f"{args.graph}: {out['format']}/{out['timing']}, T={out['T']} ({res.steps} steps), "
        f"{n} {args.dataset} test samples",
        f"accuracy {out['accuracy']:.2%}; {out['spikes_per_sample']:.1f} spikes per sample",
    ]
    for name, v in layers.items():
        lines.append(
            f"  {name:<16} {v['neurons']:>7} neurons  {v['spikes_per_sample']:>10.1f} "
            f"spikes/sample  rate {v['firing_rate']:.4f}"
        )
    if res.overflow:
        lines.append(f"overflow events: {res.overflow}")
    lines.append(f"{wall:.2f} s ({out['sample_steps_per_s']:.0f} sample-steps/s)")
    return Outcome(out, "\n".join(lines))
