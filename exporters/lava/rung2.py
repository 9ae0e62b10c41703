"""Rung 2 of the verification ladder (DESIGN.md section 6): hwsim ↔ Lava.

* **fixed**: the fixed graph in hwsim (``lava`` timing, :func:`hwsim.sim.run_steps`) against
  the same graph exported to Lava and run under ``fixed_pt``, on the very same encoded inputs:
  every output of every compared node (spikes of every LIF, currents, payloads) at every step
  of every sample from the node's arrival offset on must be identical, and so must the readout
  totals. The first divergence (layer, step, sample, neuron, both values) is reported
  (:func:`hwsim.verify.compare_exact`). The steps before a node's arrival belong to no sample
  (:mod:`exporters.lava.runner`: Lava's processes still finish the previous sample there, and
  by hwsim's own contract nothing a node emits there reaches a live step of any consumer);
  both sides hold zeros there in the comparison.
* **float**: the float graph in hwsim (``lava`` timing, float64) against Lava's
  ``floating_pt`` models. Float sums in another order differ in the last bits, so spikes are
  identical except at *ties*; a tie is a mismatching spike whose hwsim potential lies within
  ``|H - θ| <= FLOAT64_TIE_REL · max(1, |H|, |θ|)`` of the threshold. Derivation: two float64
  evaluations of the same sum of ``d`` terms differ by at most ``2 γ_d Σ|terms|`` with ``γ_d ≈
  d·u``, ``u = 2**-53`` (Higham 2002, eq. 3.5); for fan-ins ``d <= 2**14`` and ``Σ|terms| <=
  2**8 · max(1, |θ|)`` this is ``<= 2**(1 + 14 - 53 + 8) = 2**-30`` times the scale. (Lava's
  stock float LIF also spikes on ``v > vth`` where hwsim spikes on ``H >= θ``: a tie at
  distance 0; and it decays by ``1 - dv = 1 - (1 - a)``, one more rounding.) A flipped tie
  changes the sample's later steps, so within a sample every mismatch at a later step than a
  tie is counted as that tie's consequence (``metrics["tie_consequences"]``); any other
  mismatch is an error. Only spikes (LIF and CubaLIF nodes) are compared in the float rung.

Results are :class:`hwsim.verify.RungResult` objects; :func:`rung2_entry` merges the two into
the ``"2"`` entry that :func:`hwsim.verify.write_verify_json` stores in ``verify.json``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

from exporters.lava.runner import run_lava_steps
from exporters.lava.spec import LavaGraphSpec
from exporters.lava.translate import lava_timed, threshold_schedule, translate
from hwsim.errors import VerificationError
from hwsim.graph import SPIKING_KINDS, Flatten, HardwareGraph, Input
from hwsim.sim import encode_inputs, run_steps
from hwsim.verify import MAX_LISTED, Divergence, LayerAgreement, RungResult, compare_exact

__all__ = [
    "FLOAT64_TIE_REL",
    "compared_layers",
    "rung2_fixed",
    "rung2_float",
    "rung2_entry",
]

FLOAT64_TIE_REL = 2.0**-30
"""Relative tie tolerance of the float rung (derivation in the module docstring)."""


def compared_layers(graph: HardwareGraph) -> list[str]:
    """The nodes rung 2 compares by default: every node except Input and Flatten (which
    merely re-shapes its input), in topological order."""
    return [
        n for n in graph.topological_order() if not isinstance(graph.nodes[n], (Input, Flatten))
    ]


def _encoded(graph: HardwareGraph, x, generator) -> dict[str, np.ndarray]:
    if isinstance(x, Mapping):
        return {k: np.asarray(v) for k, v in x.items()}
    return encode_inputs(graph, x, generator)


def _run_both(graph, x, generator, names, chunk, progress, spec=None):
    inputs = _encoded(graph, x, generator)
    if any(v.shape[1] == 0 for v in inputs.values()):
        raise VerificationError("rung 2 needs at least one sample, the inputs have none")
    t0 = time.perf_counter()
    ref = run_steps(graph, inputs, record=names)  # LIF nodes also record "<name>/h"
    t1 = time.perf_counter()
    spec = translate(graph) if spec is None else spec
    res = run_lava_steps(spec, inputs, record=names, chunk=chunk, progress=progress)
    n = res.batch
    kinds = dict(Counter(p.kind for p in spec.processes.values()))
    timing = {
        "samples": n,
        "hwsim_s_per_sample": (t1 - t0) / n,
        "lava_s_per_sample": res.timings["run_s"] / n,
        "lava_build_s": res.timings["build_s"],
    }
    settings = {"T": spec.T, "steps": spec.steps, "select_tag": spec.select_tag,
                "layers": list(names), "process_kinds": kinds, "models": res.models}  # fmt: skip
    return ref, res, timing, settings


def rung2_fixed(
    graph: HardwareGraph,
    x,
    *,
    generator: np.random.Generator | None = None,
    layers: Iterable[str] | None = None,
    chunk: int = 256,
    progress: bool = False,
    spec: LavaGraphSpec | None = None,
    labels=None,
) -> RungResult:
    """Rung 2, fixed: hwsim vs Lava ``fixed_pt``, bit-exact (see the module docstring).

    ``x``: a batch as :func:`hwsim.sim.simulate` takes it, or already encoded inputs
    ``{input: [T, B, ...]}``; ``layers`` the nodes to compare (default
    :func:`compared_layers`); ``spec`` the Lava process graph to run (default
    ``translate(graph)``; pass one read from a file to verify the exported artifact);
    ``labels [B]`` adds ``accuracy_lava`` and ``accuracy_hwsim`` to the metrics."""
    graph = lava_timed(graph)
    if graph.metadata.format != "fixed":
        raise VerificationError("rung2_fixed takes a fixed graph; use rung2_float for a float one")
    names = list(compared_layers(graph) if layers is None else layers)
    ref, res, timing, settings = _run_both(graph, x, generator, names, chunk, progress, spec)
    order = graph.topological_order()
    offsets = graph.arrival_offsets()
    reference = {k: _from_arrival(ref.records[k], offsets[k]) for k in names}
    layer_stats, first = compare_exact(res.records, reference, [k for k in order if k in names])
    metrics: dict[str, float] = dict(timing)
    passed = first is None
    if ref.readout is not None:
        diff = res.readout != ref.readout
        metrics["readout_mismatches"] = int(diff.sum())
        metrics["prediction_agreement"] = float(np.mean(res.predictions == ref.predictions))
        metrics.update(_accuracies(res, ref, labels))
        passed = passed and not diff.any()
    return RungResult(
        rung=2,
        title="fixed graph in hwsim (lava timing) vs Lava fixed_pt, bit-exact",
        passed=bool(passed),
        layers=layer_stats,
        metrics=metrics,
        first_divergence=first,
        settings=settings,
    )


def rung2_float(
    graph: HardwareGraph,
    x,
    *,
    generator: np.random.Generator | None = None,
    chunk: int = 256,
    progress: bool = False,
    tie_rel: float = FLOAT64_TIE_REL,
    spec: LavaGraphSpec | None = None,
    labels=None,
) -> RungResult:
    """Rung 2, float: hwsim float64 vs Lava ``floating_pt``; spikes of every LIF identical
    except ties and their consequences (see the module docstring). Arguments as
    :func:`rung2_fixed`."""
    graph = lava_timed(graph)
    if graph.metadata.format == "fixed":
        raise VerificationError("rung2_float takes a float graph; use rung2_fixed")
    order = graph.topological_order()
    names = [n for n in order if isinstance(graph.nodes[n], SPIKING_KINDS)]
    ref, res, timing, settings = _run_both(graph, x, generator, names, chunk, progress, spec)
    settings["tie_rel"] = tie_rel
    steps, offsets, T = res.steps, graph.arrival_offsets(), graph.metadata.T
    theta = {n: threshold_schedule(graph.nodes[n], offsets[n], T, steps) for n in names}
    stats = {n: LayerAgreement() for n in names}
    mismatches = []  # (sample, step, rank, layer, neuron)
    for rank, n in enumerate(names):
        a, b = res.records[n], ref.records[n]
        stats[n].compared = a.size
        stats[n].events_ours = int(np.count_nonzero(a))
        stats[n].events_reference = int(np.count_nonzero(b))
        for t, s, *idx in np.argwhere(a != b):
            mismatches.append((int(s), int(t), rank, n, tuple(int(i) for i in idx)))
    mismatches.sort()
    ties, first, tie_step = [], None, {}
    consequences = 0
    for s, t, _, n, idx in mismatches:
        stats[n].mismatches += 1
        h = float(ref.records[f"{n}/h"][(t, s, *idx)])
        th = float(theta[n][t])
        tol = tie_rel * max(1.0, abs(h), abs(th))
        div = Divergence(n, t, s, idx, float(res.records[n][(t, s, *idx)]),
                         float(ref.records[n][(t, s, *idx)]), h, th, tol)  # fmt: skip
        if t > tie_step.get(s, steps):
            stats[n].ties += 1  # a consequence of an earlier tie in this sample
            consequences += 1
        elif abs(h - th) <= tol:
            stats[n].ties += 1
            tie_step[s] = min(tie_step.get(s, steps), t)
            if len(ties) < MAX_LISTED:
                ties.append(div)
        elif first is None:
            first = div
    metrics: dict[str, float] = dict(timing)
    metrics.update(tie_consequences=consequences, samples_with_ties=len(tie_step))
    if ref.readout is not None:
        metrics["prediction_agreement"] = float(np.mean(res.predictions == ref.predictions))
        scale = np.maximum(np.abs(ref.readout), 1.0)
        metrics["readout_max_rel_diff"] = float(np.max(np.abs(res.readout - ref.readout) / scale))
        metrics.update(_accuracies(res, ref, labels))
    passed = all(la.errors == 0 for la in stats.values())
    return RungResult(
        rung=2,
        title="float graph in hwsim (lava timing) vs Lava floating_pt, spikes equal but ties",
        passed=bool(passed),
        layers=stats,
        metrics=metrics,
        first_divergence=first,
        ties=ties,
        settings=settings,
    )


def _from_arrival(a: np.ndarray, offset: int) -> np.ndarray:
    """``a [steps, B, ...]`` with zeros before ``offset`` (as the Lava runner's records)."""
    a = a.copy()
    a[:offset] = 0
    return a


def _accuracies(res, ref, labels) -> dict[str, float]:
    if labels is None:
        return {}
    y = np.asarray(labels).reshape(-1)
    if y.shape != res.predictions.shape:
        raise VerificationError(f"labels have shape {y.shape}, predictions {res.predictions.shape}")
    return {
        "accuracy_lava": float(np.mean(res.predictions == y)),
        "accuracy_hwsim": float(np.mean(ref.predictions == y)),
    }


def rung2_entry(fixed: RungResult, float_result: RungResult | None = None) -> dict:
    """The ``"2"`` entry of ``verify.json``: the fixed result, with the float result under
    ``"float"``; it passes when both do. Write it with
    ``hwsim.verify.write_verify_json(path, {"2": rung2_entry(...)})``."""
    entry = fixed.to_dict()
    if float_result is not None:
        entry["float"] = float_result.to_dict()
        entry["passed"] = bool(fixed.passed and float_result.passed)
        entry["summary"] = fixed.summary() + " | " + float_result.summary()
    return entry
