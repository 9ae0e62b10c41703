"""``spikefold export nir RUN_DIR``: the run's float hardware graph as a NIR file (``model.nir``),
optionally checked by rung 4 (the NIR graph executed by Norse against hwsim) into
``verify.json``. The mapping and its limits: ``docs/nir.md``."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.rundir import GRAPH_FLOAT, MODEL_NIR


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory holding graph.float.npz (spikefold fold)")
    p.add_argument("--graph", help=f"float graph file (default RUN_DIR/{GRAPH_FLOAT})")
    p.add_argument("--out", help=f"NIR file to write (default RUN_DIR/{MODEL_NIR})")
    p.add_argument(
        "--dt", type=float, default=1.0, help="NIR time step of one hwsim step (default 1)"
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="run rung 4 (hwsim float vs Norse) on test samples; merge into RUN_DIR/verify.json",
    )
    p.add_argument("--n", type=int, default=256, help="test samples for --verify (default 256)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from exporters.nir_export import rung4, write_nir
    from hwsim.errors import ConfigError
    from hwsim.io import load_graph

    if args.verify and args.n < 1:
        raise ConfigError(f"--n must be positive, got {args.n}")
    run_dir = Path(args.run_dir)
    graph_path = Path(args.graph) if args.graph else run_dir / GRAPH_FLOAT
    if not graph_path.exists():
        raise ConfigError(f"{graph_path} is missing: run `spikefold fold {run_dir}` first")
    graph = load_graph(graph_path)
    out = write_nir(graph, Path(args.out) if args.out else run_dir / MODEL_NIR, dt=args.dt)
    print(f"wrote {out} (NIR, {len(graph.nodes)} hardware nodes, dt={args.dt:g})")
    if not args.verify:
        return 0
    from hwsim.verify import write_verify_json
    from toolchain.pipeline import load_trained
    from toolchain.verify import VERIFY_JSON

    _model, _cfg, data = load_trained(run_dir)
    x = data.inputs("test", args.n)
    res = rung4(
        graph,
        x,
        dt=args.dt,
        batch_size=args.batch_size,
        generator=np.random.default_rng(args.seed),
    )
    write_verify_json(run_dir / VERIFY_JSON, res)
    print(res.summary())
    print(f"wrote {run_dir / VERIFY_JSON}")
    return 0 if res.passed else 1
