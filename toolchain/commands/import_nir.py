"""``spikefold import nir MODEL.nir --dataset D``: a network trained in snnTorch, Norse,
SpikingJelly, Sinabs or Rockpool (or written by spikefold) -> a run directory with
``graph.float.npz`` and no checkpoint, which ``quantize``, ``verify``, ``export``, ``run-lava``,
``report`` and ``simulate`` take like a trained run. What each library writes and how it is
read: ``docs/interop.md``."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome, add_common_arguments, positive_int

SOURCES = ("nir", "snntorch", "norse", "spikingjelly", "sinabs", "rockpool")  # see conventions


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    sp = sub.add_parser("nir", help="a NIR 1.0 file (.nir, HDF5)", description=__doc__)
    sp.add_argument("model", help="the NIR file (written by nir.write or a library's exporter)")
    sp.add_argument(
        "--dataset", required=True, help="the dataset it was trained on, e.g. digits (docs/data.md)"
    )
    sp.add_argument("--data-root", help="directory of the dataset's local files (docs/data.md)")
    sp.add_argument(
        "-T", "--T", type=positive_int, dest="T", help="steps per sample (default: metadata)"
    )
    sp.add_argument("--dt", type=_positive_float, help="the source's time step (default: detected)")
    sp.add_argument(
        "--source",
        choices=SOURCES,
        help="the library that wrote the file, to read its conventions (default: detected)",
    )
    sp.add_argument(
        "--encoding",
        choices=["direct", "rate"],
        default="direct",
        help="how frames drive the input: the analog frame every step, or Bernoulli spikes",
    )
    sp.add_argument("--name", help="run name (default: the file's stem)")
    sp.add_argument("--runs", default="runs", help="root directory of run directories")
    sp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing RUNS/NAME: delete every artifact of the run there first",
    )
    add_common_arguments(sp)
    sp.set_defaults(prog="spikefold import nir")  # errors name the full command


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.config import check_run_name
    from toolchain.console import check_runs_root
    from toolchain.nir_import import import_nir_run
    from toolchain.rundir import CONFIG, GRAPH_FLOAT, IMPORT_JSON, SOURCE_NIR

    check_runs_root(args.runs)
    if args.name is not None:
        check_run_name(args.name, "--name")
    res = import_nir_run(
        args.model,
        args.dataset,
        T=args.T,
        dt=args.dt,
        source=args.source,
        encoding=args.encoding,
        name=args.name,
        runs_root=args.runs,
        data_root=args.data_root,
        overwrite=args.overwrite,
    )
    rec, g = res.imported.record, res.imported.graph
    kinds: dict[str, int] = {}
    for node in g.nodes.values():
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    files = [str(res.run_dir / f) for f in (GRAPH_FLOAT, CONFIG, SOURCE_NIR, IMPORT_JSON)]
    lines = [
        f"imported {args.model} -> {res.run_dir}",
        f"  source: {rec.source} ({rec.source_from})",
        f"  dt = {rec.dt:g} ({rec.dt_from}); T = {rec.T}; encoding {rec.encoding}",
        "  nodes: " + ", ".join(f"{v} {k}" for k, v in kinds.items()),
        *(f"  inserted {hw}: {why}" for hw, why in rec.inserted.items()),
        *(f"  decision: {d}" for d in rec.decisions),
        *(f"  ASSUMED (lossy export): {a}" for a in rec.assumptions),
        f"wrote {', '.join(files)}",
        f"next: spikefold quantize {res.run_dir}  (or: spikefold run {res.run_dir})",
    ]
    data = {"run_dir": str(res.run_dir), "files": files, "nodes": kinds,
            "record": rec.to_dict(), "warnings": list(res.warnings)}  # fmt: skip
    return Outcome(data, "\n".join(lines))
