"""``report.md``: the report dict as Markdown, in the order of the HTML page (the network is a
table here; ``report.html`` draws it)."""

from __future__ import annotations

import json

from hwsim.report import tables as tb

__all__ = ["render_markdown", "md_table"]


def md_table(table: tb.Table) -> str:
    head, rows = table
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)


def _energy_sections(rep: dict) -> list[str]:
    out = []
    for name, e in rep["energy"].items():
        mod, tot = e["model"], e["snn"]
        out += [f"### {mod['title']} (`{name}`)", "", mod.get("description", ""), ""]
        if mod["params"]:
            out += [tb.params_text(mod), ""]
        total = tb.energy_text((tot["total_pj"], tot["low_pj"], tot["high_pj"]))
        out += [f"SNN total: **{total}** per sample", "", md_table(tb.term_rows(e, "snn")), ""]
        if "ann" in e:
            a = e["ann"]
            ann = tb.energy_text((a["total_pj"], a["low_pj"], a["high_pj"]))
            out += [f"ANN-equivalent (same precision, one pass): **{ann}**", "",
                    md_table(tb.term_rows(e, "ann")), ""]  # fmt: skip
        if e["unpriced"]:
            out += [tb.unpriced_text(e), ""]
        out += ["Constants:", "", md_table(tb.constant_rows(e)), ""]
    return out


def render_markdown(rep: dict) -> str:
    """The report as Markdown: stages, network, energy per target's timing, per-layer detail,
    every model's terms and constants, run facts, verification."""
    m = rep["meta"]
    net_timing = rep["network"]["timing"]
    out = [f"# spikefold report: {m.get('run_name') or m.get('run_dir', '')}", "",
           tb.verdict(rep), "", "## Deployment stages", "", md_table(tb.stage_rows(rep)), "",
           f"## Network ({net_timing} timing)", "", md_table(tb.node_rows(rep)), "",
           "## Energy on each exported target's timing (per sample)", "",
           md_table(tb.timing_rows(rep)), "", tb.timing_note(rep), "",
           f"Per model ({m['timing']} timing):", "", md_table(tb.headline_rows(rep)), "",
           tb.ROUNDING_NOTE, "", f"## Per layer ({m['timing']} timing, per sample)", "",
           md_table(tb.layer_rows(rep)), "", "NeuroBench metrics (per sample):", "",
           md_table(tb.neurobench_rows(rep)), "", "## Energy terms and constants per model",
           ""]  # fmt: skip
    out += _energy_sections(rep)
    out += ["## Run facts", "", md_table(tb.meta_rows(rep)), "", "## Verification details", ""]
    summaries = [r["summary"] for r in rep["stages"] if r.get("summary")]
    out += [f"- {s}" for s in summaries] or ["No verify.json found."]
    out.append("")
    if rep.get("extra"):
        out += ["## Extra", "", "```json", json.dumps(rep["extra"], indent=2), "```", ""]
    return "\n".join(out)
