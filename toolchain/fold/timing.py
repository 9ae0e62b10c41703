"""``ideal`` -> ``lava`` timing: Delay nodes where paths of different synaptic depth meet.

Lava's Dense and Conv deliver one step late (DESIGN.md section 4), so in ``lava`` timing a
node's output for input step 0 appears at its *arrival offset*, the number of synapse stages
on the way (:func:`hwsim.graph.latency`: Dense/Conv2d 1, EICircuit 2 with its E path delayed
inside the circuit). A node whose inputs arrive at different offsets, e.g. the SEW ``Add`` of
a two-conv main path and an identity shortcut, gets a ``Delay(lag)`` on each early edge.
"""

from __future__ import annotations

import dataclasses

from hwsim.graph import Delay, HardwareGraph, latency

__all__ = ["to_lava_timing"]


def to_lava_timing(graph: HardwareGraph) -> HardwareGraph:
    """The same graph with ``metadata.timing = "lava"`` and a ``Delay`` node inserted on every
    edge ``p -> n`` whose source arrives ``lag > 0`` steps before ``n``'s latest input
    (named ``"<n>.delay<i>"``, ``i`` the edge's position among ``n``'s inputs). A graph already
    in ``lava`` timing is returned unchanged (its construction checked the balance)."""
    if graph.metadata.timing == "lava":
        return graph
    nodes = dict(graph.nodes)
    edges: list[tuple[str, str]] = []
    offsets: dict[str, int] = {}
    for name in graph.topological_order():
        preds = graph.predecessors(name)
        top = max((offsets[p] for p in preds), default=0)
        for i, p in enumerate(preds):
            lag = top - offsets[p]
            if lag == 0:
                edges.append((p, name))
                continue
            d = f"{name}.delay{i}"
            while d in nodes:
                d += "_"
            nodes[d] = Delay(lag)
            edges += [(p, d), (d, name)]
        offsets[name] = top + latency(graph.nodes[name], "lava")
    meta = dataclasses.replace(graph.metadata, timing="lava")
    return HardwareGraph(nodes, tuple(edges), meta)
