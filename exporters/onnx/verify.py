"""Rung 3 of the verification ladder (DESIGN.md section 6): hardware graph in hwsim ↔ its
ONNX step model in onnxruntime and in ``onnx.reference`` (function bodies and op classes).

fixed graphs: **bit-exact** — every output of every node at every step (spikes, currents,
payloads, pooled counts, the pre-reset membrane ``<lif>/h``) and the readout total are
compared for equality.

float graphs: **spike-identical** — every LIF node's spikes at every step and the
predictions; the currents and the readout are float64 in both but may differ in the last
bits, because onnxruntime's ``MatMul`` and hwsim's numpy/torch sum in different orders (their
largest absolute difference is reported, ``current_max_abs_diff``). A spike that differs
where the two potentials lie on either side of θ within ``FLOAT_TIE_REL`` of each other is a
*tie* (reported, not an error); any other difference is an error.

The result is a :class:`hwsim.verify.RungResult` (``rung=3``) for ``verify.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from tqdm.auto import tqdm

from exporters.onnx.export import export_onnx
from exporters.onnx.runner import BACKENDS, OnnxRun, StepModel
from hwsim.errors import VerificationError
from hwsim.graph import SPIKING_KINDS, HardwareGraph
from hwsim.sim import simulate
from hwsim.verify import Divergence, LayerAgreement, RungResult, compare_exact

__all__ = ["FLOAT_TIE_REL", "rung3"]

FLOAT_TIE_REL = 1e-9
"""Relative distance under which two float64 potentials count as the same number computed in
two summation orders (float64 roundoff is ~1e-16 per operation; fan-ins here are < 1e5)."""


def _float_ties(run: OnnxRun, ref: dict[str, np.ndarray], lifs: list[str]) -> dict[str, int]:
    """Per LIF node, the spike mismatches that are float ties (see the module docstring)."""
    out = {}
    for n in lifs:
        diff = run.records[n] != ref[n]
        if not diff.any():
            continue
        h_a, h_b = run.records[f"{n}/h"], ref[f"{n}/h"]
        close = np.abs(h_a - h_b) <= FLOAT_TIE_REL * (1.0 + np.abs(h_b))
        out[n] = int(np.count_nonzero(diff & close))
    return out


def rung3(
    graph: HardwareGraph,
    x: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    model: onnx.ModelProto | None = None,
    backends: Sequence[str] = BACKENDS,
    batch_size: int = 64,
    reference_samples: int | None = 16,
    seed: int = 0,
    progress: bool = False,
) -> RungResult:
    """Rung 3 on the samples ``x`` (as for :func:`hwsim.sim.simulate`; one Input node).

    ``model`` the ONNX step model (default: ``export_onnx(graph)``); ``backends`` any of
    :data:`~exporters.onnx.runner.BACKENDS`; the slow ``onnx.reference`` backends run on the
    first ``reference_samples`` samples only (None: all). Rate-encoded inputs are drawn from
    ``default_rng([seed, start of the batch])`` identically on both sides. ``labels`` adds
    the accuracies; ``progress`` shows a tqdm bar over the batches.
    """
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        raise VerificationError(f"rung 3: unknown backends {sorted(unknown)}; use {BACKENDS}")
    names = graph.input_names()
    if len(names) != 1:
        raise VerificationError(f"rung 3 supports one Input node, not {names}")
    axis = 1 if graph.nodes[names[0]].encoding == "spikes" else 0
    x = np.asarray(x)
    n = x.shape[axis]
    if n == 0:
        raise VerificationError("rung 3 needs at least one sample, x has none")
    model = export_onnx(graph) if model is None else model
    steppers = {b: StepModel(model, b) for b in backends}
    fixed = graph.metadata.format == "fixed"
    lifs = [k for k, v in graph.nodes.items() if isinstance(v, SPIKING_KINDS)]

    layers: dict[str, LayerAgreement] = {}
    metrics: dict[str, float] = {}
    first: tuple[tuple[int, int], Divergence] | None = None
    preds = {k: [] for k in ("hwsim", *backends)}
    max_cur = {b: 0.0 for b in backends}
    max_ro = {b: 0.0 for b in backends}
    compared = {b: 0 for b in backends}
    for start in tqdm(range(0, n, batch_size), desc="rung 3", unit="batch", disable=not progress,
                      leave=False):  # fmt: skip
        idx = np.arange(start, min(start + batch_size, n))
        xb = np.take(x, idx, axis=axis)
        # one seed per batch for both sides: rate inputs see the very same draws
        sim = simulate(graph, xb, record=True, generator=np.random.default_rng([seed, start]))
        preds["hwsim"].append(sim.predictions)
        keys = list(sim.records) if fixed else lifs
        for b, stepper in steppers.items():
            k = len(idx)
            if b != "onnxruntime" and reference_samples is not None:
                k = min(k, reference_samples - start)
            if k <= 0:
                continue
            frames = stepper.encode(xb, np.random.default_rng([seed, start]))
            run = stepper.run_frames({i: f[:, :k] for i, f in frames.items()}, record=True)
            ref = {key: v[:, :k] for key, v in sim.records.items()}
            compared[b] += k
            preds[b].append(run.predictions)
            found, div = compare_exact(run.records, ref, keys, sample_offset=start)
            ties = {} if fixed else _float_ties(run, ref, lifs)
            for key, la in found.items():
                la.ties = ties.get(key, 0)
                layers.setdefault(key, LayerAgreement()).add(la)
            if div is not None and (first is None or (div.step, start) < first[0]):
                div.layer = f"{b}:{div.layer}"
                first = ((div.step, start), div)
            if sim.readout is not None:
                err = np.abs(run.readout - sim.readout[:k])
                max_ro[b] = max(max_ro[b], float(np.max(err)))
            if not fixed:
                for key, v in ref.items():
                    d = np.abs(run.records[key] - v)
                    max_cur[b] = max(max_cur[b], float(d.max(initial=0.0)))
    ref = np.concatenate(preds["hwsim"]) if preds["hwsim"][0] is not None else None
    for b in backends:
        got = np.concatenate(preds[b]) if preds[b] and preds[b][0] is not None else None
        metrics[f"{b}.samples"] = compared[b]
        metrics[f"{b}.readout_max_abs_error"] = max_ro[b]
        if got is not None and ref is not None:
            metrics[f"{b}.prediction_agreement"] = float(np.mean(got == ref[: len(got)]))
        if got is not None and labels is not None:  # the stage table's ONNX accuracy
            metrics[f"accuracy_{b}"] = float(np.mean(got == np.asarray(labels)[: len(got)]))
        if not fixed:
            metrics[f"{b}.current_max_abs_diff"] = max_cur[b]
    agreements = [v for k, v in metrics.items() if k.endswith("prediction_agreement")]
    if agreements:
        metrics["prediction_agreement"] = min(agreements)
    metrics["readout_max_abs_error"] = max(max_ro.values())
    if labels is not None and ref is not None:
        metrics["accuracy_hwsim"] = float(np.mean(ref == np.asarray(labels)[:n]))
    errors = sum(la.errors for la in layers.values())
    readout_ok = (not fixed) or metrics["readout_max_abs_error"] == 0.0
    passed = errors == 0 and readout_ok and metrics.get("prediction_agreement", 1.0) == 1.0
    import onnxruntime

    return RungResult(
        rung=3,
        title="hwsim ↔ ONNX IR (" + ", ".join(backends) + ")",
        passed=passed,
        layers=layers,
        metrics=metrics,
        first_divergence=None if first is None else first[1],
        settings={
            "format": graph.metadata.format,
            "timing": graph.metadata.timing,
            "T": graph.metadata.T,
            "samples": n,
            "reference_samples": reference_samples,
            "comparison": "bit-exact, every node" if fixed else "LIF spikes, predictions",
            "float_tie_rel": None if fixed else FLOAT_TIE_REL,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "seed": seed,
        },
    )
