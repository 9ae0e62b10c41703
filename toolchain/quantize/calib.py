"""Calibration runs in hwsim: float ranges that the quantiser needs, and the saturation events
of the quantised graph on the same data."""

from __future__ import annotations

import numpy as np

from hwsim.graph import LI, LIF, CubaLIF, HardwareGraph, Readout
from hwsim.sim import iter_batches, simulate, simulate_dataset

__all__ = ["float_ranges", "saturation_counts"]


def float_ranges(
    graph: HardwareGraph, x, batch_size: int = 256
) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """Per LIF, CubaLIF, LI and Readout node of a float graph, over the calibration data:
    ``i_max`` the largest ``|I|`` of its summed input current, ``h_max`` the largest ``|H|``
    (a LIF's or CubaLIF's pre-reset potential, an LI's membrane), ``u_max`` the largest
    ``|u|`` (a CubaLIF's synaptic current; else 0), in real units; and the float predictions."""
    targets = [n for n, v in graph.nodes.items() if isinstance(v, (LIF, CubaLIF, LI, Readout))]
    feeds = {n: graph.predecessors(n) for n in targets}
    rec = sorted(set(targets) | {p for ps in feeds.values() for p in ps})
    out = {n: {"i_max": 0.0, "h_max": 0.0, "u_max": 0.0} for n in targets}
    gen = np.random.default_rng(0)
    preds = []
    for xb in iter_batches(graph, x, batch_size):
        res = simulate(graph, xb, record=rec, generator=gen)
        preds.append(res.predictions)
        for n in targets:
            cur = sum(res.records[p] for p in feeds[n])
            out[n]["i_max"] = max(out[n]["i_max"], float(np.abs(cur).max(initial=0.0)))
            node = graph.nodes[n]
            peaks = {}
            if isinstance(node, (LIF, CubaLIF)):
                peaks["h_max"] = res.records[f"{n}/h"]
            elif isinstance(node, LI):
                peaks["h_max"] = res.records[n]  # its output is its membrane
            if isinstance(node, CubaLIF):
                peaks["u_max"] = res.records[f"{n}/u"]
            for key, a in peaks.items():
                out[n][key] = max(out[n][key], float(np.abs(a).max(initial=0.0)))
    return out, np.concatenate(preds) if preds else np.zeros(0, np.int64)


def saturation_counts(
    graph: HardwareGraph, x, batch_size: int = 256
) -> tuple[dict[str, dict[str, int]], np.ndarray]:
    """Overflow and saturation events of a fixed graph on ``x`` (``hwsim.sim``'s counters:
    ``act``, ``fold``, ``clip``, ``acc``, ``sat``; ``dead`` E-I samples are not overflows and
    are left out), summed over the batches, and the predictions. The rate draws are those of
    :func:`float_ranges` (one ``default_rng(0)`` over the batches)."""
    res = simulate_dataset(graph, x, batch_size, generator=np.random.default_rng(0))
    total = {
        node: {k: int(v) for k, v in ev.items() if k != "dead" and v}
        for node, ev in res.overflow.items()
    }
    return {n: ev for n, ev in total.items() if ev}, res.predictions
