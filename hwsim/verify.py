"""The verification ladder, rungs 0 and 1 (DESIGN.md section 6), and the result format.

Every rung returns a :class:`RungResult`: machine-readable (:meth:`RungResult.to_dict`), one
human line (:meth:`RungResult.summary`), per-layer agreement, rung-specific metrics and, on
failure, the first divergence (layer, step, sample, neuron, both values).
:func:`write_verify_json` merges results into ``verify.json`` (``{"rungs": {"0": ..., "1":
...}}``) atomically; rungs 2 and 3 (Lava, ONNX) add themselves with the same function and
may use :func:`compare_exact` for their bit-exact comparisons.

Rung 0 — torch eval network ↔ float graph (hwsim, ``ideal`` timing)
----------------------------------------------------------------------
Layer by layer with **teacher forcing**: every LIF node's output is replaced by the
reference spikes, and the node resets with them, so each layer sees exactly the reference's
input and state history; a mismatch is then local and is either a *tie* or a bug. A mismatch
at ``(t, b, n)`` is a tie when the simulator's pre-reset potential is within the float
tolerance of the threshold, ``|H - θ[t]| <= tol[t, b, n]``; every other mismatch is an error.
The end-to-end agreement (free run: no forcing, a flipped tie cascades) is reported apart.

The tie tolerance (``tie_tol=None``) is a per-element forward error bound of the float32 torch
network (unit roundoff ``u = 2**-24``) against exact arithmetic, standard summation analysis
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, eq. 3.5: a sum of ``d`` terms
in any order is within ``γ_d Σ|terms|``, ``γ_d ≈ d·u``)::

    A[t]   = Σ_synapses S[t] + |b_LIF|            magnitude of the current's terms
               Dense   S = |W| |x| + |b|                 κ = d + 4
               Conv2d  S = conv(|x|, |W|) + |b|          κ = C_in/groups · kh · kw + 4
               E-I     S = g_E (I_EE + |I_sub|) / D + |I - b_E| + |b_E|    κ = d + n_I + 6
    E_H[t] = a · E_V[t-1] + u (κ A[t] + |a V[t-1]| + |H[t]|)     error of H = a V + I
    E_V[t] = E_H[t] + u |V[t]|                                   soft reset's subtraction
    tol    = 2 · E_H                                             (u = 2**-24 + 2**-53)

``d`` is the fan-in; the ``+4`` covers the bias addition and up to three element-wise float32
operations of a normalisation the fold removed (OSR/BN affine) plus the rounding of folded
float32 weights; the E-I ``+6`` also covers the subtraction, the gain and the division. The
``2 ·`` absorbs second-order terms; ``2**-53`` is the simulator's own (float64) roundoff.
Inputs to a synapse are exact (reference spikes, pooled counts, the float32 input frame). The
threshold comparison itself adds no error (the sign of ``fl(H - θ)`` is the sign of ``H -
θ``). The bound is worst-case (typical errors are ``~sqrt(d)`` times smaller), so a real
bug — a perturbed weight, a wrong reset — produces mismatches far outside it. The readout
currents (forced inputs) are compared with the same bound.

Rung 1 — float graph ↔ fixed graph (hwsim)
-------------------------------------------
Both graphs on the same inputs (``rate`` inputs: the very same Bernoulli draws): per-layer
spike agreement (records aligned by arrival offsets), readout correlation (Pearson over all
samples and classes), prediction agreement, accuracy of each and the delta; passes when the
fixed accuracy is at most ``max_accuracy_drop`` below the float one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hwsim import arith
from hwsim.errors import GraphError, VerificationError
from hwsim.graph import LIF, SPIKING_KINDS, Conv2d, Dense, EICircuit, HardwareGraph, Readout
from hwsim.io import atomic_write_text
from hwsim.sim import encode_inputs, run_steps
from hwsim.simops import conv_sum

__all__ = [
    "U_FLOAT32",
    "U_FLOAT64",
    "TIE_SAFETY",
    "MAX_LISTED",
    "Divergence",
    "LayerAgreement",
    "RungResult",
    "compare_exact",
    "rung0",
    "rung1",
    "sequence_inputs",
    "write_verify_json",
    "remove_rungs",
    "read_verify_json",
    "refusal_entry",
]

U_FLOAT32 = 2.0**-24  # unit roundoff of the torch network
U_FLOAT64 = 2.0**-53  # unit roundoff of the simulator
TIE_SAFETY = 2.0  # second-order terms of the error bound
MAX_LISTED = 100  # ties (and divergences) listed in full; all are counted


@dataclass
class Divergence:
    """One compared element that differs: ``layer`` (node), ``step``, ``sample`` (index in the
    whole input set), ``neuron`` (index in the node's per-sample shape), ``ours`` (the graph
    under test) and ``reference`` values; rung 0 adds the potential ``h``, the ``threshold``
    and the ``tolerance`` used."""

    layer: str
    step: int
    sample: int
    neuron: tuple[int, ...]
    ours: float
    reference: float
    h: float | None = None
    threshold: float | None = None
    tolerance: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["neuron"] = list(self.neuron)
        return {k: v for k, v in d.items() if v is not None}

    def describe(self) -> str:
        extra = ""
        if self.h is not None:
            extra = f" (H={self.h:.9g}, θ={self.threshold:.9g}, tol={self.tolerance:.3g})"
        return (
            f"{self.layer} step {self.step} sample {self.sample} neuron {self.neuron}: "
            f"ours {self.ours:g}, reference {self.reference:g}{extra}"
        )


@dataclass
class LayerAgreement:
    """Per-layer counts: ``compared`` elements, ``mismatches``, of which ``ties`` (rung 0);
    ``events_ours``/``events_reference`` non-zero outputs of each side."""

    compared: int = 0
    mismatches: int = 0
    ties: int = 0
    events_ours: int = 0
    events_reference: int = 0

    @property
    def errors(self) -> int:
        return self.mismatches - self.ties

    @property
    def agreement(self) -> float:
        return 1.0 - self.mismatches / self.compared if self.compared else 1.0

    def add(self, other: LayerAgreement) -> None:
        for k in ("compared", "mismatches", "ties", "events_ours", "events_reference"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(errors=self.errors, agreement=self.agreement)
        return d


@dataclass
class RungResult:
    """The outcome of one rung. ``metrics`` holds the rung's numbers (floats/ints),
    ``settings`` how it was run (tolerances, sample count, T), ``ties`` the first
    :data:`MAX_LISTED` ties (all are counted in ``layers``)."""

    rung: int | str  # 0-4, or "S" (source fidelity of an imported graph)
    title: str
    passed: bool
    layers: dict[str, LayerAgreement] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    first_divergence: Divergence | None = None
    ties: list[Divergence] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def n_ties(self) -> int:
        return sum(la.ties for la in self.layers.values())

    @property
    def n_errors(self) -> int:
        return sum(la.errors for la in self.layers.values())

    def to_dict(self) -> dict:
        return _plain(
            {
                "rung": self.rung,
                "title": self.title,
                "passed": self.passed,
                "summary": self.summary(),
                "layers": {k: v.to_dict() for k, v in self.layers.items()},
                "metrics": self.metrics,
                "first_divergence": None
                if self.first_divergence is None
                else self.first_divergence.to_dict(),
                "n_ties": self.n_ties,
                "ties": [t.to_dict() for t in self.ties],
                "settings": self.settings,
            }
        )

    def summary(self) -> str:
        """One line: verdict, the main numbers and the first divergence if any."""
        head = f"rung {self.rung} {'PASS' if self.passed else 'FAIL'} ({self.title}):"
        compared = sum(la.compared for la in self.layers.values())
        mism = sum(la.mismatches for la in self.layers.values())
        parts = [f"{len(self.layers)} layers, {mism}/{compared} spikes differ"]
        if "tie_tol" in self.settings:  # a rung that tells ties from errors (0, 2 float, 4)
            parts[0] += f" ({self.n_ties} ties, {self.n_errors} errors)"
        for key, fmt in _SUMMARY_METRICS:
            if key in self.metrics:
                parts.append(fmt.format(self.metrics[key]))
        line = f"{head} " + "; ".join(parts)
        # A passing rung may still hold a divergence (rung 1 passes on accuracy while
        # quantisation flips spikes): that is detail for verify.json, not for a PASS line.
        if self.first_divergence is not None and not self.passed:
            line += f"; first divergence: {self.first_divergence.describe()}"
        return line


_SUMMARY_METRICS = (
    ("readout_max_abs_error", "readout max |Δ| {:.3g}"),
    ("readout_error_over_bound", "readout |Δ| / bound {:.3g}"),
    ("prediction_agreement", "prediction agreement {:.2%}"),
    ("readout_correlation", "readout correlation {:.6f}"),
    ("accuracy_float", "accuracy float {:.2%}"),
    ("accuracy_fixed", "fixed {:.2%}"),
    ("accuracy_delta", "Δ {:+.2%}"),
)


def _plain(v):
    """JSON-ready: numpy scalars and arrays become Python numbers and lists."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


# ---------------------------------------------------------------------------------------------
# bit-exact comparison (rungs 2 and 3 use it too)


def _first(mask: np.ndarray) -> tuple[int, int, tuple[int, ...]] | None:
    """(step, sample, neuron) of the first True of ``mask [steps, B, ...]`` in step order."""
    hit = np.argwhere(mask)
    if hit.size == 0:
        return None
    i = np.lexsort(hit.T[::-1])[0]  # by step, then sample, then neuron
    return int(hit[i, 0]), int(hit[i, 1]), tuple(int(k) for k in hit[i, 2:])


def compare_exact(
    ours: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    order: Iterable[str] | None = None,
    sample_offset: int = 0,
) -> tuple[dict[str, LayerAgreement], Divergence | None]:
    """Compare ``ours[k]`` with ``reference[k]`` element for element (``[steps, B, ...]``
    each, equal shapes) for every key of ``reference``; returns per-layer counts and the
    first divergence (earliest step; among equal steps the first key in ``order``, default
    the reference's key order). Raises :class:`VerificationError` for missing keys or shape
    mismatches."""
    keys = list(order) if order is not None else list(reference)
    layers, first, first_key = {}, None, None
    for rank, k in enumerate(keys):
        if k not in ours:
            raise VerificationError(f"compare: {k!r} is missing from the result under test")
        a, b = np.asarray(ours[k]), np.asarray(reference[k])
        if a.shape != b.shape:
            raise VerificationError(f"compare: {k!r} has shape {a.shape} vs {b.shape}")
        diff = a != b
        layers[k] = LayerAgreement(
            a.size, int(diff.sum()), 0, int(np.count_nonzero(a)), int(np.count_nonzero(b))
        )
        hit = _first(diff)
        if hit is not None and (first_key is None or (hit[0], rank) < first_key):
            t, s, n = hit
            first = Divergence(
                k, t, s + sample_offset, n, float(a[(t, s, *n)]), float(b[(t, s, *n)])
            )
            first_key = (t, rank)
    return layers, first


# ---------------------------------------------------------------------------------------------
# rung 0


def sequence_inputs(
    graph: HardwareGraph, inputs, generator: np.random.Generator | None = None
) -> dict[str, np.ndarray]:
    """Encoded inputs ``{name: [T, B, ...]}`` for a rung that feeds both sides the same steps:
    a frame batch is encoded by the graph's Input encoding; an array with the extra leading T
    axis is taken as the sequence as given. ``rate`` frames are drawn with ``generator`` (both
    sides then see these draws); without one a rate graph needs the sequence the reference
    saw (rung 0: the torch net drew its own)."""
    names = graph.input_names()
    if len(names) != 1:
        raise GraphError(f"the verification ladder supports one Input node, not {names}")
    node = graph.nodes[names[0]]
    a = np.asarray(inputs)
    if a.ndim == len(node.shape) + 2 and node.encoding != "spikes":
        if a.shape[0] != graph.metadata.T:
            raise VerificationError(f"input sequence has {a.shape[0]} steps, T={graph.metadata.T}")
        return {names[0]: a.astype(np.float64)}
    if node.encoding == "rate" and generator is None:
        raise VerificationError(
            "a rate-encoded graph needs the input spike sequence [T, B, ...] the reference saw"
        )
    return encode_inputs(graph, a, generator)


def _abs_synapse(node, x: np.ndarray) -> tuple[np.ndarray, int]:
    """``(S, κ)`` of a synapse node for inputs ``x [N, ...]`` (see the module docstring)."""
    ax = np.abs(x)
    if isinstance(node, Dense):
        b = None if node.bias is None else np.abs(node.bias).astype(np.float64)
        return arith.dense_float(np.abs(node.weight).astype(np.float64), ax, b), ax.shape[1] + 4
    if isinstance(node, Conv2d):
        s = conv_sum(ax, np.abs(node.weight), node.stride, node.padding, node.groups)
        if node.bias is not None:
            s = s + np.abs(node.bias)[None, :, None, None]
        return s, int(np.prod(node.weight.shape[1:])) + 4
    if isinstance(node, EICircuit):
        conv = dict(stride=node.stride, padding=node.padding, groups=node.groups)
        if node.form == "conv":
            i_ee, h_i = conv_sum(x, node.w_ee, **conv), conv_sum(x, node.w_ie, **conv)
        else:
            i_ee, h_i = arith.dense_float(node.w_ee, x), arith.dense_float(node.w_ie, x)
        out = arith.ei_step_float(
            i_ee, h_i, w_ei=node.w_ei, g_i=node.g_i, g_e=node.g_e, b_e=node.b_e,
            variant=node.variant, stabilisation=node.stabilisation, floor=float(node.floor),
        )  # fmt: skip
        i_sub = np.abs(i_ee - out.numerator)
        nd = i_ee.ndim
        ge = 1.0 if node.g_e is None else node.g_e.reshape((1, -1) + (1,) * (nd - 2))
        be = 0.0 if node.b_e is None else np.abs(node.b_e).reshape((1, -1) + (1,) * (nd - 2))
        s = ge * (np.abs(i_ee) + i_sub) / out.denominator + np.abs(out.current - be) + be
        return s, int(np.prod(node.w_ee.shape[1:])) + node.n_i + 6
    return np.abs(x), 2  # a current passed on unchanged (Add, Delay, ...)


def _current_scale(graph, name, rec, force) -> tuple[np.ndarray, int]:
    """``A`` and ``κ`` of the current into ``name`` over all steps ``[steps, B, ...]``."""
    total, kappa = 0.0, 0
    for p in graph.predecessors(name):
        src = graph.predecessors(p)
        node = graph.nodes[p]
        if len(src) == 1 and isinstance(node, (Dense, Conv2d, EICircuit)):
            x = force[src[0]] if src[0] in force else rec[src[0]]
        else:
            node, x = None, rec[p]
        steps, b = x.shape[:2]
        s, k = _abs_synapse(node, x.reshape(steps * b, *x.shape[2:]))
        total = total + s.reshape(steps, b, *s.shape[1:])
        kappa = max(kappa, k)
    return np.asarray(total, dtype=np.float64), kappa


def _thresholds(node: LIF, steps: int, shape) -> np.ndarray:
    th = np.asarray(node.threshold, dtype=np.float64)
    if th.ndim == 0:
        th = np.broadcast_to(th, (steps,))
    else:
        th = th[np.minimum(np.arange(steps), th.size - 1)]
    return th.reshape((steps,) + (1,) * (len(shape) + 1))  # [steps, 1 (batch), 1, ...]


def _tie_bound(graph, name, rec, force, ref_spikes) -> np.ndarray:
    """The per-element error bound ``E_H`` of the torch potential (module docstring)."""
    node: LIF = graph.nodes[name]
    h = rec[f"{name}/h"]
    a_mag, kappa = _current_scale(graph, name, rec, force)
    if node.bias is not None:
        a_mag = a_mag + np.abs(node.bias_broadcast(h.shape[2:]))
    theta = _thresholds(node, h.shape[0], h.shape[2:])
    s = ref_spikes != 0
    v = h - theta * s if node.reset == "soft" else h * ~s  # the forced (reference) reset
    a, u = float(node.decay), U_FLOAT32 + U_FLOAT64
    e_h = np.zeros_like(h)
    e_v = np.zeros_like(h[0])
    v_prev = np.zeros_like(h[0])
    for t in range(h.shape[0]):
        e_h[t] = a * e_v + u * (kappa * a_mag[t] + np.abs(a * v_prev) + np.abs(h[t]))
        e_v = e_h[t] + (u * np.abs(v[t]) if node.reset == "soft" else 0.0)
        v_prev = v[t]
    return TIE_SAFETY * e_h


def rung0(
    graph_float: HardwareGraph,
    inputs,
    reference: Mapping[str, np.ndarray],
    tie_tol: float | None = None,
    *,
    batch_size: int = 256,
    progress: bool = False,
) -> RungResult:
    """Rung 0: the torch eval network's per-step outputs ``reference`` ({node: [T, B, ...]}:
    every LIF node's spikes and the Readout node's currents, as
    ``toolchain.verify.record_torch`` records them) against the float graph in hwsim.

    ``inputs`` the frames ``[B, ...]`` or the input sequence ``[T, B, ...]`` the torch net
    saw. ``tie_tol`` None derives the per-element bound of the module docstring; a number is
    an absolute tolerance on ``|H - θ|`` (and on the readout currents). Samples are processed
    in batches of ``batch_size`` (a tqdm bar with ``progress``).
    """
    g = graph_float
    if g.metadata.format != "float32" or g.metadata.timing != "ideal":
        raise VerificationError(
            f"rung 0 takes a float graph in ideal timing, got {g.metadata.format}/"
            f"{g.metadata.timing}"
        )
    if max(g.arrival_offsets().values()) != 0:
        raise VerificationError("rung 0 takes a graph without Delay nodes (offsets all 0)")
    order = g.topological_order()
    lifs = [n for n in order if isinstance(g.nodes[n], LIF) and n in reference]
    ro = next((n for n in order if isinstance(g.nodes[n], Readout)), None)
    unknown = set(reference) - set(lifs) - {ro}
    if unknown:
        raise VerificationError(f"reference holds {sorted(unknown)}: not LIF/Readout nodes")
    if not lifs:
        raise VerificationError("the reference holds no LIF node of the graph")
    seq = sequence_inputs(g, inputs)
    n_total = next(iter(seq.values())).shape[1]
    for k, r in reference.items():
        if np.shape(r)[:2] != (g.metadata.T, n_total):
            raise VerificationError(
                f"reference[{k!r}] has shape {np.shape(r)}; [T, B, ...] expected"
            )

    layers = {n: LayerAgreement() for n in lifs}
    free = {n: LayerAgreement() for n in lifs}
    first, first_key, ties = None, None, []
    ro_err, ro_ratio, agree = 0.0, 0.0, 0
    for s0 in _batch_starts(n_total, batch_size, "rung 0 hwsim" if progress else None):
        sl = slice(s0, min(s0 + batch_size, n_total))
        xb = {k: v[:, sl] for k, v in seq.items()}
        refb = {k: np.asarray(v)[:, sl] for k, v in reference.items()}
        # end-to-end: a free run, predictions against the reference readout
        run = run_steps(g, xb, record=lifs)
        fl, _ = compare_exact({n: run.records[n] != 0 for n in lifs},
                              {n: refb[n] != 0 for n in lifs}, lifs)  # fmt: skip
        for n in lifs:
            free[n].add(fl[n])
        if ro in refb:
            agree += int(np.sum(run.predictions == refb[ro].sum(0).argmax(-1)))
        # layer by layer: teacher forcing
        force = {n: refb[n] for n in lifs}
        need = set(lifs) | {ro} if ro else set(lifs)
        for n in list(need):
            for p in g.predecessors(n):
                need.update([p, *g.predecessors(p)])
        fr = run_steps(g, xb, record=need, force=force)
        rec = dict(fr.records)
        for n in lifs:
            la, (div, tie_list) = _layer_rung0(g, n, rec, force, refb[n], tie_tol, s0)
            layers[n].add(la)
            ties += tie_list[: MAX_LISTED - len(ties)]
            if div is not None and (first_key is None or (div.step, order.index(n)) < first_key):
                first, first_key = div, (div.step, order.index(n))
        if ro in refb:
            diff = np.abs(rec[ro] - refb[ro])
            if tie_tol is None:
                a_mag, kappa = _current_scale(g, ro, rec, force)
                bound = TIE_SAFETY * (U_FLOAT32 + U_FLOAT64) * kappa * a_mag
            else:
                bound = np.full_like(diff, tie_tol)
            ro_err = max(ro_err, float(diff.max(initial=0.0)))
            ro_ratio = max(ro_ratio, float(np.max(diff / np.maximum(bound, 1e-300), initial=0)))

    metrics: dict[str, float] = {}
    if ro in reference:
        metrics.update(
            readout_max_abs_error=ro_err,
            readout_error_over_bound=ro_ratio,
            prediction_agreement=agree / n_total,
        )
    for n in lifs:
        metrics[f"free_run_spike_agreement/{n}"] = free[n].agreement
    n_err = sum(la.errors for la in layers.values())
    return RungResult(
        rung=0,
        title="torch eval ↔ float graph, teacher forcing",
        passed=n_err == 0 and ro_ratio <= 1.0,
        layers=layers,
        metrics=metrics,
        first_divergence=first,
        ties=ties,
        settings={
            "samples": n_total,
            "T": g.metadata.T,
            "tie_tol": "derived float32 error bound" if tie_tol is None else float(tie_tol),
            "u": U_FLOAT32,
            "safety": TIE_SAFETY,
        },
    )


def _batch_starts(n: int, batch_size: int, desc: str | None):
    """Start indices of the batches of ``n`` samples, behind a tqdm bar (stderr) when
    ``desc`` is given."""
    starts = range(0, n, batch_size)
    if desc is None:
        return starts
    from tqdm.auto import tqdm

    return tqdm(starts, desc=desc, unit="batch", leave=False)


def _layer_rung0(g, name, rec, force, ref, tie_tol, s0):
    ours, theirs = rec[name] != 0, ref != 0
    mism = ours != theirs
    h = rec[f"{name}/h"]
    theta = _thresholds(g.nodes[name], h.shape[0], h.shape[2:])
    if mism.any():
        tol = _tie_bound(g, name, rec, force, ref) if tie_tol is None else np.full_like(h, tie_tol)
    else:
        tol = np.zeros_like(h)
    tie = mism & (np.abs(h - theta) <= tol)
    err = mism & ~tie
    la = LayerAgreement(
        mism.size, int(mism.sum()), int(tie.sum()), int(ours.sum()), int(theirs.sum())
    )

    def div(idx) -> Divergence:
        t, b, n = idx
        at = (t, b, *n)
        return Divergence(
            name, t, b + s0, n, float(ours[at]), float(theirs[at]), float(h[at]),
            float(theta.reshape(-1)[t]), float(tol[at]),
        )  # fmt: skip

    first = _first(err)
    tie_idx = np.argwhere(tie)[:MAX_LISTED]
    tie_list = [div((int(i[0]), int(i[1]), tuple(int(k) for k in i[2:]))) for i in tie_idx]
    return la, (None if first is None else div(first), tie_list)


# ---------------------------------------------------------------------------------------------
# rung 1


def rung1(
    graph_float: HardwareGraph,
    graph_fixed: HardwareGraph,
    inputs,
    labels,
    *,
    batch_size: int = 256,
    generator: np.random.Generator | None = None,
    max_accuracy_drop: float = 0.01,
    progress: bool = False,
) -> RungResult:
    """Rung 1: the float graph against its quantised twin, both in hwsim, on ``inputs``
    (frames ``[N, ...]``, or spike trains ``[T, N, ...]`` for ``spikes`` inputs) with
    ``labels [N]``. ``rate`` inputs are drawn once (``generator``) and fed to both;
    ``progress`` shows a tqdm bar over the batches."""
    gf, gq = graph_float, graph_fixed
    if gf.metadata.format != "float32" or gq.metadata.format != "fixed":
        raise VerificationError("rung 1 takes a float32 graph and a fixed graph")
    if gf.metadata.T != gq.metadata.T or gf.input_names() != gq.input_names():
        raise VerificationError("rung 1: the float and fixed graphs differ in T or inputs")
    # the timings may differ (a lava-timed graph has Delay nodes): compare the common
    # spiking layers (LIF, CubaLIF)
    order = [n for n in gf.topological_order() if n in gq.nodes]
    lifs = [n for n in order if isinstance(gf.nodes[n], SPIKING_KINDS)]
    labels = np.asarray(labels).reshape(-1)
    (name,) = gf.input_names()
    spikes = gf.nodes[name].encoding == "spikes"
    x = np.asarray(inputs)
    n_total = x.shape[1 if spikes else 0]
    if labels.shape[0] != n_total:
        raise VerificationError(f"rung 1: {n_total} inputs but {labels.shape[0]} labels")
    gen = np.random.default_rng(0) if generator is None else generator
    layers = {n: LayerAgreement() for n in lifs}
    first, rf, rq, overflow = None, [], [], {}
    for s0 in _batch_starts(n_total, batch_size, "rung 1" if progress else None):
        xb = x[:, s0 : s0 + batch_size] if spikes else x[s0 : s0 + batch_size]
        enc_f = encode_inputs(gf, xb, gen)
        if gf.nodes[name].encoding == "direct":
            enc_q = encode_inputs(gq, xb)
        else:  # the very same spikes
            enc_q = {k: v.astype(np.int64) for k, v in enc_f.items()}
        a, b = run_steps(gf, enc_f, record=lifs), run_steps(gq, enc_q, record=lifs)
        la, div = compare_exact(
            {n: b.aligned(n) != 0 for n in lifs},
            {n: a.aligned(n) != 0 for n in lifs},
            lifs,
            sample_offset=s0,
        )
        for n in lifs:
            layers[n].add(la[n])
        if first is None and div is not None:
            first = div
        rf.append(a.readout)
        rq.append(b.readout)
        for node, ev in b.overflow.items():
            for k, v in ev.items():
                overflow[f"{node}/{k}"] = overflow.get(f"{node}/{k}", 0) + v
    rf, rq = np.concatenate(rf).astype(np.float64), np.concatenate(rq).astype(np.float64)
    pf, pq = rf.argmax(1), rq.argmax(1)
    acc_f, acc_q = float(np.mean(pf == labels)), float(np.mean(pq == labels))
    corr = float(np.corrcoef(rf.reshape(-1), rq.reshape(-1))[0, 1]) if rf.size > 1 else 1.0
    metrics = {
        "readout_correlation": corr,
        "prediction_agreement": float(np.mean(pf == pq)),
        "accuracy_float": acc_f,
        "accuracy_fixed": acc_q,
        "accuracy_delta": acc_q - acc_f,
    }
    metrics.update({f"spike_agreement/{n}": layers[n].agreement for n in lifs})
    return RungResult(
        rung=1,
        title="float graph ↔ fixed graph (hwsim)",
        passed=acc_q >= acc_f - max_accuracy_drop,
        layers=layers,
        metrics=metrics,
        first_divergence=first,
        settings={
            "samples": n_total,
            "T": gf.metadata.T,
            "max_accuracy_drop": max_accuracy_drop,
            "timing": [gf.metadata.timing, gq.metadata.timing],
            "overflow_events": overflow,
        },
    )


# ---------------------------------------------------------------------------------------------
# verify.json


def read_verify_json(path: str | os.PathLike) -> dict:
    """The contents of a ``verify.json`` (``{"rungs": {}}`` when the file does not exist);
    a corrupt file raises :class:`VerificationError` naming it."""
    p = Path(path)
    if not p.exists():
        return {"rungs": {}}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationError(f"{p}: not a readable verify.json ({exc}); delete it") from exc
    if not isinstance(data, dict) or not isinstance(data.get("rungs", {}), dict):
        raise VerificationError(f"{p}: not a verify.json (no 'rungs' mapping); delete it")
    data.setdefault("rungs", {})
    return data


def refusal_entry(rung: int | str, title: str, reason: str) -> dict:
    """The ``verify.json`` entry of a rung whose target refused the network (an exporter's
    :class:`~hwsim.errors.ExportError`, e.g. NIR for a soft-reset net): ``status`` ``refused``,
    ``passed`` None and the ``reason``. A refusal is not a failure: ``verify.json``'s overall
    ``passed`` leaves it out, and the report lists it with its reason. Write it with
    ``write_verify_json(path, {str(rung): refusal_entry(...)})``."""
    return {
        "rung": rung, "title": title, "status": "refused", "passed": None, "reason": reason,
        "summary": f"rung {rung} REFUSED ({title}): {reason}",
    }  # fmt: skip


def write_verify_json(
    path: str | os.PathLike, results: RungResult | Iterable[RungResult] | Mapping[str, dict]
) -> Path:
    """Merge ``results`` into ``path`` (``{"rungs": {"<rung>": result.to_dict()}}``; other
    rungs already in the file are kept, the same rung is replaced) and write atomically
    (temporary file in the same directory, fsync, rename). ``results`` may also be a mapping
    ``{rung key: dict}`` for rungs produced elsewhere. Returns the path."""
    p = Path(path)
    data = read_verify_json(p)
    if isinstance(results, RungResult):
        results = [results]
    items = results.items() if isinstance(results, Mapping) else (
        (str(r.rung), r.to_dict()) for r in results
    )  # fmt: skip
    for key, val in items:
        data["rungs"][str(key)] = _plain(val)
    return _write_verify(p, data)


def remove_rungs(path: str | os.PathLike, rungs: Iterable[int | str]) -> Path:
    """Delete the entries of ``rungs`` from ``path`` (e.g. stale ones), atomically."""
    p = Path(path)
    data = read_verify_json(p)
    for key in rungs:
        data["rungs"].pop(str(key), None)
    return _write_verify(p, data)


def _write_verify(p: Path, data: dict) -> Path:
    data["passed"] = all(
        bool(r.get("passed")) for r in data["rungs"].values() if r.get("status") != "refused"
    )
    return atomic_write_text(p, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
