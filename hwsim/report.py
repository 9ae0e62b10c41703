"""Spikes, operations and energy reports: ``report.json``, ``report.md``, ``report.html``.

:func:`build_report` gathers one run's exact counts (:class:`hwsim.counters.Counts`), its
pricings under several models (:func:`hwsim.energy.price`) and the verification results
(``verify.json``) into one JSON-ready dict; :func:`render_markdown` and :func:`render_html`
render that dict alone (so a report can be re-rendered from its ``report.json``), the HTML
self-contained with its plots inline (matplotlib's Agg backend, base64 PNG).
:func:`write_report` writes the three files atomically.

Energies are shown with two significant figures and their ranges (DESIGN.md section 7: never a
false precision); counts per sample are exact averages.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hwsim.counters import Counts
from hwsim.energy import fmt_energy, sig
from hwsim.io import atomic_write_text

__all__ = [
    "REPORT_SCHEMA",
    "ReportPaths",
    "build_report",
    "render_markdown",
    "render_html",
    "make_plots",
    "write_report",
]

REPORT_SCHEMA = 1
REPORT_FILES = ("report.json", "report.md", "report.html")


@dataclass(frozen=True)
class ReportPaths:
    """The three files of a report."""

    json: Path
    md: Path
    html: Path


def build_report(
    counts: Counts,
    pricings: Sequence,
    *,
    verify: Mapping | None = None,
    meta: Mapping | None = None,
    extra: Mapping | None = None,
) -> dict:
    """Everything in one JSON-ready dict: ``meta`` (run facts: graph, dataset, accuracy, ...),
    ``counts`` (:meth:`Counts.to_dict`), ``energy`` per model (:meth:`Pricing.to_dict`),
    ``headline`` numbers, ``verify`` (the ``verify.json`` contents or None) and ``extra``
    (e.g. a Lava cross-check)."""
    energy = {p.model.name: p.to_dict() for p in pricings}
    headline = {
        "samples": counts.samples,
        "spikes_per_sample": sum(
            counts.per_sample("out_events", n) for n in counts.nodes("neuron", ("LIF",))
        ),
        "synaptic_ops_per_sample": counts.per_sample("acs") + counts.per_sample("macs"),
        "energy": {},
    }
    for p in pricings:
        tot = p.total()
        item = {"snn": fmt_energy(tot[0], rng=tot[1:]), "snn_pj": sig(tot[0], 3)}
        if p.ann:
            a, r = p.total("ann"), p.ratio()
            item["ann"] = fmt_energy(a[0], rng=a[1:])
            item["ann_pj"] = sig(a[0], 3)
            if r is not None:
                item["ann_over_snn"] = _ratio_text(r)
        if p.unpriced:
            item["unpriced"] = sorted(p.unpriced)
        headline["energy"][p.model.name] = item
    return {
        "spikefold_report": REPORT_SCHEMA,
        "meta": dict(meta or {}),
        "headline": headline,
        "counts": counts.to_dict(),
        "energy": energy,
        "verify": None if verify is None else dict(verify),
        "extra": dict(extra or {}),
    }


def _ratio_text(r) -> str:
    nominal, lo, hi = (sig(v, 2) for v in r)
    return f"{nominal:g}" if lo == hi else f"{nominal:g} ({lo:g}-{hi:g})"


def _n(v, digits: int = 1) -> str:
    """A per-sample count: integers as such, averages with ``digits`` decimals."""
    if v is None:
        return "-"
    v = float(v)
    return f"{int(v):,}" if v.is_integer() else f"{v:,.{digits}f}"


# ---------------------------------------------------------------------------------------------
# tables (shared by markdown and html)


def _layer_rows(rep: dict) -> tuple[list[str], list[list[str]]]:
    head = ["node", "kind", "shape", "neurons", "in events", "ACs", "MACs", "of which enc.",
            "Dense", "spikes / events out", "firing rate", "updates", "membrane upd."]  # fmt: skip
    rows = []
    for name, la in rep["counts"]["layers"].items():
        ps, st = la["per_sample"], la["static"]
        fr = la.get("firing_rate")
        rows.append([
            name, la["kind"], "x".join(map(str, la["shape"])), _n(st.get("neurons") or None),
            _n(ps.get("in_events")), _n(ps.get("acs")), _n(ps.get("macs")),
            _n(ps.get("enc_macs")), _n(ps.get("dense")), _n(ps.get("out_events")),
            "-" if fr is None else f"{fr:.3f}", _n(ps.get("updates")),
            _n(ps.get("membrane_updates")),
        ])  # fmt: skip
    return head, rows


def _neurobench_rows(rep: dict) -> list[list[str]]:
    nb = rep["counts"]["neurobench"]
    fmt = {
        "Effective_ACs": lambda v: _n(v), "Effective_MACs": lambda v: _n(v),
        "Dense": lambda v: _n(v), "ActivationSparsity": lambda v: f"{v:.4f}",
        "MembraneUpdates": lambda v: _n(v), "Footprint": lambda v: f"{v:,.0f} bytes",
        "ConnectionSparsity": lambda v: f"{v:.4f}",
    }  # fmt: skip
    return [[k, "-" if v is None else fmt.get(k, str)(v)] for k, v in nb.items()]


def _term_rows(e: dict, side: str) -> list[list[str]]:
    rows = []
    for term, t in e[side]["terms"].items():
        rng = (t["low_pj"], t["high_pj"])
        rows.append([term, t["formula"], _n(t["count"]), ", ".join(t["constants"]),
                     fmt_energy(t["energy_pj"], rng=rng)])  # fmt: skip
    return rows


def _constant_rows(e: dict) -> list[list[str]]:
    rows = []
    for name, c in e["model"]["constants"].items():
        rng = "" if c["low"] == c["high"] else f"{c['low']:g}-{c['high']:g}"
        rows.append([name, f"{c['value']:g}", rng, c["grade"], c["node"], c["source"],
                     c["note"]])  # fmt: skip
    return rows


TERM_HEAD = ["term", "formula", "count", "constants", "energy"]
CONST_HEAD = ["name", "value", "range", "grade", "node", "source", "note"]
HEADLINE_HEAD = ["model", "SNN energy", "ANN-equivalent", "ANN / SNN", "unpriced"]


def _headline_rows(h: dict) -> list[list[str]]:
    return [
        [n, x["snn"], x.get("ann", "-"), x.get("ann_over_snn", "-"),
         ", ".join(x.get("unpriced", [])) or "-"]
        for n, x in h["energy"].items()
    ]  # fmt: skip


def _params_text(mod: dict) -> str:
    return "Parameters: " + ", ".join(f"{k} = {v:g}" for k, v in mod["params"].items())


def _unpriced_text(en: dict) -> str:
    items = ", ".join(f"{k} ({_n(v)} per sample)" for k, v in en["unpriced"].items())
    return f"Unpriced (no constant in this model; left out of the total): {items}"


def _verify_rows(rep: dict) -> list[list[str]]:
    v = rep.get("verify") or {}
    rows = []
    for key, r in sorted(v.get("rungs", {}).items()):
        ok = r.get("passed")
        rows.append([str(key), "PASS" if ok else "FAIL", r.get("summary", r.get("title", ""))])
    return rows


# ---------------------------------------------------------------------------------------------
# markdown


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(rep: dict) -> str:
    """The report as Markdown: headline, NeuroBench metrics, per-layer counts, every model's
    terms (formula, count, constants, energy) and constants table, verification."""
    m, h = rep["meta"], rep["headline"]
    out = ["# spikefold report: spikes, operations and energy", ""]
    out += [f"- **{k}**: {v}" for k, v in m.items()]
    synops = _n(h["synaptic_ops_per_sample"])
    out += ["", "## Headline (per sample)", "", f"- spikes: {_n(h['spikes_per_sample'])}"]
    out += [f"- synaptic operations (ACs + MACs): {synops}", ""]
    out += [_md_table(HEADLINE_HEAD, _headline_rows(h))]
    out += ["", "Energies: two significant figures, (low-high) from the constants' ranges.", ""]
    out += ["## NeuroBench metrics (per sample)", "", _md_table(["metric", "value"],
            _neurobench_rows(rep)), ""]  # fmt: skip
    head, rows = _layer_rows(rep)
    out += ["## Per layer (per sample)", "", _md_table(head, rows), ""]
    for name, e in rep["energy"].items():
        mod = e["model"]
        out += [f"## Energy: {mod['title']} (`{name}`)", "", mod.get("description", ""), ""]
        if mod["params"]:
            out += [_params_text(mod), ""]
        tot = e["snn"]
        out += [f"SNN total: **{fmt_energy(tot['total_pj'], rng=(tot['low_pj'], tot['high_pj']))}**"
                " per sample", ""]  # fmt: skip
        out += [_md_table(TERM_HEAD, _term_rows(e, "snn")), ""]
        if "ann" in e:
            a = e["ann"]
            out += [f"ANN-equivalent (same precision, one pass): **"
                    f"{fmt_energy(a['total_pj'], rng=(a['low_pj'], a['high_pj']))}**; "
                    f"ANN / SNN = {_ratio_text(e['ann_over_snn']) if e['ann_over_snn'] else '-'}",
                    "", _md_table(TERM_HEAD, _term_rows(e, "ann")), ""]  # fmt: skip
        if e["unpriced"]:
            out += [_unpriced_text(e), ""]
        out += ["Constants (pJ):", "", _md_table(CONST_HEAD, _constant_rows(e)), ""]
    out += ["## Verification (verify.json)", ""]
    rows = _verify_rows(rep)
    out += [_md_table(["rung", "result", "summary"], rows) if rows else "No verify.json found.",
            ""]  # fmt: skip
    if rep.get("extra"):
        out += ["## Extra", "", "```json", json.dumps(rep["extra"], indent=2), "```", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# plots


def make_plots(rep: dict) -> dict[str, bytes]:
    """PNG images (matplotlib, Agg backend) by name: ``firing_rate`` per LIF layer,
    ``spikes_per_step`` per LIF layer, ``energy_by_layer`` (stacked by term, one panel per
    model), ``snn_vs_ann`` (totals with their ranges, log scale).

    Figures are built without pyplot, so the caller's matplotlib backend and open figures are
    left alone (``Figure.savefig`` renders a PNG with Agg whatever the backend)."""
    from matplotlib.figure import Figure

    def subplots(*args, figsize, **kw):
        fig = Figure(figsize=figsize)
        return fig, fig.subplots(*args, **kw)

    layers = rep["counts"]["layers"]
    lif = [n for n, la in layers.items() if la["kind"] == "LIF"]
    out: dict[str, bytes] = {}

    def png(fig) -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()

    fig, ax = subplots(figsize=(6, 3))
    rates = [layers[n]["firing_rate"] for n in lif]
    ax.bar(lif, rates, color="#4c72b0")
    ax.set_ylabel("spikes / neuron / step")
    ax.set_title("firing rate per layer")
    for i, r in enumerate(rates):
        ax.text(i, r, f"{r:.3f}", ha="center", va="bottom", fontsize=8)
    out["firing_rate"] = png(fig)

    fig, ax = subplots(figsize=(6, 3))
    for n in lif:
        ys = layers[n]["per_step"]["out_events"]
        ax.plot(range(len(ys)), ys, marker="o", label=n)
    ax.set_xlabel("step")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("spikes per sample")
    ax.set_title("spikes per step")
    if lif:
        ax.legend(fontsize=8)
    out["spikes_per_step"] = png(fig)

    models = list(rep["energy"])
    fig, axes = subplots(1, max(len(models), 1), figsize=(4 * max(len(models), 1), 3.5),
                             squeeze=False)  # fmt: skip
    for ax, name in zip(axes[0], models):
        by_layer = rep["energy"][name]["by_layer"]
        nodes = list(by_layer)
        terms = list(dict.fromkeys(t for d in by_layer.values() for t in d))
        bottom = [0.0] * len(nodes)
        for t in terms:
            vals = [by_layer[n].get(t, 0.0) / 1e3 for n in nodes]  # nJ
            ax.bar(nodes, vals, bottom=bottom, label=t)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("nJ per sample")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(fontsize=6)
    fig.suptitle("energy by layer and term (SNN)")
    fig.tight_layout()
    out["energy_by_layer"] = png(fig)

    fig, ax = subplots(figsize=(6, 3))
    xs, labels = [], []
    for i, name in enumerate(models):
        e = rep["energy"][name]
        for side, dx, color in (("snn", -0.2, "#4c72b0"), ("ann", 0.2, "#dd8452")):
            if side not in e:
                continue
            s = e[side]
            v, lo, hi = s["total_pj"] / 1e3, s["low_pj"] / 1e3, s["high_pj"] / 1e3
            ax.bar(i + dx, v, width=0.4, color=color, yerr=[[v - lo], [hi - v]], capsize=3,
                   label=side.upper() if i == 0 else None)  # fmt: skip
        xs.append(i)
        labels.append(name)
    ax.set_xticks(xs, labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("nJ per sample")
    ax.set_title("SNN vs ANN-equivalent (bars: nominal, whiskers: range)")
    ax.legend(["SNN", "ANN-equivalent"], fontsize=8)
    out["snn_vs_ann"] = png(fig)
    return out


# ---------------------------------------------------------------------------------------------
# html


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    th = "".join(f"<th>{e(str(h))}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}
.headline{font-size:15px}figure{display:inline-block;margin:0 1em 1em 0}
figcaption{font-size:12px;color:#555}code{background:#f5f5f5;padding:0 3px}
figure{max-width:100%}figure img{max-width:100%;height:auto}"""


def render_html(rep: dict, plots: Mapping[str, bytes] | None = None) -> str:
    """A self-contained HTML page: the Markdown report's content as tables, with the plots of
    :func:`make_plots` inline as ``data:image/png;base64`` images."""
    e = html.escape
    plots = make_plots(rep) if plots is None else plots
    m, h = rep["meta"], rep["headline"]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>spikefold report</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>spikefold report: spikes, operations and energy</h1>",
             _html_table(["", ""], [[k, str(v)] for k, v in m.items()]),
             "<h2>Headline (per sample)</h2><div class='headline'>"]  # fmt: skip
    spikes, synops = e(_n(h["spikes_per_sample"])), e(_n(h["synaptic_ops_per_sample"]))
    parts.append(f"<p>spikes: <b id='spikes'>{spikes}</b> &middot; synaptic operations: "
                 f"<b id='synops'>{synops}</b></p>")  # fmt: skip
    parts += [_html_table(HEADLINE_HEAD, _headline_rows(h)), "</div><p>Energies: two "
              "significant figures, (low-high) from the constants' ranges.</p>"]  # fmt: skip
    captions = {
        "firing_rate": "firing rate per layer", "spikes_per_step": "spikes per step",
        "energy_by_layer": "energy by layer and term", "snn_vs_ann": "SNN vs ANN-equivalent",
    }  # fmt: skip
    parts.append("<h2>Plots</h2>")
    for key, data in plots.items():
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(f"<figure><img alt='{e(captions.get(key, key))}' id='plot-{e(key)}' "
                     f"src='data:image/png;base64,{b64}'><figcaption>{e(captions.get(key, key))}"
                     "</figcaption></figure>")  # fmt: skip
    parts += ["<h2>NeuroBench metrics (per sample)</h2>",
              _html_table(["metric", "value"], _neurobench_rows(rep))]  # fmt: skip
    head, lrows = _layer_rows(rep)
    parts += ["<h2>Per layer (per sample)</h2>", _html_table(head, lrows)]
    for name, en in rep["energy"].items():
        mod = en["model"]
        tot = en["snn"]
        parts += [f"<h2>Energy: {e(mod['title'])} (<code>{e(name)}</code>)</h2>",
                  f"<p>{e(mod.get('description', ''))}</p>"]  # fmt: skip
        if mod["params"]:
            parts.append(f"<p>{e(_params_text(mod))}</p>")
        total = fmt_energy(tot["total_pj"], rng=(tot["low_pj"], tot["high_pj"]))
        parts += [f"<p>SNN total: <b>{e(total)}</b> per sample</p>",
                  _html_table(TERM_HEAD, _term_rows(en, "snn"))]  # fmt: skip
        if "ann" in en:
            a = en["ann"]
            ratio = _ratio_text(en["ann_over_snn"]) if en["ann_over_snn"] else "-"
            ann_total = fmt_energy(a["total_pj"], rng=(a["low_pj"], a["high_pj"]))
            parts += [f"<p>ANN-equivalent (same precision, one pass): <b>{e(ann_total)}</b>; "
                      f"ANN / SNN = {e(ratio)}</p>",
                      _html_table(TERM_HEAD, _term_rows(en, "ann"))]  # fmt: skip
        if en["unpriced"]:
            parts.append(f"<p>{e(_unpriced_text(en))}</p>")
        parts += ["<p>Constants (pJ):</p>", _html_table(CONST_HEAD, _constant_rows(en))]
    parts.append("<h2>Verification (verify.json)</h2>")
    vrows = _verify_rows(rep)
    if vrows:
        cells = "".join(
            f"<tr><td>{e(r[0])}</td><td class='{r[1].lower()}'>{e(r[1])}</td><td>{e(r[2])}"
            "</td></tr>" for r in vrows)  # fmt: skip
        parts.append("<table id='verify'><thead><tr><th>rung</th><th>result</th><th>summary"
                     f"</th></tr></thead><tbody>{cells}</tbody></table>")  # fmt: skip
    else:
        parts.append("<p>No verify.json found.</p>")
    if rep.get("extra"):
        parts += ["<h2>Extra</h2>", f"<pre>{e(json.dumps(rep['extra'], indent=2))}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# files


def write_report(out_dir: str | os.PathLike, rep: dict) -> ReportPaths:
    """Write ``report.json``, ``report.md`` and ``report.html`` of ``rep`` (a
    :func:`build_report` dict) into ``out_dir``, each atomically; returns their paths."""
    d = Path(out_dir)
    paths = ReportPaths(*(d / f for f in REPORT_FILES))
    atomic_write_text(paths.json, json.dumps(rep, indent=2, ensure_ascii=False, allow_nan=False))
    atomic_write_text(paths.md, render_markdown(rep))
    atomic_write_text(paths.html, render_html(rep))
    return paths
