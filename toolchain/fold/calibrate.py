"""E-I stabilisation: ``exact`` (training semantics) or a ``floor`` calibrated on data.

``exact`` replaces every zero of the divisive denominator ``D`` by the smallest positive ``D``
of the same sample, a reduction over the whole layer at every step; ``floor`` uses
``max(D, f)`` with one positive constant ``f`` per layer, which needs no reduction (DESIGN.md
section 3). The two agree wherever ``D >= f`` and differ where ``D < f`` (positive ``D`` raised
to ``f``, zeros set to ``f`` instead of the sample's minimum). Where ``D = 0`` the numerator is
usually 0 as well (no input in the receptive field), so the smallest floor that is still
positive disturbs least: the default ``f`` is the minimum, over the calibration samples, of
each sample's smallest positive ``D`` (``quantile=0``), which leaves every positive ``D`` seen
in calibration unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hwsim import arith
from hwsim.errors import ConfigError, DataError
from hwsim.graph import EICircuit, HardwareGraph
from hwsim.sim import simulate_dataset

__all__ = ["ei_denominators", "calibrate_floor"]


def _synapse(node: EICircuit, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    if node.form == "conv":
        return arith.conv2d_float(w, x, None, node.stride, node.padding, node.groups)
    return arith.dense_float(w, x)


def ei_denominators(node: EICircuit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample of ``x [N, ...]`` (the circuit's input), the smallest positive divisive
    denominator ``D = W_EI (g_I ⊙ W_IE x)`` and whether it has one: ``(min_pos [N], alive
    [N])`` (float64, the float format's arithmetic)."""
    x = np.asarray(x, dtype=np.float64)
    ee = _synapse(node, np.asarray(node.w_ee, np.float64), x)
    ie = _synapse(node, np.asarray(node.w_ie, np.float64), x)
    out = arith.ei_step_float(
        ee, ie, w_ei=node.w_ei, g_i=node.g_i, g_e=node.g_e, b_e=node.b_e,
        variant="divisive", stabilisation="exact",
    )  # fmt: skip
    den = out.denominator.reshape(len(x), -1)
    alive = np.any(den > 0, axis=1)
    return den.min(axis=1), alive  # exact mode: zeros already replaced by the sample minimum


def calibrate_floor(
    graph: HardwareGraph, data, quantile: float = 0.0, batch_size: int = 256
) -> HardwareGraph:
    """``graph`` (float) with every divisive E-I circuit switched to ``floor`` stabilisation.

    The graph runs in hwsim on ``data`` (``[N, *shape]`` frames, or a ``[T, N, ...]`` spike
    train) with its current stabilisation; for each circuit, every ``(step, sample)`` gives
    its smallest positive ``D``; the floor is their ``quantile`` (0 = the minimum, see the
    module docstring). The choice is recorded on the node (``stabilisation="floor"``,
    ``floor``). Raises :class:`DataError` when a circuit never sees a positive ``D``.
    """
    if graph.metadata.format != "float32":
        raise ConfigError("calibrate_floor works on a float graph (calibrate, then quantise)")
    if not 0.0 <= quantile <= 1.0:
        raise ConfigError(f"quantile must be in [0, 1], got {quantile}")
    circuits = [
        n for n, v in graph.nodes.items() if isinstance(v, EICircuit) and v.variant == "divisive"
    ]
    if not circuits:
        return graph
    feeds = {n: graph.predecessors(n)[0] for n in circuits}
    res = simulate_dataset(graph, data, batch_size, record=sorted(set(feeds.values())))
    nodes = dict(graph.nodes)
    for name in circuits:
        xs = res.aligned(feeds[name])
        x = xs.reshape(-1, *xs.shape[2:])
        mins, alive = ei_denominators(graph.nodes[name], x)
        if not alive.any():
            raise DataError(
                f"E-I circuit {name!r}: no positive denominator on the calibration data; "
                "cannot calibrate a floor"
            )
        f = float(np.quantile(mins[alive], quantile))
        nodes[name] = dataclasses.replace(graph.nodes[name], stabilisation="floor", floor=f)
    return dataclasses.replace(graph, nodes=nodes)
