"""``build_report``: one run's stages, network, counts and prices in one JSON-ready dict.

A run is counted and priced once per *timing* its exported targets run in (DESIGN.md section
4): ``ideal`` for hwsim, ONNX and NIR (no synaptic delay), ``lava`` for the Lava export (one
step per synapse layer, ``T + depth`` steps per sample, so more updates and the spikes of the
tail). Each is a :class:`PricedRun`; the first is the *primary* one, whose counts give the
per-layer detail, the plots and the drawing's firing rates. Every number is stored exact;
:mod:`hwsim.numfmt` rounds it once where it is shown (the ``*_text`` fields are made by the
same functions from the same numbers, for programs that print them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hwsim.counters import SPIKING, Counts
from hwsim.describe import node_rows
from hwsim.graph import HardwareGraph
from hwsim.numfmt import fmt_energy, fmt_ratio
from hwsim.pricing import Pricing

__all__ = ["REPORT_SCHEMA", "PricedRun", "build_report"]

REPORT_SCHEMA = 2
"""2: stages, network, timings (per-timing prices), exact numbers (1: energy only, rounded)."""


@dataclass(frozen=True)
class PricedRun:
    """One timing's run: ``timing`` (``ideal`` | ``lava``), the ``targets`` that run in it
    (e.g. ``("hwsim", "onnx")``), the ``graph`` counted (in that timing), its ``counts``, the
    ``pricings`` under each model and the ``accuracy`` of its predictions (None: no labels)."""

    timing: str
    targets: tuple[str, ...]
    graph: HardwareGraph
    counts: Counts
    pricings: tuple[Pricing, ...]
    accuracy: float | None = None

    def spikes(self) -> float:
        """Output spikes of the LIF and CubaLIF populations per sample."""
        c = self.counts
        return sum(c.per_sample("out_events", n) for n in c.nodes("neuron", SPIKING))

    def synaptic_ops(self) -> float:
        return self.counts.per_sample("acs") + self.counts.per_sample("macs")


def _energy_item(p: Pricing) -> dict:
    """Exact totals ``[nominal, low, high]`` pJ per sample and their text."""
    snn = list(p.total())
    item = {"snn_pj": snn, "snn": fmt_energy(snn[0], rng=snn[1:]), "unpriced": sorted(p.unpriced)}
    if p.ann:
        ann, r = list(p.total("ann")), p.ratio()
        item.update(ann_pj=ann, ann=fmt_energy(ann[0], rng=ann[1:]))
        if r is not None:
            item.update(ann_over_snn_x=list(r), ann_over_snn=fmt_ratio(r))
    return item


def _timing_entry(r: PricedRun) -> dict:
    return {
        "timing": r.timing,
        "targets": list(r.targets),
        "steps": r.counts.steps,
        "T": r.counts.T,
        "samples": r.counts.samples,
        "accuracy": r.accuracy,
        "spikes_per_sample": r.spikes(),
        "synaptic_ops_per_sample": r.synaptic_ops(),
        "energy": {p.model.name: _energy_item(p) for p in r.pricings},
    }


def _relative(new: float, old: float) -> float | None:
    return None if old == 0 else new / old - 1.0


def _difference(runs: Sequence[PricedRun]) -> dict | None:
    """``lava`` timing relative to ``ideal`` (``other / base - 1``) when both were priced."""
    by = {r.timing: r for r in runs}
    if not {"ideal", "lava"} <= set(by):
        return None
    base, other = by["ideal"], by["lava"]
    energy = {
        pb.model.name: _relative(po.total()[0], pb.total()[0])
        for pb, po in zip(base.pricings, other.pricings)
    }
    return {
        "base": "ideal", "other": "lava",
        "spikes": _relative(other.spikes(), base.spikes()),
        "synaptic_ops": _relative(other.synaptic_ops(), base.synaptic_ops()),
        "energy": energy,
    }  # fmt: skip


def _network(r: PricedRun) -> dict:
    """The drawing's input: the node table of the primary graph with each node's firing rate
    (LIF, CubaLIF) or output events per sample, and the edges."""
    layers = r.counts.layers
    rows = node_rows(r.graph)
    for row in rows:
        name, la = row["name"], layers.get(row["name"])
        row["firing_rate"] = r.counts.firing_rate(name) if la and la.kind in SPIKING else None
        has_events = la is not None and "out_events" in la.steps
        row["events_per_sample"] = r.counts.per_sample("out_events", name) if has_events else None
    return {"timing": r.timing, "nodes": rows, "edges": [list(e) for e in r.graph.edges]}


def build_report(
    runs: Sequence[PricedRun],
    *,
    stages: Sequence[Mapping] = (),
    verify: Mapping | None = None,
    meta: Mapping | None = None,
    extra: Mapping | None = None,
) -> dict:
    """Everything in one JSON-ready dict (``runs[0]`` is the primary timing):

    ``meta`` run facts; ``stages`` the stage table (:func:`hwsim.report.stage_table`);
    ``network`` the primary graph's node table with firing rates, and its edges; ``timings``
    per timing its targets, steps, accuracy, spikes, synaptic operations and energy per model;
    ``timing_difference`` ``lava`` relative to ``ideal`` when both were priced; ``headline``
    the primary timing's numbers; ``counts`` and ``energy`` its full counts and pricings;
    ``verify`` the ``verify.json`` contents; ``extra`` (e.g. a Lava cross-check)."""
    if not runs:
        raise ValueError("build_report needs at least one priced run")
    primary = runs[0]
    timings = {r.timing: _timing_entry(r) for r in runs}
    headline = dict(timings[primary.timing])
    return {
        "spikefold_report": REPORT_SCHEMA,
        "meta": {**dict(meta or {}), "timing": primary.timing},
        "stages": [dict(s) for s in stages],
        "network": _network(primary),
        "timings": timings,
        "timing_difference": _difference(runs),
        "headline": headline,
        "counts": primary.counts.to_dict(),
        "energy": {p.model.name: p.to_dict() for p in primary.pricings},
        "verify": None if verify is None else dict(verify),
        "extra": dict(extra or {}),
    }
