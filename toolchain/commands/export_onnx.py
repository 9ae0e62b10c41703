"""``spikefold export onnx RUN_DIR``: the run's hardware graphs as ONNX step models
(``model.fixed.onnx`` from ``graph.fixed.npz``, ``model.float.onnx`` from
``graph.float.npz``, whichever exist), optionally checked by rung 3 (hwsim vs onnxruntime vs
onnx.reference) into ``verify.json``. The IR: ``docs/ir.md``."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.rundir import GRAPH_FIXED, GRAPH_FLOAT, ONNX_MODELS

GRAPHS = {"fixed": GRAPH_FIXED, "float": GRAPH_FLOAT}
MODELS = ONNX_MODELS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory holding graph.fixed.npz and/or graph.float.npz")
    p.add_argument(
        "--format",
        choices=["fixed", "float", "both"],
        default="both",
        help="which graph(s) to export (default: both, those that exist)",
    )
    p.add_argument("--graph", help="export this graph file instead (with --out)")
    p.add_argument("--out", help="ONNX file to write for --graph")
    p.add_argument(
        "--verify",
        action="store_true",
        help="run rung 3 on test samples (the fixed graph when present, else the float one); "
        "merge it into RUN_DIR/verify.json",
    )
    p.add_argument("--n", type=int, default=256, help="test samples for --verify (default 256)")
    p.add_argument(
        "--reference-samples",
        type=int,
        default=16,
        help="samples also run in onnx.reference, which is slow (default 16)",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def run(args: argparse.Namespace) -> int:
    from exporters.onnx import export_onnx, save_onnx
    from hwsim.errors import ConfigError
    from hwsim.io import load_graph

    if args.verify and args.n < 1:
        raise ConfigError(f"--n must be positive, got {args.n}")
    run_dir = Path(args.run_dir)
    if args.graph:
        if not args.out:
            raise ConfigError("--graph needs --out (the ONNX file to write)")
        jobs = {"given": (Path(args.graph), Path(args.out))}
    else:
        fmts = ["fixed", "float"] if args.format == "both" else [args.format]
        jobs = {
            f: (run_dir / GRAPHS[f], run_dir / MODELS[f])
            for f in fmts
            if (run_dir / GRAPHS[f]).exists()
        }
        if not jobs:
            wanted = ", ".join(str(run_dir / GRAPHS[f]) for f in fmts)
            raise ConfigError(f"none of {wanted} exists: run `spikefold fold`/`quantize` first")
    graphs = {}
    for key, (src, dst) in jobs.items():
        if not src.exists():
            raise ConfigError(f"{src} is missing")
        graph = load_graph(src)
        save_onnx(export_onnx(graph), dst)
        graphs[key] = graph
        md = graph.metadata
        print(f"wrote {dst} (ONNX step model, {md.format}, {md.timing} timing, T={md.T})")
    if not args.verify:
        return 0
    from exporters.onnx import rung3
    from hwsim.verify import write_verify_json
    from toolchain.pipeline import load_trained
    from toolchain.verify import VERIFY_JSON

    graph = graphs.get("fixed", graphs.get("float", graphs.get("given")))
    _model, _cfg, data = load_trained(run_dir)
    x, y = data.inputs("test", args.n), data.y_test[: args.n].numpy()
    res = rung3(
        graph,
        x,
        labels=y,
        batch_size=args.batch_size,
        reference_samples=args.reference_samples,
        seed=args.seed,
    )
    write_verify_json(run_dir / VERIFY_JSON, res)
    print(res.summary())
    print(f"wrote {run_dir / VERIFY_JSON}")
    return 0 if res.passed else 1
