"""``spikefold export TARGET RUN_DIR``: export a run's hardware graph to Lava, ONNX or NIR.

Each target is a subcommand with its own options, implemented in
``toolchain.commands.export_<target>`` (``add_arguments(parser)``, ``run(args)``); a target
whose module is ``None`` is planned but not built yet and says so (exit status 3).
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: target -> (module path or None if not built yet, one-line help)
TARGETS: dict[str, tuple[str | None, str]] = {
    "lava": ("toolchain.commands.export_lava", "Lava process graph (+ rung 2 with --verify)"),
    "onnx": ("toolchain.commands.export_onnx", "ONNX spiking IR (ai.spikefold op set, + rung 3)"),
    "nir": ("toolchain.commands.export_nir", "NIR 1.0 file of the float graph (+ rung 4)"),
}

NOT_BUILT = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name, (module, help_) in TARGETS.items():
        label = help_ if module else f"{help_} (not built yet)"
        sp = sub.add_parser(name, help=label, description=label)
        if module is None:
            sp.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        else:
            importlib.import_module(module).add_arguments(sp)


def run(args: argparse.Namespace) -> int:
    module, _ = TARGETS[args.target]
    if module is None:
        print(f"spikefold export {args.target}: not built yet", file=sys.stderr)
        return NOT_BUILT
    return int(importlib.import_module(module).run(args) or 0)
