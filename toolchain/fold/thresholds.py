"""Graph passes on threshold schedules: the exact rewrite to one threshold where it exists
(``spikefold fold RUN --constant-thresholds``, ``docs/loihi.md``)."""

from __future__ import annotations

import dataclasses

import numpy as np

from hwsim.errors import DesignRuleError, Violation
from hwsim.graph import LIF, CubaLIF, HardwareGraph
from toolchain.fold.rules import violations_message

__all__ = ["constant_thresholds"]


def constant_thresholds(graph: HardwareGraph) -> tuple[HardwareGraph, list[str]]:
    """Replace every LIF/CubaLIF threshold schedule ``θ[t]`` whose values are all equal by
    that one value: an exact rewrite (the neuron compares with the same number at every step),
    which makes the layer expressible where only a constant threshold exists (NetX's
    ``vThMant``, NIR's ``v_threshold``). Returns the graph and the names of the rewritten
    layers.

    A schedule with different values has **no** exact rewrite, and none is attempted: the
    membrane carries over from step to step (``H = a·V + I``), so comparing it with ``θ[t]``
    cannot be turned into comparing it with one ``θ`` by rescaling weights, biases or the
    decay (those are the same at every step on Loihi), and replacing ``θ[t]`` by its mean or
    its last value changes which steps spike. Every such layer is listed in one
    :class:`DesignRuleError` (rule ``constant_threshold``), with the values it takes.
    OTS thresholds are a running average per step (TECHNIQUES.md section 4): after training
    they are constant only when the per-step statistics agree (e.g. ``T = 1``)."""
    nodes = dict(graph.nodes)
    done, bad = [], []
    for name, node in graph.nodes.items():
        if not isinstance(node, (LIF, CubaLIF)) or not np.ndim(node.threshold):
            continue
        th = np.asarray(node.threshold)
        if np.all(th == th.flat[0]):
            value = th.flat[0].item()
            nodes[name] = dataclasses.replace(node, threshold=value)
            done.append(name)
            continue
        shown = ", ".join(f"{v:.6g}" for v in th.flat[:8]) + (", ..." if th.size > 8 else "")
        bad.append(Violation(
            "constant_threshold", "loihi", name,
            f"θ[t] takes {len(np.unique(th))} different values over {th.size} steps "
            f"({shown}): no exact rewrite to one threshold exists (the membrane carries "
            "over between steps; a constant θ changes which steps spike)",
            "retrain with `model.norm: osr` (constant thresholds) instead of osr_ots, or "
            "deploy through `spikefold export lava`",
        ))  # fmt: skip
    if bad:
        raise DesignRuleError(violations_message(bad, "constant thresholds"), bad)
    return dataclasses.replace(graph, nodes=nodes), done
