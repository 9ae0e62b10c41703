"""The report's tables as rows of text, shared by the Markdown and the HTML renderers.

Every figure is formatted here by :mod:`hwsim.numfmt` from the exact number in the report
dict, so a number reads the same in ``report.md``, ``report.html`` and the CLI.
"""

from __future__ import annotations

from hwsim.numfmt import fmt_count, fmt_energy, fmt_percent, fmt_ratio, fmt_sig

__all__ = [
    "Table",
    "TARGET_NAMES",
    "stage_rows",
    "verdict",
    "timing_rows",
    "headline_rows",
    "layer_rows",
    "neurobench_rows",
    "term_rows",
    "constant_rows",
    "node_rows",
    "meta_rows",
    "energy_text",
    "fmt_rate",
    "params_text",
    "timing_note",
    "ROUNDING_NOTE",
    "unpriced_text",
]

Table = tuple[list[str], list[list[str]]]

TARGET_NAMES = {"hwsim": "hwsim", "onnx": "ONNX", "nir": "NIR", "lava": "Lava"}

RESULT_TEXT = {"reference": "reference", "pass": "PASS", "fail": "FAIL", "refused": "REFUSED",
               "not run": "not run"}  # fmt: skip


def energy_text(triple) -> str:
    """``[nominal, low, high]`` pJ as ``"1.3 µJ (1.2-1.3)"``."""
    return fmt_energy(triple[0], rng=(triple[1], triple[2]))


def fmt_rate(rate: float) -> str:
    """A firing rate, spikes per neuron per step, with three significant figures."""
    return fmt_sig(rate, 3)


def _accuracy(row: dict) -> str:
    if row.get("accuracy") is None:
        return "-"
    n = row.get("accuracy_samples")
    return fmt_percent(row["accuracy"]) + (f" of {n:,}" if n else "")


def _samples(row: dict) -> str:
    if row.get("samples") is None:
        return "-"
    ref = row.get("reference_samples")
    extra = f" ({ref:,} in onnx.reference)" if ref and ref < row["samples"] else ""
    return f"{row['samples']:,}{extra}"


def _differ(row: dict) -> str:
    if row.get("mismatches") is None:
        return "-"
    ties = row.get("ties") or 0
    return f"{row['mismatches']:,}" + (f" ({ties:,} ties)" if ties else "")


def _note(row: dict) -> str:
    if row["status"] == "refused":
        return f"refused: {row.get('reason') or 'no reason recorded'}"
    if row.get("first_divergence"):
        return f"first difference: {row['first_divergence']}"
    if row["status"] == "not run" and row.get("reason"):
        return f"skipped: {row['reason']}"
    if row["status"] == "not run" and row.get("command"):
        return f"run: {row['command']}"
    return "-"


STAGE_HEAD = ["stage", "artifact", "accuracy", "rung", "result", "samples compared",
              "values compared", "values differ", "prediction agreement",
              "first difference / reason"]  # fmt: skip


def stage_rows(rep: dict) -> Table:
    """The stage table: one row per stage (``hwsim.report.stages``)."""
    rows = []
    for r in rep.get("stages", []):
        rows.append([
            r["label"], r.get("artifact") or "-", _accuracy(r), r.get("rung") or "-",
            RESULT_TEXT.get(r["status"], r["status"]), _samples(r),
            fmt_count(r.get("values")), _differ(r), fmt_percent(r.get("prediction_agreement")),
            _note(r),
        ])  # fmt: skip
    return STAGE_HEAD, rows


def verdict(rep: dict) -> str:
    """One sentence over the stage table: what passed, failed, was refused or not run."""
    stages = rep.get("stages", [])
    checked = [r for r in stages if r["status"] in ("pass", "fail")]
    failed = [r["label"] for r in stages if r["status"] == "fail"]
    refused = [r["label"] for r in stages if r["status"] == "refused"]
    not_run = [r["label"] for r in stages if r["status"] == "not run"]
    if not checked:
        parts = ["No rung of the verification ladder has run (verify.json is empty)"]
    elif failed:
        parts = [f"{len(failed)} of {len(checked)} rungs FAIL: {', '.join(failed)}"]
    else:
        parts = [f"All {len(checked)} rungs that ran pass"]
    if refused:
        parts.append(f"refused by its target: {', '.join(refused)}")
    if not_run:
        parts.append(f"not run: {', '.join(not_run)}")
    return "; ".join(parts) + "."


def _targets(t: dict) -> str:
    return ", ".join(TARGET_NAMES.get(x, x) for x in t["targets"]) or "-"


def timing_rows(rep: dict) -> Table:
    """Energy per sample on the timing of each exported target, and the difference."""
    timings = list(rep["timings"].values())
    diff = rep.get("timing_difference")
    head = [""] + [f"{t['timing']} timing: {_targets(t)}" for t in timings]
    if diff:
        head.append(f"{diff['other']} vs {diff['base']}")

    def rel(v) -> str:
        return fmt_percent(v, 1, signed=True) if v is not None else "-"

    rows = [
        ["steps per sample"] + [f"{t['steps']} (T = {t['T']})" for t in timings],
        ["accuracy (counted samples)"] + [
            f"{fmt_percent(t['accuracy'])} of {t['samples']:,}" for t in timings],
        ["spikes per sample"] + [fmt_count(t["spikes_per_sample"]) for t in timings],
        ["synaptic ops per sample"] + [fmt_count(t["synaptic_ops_per_sample"]) for t in timings],
    ]  # fmt: skip
    if diff:
        rows[0].append("-")
        rows[1].append("-")
        rows[2].append(rel(diff["spikes"]))
        rows[3].append(rel(diff["synaptic_ops"]))
    for name in timings[0]["energy"]:
        row = [f"energy: {name}"] + [energy_text(t["energy"][name]["snn_pj"]) for t in timings]
        if diff:
            row.append(rel(diff["energy"].get(name)))
        rows.append(row)
    return head, rows


HEADLINE_HEAD = ["model", "SNN energy", "ANN-equivalent", "ANN / SNN", "unpriced"]


def headline_rows(rep: dict) -> Table:
    """Per model of the primary timing: SNN, ANN-equivalent, their ratio, unpriced terms."""
    rows = []
    for name, x in rep["headline"]["energy"].items():
        ann = energy_text(x["ann_pj"]) if "ann_pj" in x else "-"
        ratio = fmt_ratio(x["ann_over_snn_x"]) if "ann_over_snn_x" in x else "-"
        rows.append([name, energy_text(x["snn_pj"]), ann, ratio, ", ".join(x["unpriced"]) or "-"])
    return HEADLINE_HEAD, rows


def layer_rows(rep: dict) -> Table:
    head = ["node", "kind", "shape", "neurons", "in events", "ACs", "MACs", "of which enc.",
            "Dense", "spikes / events out", "firing rate", "updates", "membrane upd."]  # fmt: skip
    rows = []
    for name, la in rep["counts"]["layers"].items():
        ps, st = la["per_sample"], la["static"]
        fr = la.get("firing_rate")
        rows.append([
            name, la["kind"], "x".join(map(str, la["shape"])), fmt_count(st.get("neurons") or None),
            fmt_count(ps.get("in_events")), fmt_count(ps.get("acs")), fmt_count(ps.get("macs")),
            fmt_count(ps.get("enc_macs")), fmt_count(ps.get("dense")),
            fmt_count(ps.get("out_events")), "-" if fr is None else fmt_rate(fr),
            fmt_count(ps.get("updates")), fmt_count(ps.get("membrane_updates")),
        ])  # fmt: skip
    return head, rows


def neurobench_rows(rep: dict) -> Table:
    nb = rep["counts"]["neurobench"]
    fmt = {"ActivationSparsity": fmt_percent, "ConnectionSparsity": fmt_percent,
           "Footprint": lambda v: f"{fmt_count(round(v))} bytes"}  # fmt: skip
    rows = [[k, "-" if v is None else fmt.get(k, fmt_count)(v)] for k, v in nb.items()]
    return ["metric", "value"], rows


TERM_HEAD = ["term", "formula", "count", "constants", "energy"]


def term_rows(e: dict, side: str) -> Table:
    rows = []
    for term, t in e[side]["terms"].items():
        rows.append([term, t["formula"], fmt_count(t["count"]), ", ".join(t["constants"]),
                     energy_text((t["energy_pj"], t["low_pj"], t["high_pj"]))])  # fmt: skip
    return TERM_HEAD, rows


CONST_HEAD = ["name", "value (pJ)", "range (pJ)", "grade", "node", "source", "note"]


def constant_rows(e: dict) -> Table:
    rows = []
    for name, c in e["model"]["constants"].items():
        rng = "" if c["low"] == c["high"] else f"{c['low']:g}-{c['high']:g}"
        rows.append([name, f"{c['value']:g}", rng, c["grade"], c["node"], c["source"],
                     c["note"]])  # fmt: skip
    return CONST_HEAD, rows


NODE_HEAD = ["node", "kind", "input", "output", "parameters", "bits", "offset",
             "firing rate", "settings"]  # fmt: skip


def node_rows(rep: dict) -> Table:
    """The network's node table (``hwsim.describe.node_rows`` with firing rates)."""
    rows = []
    for r in rep["network"]["nodes"]:
        shape = lambda s: "x".join(map(str, s))  # noqa: E731
        rate = r.get("firing_rate")
        rows.append([
            r["name"], r["kind"], ", ".join(shape(s) for s in r["inputs"]) or "-",
            shape(r["output"]), fmt_count(r["params"] or None), r["bits"], str(r["offset"]),
            "-" if rate is None else fmt_rate(rate), r["settings"] or "-",
        ])  # fmt: skip
    return NODE_HEAD, rows


def meta_rows(rep: dict) -> Table:
    """Run facts; accuracies as percentages like everywhere else."""
    rows = []
    for k, v in rep["meta"].items():
        if k == "accuracy" and v is not None:
            v = fmt_percent(v)
        rows.append([k, "-" if v is None else str(v)])
    return ["fact", "value"], rows


ROUNDING_NOTE = (
    "Energies: two significant figures, rounded once from the exact value (half away from "
    "zero); (low-high) from the constants' ranges. Percentages: two decimals."
)


def timing_note(rep: dict) -> str:
    """Which timing each target runs in, and which the per-layer detail uses."""
    primary = rep["meta"]["timing"]
    if len(rep["timings"]) > 1:
        return (
            "Lava's Dense and Conv deliver one step late, so the exported Lava network runs "
            "in lava timing (T + depth steps per sample); hwsim, ONNX and NIR run in ideal "
            f"timing. Per-layer detail: {primary} timing."
        )
    t = rep["timings"][primary]
    if primary == "ideal" and "lava" not in t["targets"]:
        return (
            "Priced on ideal timing: no Lava export in this run (a Lava deployment runs "
            "in lava timing, T + depth steps per sample; `--timing lava` prices it)."
        )
    return f"Priced on {primary} timing only (targets: {_targets(t)})."


def params_text(mod: dict) -> str:
    return "Parameters: " + ", ".join(f"{k} = {v:g}" for k, v in mod["params"].items())


def unpriced_text(en: dict) -> str:
    items = ", ".join(f"{k} ({fmt_count(v)} per sample)" for k, v in en["unpriced"].items())
    return f"Unpriced (no constant in this model; left out of the total): {items}"
