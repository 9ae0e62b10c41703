"""``spikefold export lava RUN_DIR``: the run's fixed hardware graph as a Lava process graph
(``model.lava.json``), optionally checked by rung 2 (hwsim vs Lava) into ``verify.json``.
The mapping, the timing and the file format: ``docs/lava.md``."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.rundir import GRAPH_FIXED, GRAPH_FLOAT, LAVA_FLOAT_JSON, LAVA_JSON


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
    p.add_argument("--n", type=int, default=16, help="test samples for --verify (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def _load(path: Path):
    from hwsim.errors import ConfigError
    from hwsim.io import load_graph
    from toolchain.fold import to_lava_timing

    if not path.exists():
        stage = "quantize" if path.name == GRAPH_FIXED else "fold"
        raise ConfigError(f"{path} is missing: run `spikefold {stage}` first")
    return to_lava_timing(load_graph(path))


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from exporters.lava import export_lava
    from hwsim.errors import ConfigError

    if args.verify and args.n < 1:
        raise ConfigError(f"--n must be positive, got {args.n}")
    run_dir = Path(args.run_dir)
    default = GRAPH_FLOAT if args.float_graph else GRAPH_FIXED
    graph = _load(Path(args.graph) if args.graph else run_dir / default)
    out = (
        Path(args.out)
        if args.out
        else run_dir / (LAVA_FLOAT_JSON if args.float_graph else LAVA_JSON)
    )
    spec = export_lava(graph, out)
    stock = sum(p.kind.startswith("lava.") for p in spec.processes.values())
    print(
        f"wrote {out} ({len(spec.processes)} Lava processes: {stock} Lava's own, "
        f"{len(spec.processes) - stock} spikefold; {spec.select_tag}; T={spec.T}, "
        f"{spec.steps} steps per sample)"
    )
    if not args.verify:
        return 0
    from exporters.lava.rung2 import rung2_entry, rung2_fixed, rung2_float
    from hwsim.verify import write_verify_json
    from toolchain.pipeline import load_trained
    from toolchain.verify import VERIFY_JSON

    _model, _cfg, data = load_trained(run_dir)
    x, y = data.inputs("test", args.n), np.asarray(data.y_test[: args.n])
    gen = np.random.default_rng
    if graph.metadata.format == "fixed":
        fixed = rung2_fixed(graph, x, generator=gen(args.seed), spec=spec, labels=y, progress=True)
        flt = None
        # The float half checks the run's own float graph: only when the fixed graph is the
        # run's too (a --graph from elsewhere has no float twin here).
        if not args.graph and (run_dir / GRAPH_FLOAT).exists():
            flt = rung2_float(_load(run_dir / GRAPH_FLOAT), x, generator=gen(args.seed), labels=y)
        entry = rung2_entry(fixed, flt)
        print(fixed.summary())
        if flt is not None:
            print(flt.summary())
    else:
        flt = rung2_float(graph, x, generator=gen(args.seed), spec=spec, labels=y, progress=True)
        entry = rung2_entry(flt)
        print(flt.summary())
    write_verify_json(run_dir / VERIFY_JSON, {"2": entry})
    print(f"wrote {run_dir / VERIFY_JSON}")
    return 0 if entry["passed"] else 1
