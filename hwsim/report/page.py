"""``report.html``: one self-contained page that tells the deployment story top down.

1. the stage table (accuracy and agreement at every stage, refusals with their reason);
2. the network, drawn (inline SVG, :mod:`hwsim.report.drawing`) and as a node table;
3. energy on the timing of each exported target, the difference, SNN vs ANN-equivalent;
4. activity (firing rates, spikes per step) and per-layer detail; every model's terms and
   constants (folded ``<details>``); run facts; the rungs' own summaries.

Plots are inline ``data:image/png;base64`` images (:mod:`hwsim.report.plots`); the page loads
nothing from anywhere. Element ids the tests (and a reader's scripts) can rely on:
``stages``, ``graph-drawing``, ``nodes``, ``timings``, ``layers`` and ``plot-<name>``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from html import escape

from hwsim.report import tables as tb
from hwsim.report.drawing import graph_svg
from hwsim.report.plots import PLOTS, make_plots

__all__ = ["render_html"]

_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1220px;padding:0 1em;
color:#222;line-height:1.4}h1{font-size:24px;margin-bottom:.2em}h2{margin-top:1.6em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;white-space:nowrap}
.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}
.refused{color:#9a6700;font-weight:bold}.notrun{color:#777}.reference{color:#555}
.verdict{font-size:16px;margin:.3em 0 1em}.facts{color:#555}
.plots{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0 0 1em}
figcaption{font-size:13px;color:#555}figure img{max-width:100%;height:auto}
.drawing{overflow-x:auto;border:1px solid #eee;padding:4px;margin:.5em 0}
details{margin:.4em 0}summary{cursor:pointer;font-weight:bold}code{background:#f5f5f5;
padding:0 3px}p.note{color:#555;font-size:14px;max-width:900px}"""

_STATUS_CLASS = {"PASS": "pass", "FAIL": "fail", "REFUSED": "refused", "not run": "notrun",
                 "reference": "reference"}  # fmt: skip


def _table(table: tb.Table, id_: str | None = None, status_col: int | None = None) -> str:
    head, rows = table
    th = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cls = _STATUS_CLASS.get(c) if i == status_col else None
            cls = cls or ("num" if _numeric(c) else None)
            attr = f" class='{cls}'" if cls else ""
            cells.append(f"<td{attr}>{escape(str(c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f" id='{escape(id_)}'" if id_ else ""
    return f"<table{attr}><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _numeric(c) -> bool:
    s = str(c).replace(",", "").replace(".", "").replace("%", "").replace("+", "").strip()
    return s.lstrip("-").isdigit()


def _figure(plots: Mapping[str, bytes], key: str) -> str:
    if key not in plots:
        return ""
    caption = escape(PLOTS[key][1])
    b64 = base64.b64encode(plots[key]).decode("ascii")
    return (
        f"<figure><img id='plot-{escape(key)}' alt='{caption}' "
        f"src='data:image/png;base64,{b64}'><figcaption>{caption}</figcaption></figure>"
    )


def _row_of_plots(plots: Mapping[str, bytes], *keys: str) -> str:
    figs = "".join(_figure(plots, k) for k in keys)
    return f"<div class='plots'>{figs}</div>" if figs else ""


def _energy_details(rep: dict) -> list[str]:
    out = []
    for name, en in rep["energy"].items():
        mod, tot = en["model"], en["snn"]
        total = tb.energy_text((tot["total_pj"], tot["low_pj"], tot["high_pj"]))
        out += [f"<details><summary>{escape(mod['title'])} (<code>{escape(name)}</code>): "
                f"SNN {escape(total)} per sample</summary>",
                f"<p>{escape(mod.get('description', ''))}</p>"]  # fmt: skip
        if mod["params"]:
            out.append(f"<p>{escape(tb.params_text(mod))}</p>")
        out.append(_table(tb.term_rows(en, "snn")))
        if "ann" in en:
            a = en["ann"]
            ann = tb.energy_text((a["total_pj"], a["low_pj"], a["high_pj"]))
            out += [f"<p>ANN-equivalent (same precision, one pass): <b>{escape(ann)}</b></p>",
                    _table(tb.term_rows(en, "ann"))]  # fmt: skip
        if en["unpriced"]:
            out.append(f"<p>{escape(tb.unpriced_text(en))}</p>")
        out += ["<p>Constants:</p>", _table(tb.constant_rows(en)), "</details>"]
    return out


def render_html(rep: dict, plots: Mapping[str, bytes] | None = None) -> str:
    """The report as one self-contained HTML page (module docstring); ``plots`` default to
    :func:`hwsim.report.plots.make_plots` of ``rep``."""
    plots = make_plots(rep) if plots is None else plots
    m = rep["meta"]
    title = escape(f"spikefold report: {m.get('run_name') or m.get('run_dir', '')}")
    facts = " · ".join(escape(f"{k} {m[k]}") for k in ("dataset", "graph", "T") if k in m)
    net_timing = rep["network"]["timing"]
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1><p class='facts'>{facts}</p>",
        f"<p class='verdict' id='verdict'>{escape(tb.verdict(rep))}</p>",
        "<h2>Deployment stages</h2>",
        _table(tb.stage_rows(rep), "stages", status_col=4),
        f"<h2>Network ({escape(net_timing)} timing)</h2>",
        f"<div class='drawing'>{graph_svg(rep['network'])}</div>",
        "<details><summary>node table</summary>", _table(tb.node_rows(rep), "nodes"),
        "</details>",
        "<h2>Energy on each exported target's timing (per sample)</h2>",
        _table(tb.timing_rows(rep), "timings"),
        f"<p class='note'>{escape(tb.timing_note(rep))}</p>",
        _row_of_plots(plots, "timing_difference", "snn_vs_ann"),
        f"<p>Per model ({escape(m['timing'])} timing):</p>",
        _table(tb.headline_rows(rep), "headline"),
        f"<p class='note'>{escape(tb.ROUNDING_NOTE)}</p>",
        "<h2>Activity</h2>",
        _row_of_plots(plots, "firing_rate", "spikes_per_step"),
        f"<h2>Per layer ({escape(m['timing'])} timing, per sample)</h2>",
        _row_of_plots(plots, "energy_by_layer"),
        _table(tb.layer_rows(rep), "layers"),
        "<p>NeuroBench metrics (per sample):</p>", _table(tb.neurobench_rows(rep), "neurobench"),
        "<h2>Energy terms and constants per model</h2>",
    ]  # fmt: skip
    parts += _energy_details(rep)
    parts += ["<h2>Run facts</h2>", _table(tb.meta_rows(rep), "meta"),
              "<h2>Verification details</h2>"]  # fmt: skip
    summaries = [r["summary"] for r in rep["stages"] if r.get("summary")]
    items = "".join(f"<li>{escape(s)}</li>" for s in summaries)
    parts.append(f"<ul id='verify'>{items}</ul>" if items else "<p>No verify.json found.</p>")
    if rep.get("extra"):
        parts += ["<h2>Extra</h2>", f"<pre>{escape(json.dumps(rep['extra'], indent=2))}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)
