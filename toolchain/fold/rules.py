"""Design rules per target, in the style of Rockpool's DRC list (``check_drc`` of its Xylo
mapper): each rule is a small named function that raises
:class:`~hwsim.errors.DesignRuleError` naming the rule, the target and the layer.

Targets: ``hwsim`` (the integer simulator), ``lava`` (Lava process graphs, bit-accurate
fixed-point models) and ``onnx`` (the spiking ONNX IR). The limits are spikefold's, stated
with their reason in :data:`LIMITS`; pass your own :class:`TargetLimits` for a specific chip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hwsim.errors import DesignRuleError
from hwsim.graph import (
    LI,
    NODE_KINDS,
    AvgPool2d,
    Conv2d,
    Dense,
    EICircuit,
    HardwareGraph,
    Input,
    Readout,
)

__all__ = [
    "TARGETS",
    "TargetLimits",
    "LIMITS",
    "RULES",
    "fan_in",
    "fan_out",
    "rule_node_kinds",
    "rule_one_input_one_readout",
    "rule_fan_in",
    "rule_fan_out",
    "rule_conv_weight_exp",
    "rule_li_feeds_readout",
    "check_design_rules",
]

TARGETS = ("hwsim", "lava", "onnx")


@dataclass(frozen=True)
class TargetLimits:
    """What a target accepts. ``kinds`` node kinds; ``max_fan_in`` synapses into one neuron;
    ``max_fan_out`` synapses out of one neuron (summed over its successors);
    ``conv_weight_exp_zero``: the target's Conv ignores ``weight_exp`` (fixed graphs)."""

    kinds: frozenset[str]
    max_fan_in: int
    max_fan_out: int
    conv_weight_exp_zero: bool = False


_ALL = frozenset(NODE_KINDS)

LIMITS: dict[str, TargetLimits] = {
    # hwsim and the ONNX IR sum in int64: hwsim.arith.dense_accumulate states that fan-in
    # < 2**14 (8-bit weights, 24-bit payloads) keeps every exact sum inside 46 bits.
    "hwsim": TargetLimits(_ALL, max_fan_in=2**14, max_fan_out=2**20),
    "onnx": TargetLimits(_ALL, max_fan_in=2**14, max_fan_out=2**20),
    # Lava: no average pool process (quantise first: AvgPool2d becomes SumPool2d plus a
    # weight scale); its stock Conv ignores weight_exp (hwsim.arith.conv_accumulate). The
    # fan limits are a conservative spikefold default for a neuromorphic core, not a
    # datasheet figure: pass TargetLimits for a real chip.
    "lava": TargetLimits(
        _ALL - {"AvgPool2d"}, max_fan_in=4096, max_fan_out=4096, conv_weight_exp_zero=True
    ),
}


def _fail(rule: str, target: str, layer: str, what: str) -> DesignRuleError:
    return DesignRuleError(f"design rule {rule!r} (target {target}): layer {layer!r}: {what}")


def fan_in(node) -> int | None:
    """Synapses into one output neuron of a synapse node (None for other kinds): ``in`` of a
    Dense, ``C_in/groups · kh · kw`` of a Conv2d, the E-I circuit's ``W_EE`` fan-in plus its
    ``n_I`` inhibitory synapses."""
    if isinstance(node, Dense):
        return int(node.weight.shape[1])
    if isinstance(node, Conv2d):
        return int(np.prod(node.weight.shape[1:]))
    if isinstance(node, EICircuit):
        return int(np.prod(node.w_ee.shape[1:])) + node.n_i
    return None


def fan_out(node) -> int | None:
    """Synapses out of one input neuron into a synapse node (None for other kinds): ``out``
    of a Dense, at most ``C_out/groups · kh · kw`` of a Conv2d (all kernel positions; fewer at
    borders and with stride), ``n_E + n_I`` times the kernel size of an E-I circuit."""
    if isinstance(node, Dense):
        return int(node.weight.shape[0])
    if isinstance(node, Conv2d):
        w = node.weight.shape
        return int(w[0] // node.groups * w[2] * w[3])
    if isinstance(node, EICircuit):
        k = int(np.prod(node.w_ee.shape[2:])) if node.form == "conv" else 1
        return (node.n_e + node.n_i) * k // (node.groups if node.form == "conv" else 1)
    return None


def rule_node_kinds(graph: HardwareGraph, target: str, limits: TargetLimits) -> None:
    """Every node kind must be supported by the target."""
    for name, node in graph.nodes.items():
        if node.kind not in limits.kinds:
            hint = (
                " (quantise first: it becomes a SumPool2d)" if isinstance(node, AvgPool2d) else ""
            )
            raise _fail("node_kinds", target, name, f"{node.kind} is not supported{hint}")


def rule_one_input_one_readout(graph: HardwareGraph, target: str, limits: TargetLimits) -> None:
    """Exactly one Input and one Readout, and the Readout is the graph's only output."""
    ins = [n for n, v in graph.nodes.items() if isinstance(v, Input)]
    ros = [n for n, v in graph.nodes.items() if isinstance(v, Readout)]
    if len(ins) != 1:
        raise _fail("one_input_one_readout", target, ",".join(ins), "needs exactly one Input")
    if len(ros) != 1:
        raise _fail("one_input_one_readout", target, ",".join(ros) or "-", "needs one Readout")
    dangling = [n for n in graph.output_names() if n != ros[0]]
    if dangling:
        raise _fail(
            "one_input_one_readout", target, dangling[0], "has no successor but is no Readout"
        )


def rule_fan_in(graph: HardwareGraph, target: str, limits: TargetLimits) -> None:
    """Synapses into one neuron <= ``max_fan_in`` (summed over a neuron's synapse inputs)."""
    for name in graph.topological_order():
        total = sum(fan_in(graph.nodes[p]) or 0 for p in graph.predecessors(name))
        if total > limits.max_fan_in:
            raise _fail(
                "fan_in", target, name, f"fan-in {total} exceeds {limits.max_fan_in} synapses"
            )


def rule_fan_out(graph: HardwareGraph, target: str, limits: TargetLimits) -> None:
    """Synapses out of one neuron <= ``max_fan_out`` (summed over its synapse successors)."""
    for name in graph.topological_order():
        total = sum(fan_out(graph.nodes[s]) or 0 for s in graph.successors(name))
        if total > limits.max_fan_out:
            raise _fail(
                "fan_out", target, name, f"fan-out {total} exceeds {limits.max_fan_out} synapses"
            )


def rule_conv_weight_exp(graph: HardwareGraph, target: str, limits: TargetLimits) -> None:
    """A fixed Conv2d must have ``weight_exp == 0`` where the target's Conv ignores it."""
    if not limits.conv_weight_exp_zero or graph.metadata.format != "fixed":
        return
    for name, node in graph.nodes.items():
        if isinstance(node, Conv2d) and node.weight_exp != 0:
            raise _fail(
                "conv_weight_exp",
                target,
                name,
                f"weight_exp={node.weight_exp}, but the target's Conv ignores weight_exp "
                "(its result would be off by a factor 2**weight_exp)",
            )


def rule_li_feeds_readout(graph: HardwareGraph, target: str, limits: TargetLimits) -> None:
    """A fixed LI sends its graded 24-bit membrane to a Readout only: a synapse fed by it would
    take 24-bit graded events (the quantiser gives an LI no other consumer)."""
    if graph.metadata.format != "fixed":
        return
    for name, node in graph.nodes.items():
        if isinstance(node, LI):
            bad = [s for s in graph.successors(name) if not isinstance(graph.nodes[s], Readout)]
            if bad:
                raise _fail(
                    "li_feeds_readout", target, name,
                    f"its graded membrane feeds {bad}; an LI may feed a Readout only",
                )  # fmt: skip


RULES: tuple[Callable[[HardwareGraph, str, TargetLimits], None], ...] = (
    rule_node_kinds,
    rule_one_input_one_readout,
    rule_fan_in,
    rule_fan_out,
    rule_conv_weight_exp,
    rule_li_feeds_readout,
)
"""The rules, in the order :func:`check_design_rules` runs them."""


def check_design_rules(
    graph: HardwareGraph, target: str = "hwsim", limits: TargetLimits | None = None
) -> list[str]:
    """Run every rule of :data:`RULES` for ``target``; the first violation raises
    :class:`DesignRuleError` naming the rule and the layer. Returns the names of the rules
    checked (all passed)."""
    if target not in TARGETS:
        raise DesignRuleError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}")
    lim = LIMITS[target] if limits is None else limits
    for rule in RULES:
        rule(graph, target, lim)
    return [r.__name__.removeprefix("rule_") for r in RULES]
