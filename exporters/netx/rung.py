"""Rung 2N: the NetX file, loaded and run by lava-dl's NetX in Lava's ``fixed_pt`` simulator,
against hwsim, spike for spike.

    r = rung2n(graph_fixed, x, path="model.netx.h5")   # writes the file unless it exists
    print(r.summary())                                  # rung 2N PASS (...): 2 layers, 0/... differ

hwsim runs the graph in NetX's timing (``docs/loihi.md``): ``lava`` latencies (every Dense and
Conv delivers one step late, as the stock Lava processes NetX builds) and *no* gating of the
neurons before their arrival offset (``hwsim.sim.run_steps(gate=False)``): NetX starts every
layer at step 0, so a layer's bias acts from the first step, not from the step its input
arrives. Every spiking layer's spikes are compared at every step of every sample; the readout
layer's ``v`` is compared at every step with what Lava's LIF computes from hwsim's readout
current (the readout neuron integrates without leak), and the readout total over the ``T``
aligned steps, ``(v[off + T - 1] - v[off - 1]) >> 6``, with hwsim's readout. The first
divergence (earliest step, then layer order) is reported.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from exporters.netx.format import READOUT_VTH, write_netx
from hwsim import arith
from hwsim.graph import LIF, CubaLIF, HardwareGraph, Readout
from hwsim.sim import encode_inputs, run_steps
from hwsim.verify import Divergence, LayerAgreement, RungResult

__all__ = ["RUNG", "TITLE", "rung2n", "netx_timing"]

RUNG = "2N"
TITLE = "fixed graph in hwsim (NetX timing) ↔ NetX in Lava fixed_pt"


def netx_timing(graph: HardwareGraph) -> HardwareGraph:
    """``graph`` with ``lava`` timing (a NetX chain needs no Delay nodes)."""
    if graph.metadata.timing == "lava":
        return graph
    return dataclasses.replace(graph, metadata=dataclasses.replace(graph.metadata, timing="lava"))


def _readout_v(current: np.ndarray) -> np.ndarray:
    """The readout layer's ``v`` after each step: Lava's LIF (no leak, never firing) fed by
    the readout current ``[steps, B, K]`` (bias included: NetX adds it to ``v`` each step)."""
    v = np.zeros(current.shape[1:], np.int64)
    out = np.zeros_like(current)
    for t in range(current.shape[0]):
        v = arith.lif_step_fixed(v, current[t], decay=4096, vth=READOUT_VTH, reset="hard").v
        out[t] = v
    return out


def rung2n(
    graph: HardwareGraph,
    x,
    *,
    path: str | Path | None = None,
    generator: np.random.Generator | None = None,
    labels: np.ndarray | None = None,
) -> RungResult:
    """Rung 2N on ``x`` (as :func:`hwsim.sim.simulate` takes it). ``path``: the NetX file to
    load (written from ``graph`` when it does not exist; a temporary file when None)."""
    from exporters.netx.runner import run_netx

    g = netx_timing(graph)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(path) if path is not None else Path(tmp) / "model.netx.h5"
        if not p.exists():
            write_netx(g, p)
        inputs = encode_inputs(g, x, generator)
        neurons = [n for n in g.topological_order() if isinstance(g.nodes[n], (LIF, CubaLIF))]
        ro = next((n for n, v in g.nodes.items() if isinstance(v, Readout)), None)
        head = g.predecessors(ro)[0] if ro else None
        sim = run_steps(g, inputs, record=neurons + ([head] if head else []), gate=False)
        (inp,) = inputs.values()
        res = run_netx(p, inp, sim.steps)
    layers: dict[str, LayerAgreement] = {}
    divs: list[tuple[int, int, Divergence]] = []
    order = {n: i for i, n in enumerate(g.topological_order())}

    def compare(name: str, ours: np.ndarray, ref: np.ndarray) -> None:
        diff = ours != ref
        layers[name] = LayerAgreement(int(diff.size), int(diff.sum()), 0,
                                      int(np.count_nonzero(ours)), int(np.count_nonzero(ref)))
        if diff.any():
            t, b, *idx = (int(i) for i in np.argwhere(diff)[0])
            d = Divergence(name, t, b, tuple(idx), float(ours[(t, b, *idx)]),
                           float(ref[(t, b, *idx)]))  # fmt: skip
            divs.append((t, order[name], d))

    for n in neurons:
        compare(n, sim.records[n].astype(np.int64), res.spikes[n])
    metrics: dict[str, float] = {"samples": int(sim.batch), "steps": int(sim.steps)}
    if ro is not None:
        # the readout layer: Lava's v after every step (ours: hwsim's current through it)
        compare(ro, _readout_v(sim.records[head].astype(np.int64)), res.readout_v)
        off, T = sim.offsets[ro], sim.T
        before = res.readout_v[off - 1] if off > 0 else np.zeros_like(res.readout_v[0])
        total = (res.readout_v[off + T - 1] - before) >> 6
        pred = np.argmax(total.reshape(sim.batch, -1), axis=1)
        metrics["readout_mismatches"] = int(np.sum(total != sim.readout))
        metrics["prediction_agreement"] = float(np.mean(pred == sim.predictions))
        if labels is not None:
            y = np.asarray(labels)
            metrics["accuracy_hwsim"] = float(np.mean(sim.predictions == y))
            metrics["accuracy_netx"] = float(np.mean(pred == y))
    metrics.update({f"{k}": float(v) for k, v in res.timings.items()})
    first = min(divs, key=lambda e: (e[0], e[1]))[2] if divs else None
    passed = first is None and metrics.get("readout_mismatches", 0) == 0
    settings = {"samples": int(sim.batch), "T": int(sim.T), "steps_per_sample": int(sim.steps),
                "select_tag": "fixed_pt", "hwsim": "lava timing, neurons not gated (NetX)"}
    return RungResult(RUNG, TITLE, passed, layers, metrics, first, settings=settings)  # type: ignore[arg-type]
