"""``spikefold export TARGET RUN_DIR``: export a run's hardware graph to Lava, ONNX, NIR or
lava-dl NetX (the file a Loihi 2 deployment loads).

Each target is a subcommand with its own options, implemented in
``toolchain.commands.export_<target>`` (``add_arguments(parser)``, ``run(args) -> Outcome``).
"""

from __future__ import annotations

import argparse
import importlib

from toolchain.console import Outcome, add_common_arguments

#: target -> (module path, one-line help)
TARGETS: dict[str, tuple[str, str]] = {
    "lava": ("toolchain.commands.export_lava", "Lava process graph (+ rung 2 with --verify)"),
    "onnx": ("toolchain.commands.export_onnx", "ONNX spiking IR (ai.spikefold op set, + rung 3)"),
    "nir": ("toolchain.commands.export_nir", "NIR 1.0 file of the float graph (+ rung 4)"),
    "netx": ("toolchain.commands.export_netx", "lava-dl NetX HDF5 for Loihi 2 (+ rung 2N)"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name, (module, help_) in TARGETS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        importlib.import_module(module).add_arguments(sp)
        add_common_arguments(sp)
        sp.set_defaults(prog=f"spikefold export {name}")  # errors name the full command


def run(args: argparse.Namespace) -> Outcome:
    module, _ = TARGETS[args.target]
    return importlib.import_module(module).run(args)
