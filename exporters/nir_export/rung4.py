"""Rung 4 of the verification ladder (DESIGN.md section 6): the float hardware graph in hwsim
against its NIR export executed by Norse, spike for spike.

The hwsim float run (``ideal`` timing, float64) is the reference. Like rung 0
(:mod:`hwsim.verify`) the comparison is layer by layer with **teacher forcing**: every Norse
neuron's output is replaced by hwsim's spikes and the neuron resets with them
(:func:`~exporters.nir_export.norse_runner.run_nir_norse` ``force=``), so each Norse layer sees
exactly hwsim's inputs and reset history and a mismatch is local. A free run (no forcing)
gives the end-to-end spike and prediction agreement, reported apart.

Ties. hwsim spikes on ``H >= θ``, NIR and Norse on ``v > θ``: where ``H == θ`` exactly the two
conventions differ by definition (counted as ``ties_exact_equality``). Elsewhere the two
float64 evaluations of the same equation differ only by rounding, so a mismatch is a tie when
``|H - θ| <= tol`` with the per-element forward error bound of both sides (unit roundoff
``u = 2**-53``; summation bound as in :mod:`hwsim.verify`, Higham 2002, eq. 3.5)::

    A[t]  = Σ|w|·|s[t]| + |b| + |b_LIF|      magnitudes of the current's terms (a Norse run of
                                             the graph with |W|, |b| on |x| and forced spikes)
    E[t]  = a·E_V[t-1] + u·((2κ + 16)·A[t] + 9·|V[t-1]| + 2·|H[t]|)
    E_V   = E·(1 - S_ref)                    (a hard reset sets both sides to exactly 0)
    tol   = TIE_SAFETY · E

``κ`` the fan-in of the synapses into the layer (each side sums ``κ`` terms: ``2κ``). The
``16·A`` and ``9·|V|`` cover Norse's extra operations (``R·I``, ``+ v_leak``, ``- v``, the
product with ``dt/τ``, the sum with ``v``) and the float64 representation error of ``R`` and
``1/τ`` (the coefficient of ``I`` is ``1`` within ``5u``, that of ``v`` is ``a`` within
``3u``); ``2·|H|`` the final roundings of each side. Bugs (a wrong ``τ``, ``R`` or threshold, a
weight off by an ulp of float32) are many orders of magnitude outside this bound. The forced
readout currents are compared with ``TIE_SAFETY·2u·(κ + 4)·A``.

CubaLIF: its current ``U = c·U + I`` (Norse: ``i + (dt/τ_syn)·(w_in·I - i)``) carries its own
error, bounded by the same recursion with the current in the membrane's place, and enters the
membrane as a given value (no sum)::

    E_U[t] = c·E_U[t-1] + u·((2κ + 16)·A[t] + 9·Ũ[t-1] + 2·Ũ[t])
    E[t]   = a·E_V[t-1] + E_U[t] + u·(16·(Ũ[t] + |b_LIF|) + 9·|V[t-1]| + 2·|H[t]|)

with ``A`` the magnitude of the CubaLIF's input and ``Ũ >= |U|`` its current in the magnitude
run. LI: its graded membrane is compared with the same ``E`` (no reset, no forcing; a LI's
``V`` is the LIF's ``H``), and a Readout fed by LIs with the sum of their bounds plus the
rounding of the sum, ``TIE_SAFETY·(Σ E_LI + 2u·n·Σ|V|)``.
"""

from __future__ import annotations

import nir
import norse
import numpy as np

from hwsim.errors import VerificationError
from hwsim.graph import LI, LIF, SPIKING_KINDS, CubaLIF, HardwareGraph, Readout
from hwsim.sim import run_steps
from hwsim.verify import (
    MAX_LISTED,
    TIE_SAFETY,
    U_FLOAT64,
    Divergence,
    LayerAgreement,
    RungResult,
    compare_exact,
    sequence_inputs,
)

from .export import DEFAULT_DT, to_nir
from .norse_runner import run_nir_norse

__all__ = ["rung4", "magnitude_graph"]


def magnitude_graph(g: nir.NIRGraph) -> nir.NIRGraph:
    """``g`` with every synapse's weight and bias replaced by their absolute values (run on
    ``|x|`` with forced non-negative spikes, its neurons' input currents are ``Σ|w||s| + |b|``)."""
    nodes = {}
    for name, n in g.nodes.items():
        if isinstance(n, nir.Affine):
            n = nir.Affine(weight=np.abs(n.weight), bias=np.abs(n.bias))
        elif isinstance(n, nir.Linear):
            n = nir.Linear(weight=np.abs(n.weight))
        elif isinstance(n, nir.Conv2d):
            n = nir.Conv2d(
                input_shape=n.input_shape,
                weight=np.abs(n.weight),
                stride=n.stride,
                padding=n.padding,
                dilation=n.dilation,
                groups=n.groups,
                bias=np.abs(n.bias),
            )
        nodes[name] = n
    md = dict(g.metadata) if isinstance(g.metadata, dict) else {}
    return nir.NIRGraph(nodes, list(g.edges), metadata=md, type_check=False)


def _fan_in(g: nir.NIRGraph, name: str) -> int:
    """κ: the largest fan-in of the synapses feeding ``name`` (0 when none: exact sums)."""
    k = 0
    for s, d in g.edges:
        n = g.nodes[s] if d == name else None
        if isinstance(n, (nir.Affine, nir.Linear)):
            k = max(k, int(n.weight.shape[1]))
        elif isinstance(n, nir.Conv2d):
            k = max(k, int(np.prod(n.weight.shape[1:])))
    return k


def _input_error(node, mag: np.ndarray, syn: np.ndarray | None, kappa: int) -> np.ndarray:
    """The per-step error of the value entering the membrane (module docstring): a LIF's or
    LI's summed current ``u·(2κ + 16)·(A + |b|)``; a CubaLIF's current recursion ``E_U``
    (``mag`` its current ``Ũ``, ``syn`` its input magnitude ``A``) plus ``16u·(Ũ + |b|)``."""
    u = U_FLOAT64
    b = 0.0 if node.bias is None else np.abs(node.bias_broadcast(mag.shape[2:]))
    if syn is None:
        return u * (2 * kappa + 16) * (mag + b)
    c = float(node.current_decay)
    out, e_u, u_prev = np.zeros_like(mag), np.zeros_like(mag[0]), np.zeros_like(mag[0])
    for t in range(mag.shape[0]):
        e_u = c * e_u + u * ((2 * kappa + 16) * syn[t] + 9 * u_prev + 2 * mag[t])
        out[t] = e_u + 16 * u * (mag[t] + b)
        u_prev = mag[t]
    return out


def _tie_tol(node, mag: np.ndarray, h: np.ndarray, ref: np.ndarray, kappa: int,
             syn: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """The bound ``TIE_SAFETY·E`` of the module docstring, ``[T, B, ...]``, for a LIF,
    CubaLIF (``syn`` its input magnitude) or LI (``ref`` all zero: no reset)."""
    a, u = float(node.decay), U_FLOAT64
    inp = _input_error(node, mag, syn, kappa)
    v = h * (ref == 0)  # hard reset with the reference spikes
    e = np.zeros_like(h)
    e_v = np.zeros_like(h[0])
    v_prev = np.zeros_like(h[0])
    for t in range(h.shape[0]):
        e[t] = a * e_v + inp[t] + u * (9 * np.abs(v_prev) + 2 * np.abs(h[t]))
        e_v = e[t] * (ref[t] == 0)
        v_prev = v[t]
    return TIE_SAFETY * e


def _layer(name, node: LIF | CubaLIF, ours, ref, h, mag, kappa: int, s0: int, syn=None):
    """One layer's teacher-forced comparison: (counts, listed ties, first error, exact ties)."""
    theta = float(np.asarray(node.threshold).reshape(-1)[0])
    mism = (ours != 0) != (ref != 0)
    tol = _tie_tol(node, mag, h, ref, kappa, syn)
    tie = mism & (np.abs(h - theta) <= tol)
    la = LayerAgreement(
        mism.size, int(mism.sum()), int(tie.sum()), int(np.count_nonzero(ours)),
        int(np.count_nonzero(ref)),
    )  # fmt: skip

    def div(i) -> Divergence:
        at = tuple(int(k) for k in i)
        return Divergence(
            name, at[0], at[1] + s0, at[2:], float(ours[at]), float(ref[at]), float(h[at]),
            theta, float(tol[at]),
        )  # fmt: skip

    err = np.argwhere(mism & ~tie)
    first = div(err[np.lexsort(err.T[::-1])[0]]) if err.size else None
    ties = [div(i) for i in np.argwhere(tie)[:MAX_LISTED]]
    return la, ties, first, int(np.sum(mism & (h == theta)))


def rung4(
    graph_float: HardwareGraph,
    inputs,
    *,
    nir_graph: nir.NIRGraph | None = None,
    dt: float = DEFAULT_DT,
    batch_size: int = 256,
    generator: np.random.Generator | None = None,
) -> RungResult:
    """Rung 4: ``graph_float`` in hwsim against ``nir_graph`` (default ``to_nir(graph_float,
    dt=dt)``) in Norse, on ``inputs`` (frames ``[N, ...]``, an input sequence ``[T, N, ...]``,
    or spike trains for ``spikes`` inputs). Passes when every teacher-forced mismatch is a tie
    and the forced readout currents are within their bound. Raises
    :class:`~hwsim.errors.ExportError` when the graph is outside the NIR-expressible subset.
    """
    g = graph_float
    ng = to_nir(g, dt=dt) if nir_graph is None else nir_graph
    order = g.topological_order()
    lifs = [n for n in order if isinstance(g.nodes[n], SPIKING_KINDS)]
    lis = [n for n in order if isinstance(g.nodes[n], LI)]
    ro = next((n for n in order if isinstance(g.nodes[n], Readout)), None)
    if not lifs or ro is None:
        raise VerificationError("rung 4 needs a graph with LIF/CubaLIF nodes and a Readout")
    li_fed = all(p in lis for p in g.predecessors(ro))
    ((name, seq),) = sequence_inputs(g, inputs, generator).items()
    n_total = seq.shape[1]
    if n_total == 0:
        raise VerificationError("rung 4 needs at least one sample, the inputs have none")
    mag_graph = magnitude_graph(ng)
    kappa = {n: _fan_in(ng, n) for n in lifs + lis + [ro]}
    li_err = {n: 0.0 for n in lis}
    li_ratio = {n: 0.0 for n in lis}
    layers = {n: LayerAgreement() for n in lifs}
    free = {n: LayerAgreement() for n in lifs}
    first, first_key, ties = None, None, []
    exact_ties, agree, ro_err, ro_ratio, ro_free = 0, 0, 0.0, 0.0, 0.0
    for s0 in range(0, n_total, batch_size):
        xb = seq[:, s0 : s0 + batch_size]
        hw = run_steps(g, {name: xb}, record=lifs + lis + [ro])
        ref = {n: hw.records[n] for n in lifs}
        # end to end: Norse on its own
        run = run_nir_norse(ng, xb)
        fl, _ = compare_exact({n: run.outputs[n] != 0 for n in lifs},
                              {n: ref[n] != 0 for n in lifs}, lifs)  # fmt: skip
        for n in lifs:
            free[n].add(fl[n])
        agree += int(np.sum(run.predictions == hw.predictions))
        ro_free = max(ro_free, float(np.max(np.abs(run.readout - hw.readout), initial=0.0)))
        # layer by layer: Norse forced with hwsim's spikes, and the magnitudes A
        forced = run_nir_norse(ng, xb, force=ref)
        mags = run_nir_norse(mag_graph, np.abs(xb), force=ref)
        for n in lifs:
            la, tie_list, div, n_exact = _layer(
                n, g.nodes[n], forced.outputs[n], ref[n], hw.records[f"{n}/h"],
                mags.currents[n], kappa[n], s0, mags.synaptic.get(n),
            )  # fmt: skip
            layers[n].add(la)
            exact_ties += n_exact
            ties += tie_list[: MAX_LISTED - len(ties)]
            if div is not None and (first_key is None or (div.step, order.index(n)) < first_key):
                first, first_key = div, (div.step, order.index(n))
        li_bound = 0.0
        for n in lis:  # graded membranes: within their error bound, no forcing needed
            v = hw.records[n]
            tol = _tie_tol(g.nodes[n], mags.currents[n], v, np.zeros_like(v), kappa[n])
            d = np.abs(forced.outputs[n] - v)
            li_err[n] = max(li_err[n], float(d.max(initial=0.0)))
            li_ratio[n] = max(li_ratio[n], float(np.max(d / np.maximum(tol, 1e-300), initial=0)))
            li_bound = li_bound + tol
        diff = np.abs(forced.outputs[ro] - hw.records[ro])
        if li_fed:  # a Readout summing LI membranes: their bounds and the sum's rounding
            n_in = len(g.predecessors(ro))
            bound = li_bound + TIE_SAFETY * 2 * U_FLOAT64 * n_in * mags.outputs[ro]
        else:
            bound = TIE_SAFETY * 2 * U_FLOAT64 * (kappa[ro] + 4) * mags.outputs[ro]
        ro_err = max(ro_err, float(diff.max(initial=0.0)))
        ro_ratio = max(ro_ratio, float(np.max(diff / np.maximum(bound, 1e-300), initial=0.0)))

    metrics: dict[str, float] = {
        "readout_max_abs_error": ro_err,
        "readout_error_over_bound": ro_ratio,
        "prediction_agreement": agree / n_total,
        "free_run_readout_max_abs_error": ro_free,
        "ties_exact_equality": exact_ties,
    }
    metrics.update({f"free_run_spike_agreement/{n}": free[n].agreement for n in lifs})
    metrics.update({f"li_max_abs_error/{n}": li_err[n] for n in lis})
    metrics.update({f"li_error_over_bound/{n}": li_ratio[n] for n in lis})
    n_err = sum(la.errors for la in layers.values())
    li_ok = all(r <= 1.0 for r in li_ratio.values())
    return RungResult(
        rung=4,
        title="float graph (hwsim) ↔ NIR in Norse, teacher forcing",
        passed=n_err == 0 and ro_ratio <= 1.0 and li_ok,
        layers=layers,
        metrics=metrics,
        first_divergence=first,
        ties=ties,
        settings={
            "samples": n_total,
            "T": g.metadata.T,
            "dt": float(ng.metadata.get("dt", dt)),
            "tie_tol": "derived float64 error bound of hwsim and Norse",
            "u": U_FLOAT64,
            "safety": TIE_SAFETY,
            "encoding": g.nodes[name].encoding,
            "nir_version": nir.__version__,
            "norse_version": norse.__version__,
        },
    )
