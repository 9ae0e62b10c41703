"""``spikefold run-lava RUN_DIR --n N``: Lava-simulated inference on N test samples.

Runs the run's Lava process graph (``model.lava.json`` written by ``spikefold export lava``,
or, when it is missing, the translation of ``graph.fixed.npz``) in Lava's simulator, all
samples in one runtime with a progress bar, and prints the accuracy, the spike counts of every
LIF layer and the time per sample. Its Lava workers end with it (``exporters.lava.lifecycle``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.console import Outcome, positive_int, progress_enabled, say
from toolchain.rundir import GRAPH_FIXED, LAVA_JSON


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory (spikefold train/fold/quantize/export lava)")
    p.add_argument("--n", type=positive_int, default=32, help="test samples (default 32)")
    p.add_argument("--spec", help=f"Lava process graph file (default RUN_DIR/{LAVA_JSON})")
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")
    p.add_argument(
        "--chunk", type=positive_int, default=256, help="at most N samples per Lava run() call"
    )


def run(args: argparse.Namespace) -> Outcome:
    import numpy as np

    from exporters.lava import load_lava, run_lava, translate
    from hwsim.errors import ConfigError
    from toolchain import provenance
    from toolchain.pipeline import load_run_dataset

    run_dir = Path(args.run_dir)
    path = Path(args.spec) if args.spec else run_dir / LAVA_JSON
    if args.spec is None:  # a spec exported before the run was re-quantised is refused
        provenance.require_fresh(run_dir, [LAVA_JSON if path.exists() else GRAPH_FIXED])
    if path.exists():
        spec, source = load_lava(path), str(path)
    elif args.spec is None and (run_dir / GRAPH_FIXED).exists():
        from hwsim.io import load_graph
        from toolchain.fold import to_lava_timing

        graph = to_lava_timing(load_graph(run_dir / GRAPH_FIXED))
        spec, source = translate(graph), f"{run_dir / GRAPH_FIXED}"
    else:
        raise ConfigError(f"{path} is missing: run `spikefold export lava {run_dir}` first")
    _cfg, data = load_run_dataset(run_dir)
    x, y = data.inputs("test", args.n), np.asarray(data.y_test[: args.n])
    lifs = [p.node for p in spec.processes.values() if p.role == "neuron"]
    say(
        args,
        f"Lava {spec.select_tag}: {source}, {len(spec.processes)} processes, {len(y)} samples",
    )
    res = run_lava(
        spec,
        x,
        record=lifs,
        generator=np.random.default_rng(args.seed),
        chunk=args.chunk,
        progress=progress_enabled(args),
    )
    summary = {
        "samples": int(len(y)),
        "accuracy": float(np.mean(res.predictions == y)) if res.predictions is not None else None,
        "spikes_per_sample": {k: res.events(k) / len(y) for k in lifs},
        "s_per_sample": res.timings["run_s"] / len(y),
        "build_s": res.timings["build_s"],
    }
    acc = "n/a" if summary["accuracy"] is None else f"{summary['accuracy']:.2%}"
    lines = [f"accuracy {acc} on {len(y)} test samples (Lava {spec.select_tag})"]
    spikes = summary["spikes_per_sample"]
    lines += [f"  {k:<16} {v:>10.1f} spikes/sample" for k, v in spikes.items()]
    lines.append(
        f"{summary['s_per_sample']:.3f} s per sample; Lava build {summary['build_s']:.2f} s"
    )
    return Outcome(summary, "\n".join(lines))
