"""``spikefold run-lava RUN_DIR --n N``: Lava-simulated inference on N test samples.

Runs the run's Lava process graph (``model.lava.json`` written by ``spikefold export lava``,
or, when it is missing, the translation of ``graph.fixed.npz``) in Lava's simulator, sample by
sample with a progress bar, and prints the accuracy, the spike counts of every LIF layer and
the time per sample.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.rundir import GRAPH_FIXED, LAVA_JSON


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory (spikefold train/fold/quantize/export lava)")
    p.add_argument("--n", type=int, default=32, help="test samples (default 32)")
    p.add_argument("--spec", help=f"Lava process graph file (default RUN_DIR/{LAVA_JSON})")
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")
    p.add_argument("--chunk", type=int, default=256, help="samples per Lava runtime")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from exporters.lava import load_lava, run_lava, translate
    from hwsim.errors import ConfigError
    from toolchain.pipeline import load_trained

    run_dir = Path(args.run_dir)
    path = Path(args.spec) if args.spec else run_dir / LAVA_JSON
    fixed = run_dir / GRAPH_FIXED
    if args.spec is None and path.exists() and fixed.exists():
        if fixed.stat().st_mtime > path.stat().st_mtime:  # re-quantised after the export
            raise ConfigError(
                f"{path} is older than {fixed}: re-run `spikefold export lava {run_dir}`"
            )
    if path.exists():
        spec, source = load_lava(path), str(path)
    elif args.spec is None and (run_dir / GRAPH_FIXED).exists():
        from toolchain.commands.export_lava import _load

        spec, source = translate(_load(run_dir / GRAPH_FIXED)), f"{run_dir / GRAPH_FIXED}"
    else:
        raise ConfigError(f"{path} is missing: run `spikefold export lava {run_dir}` first")
    if args.n < 1:
        raise ConfigError(f"--n must be positive, got {args.n}")
    _model, _cfg, data = load_trained(run_dir)
    x, y = data.inputs("test", args.n), np.asarray(data.y_test[: args.n])
    lifs = [p.node for p in spec.processes.values() if p.role == "neuron"]
    print(f"Lava {spec.select_tag}: {source}, {len(spec.processes)} processes, {len(y)} samples")
    res = run_lava(
        spec,
        x,
        record=lifs,
        generator=np.random.default_rng(args.seed),
        chunk=args.chunk,
        progress=not args.no_progress,
    )
    summary = {
        "samples": int(len(y)),
        "accuracy": float(np.mean(res.predictions == y)) if res.predictions is not None else None,
        "spikes_per_sample": {k: res.events(k) / len(y) for k in lifs},
        "s_per_sample": res.timings["run_s"] / len(y),
        "build_s": res.timings["build_s"],
    }
    print(json.dumps(summary, indent=2))
    return 0
