"""The conventions every ``spikefold`` subcommand shares, in one place.

* **Output.** A command's ``run(args)`` returns an :class:`Outcome`: ``data`` (a JSON-ready
  dict) and ``text`` (what a person reads). :func:`emit` prints the text, or with ``--json``
  the data as one JSON document on stdout. Lines a command prints while it works go through
  :func:`say`: stdout for a person, stderr under ``--json`` so that stdout stays parseable.
* **Progress.** :func:`progress_enabled` is false with ``--no-progress`` or when stderr is not
  a terminal (a log file, a pipe, a test), as tqdm-based tools conventionally do; :func:`bar`
  is a tqdm bar on stderr honouring it.
* **Exit status.** :data:`EXIT_OK` (0): done, every check passed; :data:`EXIT_FAILED` (1): an
  error (a :class:`~hwsim.errors.SpikefoldError`, one line naming the file, flag or node; the
  traceback only with ``--debug``) or a check that ran and failed (a rung, a design rule);
  :data:`EXIT_USAGE` (2): bad flags (argparse names the flag); :data:`EXIT_NOT_BUILT` (3);
  :data:`EXIT_INTERRUPTED` (130, Ctrl-C).
* **Flag types** that name the flag in their error (:func:`positive_int`, ...), so a bad value
  is refused by argparse (``argument --n: ...``) before any work starts.

No heavy imports here (tqdm only inside :func:`bar`): the CLI imports this module while it
builds the parser, and ``spikefold <cmd> --help`` must stay instant.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_NOT_BUILT",
    "EXIT_INTERRUPTED",
    "Outcome",
    "add_common_arguments",
    "progress_enabled",
    "bar",
    "say",
    "emit",
    "run_command",
    "positive_int",
    "describe_os_error",
    "check_out_path",
    "check_runs_root",
    "nonnegative_int",
    "comma_list",
    "unit_float",
    "int_range",
    "positive_float",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_BUILT = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


@dataclass(frozen=True)
class Outcome:
    """What a command produced: ``data`` for ``--json``, ``text`` for a person, and ``ok``
    (false when a check it ran failed: the exit status is then :data:`EXIT_FAILED`)."""

    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    ok: bool = True


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """``--json``, ``--no-progress`` and ``--debug``, on every (sub)command's parser.

    The defaults are ``SUPPRESS`` (read with :func:`getattr`): argparse copies a subparser's
    defaults over its parent's values, so a flag given to ``spikefold export --json lava`` would
    otherwise be reset by the ``lava`` parser's own default."""
    g = p.add_argument_group("output")
    g.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the result as one JSON document on stdout (messages go to stderr)",
    )
    g.add_argument(
        "--no-progress",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars (they are off anyway when stderr is not a terminal)",
    )
    g.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )


def _flag(args: argparse.Namespace, name: str) -> bool:
    return bool(getattr(args, name, False))


def progress_enabled(args: argparse.Namespace) -> bool:
    """Progress bars on: no ``--no-progress`` and stderr is a terminal."""
    return not _flag(args, "no_progress") and sys.stderr.isatty()


def bar(iterable: Iterable | None = None, *, enabled: bool, **kwargs):
    """A tqdm progress bar on stderr (``kwargs`` go to tqdm: ``total``, ``desc``, ``unit``);
    a disabled bar still iterates and accepts ``update``/``set_postfix``."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled, file=sys.stderr, dynamic_ncols=True, **kwargs)


def say(args: argparse.Namespace, message: str) -> None:
    """A line a person reads while the command works (stdout; stderr under ``--json``)."""
    print(message, file=sys.stderr if _flag(args, "json") else sys.stdout, flush=True)


def emit(args: argparse.Namespace, outcome: Outcome) -> int:
    """Print ``outcome`` (its JSON under ``--json``, else its text) and return the exit status."""
    if _flag(args, "json"):
        print(json.dumps(outcome.data, indent=2, ensure_ascii=False, allow_nan=False))
    elif outcome.text:
        print(outcome.text)
    return EXIT_OK if outcome.ok else EXIT_FAILED


def run_command(
    prog: str, args: argparse.Namespace, fn: Callable[[argparse.Namespace], Outcome | int]
) -> int:
    """Run ``fn(args)``, print its outcome and map what it raises to an exit status (an int
    returned instead of an :class:`Outcome` is the status of processes the command launched,
    which printed for themselves: ``--nproc``); a
    :class:`~hwsim.errors.SpikefoldError` is one line ``prog: error: message`` on stderr (the
    traceback too with ``--debug``), Ctrl-C is :data:`EXIT_INTERRUPTED`."""
    from hwsim.errors import SpikefoldError

    try:
        outcome = fn(args)
    except SpikefoldError as exc:
        if _flag(args, "debug"):
            traceback.print_exc()
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a file the user named, a full disk, a read-only directory
        if _flag(args, "debug"):
            traceback.print_exc()
        print(f"{prog}: error: {describe_os_error(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except MemoryError:
        if _flag(args, "debug"):
            traceback.print_exc()
        print(f"{prog}: error: out of memory (a smaller --n or --batch-size?)", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bug: still one line; the traceback with --debug
        if _flag(args, "debug"):
            traceback.print_exc()
        print(
            f"{prog}: error: internal error ({type(exc).__name__}: {_clip(exc)}); this is a "
            "bug of spikefold: rerun with --debug for the traceback and report it",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if isinstance(outcome, int) and not isinstance(outcome, bool):
        # the work ran in processes this one launched (--nproc), and they printed the result;
        # or this is a worker process that leaves the printing to the main one
        return outcome
    if not isinstance(outcome, Outcome):  # a command module broke the convention
        raise TypeError(f"{prog}: run() returned {type(outcome).__name__}, not an Outcome")
    return emit(args, outcome)


def one_line(exc: BaseException) -> str:
    """An error message on one line: the lines of a multi-line message (a list of problems)
    joined with "; ", as the error policy has it (docs/errors.md)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(exc).__name__
    head, rest = lines[0], lines[1:]
    return f"{head} {'; '.join(rest)}" if head.endswith(":") else "; ".join(lines)


def _clip(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError``: the file, what went wrong, and what was kept."""
    import errno

    what = exc.strerror or _clip(exc)
    name = exc.filename if exc.filename is not None else None
    head = f"{name}: {what}" if name is not None else what
    if exc.errno == errno.ENOSPC:
        head += " (no space left on the device; writes are atomic, so a previous file of "
        head += "that name is intact: free space and rerun)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        head += " (not writable: a read-only directory or file? nothing was replaced)"
    return head


def check_out_path(path: str | None, flag: str = "--out") -> None:
    """Refuse an output path given by ``flag`` that names a directory or lies in a directory
    that does not exist (:class:`~hwsim.errors.ConfigError` naming the flag), before any
    work is done."""
    if path is None:
        return
    from pathlib import Path

    from hwsim.errors import ConfigError

    p = Path(path)
    if str(path).strip() == "" or p.is_dir() or str(path).endswith(("/", "\\")):
        raise ConfigError(f"{flag} {path!r}: names a directory; give the file to write")
    parent = p.parent
    if not parent.is_dir():
        what = "is a file, not a directory" if parent.exists() else "does not exist"
        raise ConfigError(f"{flag} {path}: the directory {parent} {what}")


def check_runs_root(path: str, flag: str = "--runs") -> None:
    """Refuse a root of run directories that exists and is not a directory."""
    from pathlib import Path

    from hwsim.errors import ConfigError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag} {path}: is a file, not a directory of runs")
    for up in p.parents:
        if up.exists():
            if not up.is_dir():
                raise ConfigError(f"{flag} {path}: {up} is a file, not a directory")
            break


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse prefixes the flag: ``argument --n: ...``)."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


#: hardware widths the quantiser accepts (hwsim.arith: WEIGHT_BITS_RANGE, PAYLOAD_BITS_MAX,
#: ACC_BITS; literal here so that --help imports nothing; a test checks they agree)
WEIGHT_BITS = (2, 8)
PAYLOAD_BITS = (1, 24)
INPUT_BITS = (1, 24)


def int_range(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer in ``[low, high]`` (a bit width)."""

    def parse(text: str) -> int:
        value = _int_at_least(text, -(1 << 62))
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}], got {value}")
        return value

    return parse


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
    return value


def unit_float(text: str) -> float:
    """argparse type: a number in [0, 1] (a quantile, a fraction)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a time step, a learning rate)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def comma_list(choices: Iterable[str]) -> Callable[[str], tuple[str, ...]]:
    """argparse type: a comma list of names out of ``choices`` (order kept, duplicates
    dropped), e.g. ``--targets lava,onnx``."""
    valid = tuple(choices)

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
        bad = [n for n in names if n not in valid]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"expected a comma list of {', '.join(valid)}; got {text!r}"
            )
        return names

    return parse
