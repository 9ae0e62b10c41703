"""The ``spikefold`` command line.

Each subcommand lives in its own module under ``toolchain.commands`` exposing
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported lazily so that
``spikefold --help`` starts instantly (no torch import). A subcommand whose module is ``None``
is planned but not built yet: it says so and exits non-zero, never fakes output.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["COMMANDS", "main", "build_parser"]

#: name -> (module path or None if not built yet, one-line help)
COMMANDS: dict[str, tuple[str | None, str]] = {
    "train": ("toolchain.commands.train", "train a spiking network from a config file or flags"),
    "fold": ("toolchain.commands.fold", "fold a trained checkpoint into a float hardware graph"),
    "quantize": ("toolchain.commands.quantize", "quantise a float hardware graph to fixed point"),
    "simulate": ("toolchain.commands.simulate", "run a hardware graph in the hwsim simulator"),
    "verify": ("toolchain.commands.verify", "run the verification ladder on a run directory"),
    "export": ("toolchain.commands.export", "export a hardware graph to Lava, ONNX or NIR"),
    "run-lava": ("toolchain.commands.run_lava", "Lava-simulated inference on test samples"),
    "report": ("toolchain.commands.report", "write spikes/operations/energy reports of a run"),
    "inspect": ("toolchain.commands.inspect", "a hardware graph's nodes: shapes, bits, timing"),
}

NOT_BUILT = 3  # exit status of a planned subcommand that does not exist yet


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikefold",
        description="Fold, quantise, export, simulate and verify trained spiking networks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        label = help_ if module else f"{help_} (not built yet)"
        p = sub.add_parser(name, help=label, description=label)
        if module is not None and name in _requested(sys.argv):
            importlib.import_module(module).add_arguments(p)
        elif module is None:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _requested(argv: list[str]) -> set[str]:
    """Subcommands named on the command line (only those get their arguments imported)."""
    return {a for a in argv[1:] if a in COMMANDS}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    sys.argv = [sys.argv[0], *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module, _ = COMMANDS[args.command]
    if module is None:
        print(f"spikefold {args.command}: not built yet", file=sys.stderr)
        return NOT_BUILT
    from hwsim.errors import SpikefoldError

    try:
        return int(importlib.import_module(module).run(args) or 0)
    except SpikefoldError as exc:
        print(f"spikefold {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
