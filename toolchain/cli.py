"""The ``spikefold`` command line.

Each subcommand lives in its own module under ``toolchain.commands`` exposing
``add_arguments(parser)`` and ``run(args) -> toolchain.console.Outcome``; modules are imported
lazily (only the one named on the command line) and import nothing heavy at module level, so
``spikefold --help`` and ``spikefold <cmd> --help`` start instantly (no torch, no Lava). Output,
progress bars, ``--json`` and exit statuses follow :mod:`toolchain.console`. A subcommand whose
module is ``None`` is planned but not built yet: it says so and exits non-zero, never fakes
output.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from toolchain.console import EXIT_NOT_BUILT, EXIT_USAGE, add_common_arguments, run_command

__all__ = ["COMMANDS", "NOT_BUILT", "main", "build_parser", "version"]

#: name -> (module path or None if not built yet, one-line help)
COMMANDS: dict[str, tuple[str | None, str]] = {
    "run": ("toolchain.commands.run", "the whole chain, resumable: train ... export ... report"),
    "train": ("toolchain.commands.train", "train a spiking network from a config file or flags"),
    "import": (
        "toolchain.commands.import_nir",
        "import a network trained elsewhere (a NIR file) into a run directory",
    ),
    "fold": ("toolchain.commands.fold", "fold a trained checkpoint into a float hardware graph"),
    "quantize": ("toolchain.commands.quantize", "quantise a float hardware graph to fixed point"),
    "simulate": ("toolchain.commands.simulate", "run a hardware graph in the hwsim simulator"),
    "verify": ("toolchain.commands.verify", "run the verification ladder on a run directory"),
    "export": ("toolchain.commands.export", "export a hardware graph to Lava, ONNX or NIR"),
    "check": ("toolchain.commands.check", "list every design-rule violation for a target"),
    "run-lava": ("toolchain.commands.run_lava", "Lava-simulated inference on test samples"),
    "report": ("toolchain.commands.report", "write spikes/operations/energy reports of a run"),
    "inspect": ("toolchain.commands.inspect", "a hardware graph's nodes: shapes, bits, timing"),
}

NOT_BUILT = EXIT_NOT_BUILT  # exit status of a planned subcommand that does not exist yet


def version() -> str:
    """The installed distribution's version (``importlib.metadata``; no package import)."""
    from importlib import metadata

    try:
        return metadata.version("spikefold")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown (not installed)"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the subcommands named in ``argv`` (default ``sys.argv[1:]``) import
    their module to add their arguments."""
    requested = set(sys.argv[1:] if argv is None else argv) & set(COMMANDS)
    parser = argparse.ArgumentParser(
        prog="spikefold",
        description="Fold, quantise, export, simulate and verify trained spiking networks.",
    )
    parser.add_argument("--version", action="version", version=f"spikefold {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        label = help_ if module else f"{help_} (not built yet)"
        p = sub.add_parser(name, help=label, description=label)
        if module is None:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            continue
        if name in requested:
            importlib.import_module(module).add_arguments(p)
        add_common_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    sys.argv = [sys.argv[0], *argv]  # --nproc relaunches the command line it was given
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2, flag named)
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    module, _ = COMMANDS[args.command]
    if module is None:
        print(f"spikefold {args.command}: not built yet", file=sys.stderr)
        return NOT_BUILT
    prog = getattr(args, "prog", f"spikefold {args.command}")  # nested: `spikefold export nir`
    return run_command(prog, args, importlib.import_module(module).run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
