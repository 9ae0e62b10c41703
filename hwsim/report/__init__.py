"""The report of a run: ``report.json``, ``report.md`` and ``report.html``.

:func:`build_report` gathers, per timing its exported targets run in (:class:`PricedRun`), the
exact counts (:class:`hwsim.counters.Counts`) and their prices under several models
(:func:`hwsim.pricing.price`), the stage table of the verification ladder
(:func:`stage_table`, from ``verify.json``) and the network's node table into one JSON-ready
dict; :func:`render_markdown` and :func:`render_html` render that dict alone (a report
re-renders from its ``report.json``), the HTML self-contained with the network drawn in SVG
and its plots inline. :func:`write_report` writes the three files atomically.

Numbers are stored exact and rounded once where shown (:mod:`hwsim.numfmt`): energies with two
significant figures and their ranges (DESIGN.md section 7: never a false precision),
fractions as percentages with two decimals.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hwsim.io import atomic_write_text
from hwsim.report.build import REPORT_SCHEMA, PricedRun, build_report
from hwsim.report.drawing import graph_svg
from hwsim.report.markdown import render_markdown
from hwsim.report.page import render_html
from hwsim.report.plots import PLOTS, make_plots
from hwsim.report.stages import STAGES, stage_table

__all__ = [
    "REPORT_SCHEMA",
    "REPORT_FILES",
    "STAGES",
    "PLOTS",
    "ReportPaths",
    "PricedRun",
    "build_report",
    "stage_table",
    "render_markdown",
    "render_html",
    "make_plots",
    "graph_svg",
    "write_report",
]

REPORT_FILES = ("report.json", "report.md", "report.html")


@dataclass(frozen=True)
class ReportPaths:
    """The three files of a report."""

    json: Path
    md: Path
    html: Path


def write_report(out_dir: str | os.PathLike, rep: dict) -> ReportPaths:
    """Write ``report.json``, ``report.md`` and ``report.html`` of ``rep`` (a
    :func:`build_report` dict) into ``out_dir``, each atomically; returns their paths."""
    d = Path(out_dir)
    paths = ReportPaths(*(d / f for f in REPORT_FILES))
    atomic_write_text(paths.json, json.dumps(rep, indent=2, ensure_ascii=False, allow_nan=False))
    atomic_write_text(paths.md, render_markdown(rep))
    atomic_write_text(paths.html, render_html(rep))
    return paths
