"""``spikefold verify RUN_DIR``: rungs of the verification ladder -> verify.json.

Rung 0 needs the trained model (a run without a checkpoint, such as ``spikefold import nir``'s,
records it as skipped); 1-4 need only the graphs (2-4 run ``spikefold export lava|onnx|nir
--verify``); S compares an imported graph with the source library's own spikes
(``--reference``). ``docs/verification.md``, ``docs/interop.md``."""

from __future__ import annotations

import argparse

from toolchain.console import Outcome, positive_int, progress_enabled

RUNGS = ("0", "1", "2", "3", "4", "S")  # toolchain.verify.RUNGS (kept here: --help is light)


def _rungs(text: str) -> tuple[int | str, ...]:
    names = tuple(dict.fromkeys(r.strip().upper() for r in text.split(",") if r.strip()))
    if not names or not set(names) <= set(RUNGS):
        raise argparse.ArgumentTypeError(
            f"expected a comma list of {', '.join(RUNGS)}; got {text!r}"
        )
    return tuple(r if r == "S" else int(r) for r in names)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory with graph.float.npz (trained or imported)")
    p.add_argument("--n", type=positive_int, help="first N test samples (default: all)")
    p.add_argument(
        "--rungs",
        type=_rungs,
        default=(0, 1),
        help="comma list of 0,1,2,3,4,S (default 0,1): 0 torch model vs float graph, 1 float "
        "vs fixed graph, 2 Lava, 3 ONNX, 4 NIR in Norse (2-4 write the exported model too, as "
        "export --verify), S imported graph vs its source library (--reference)",
    )
    p.add_argument(
        "--reference",
        help="rung S: .npz of the source library's per-node spikes keyed by NIR node name, "
        "with the input sequence under the Input node's name",
    )
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--seed", type=int, default=0, help="seed of rate-encoded inputs")


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.verify import VERIFY_JSON, verify_run

    results = verify_run(
        args.run_dir,
        n=args.n,
        rungs=args.rungs,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=progress_enabled(args),
        reference=args.reference,
    )
    path = f"{args.run_dir}/{VERIFY_JSON}"
    lines = [r.summary() for r in results] + [f"wrote {path}"]
    data = {"verify_json": path, "rungs": {str(r.rung): r.to_dict() for r in results}}
    return Outcome(data, "\n".join(lines), ok=all(r.passed for r in results))
