"""The demo's numbers for README and docs/results.md: ``make demo``'s pipeline, measured.

Runs ``spikefold run configs/demo.yaml`` (:func:`toolchain.chain.run_chain`: train the E-I MLP
on digits, fold, quantise, rungs 0-1, Lava + rung 2, ONNX + rung 3, NIR or its refusal, report)
into ``<runs>/demo`` and collects
the headline numbers from the run directory's own files (``summary.json``, ``verify.json``,
``report.json``).

Run: ``python -m experiments.all --only demo`` (a minute or two).
"""

from __future__ import annotations

import json
from pathlib import Path

from experiments.results import md_table, pct

__all__ = ["DEMO_CONFIG_PATH", "demo_config", "collect", "run", "render"]

#: the config ``make demo`` runs
DEMO_CONFIG_PATH = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def demo_config() -> dict:
    """``configs/demo.yaml`` as a plain dict (a fresh copy on every call), read by the
    toolchain's own config reader (YAML 1.2, duplicate keys refused)."""
    from toolchain.config import load_config

    return json.loads(json.dumps(load_config(DEMO_CONFIG_PATH)))


def _rung(verify: dict, n: int) -> dict | None:
    rungs = verify["rungs"]
    r = (
        rungs.get(str(n))
        if isinstance(rungs, dict)
        else next((x for x in rungs if x["rung"] == n), None)
    )
    if r is None or r.get("status") == "refused":  # e.g. NIR for E-I circuits: no rung, a reason
        return None
    layers = r["layers"].values()
    return {
        "passed": r["passed"],
        "compared": sum(la["compared"] for la in layers),
        "mismatches": sum(la["mismatches"] for la in layers),
        "ties": r.get("n_ties", 0),
        "metrics": r["metrics"],
        "samples": r["settings"].get("samples", r["metrics"].get("samples")),
    }


def collect(run_dir: Path) -> dict:
    """The demo's numbers from a finished demo run directory."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    verify = json.loads((run_dir / "verify.json").read_text(encoding="utf-8"))
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    stages = summary["stages"]
    return {
        "config": demo_config(),
        "test_accuracy": summary["test_accuracy"],
        "fixed_test_accuracy": summary["fixed_test_accuracy"],
        "rungs": {str(n): _rung(verify, n) for n in (0, 1, 2, 3, 4)},
        "nir_skipped": stages["nir"]["message"] if stages["nir"]["status"] == "refused" else None,
        "lava_samples": (_rung(verify, 2) or {}).get("samples"),
        "report": {
            "samples": report["headline"]["samples"],
            "spikes_per_sample": report["headline"]["spikes_per_sample"],
            "synaptic_ops_per_sample": report["headline"]["synaptic_ops_per_sample"],
            "energy": report["headline"]["energy"],
        },
        "seconds": {k: v.get("seconds") for k, v in stages.items()},
        "wall_seconds": summary["wall_seconds"],
    }


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`)."""
    from toolchain.chain import ChainOptions, run_chain

    options = ChainOptions(n=64 if budget.quick else None, overwrite=True)
    result = run_chain(DEMO_CONFIG_PATH, runs_root=budget.runs, options=options, say=lambda _: None)
    return collect(result.run_dir)


def _reason(message: str) -> str:
    """The exporter's refusal without its node prefix and details: "node 'm1' (EICircuit): an
    E-I circuit is not expressible in NIR 1.0: divisive ..." -> the middle clause."""
    parts = message.split(": ")
    return parts[1] if len(parts) > 1 else message


def render(data: dict) -> dict[str, str]:
    cfg, r = data["config"], data["rungs"]
    t = cfg["train"]
    r0, r1, r2, r3, r4 = (r.get(str(n)) for n in range(5))
    rows = [
        [
            f"train ({cfg['model']['arch']}, hidden {cfg['model']['hidden']}, T = {t['T']}, "
            f"{t['epochs']} epochs {t['optimizer'].upper()} on {cfg['data']['dataset']})",
            f"test accuracy {pct(data['test_accuracy'])} ({data['seconds']['train']:.0f} s of "
            "training)",
        ],
        [
            "fold + rung 0",
            f"{r0['mismatches']} / {r0['compared']:,} spikes differ ({r0['ties']} ties), "
            f"prediction agreement {pct(r0['metrics']['prediction_agreement'])}",
        ],
        [
            "quantise 8-bit + rung 1",
            f"{pct(r1['metrics']['prediction_agreement'])} prediction agreement, fixed accuracy "
            f"{pct(r1['metrics']['accuracy_fixed'])} "
            f"({100 * r1['metrics']['accuracy_delta']:+.2f} pp); "
            f"{r1['mismatches']:,} / {r1['compared']:,} spikes differ",
        ],
        [
            "ONNX + rung 3",
            f"{r3['mismatches']} / {r3['compared']:,} values differ (onnxruntime, onnx.reference "
            "bodies and ops)",
        ],
        [
            "NIR" + ("" if r4 is None else " + rung 4"),
            "skipped: " + _reason(data["nir_skipped"])
            if r4 is None
            else f"{r4['mismatches']} / {r4['compared']:,} spikes differ",
        ],
        [
            "Lava + rung 2",
            f"{data['lava_samples']} test samples in `fixed_pt`: {r2['mismatches']} / "
            f"{r2['compared']:,} values differ",
        ],
        [
            "report",
            f"{data['report']['spikes_per_sample']:.1f} spikes and "
            f"{data['report']['synaptic_ops_per_sample']:,.0f} synaptic operations per sample "
            f"({data['report']['samples']} test samples)",
        ],
    ]
    table = md_table(["stage", "result"], rows)
    table += f"\n\nThe whole demo took {data['wall_seconds']:.0f} s."
    energy = md_table(
        ["price model", "SNN per inference", "ANN-equivalent", "ANN / SNN"],
        [
            [name, e["snn"], e.get("ann", "—"), e.get("ann_over_snn", "—")]
            for name, e in data["report"]["energy"].items()
        ],
    )
    passed = [n for n in ("0", "1", "2", "3", "4") if r.get(n) and r[n]["passed"]]
    headline = (
        f"{pct(data['test_accuracy'], 1)} test accuracy (torch), "
        f"{pct(data['fixed_test_accuracy'], 1)} (8-bit hwsim), rungs "
        f"{', '.join(passed)} pass, {data['wall_seconds']:.0f} s for the pipeline"
    )
    return {
        "demo.table": table,
        "demo.energy": energy,
        "demo.headline": f"Measured by `python -m experiments.all --only demo` (the pipeline "
        f"of `make demo`) on 2 CPU cores: {headline}.",
    }
