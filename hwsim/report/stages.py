"""The stage table: accuracy and agreement at each stage of a deployment, from ``verify.json``.

One row per stage — the torch network, the float graph, the fixed graph, and each export
target (Lava, ONNX, NIR) — with the rung that checks it against the stage before
(DESIGN.md section 6)::

    torch (eval) -> float graph  rung 0      float -> fixed graph  rung 1
    fixed -> Lava fixed_pt       rung 2      fixed -> ONNX IR      rung 3
    float -> NIR in Norse        rung 4

A row gives the stage's accuracy (and on how many samples), the rung's verdict (``pass``,
``fail``, ``refused`` with the exporter's reason, or ``not run``), the samples and values it
compared, how many values differ (and of those, ties), the prediction agreement and the first
difference. Rungs of ``verify.json`` that are not in :data:`STAGES` (rung S of an imported
network, the float half of rung 2, later rungs) get rows of their own after them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hwsim.verify import Divergence

__all__ = ["Stage", "STAGES", "STATUSES", "stage_table"]

STATUSES = ("reference", "pass", "fail", "refused", "not run")


@dataclass(frozen=True)
class Stage:
    """A stage: its ``key`` (also the key of the artifacts and refusals the caller passes),
    ``label``, the ``rung`` that checks it, the ``(rung, metric)`` holding its accuracy and
    the label of the rung's float half (``verify.json`` entry ``"float"``), if it has one."""

    key: str
    label: str
    rung: str | None
    accuracy: tuple[str, str] | None
    float_label: str | None = None


STAGES = (
    Stage("torch", "torch network (eval)", None, None),
    Stage("float", "float graph (hwsim)", "0", ("1", "accuracy_float")),
    Stage("fixed", "fixed graph (hwsim)", "1", ("1", "accuracy_fixed")),
    Stage("lava", "Lava fixed_pt", "2", ("2", "accuracy_lava"), "Lava floating_pt (float graph)"),
    Stage("onnx", "ONNX IR (onnxruntime)", "3", ("3", "accuracy_onnxruntime")),
    Stage("nir", "NIR (Norse)", "4", None),
)


def _samples(entry: Mapping) -> int | None:
    settings, metrics = entry.get("settings") or {}, entry.get("metrics") or {}
    for v in (settings.get("samples"), metrics.get("samples")):
        if v is not None:
            return int(v)
    return None


def _divergence(d: Mapping | None) -> str | None:
    if not d:
        return None
    return Divergence(**{**d, "neuron": tuple(d.get("neuron", ()))}).describe()


def _rung_cells(entry: Mapping) -> dict:
    """The rung's part of a row: verdict, samples and values compared, differences."""
    if entry.get("status") == "refused":
        return {"status": "refused", "reason": entry.get("reason"), "summary": entry.get("summary")}
    if entry.get("status") == "skipped":  # e.g. rung 0 of an imported run (no torch model)
        why = entry.get("skipped")
        return {"status": "not run", "reason": why, "summary": entry.get("summary")}
    layers = (entry.get("layers") or {}).values()
    metrics = entry.get("metrics") or {}
    settings = entry.get("settings") or {}
    return {
        "status": "pass" if entry.get("passed") else "fail",
        "check": entry.get("title"),
        "samples": _samples(entry),
        "reference_samples": settings.get("reference_samples"),
        "values": sum(int(la.get("compared", 0)) for la in layers),
        "mismatches": sum(int(la.get("mismatches", 0)) for la in layers),
        "ties": sum(int(la.get("ties", 0)) for la in layers),
        "prediction_agreement": metrics.get("prediction_agreement"),
        "first_divergence": _divergence(entry.get("first_divergence")),
        "summary": entry.get("summary"),
    }


def _row(key: str, label: str, rung: str | None, **cells) -> dict:
    row = {
        "stage": key, "label": label, "rung": rung, "artifact": None, "accuracy": None,
        "accuracy_samples": None, "status": "not run", "check": None, "samples": None,
        "reference_samples": None, "values": None, "mismatches": None, "ties": None,
        "prediction_agreement": None, "first_divergence": None, "reason": None,
        "summary": None, "command": None,
    }  # fmt: skip
    row.update(cells)
    return row


def stage_table(
    verify: Mapping | None,
    *,
    artifacts: Mapping[str, str | None] | None = None,
    refusals: Mapping[str, str] | None = None,
    torch_accuracy: tuple[float, int] | None = None,
    commands: Mapping[str, str] | None = None,
    weight_bits: int | None = None,
) -> list[dict]:
    """The rows of the stage table (module docstring), JSON-ready.

    ``verify`` the contents of ``verify.json`` (or None); ``artifacts`` per stage key the file
    that holds the stage (None: not written); ``refusals`` per stage key the reason a target
    refused the network (a refusal recorded in ``verify.json`` wins); ``torch_accuracy``
    ``(accuracy, samples)`` of the trained network; ``commands`` per stage key the command
    that would run a stage that has not run; ``weight_bits`` names the fixed stage."""
    rungs = dict((verify or {}).get("rungs") or {})
    artifacts, refusals, commands = artifacts or {}, refusals or {}, commands or {}
    rows = []
    for st in STAGES:
        label = st.label
        if st.key == "fixed" and weight_bits:
            label = f"{weight_bits}-bit graph (hwsim)"
        row = _row(st.key, label, st.rung, artifact=artifacts.get(st.key))
        entry = rungs.pop(st.rung, None) if st.rung is not None else None
        if st.rung is None:
            row["status"] = "reference"
        elif entry is not None:
            row.update(_rung_cells(entry))
        elif st.key in refusals:
            row.update(status="refused", reason=refusals[st.key])
        else:
            row["command"] = commands.get(st.key)
        if st.accuracy is not None:
            src = ((verify or {}).get("rungs") or {}).get(st.accuracy[0]) or {}
            acc = (src.get("metrics") or {}).get(st.accuracy[1])
            if acc is not None:
                row.update(accuracy=float(acc), accuracy_samples=_samples(src))
        elif st.key == "torch" and torch_accuracy is not None:
            row.update(accuracy=float(torch_accuracy[0]), accuracy_samples=int(torch_accuracy[1]))
        rows.append(row)
        if entry is not None and entry.get("float"):
            label = st.float_label or f"{label} (float graph)"
            rows.append(_row(f"{st.key}_float", label, st.rung, **_rung_cells(entry["float"])))
    for key, entry in sorted(rungs.items()):
        label = str(entry.get("title") or f"rung {key}")
        rows.append(_row(f"rung{key}", label, key, **_rung_cells(entry)))
    return rows
