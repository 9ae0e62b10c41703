"""The results generator's machinery: budgets, marked regions, rendering helpers.

Every table of ``docs/results.md`` and every figure of ``README.md`` sits in a *marked region*::

    <!-- results: dap_depth.table -->
    ...generated markdown...
    <!-- /results: dap_depth.table -->

An experiment module (``experiments/<name>.py``) provides ``run(budget) -> dict`` (it runs the
experiment and returns plain JSON data) and ``render(data) -> {region: markdown}`` (pure: the
same data always renders the same text, sentences included). ``python -m experiments.all``
runs them, stores each one's data as ``results-data/<name>.json`` and rewrites the regions
between their markers; text outside the markers is never touched. Because rendering is pure,
``tests/experiments/test_results.py`` re-renders the committed data and checks that the
committed regions are exactly the generator's output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hwsim.errors import ConfigError
from hwsim.io import atomic_write_text

__all__ = [
    "Budget",
    "REGION",
    "regions",
    "rewrite",
    "load_data",
    "save_data",
    "pct",
    "md_table",
    "trend",
]

#: a marked region: its name and its body (everything between the two markers)
REGION = re.compile(
    r"<!-- results: (?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /results: (?P=name) -->", re.S
)


@dataclass(frozen=True)
class Budget:
    """How much to run and where to write.

    ``quick``: CI-sized (minutes in all; small nets, few epochs, few seeds) instead of the
    documented sizes. ``runs``: root for run directories; ``img``: where plots go (the
    rendered markdown refers to them as ``img/<file>``).
    """

    quick: bool
    runs: Path
    img: Path


def regions(text: str) -> dict[str, str]:
    """``{name: body}`` of every marked region in ``text``; a name used twice raises."""
    found: dict[str, str] = {}
    for m in REGION.finditer(text):
        if m["name"] in found:
            raise ConfigError(f"results region {m['name']!r} is marked twice")
        found[m["name"]] = m["body"]
    return found


def rewrite(text: str, rendered: Mapping[str, str]) -> tuple[str, set[str]]:
    """Replace the body of every region of ``text`` that ``rendered`` has; returns the new
    text and the names replaced. Regions ``rendered`` lacks are left as they are."""
    done: set[str] = set()

    def sub(m: re.Match) -> str:
        name = m["name"]
        if name not in rendered:
            return m[0]
        done.add(name)
        body = rendered[name].rstrip("\n") + "\n"
        return f"<!-- results: {name} -->\n{body}<!-- /results: {name} -->"

    return REGION.sub(sub, text), done


def save_data(directory: Path, name: str, data: dict) -> Path:
    path = Path(directory) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return path


def load_data(directory: Path, name: str) -> dict:
    path = Path(directory) / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no stored results for {name!r} (run python -m experiments.all)")
    return json.loads(path.read_text(encoding="utf-8"))


# -- rendering helpers --------------------------------------------------------------------------


def pct(x: float, digits: int = 2) -> str:
    """``0.9526 -> '95.26%'``; exactly 1 reads ``100%``."""
    return "100%" if x == 1 else f"{100 * x:.{digits}f}%"


def md_table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def trend(before: float, after: float, tolerance: float = 1.5, plural: bool = False) -> str:
    """``'stays flat'`` when ``after / before`` lies within ``[1/tolerance, tolerance]``,
    else ``'falls'`` or ``'rises'`` (``plural``: ``'stay flat'``, ``'fall'``, ``'rise'``): a
    verb decided by the numbers, for generated sentences."""
    if before <= 0:
        word = "rise" if after > 0 else "stay flat"
    elif after / before < 1 / tolerance:
        word = "fall"
    elif after / before > tolerance:
        word = "rise"
    else:
        word = "stay flat"
    if plural:
        return word
    return word.replace("stay", "stays") if word.startswith("stay") else word + "s"
