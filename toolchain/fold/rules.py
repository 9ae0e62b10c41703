"""Design rules per target, in the style of Rockpool's DRC list (``check_drc`` of its Xylo
mapper): each rule is a small named function that returns every
:class:`~hwsim.errors.Violation` it finds (rule, target, layer, what, and the fix that exists),
so that a user sees all of them at once (``spikefold check``).
:func:`check_design_rules` runs them all and raises one
:class:`~hwsim.errors.DesignRuleError` listing every violation.

Targets: ``hwsim`` (the integer simulator), ``lava`` (Lava process graphs, bit-accurate
fixed-point models) and ``onnx`` (the spiking ONNX IR). The limits are spikefold's, stated
with their reason in :data:`LIMITS`; pass your own :class:`TargetLimits` for a specific chip.
:data:`LOIHI_RULES` lists what the plain Loihi subset (Lava's stock processes, the road to
hardware through NetX) cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hwsim.errors import DesignRuleError, Violation
from hwsim.graph import (
    LI,
    LIF,
    NODE_KINDS,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Dense,
    EICircuit,
    FastInhibitory,
    HardwareGraph,
    Input,
    Readout,
)

__all__ = [
    "TARGETS",
    "TargetLimits",
    "LIMITS",
    "RULES",
    "LOIHI_RULES",
    "fan_in",
    "fan_out",
    "rule_node_kinds",
    "rule_one_input_one_readout",
    "rule_fan_in",
    "rule_fan_out",
    "rule_conv_weight_exp",
    "rule_li_feeds_readout",
    "rule_hard_reset",
    "rule_constant_threshold",
    "rule_no_ei_division",
    "rule_binary_spikes",
    "design_rule_violations",
    "loihi_violations",
    "check_design_rules",
    "violations_message",
]

TARGETS = ("hwsim", "lava", "onnx", "loihi")


@dataclass(frozen=True)
class TargetLimits:
    """What a target accepts. ``kinds`` node kinds; ``max_fan_in`` synapses into one neuron;
    ``max_fan_out`` synapses out of one neuron (summed over its successors);
    ``conv_weight_exp_zero``: the target's Conv ignores ``weight_exp`` (fixed graphs);
    ``weight_exp_zero``: every synapse's weights act as they are (``weight_exp = 0``: NetX
    derives the exponent from the file's integer weights); ``bias_exp``: the one neuron bias
    exponent the target has (NetX: 6), None for any in ``[0, 7]``. The last two are quantiser
    settings (``spikefold quantize RUN --target loihi``), checked by the NetX rules."""

    kinds: frozenset[str]
    max_fan_in: int
    max_fan_out: int
    conv_weight_exp_zero: bool = False
    weight_exp_zero: bool = False
    bias_exp: int | None = None


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
    # Loihi 2 through lava-dl's NetX (exporters.netx): Lava's limits, plus NetX's weights
    # acting as written (weight_exp 0 everywhere) and its fixed bias_exp = 6. What NetX cannot
    # express at all (soft reset, E-I, pooling...) is listed by loihi_violations.
    "loihi": TargetLimits(
        _ALL - {"AvgPool2d"},
        max_fan_in=4096,
        max_fan_out=4096,
        conv_weight_exp_zero=True,
        weight_exp_zero=True,
        bias_exp=6,
    ),
}


def _v(rule: str, target: str, layer: str, what: str, fix: str | None = None) -> Violation:
    return Violation(rule, target, layer, what, fix)


# For a chip with other limits, pass its TargetLimits (Python) instead of retraining.
_NARROW_IN = "narrow the layer (fewer inputs per neuron) and retrain"
_NARROW_OUT = "narrow the layer(s) it feeds (fewer outputs per neuron) and retrain"


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


def rule_node_kinds(graph: HardwareGraph, target: str, limits: TargetLimits) -> list[Violation]:
    """Every node kind must be supported by the target."""
    out = []
    for name, node in graph.nodes.items():
        if node.kind not in limits.kinds:
            fix = (
                "quantise first (`spikefold quantize RUN`): it becomes a SumPool2d"
                if isinstance(node, AvgPool2d)
                else None
            )
            out.append(_v("node_kinds", target, name, f"{node.kind} is not supported", fix))
    return out


def rule_one_input_one_readout(
    graph: HardwareGraph, target: str, limits: TargetLimits
) -> list[Violation]:
    """Exactly one Input and one Readout, and the Readout is the graph's only output."""
    ins = [n for n, v in graph.nodes.items() if isinstance(v, Input)]
    ros = [n for n, v in graph.nodes.items() if isinstance(v, Readout)]
    rule = "one_input_one_readout"
    out = []
    if len(ins) != 1:
        out.append(_v(rule, target, ",".join(ins) or "-", "needs exactly one Input"))
    if len(ros) != 1:
        out.append(_v(rule, target, ",".join(ros) or "-", "needs one Readout"))
    out += [
        _v(rule, target, n, "has no successor but is no Readout")
        for n in graph.output_names()
        if n not in ros
    ]
    return out


def rule_fan_in(graph: HardwareGraph, target: str, limits: TargetLimits) -> list[Violation]:
    """Synapses into one neuron <= ``max_fan_in`` (summed over a neuron's synapse inputs)."""
    out = []
    for name in graph.topological_order():
        total = sum(fan_in(graph.nodes[p]) or 0 for p in graph.predecessors(name))
        if total > limits.max_fan_in:
            what = f"fan-in {total} exceeds {limits.max_fan_in} synapses"
            out.append(_v("fan_in", target, name, what, _NARROW_IN))
    return out


def rule_fan_out(graph: HardwareGraph, target: str, limits: TargetLimits) -> list[Violation]:
    """Synapses out of one neuron <= ``max_fan_out`` (summed over its synapse successors)."""
    out = []
    for name in graph.topological_order():
        total = sum(fan_out(graph.nodes[s]) or 0 for s in graph.successors(name))
        if total > limits.max_fan_out:
            what = f"fan-out {total} exceeds {limits.max_fan_out} synapses"
            out.append(_v("fan_out", target, name, what, _NARROW_OUT))
    return out


def rule_conv_weight_exp(
    graph: HardwareGraph, target: str, limits: TargetLimits
) -> list[Violation]:
    """A fixed Conv2d must have ``weight_exp == 0`` where the target's Conv ignores it."""
    if not limits.conv_weight_exp_zero or graph.metadata.format != "fixed":
        return []
    # Lava's export applies the exponent in spikefold's own synapse process instead (exact in
    # Lava's simulator, no chip implementation); NetX has no such fallback.
    consequence = (
        ", so `export lava` runs this layer on spikefold's own Synapse process (exact in Lava's "
        "simulator, not a stock process a chip implements)"
        if target == "lava"
        else " (its result would be off by a factor 2**weight_exp)"
    )
    return [
        _v(
            "conv_weight_exp",
            target,
            name,
            f"weight_exp={node.weight_exp}, but the target's stock Conv ignores weight_exp"
            + consequence,
            f"quantise for this target: `spikefold quantize RUN --target {target}`",
        )
        for name, node in graph.nodes.items()
        if isinstance(node, Conv2d) and node.weight_exp != 0
    ]


def rule_li_feeds_readout(
    graph: HardwareGraph, target: str, limits: TargetLimits
) -> list[Violation]:
    """A fixed LI sends its graded 24-bit membrane to a Readout only: a synapse fed by it would
    take 24-bit graded events (the quantiser gives an LI no other consumer)."""
    if graph.metadata.format != "fixed":
        return []
    out = []
    for name, node in graph.nodes.items():
        if isinstance(node, LI):
            bad = [s for s in graph.successors(name) if not isinstance(graph.nodes[s], Readout)]
            if bad:
                what = f"its graded membrane feeds {bad}; an LI may feed a Readout only"
                out.append(_v("li_feeds_readout", target, name, what))
    return out


Rule = Callable[[HardwareGraph, str, TargetLimits], list[Violation]]

RULES: tuple[Rule, ...] = (
    rule_node_kinds,
    rule_one_input_one_readout,
    rule_fan_in,
    rule_fan_out,
    rule_conv_weight_exp,
    rule_li_feeds_readout,
)
"""The rules, in the order :func:`check_design_rules` runs them."""


def design_rule_violations(
    graph: HardwareGraph, target: str = "hwsim", limits: TargetLimits | None = None
) -> list[Violation]:
    """Every violation of every rule of :data:`RULES` for ``target`` (empty: all pass)."""
    if target not in TARGETS:
        raise DesignRuleError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}")
    lim = LIMITS[target] if limits is None else limits
    return [v for rule in RULES for v in rule(graph, target, lim)]


def violations_message(violations: list[Violation], head: str) -> str:
    """``head`` and one line per violation (what a :class:`DesignRuleError` says)."""
    return "\n".join([f"{head}: {len(violations)} violation(s)", *(f"  {v}" for v in violations)])


def check_design_rules(
    graph: HardwareGraph, target: str = "hwsim", limits: TargetLimits | None = None
) -> list[str]:
    """Run every rule of :data:`RULES` for ``target``; any violation raises one
    :class:`DesignRuleError` listing all of them (``.violations``). Returns the names of the
    rules checked (all passed)."""
    found = design_rule_violations(graph, target, limits)
    if found:
        raise DesignRuleError(violations_message(found, f"design rules (target {target})"), found)
    return [r.__name__.removeprefix("rule_") for r in RULES]


# ---------------------------------------------------------------------------------------------
# The plain Loihi subset: what Lava's stock fixed-point processes (and NetX) express. spikefold's
# Lava export runs the rest on its own processes in Lava's simulator, not on the chip.

_LAVA_INSTEAD = (
    "deploy through `spikefold export lava` (its custom processes run it in Lava's simulator)"
)


def rule_hard_reset(graph: HardwareGraph, target: str = "loihi") -> list[Violation]:
    """Loihi's LIF resets the membrane to 0 on a spike; reset by subtraction is not in the
    plain subset."""
    return [
        _v("hard_reset", target, name, "soft reset (V = H - θ·S) is not in the plain Loihi LIF",
           "retrain with hard reset (`--set model.neuron.reset=hard`), or " + _LAVA_INSTEAD)
        for name, node in graph.nodes.items()
        if isinstance(node, (LIF, CubaLIF)) and node.reset != "hard"
    ]  # fmt: skip


def rule_constant_threshold(graph: HardwareGraph, target: str = "loihi") -> list[Violation]:
    """Loihi's ``vth`` is one value for all steps: no per-step schedule θ[t] (OTS)."""
    out = []
    for name, node in graph.nodes.items():
        th = np.asarray(getattr(node, "threshold", 0.0))
        if isinstance(node, (LIF, CubaLIF)) and th.ndim and not np.all(th == th.flat[0]):
            out.append(_v("constant_threshold", target, name,
                          f"a per-step threshold schedule θ[t] ({th.size} values, OTS)",
                          "retrain with `model.norm: osr` (constant thresholds) instead of "
                          "osr_ots, or " + _LAVA_INSTEAD))  # fmt: skip
    return out


def rule_no_ei_division(graph: HardwareGraph, target: str = "loihi") -> list[Violation]:
    """E-I circuits divide by a stabilised denominator; no Loihi core divides."""
    return [
        _v("no_ei_division", target, name,
           f"an E-I circuit ({node.variant}) needs a per-sample division",
           "train a non-E-I architecture (e.g. `--arch mlp`), or " + _LAVA_INSTEAD)
        for name, node in graph.nodes.items()
        if isinstance(node, EICircuit) and node.variant == "divisive"
    ]  # fmt: skip


def rule_binary_spikes(graph: HardwareGraph, target: str = "loihi") -> list[Violation]:
    """Loihi's plain LIF sends binary spikes; graded payloads (inhibitory populations) need
    graded-spike neurons the plain subset does not have."""
    return [
        _v("binary_spikes", target, name,
           f"{node.kind} sends graded (real-valued) payloads, not binary spikes",
           "train a non-E-I architecture (e.g. `--arch mlp`), or " + _LAVA_INSTEAD)
        for name, node in graph.nodes.items()
        if isinstance(node, (FastInhibitory, EICircuit))
    ]  # fmt: skip


LOIHI_RULES: tuple[Callable[[HardwareGraph, str], list[Violation]], ...] = (
    rule_hard_reset,
    rule_constant_threshold,
    rule_no_ei_division,
    rule_binary_spikes,
)


def loihi_violations(graph: HardwareGraph) -> list[Violation]:
    """Every reason the graph cannot go to Loihi 2 through lava-dl's NetX: the design rules
    of the ``loihi`` target (node kinds, fan-in/out; Lava's) and everything NetX cannot
    express (:func:`exporters.netx.netx_violations`: soft reset, per-step thresholds, E-I
    division, graded payloads, pooling, residual adds, weight and bias exponents...), which
    :func:`exporters.netx.write_netx` refuses with. :data:`LOIHI_RULES` is a subset of the
    latter (kept for callers that want only the neuron-model rules)."""
    from exporters.netx.format import netx_violations

    netx = netx_violations(graph)
    # listed once, by the NetX rule: conv_weight_exp (netx_weight_exp) and an AvgPool2d's
    # node_kinds (netx_pool: NetX refuses the SumPool2d that quantising makes of it too)
    pools = {v.layer for v in netx if v.rule == "netx_pool"}
    rules = [
        v
        for v in design_rule_violations(graph, "loihi")
        if v.rule != "conv_weight_exp" and not (v.rule == "node_kinds" and v.layer in pools)
    ]
    seen: set[tuple[str, str]] = set()
    out = []
    for v in [*rules, *netx]:
        if (v.rule, v.layer) not in seen:
            seen.add((v.rule, v.layer))
            out.append(v)
    return out
