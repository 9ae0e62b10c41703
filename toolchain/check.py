"""``spikefold check``: every design-rule violation of a run's graph for one target, at once.

    violations = check_graph(graph, "nir")     # [] when the target takes the network as it is

Targets (:data:`CHECK_TARGETS`): ``hwsim``, ``lava``, ``onnx`` (the rules of
:mod:`toolchain.fold.rules`), ``loihi`` (what lava-dl's NetX, the road to Loihi 2, cannot
express: :func:`toolchain.fold.rules.loihi_violations`) and ``nir`` (what NIR 1.0 cannot
express). Each violation names the rule, the layer and the fix that exists.
:func:`graph_for` picks the graph a target takes: NIR exports the float graph, the others the
fixed one when the run is quantised.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hwsim.errors import ConfigError, Violation
from hwsim.graph import LIF, Conv2d, EICircuit, FastInhibitory, HardwareGraph
from toolchain.fold.rules import design_rule_violations, loihi_violations
from toolchain.rundir import GRAPH_FIXED, GRAPH_FLOAT

__all__ = ["CHECK_TARGETS", "PENDING", "check_graph", "graph_for", "nir_violations"]

CHECK_TARGETS = ("lava", "onnx", "nir", "loihi", "hwsim")

#: What a target's check cannot yet promise, said beside its result.
PENDING = {
    "loihi": "this lists what lava-dl NetX (the file a Loihi 2 deployment loads) cannot "
    "express; `spikefold export netx RUN --verify` writes the file and runs it with NetX in "
    "Lava's simulator (no chip is used)",
}


def graph_for(run_dir: str | os.PathLike, target: str) -> Path:
    """The graph file of ``run_dir`` that ``target`` takes (NIR: the float graph; others:
    the fixed graph when it exists, else the float one)."""
    run_dir = Path(run_dir)
    order = [GRAPH_FLOAT] if target == "nir" else [GRAPH_FIXED, GRAPH_FLOAT]
    for name in order:
        if (run_dir / name).is_file():
            return run_dir / name
    raise ConfigError(f"{run_dir / order[-1]} is missing: run `spikefold fold {run_dir}` first")


def check_graph(graph: HardwareGraph, target: str) -> list[Violation]:
    """Every violation of ``graph`` on ``target`` (see the module docstring)."""
    if target not in CHECK_TARGETS:
        raise ConfigError(f"unknown target {target!r}; valid: {', '.join(CHECK_TARGETS)}")
    if target == "nir":
        return nir_violations(graph)
    if target == "loihi":
        return loihi_violations(graph)
    return design_rule_violations(graph, target)


def nir_violations(graph: HardwareGraph) -> list[Violation]:
    """Everything in ``graph`` NIR 1.0 cannot express, as the NIR exporter refuses it
    (:func:`exporters.nir_export.to_nir` stops at the first; this lists all)."""
    # A stand-in read off the exporter's refusals (exporters/nir_export/export.py) until the
    # exporter lists them itself; then this calls that list.
    out: list[Violation] = []
    md = graph.metadata
    if md.format != "float32":
        out.append(_nir("float_graph", "-", f"the graph is {md.format}; NIR has no fixed point",
                        f"check or export the float graph ({GRAPH_FLOAT})"))  # fmt: skip
    if md.timing != "ideal":
        out.append(
            _nir(
                "ideal_timing",
                "-",
                f"the graph has {md.timing} timing",
                f"check or export the ideal-timing float graph ({GRAPH_FLOAT})",
            )
        )
    for name, node in graph.nodes.items():
        out += [_nir(rule, name, what, fix) for rule, what, fix in _node_refusals(node)]
    return out


_OTHER = "export to Lava or ONNX (`spikefold export lava|onnx`), which run it"


def _node_refusals(node) -> list[tuple[str, str, str]]:
    found = []
    if isinstance(node, LIF):
        if node.reset != "hard":
            found.append(
                (
                    "hard_reset",
                    "soft reset (V = H - θ·S): NIR's LIF sets v to v_reset",
                    "retrain with `--set model.neuron.reset=hard`, or " + _OTHER,
                )
            )
        th = np.asarray(node.threshold)
        if th.ndim and not np.all(th == th.flat[0]):
            found.append(
                (
                    "constant_threshold",
                    f"a per-step threshold schedule θ[t] "
                    f"({th.size} values, OTS): NIR's v_threshold is constant in time",
                    "retrain with `model.norm: osr` instead of osr_ots, or " + _OTHER,
                )
            )
        bias = getattr(node, "bias", None)
        if node.decay == 1 and bias is not None and np.any(np.asarray(bias) != 0):
            found.append(
                ("if_bias", "decay 1 (no leak) maps to NIR IF, which has no bias term", _OTHER)
            )
    if isinstance(node, EICircuit):
        found.append(
            (
                "ei_circuit",
                "divisive E-I inhibition has no NIR primitive",
                "train a non-E-I architecture (e.g. `--arch mlp`), or " + _OTHER,
            )
        )
    if isinstance(node, (EICircuit, FastInhibitory)):
        found.append(
            (
                "binary_spikes",
                f"{node.kind} sends graded payloads; NIR neurons emit binary events",
                "train a non-E-I architecture, or " + _OTHER,
            )
        )
    if isinstance(node, Conv2d) and node.groups != 1:
        found.append(
            (
                "ungrouped_conv",
                f"groups={node.groups}: nir 1.0's Conv2d type check refuses grouped convolutions",
                _OTHER,
            )
        )
    return found


def _nir(rule: str, layer: str, what: str, fix: str | None) -> Violation:
    return Violation(rule, "nir", layer, what, fix)
