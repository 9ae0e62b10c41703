"""Trace a trained torch network into a float hardware graph (DESIGN.md sections 3 and 5).

The tracer walks the module tree of the registered architectures (``mlp``, ``vgg*``,
``sew_resnet18``, ``ei_mlp``, ``ei_vgg*``, ``ei_sew_resnet18``; layouts in
``docs/training-networks.md``) with a dispatch table keyed by the exact module type, in the
style of norse's NIR export: every handler takes the value flowing into the module and returns
the value flowing out; a type without a handler raises :class:`GraphError` naming the module.
Exact types, not ``isinstance``: a subclass of a known module may change its forward, so it
must get a handler of its own.

A *value* is the name of an emitted node or a :class:`Pending` synapse: a ``Linear``/``Conv2d``
is held back until its consumer is known, so that a following OSR/BatchNorm folds into its
weights and bias (:func:`toolchain.fold.passes.fold_affine`) instead of becoming a node.

Node names are the qualified torch module names (``block1.conv``, ``fc1.lif``); a name
starting with a digit (``nn.Sequential`` children) gets an ``m`` prefix (``m1``), the input is
``input`` and the readout accumulator ``output``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from hwsim.errors import GraphError
from hwsim.graph import (
    LIF,
    Add,
    AvgPool2d,
    Conv2d,
    Dense,
    EICircuit,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Node,
    Readout,
)
from models import ei_arch, resnet
from models.base import TimeDistributed
from models.blocks import ConvBlock, DenseBlock
from models.ei import EIConv2d, EILinear
from models.neurons import LIF as TorchLIF
from models.osr import OSR
from models.ots import OTSLIF
from toolchain.fold import passes

__all__ = [
    "FoldResult",
    "Pending",
    "Tracer",
    "HANDLERS",
    "Handler",
    "fold_model",
    "register_folding_rule",
    "ENCODINGS",
]

#: training encoding -> Input node encoding (the same names; ``poisson`` is the old spelling)
ENCODINGS = {"direct": "direct", "rate": "rate", "poisson": "rate", "spikes": "spikes"}


@dataclass(frozen=True)
class FoldResult:
    """A folded network: the float graph (``timing="ideal"``) and ``probes``, which map a graph
    node to the qualified name of the torch module whose multi-step output ``[T, B, ...]``
    equals the node's output (every LIF node -> its LIF module, the Readout -> the readout
    layer)."""

    graph: HardwareGraph
    probes: dict[str, str]


@dataclass
class Pending:
    """A synapse not emitted yet: affine norms that follow fold into ``weight`` and ``bias``.
    ``probe`` is the module whose output equals this value (the last module folded in)."""

    name: str
    src: str
    weight: np.ndarray
    bias: np.ndarray | None
    conv: dict | None  # stride, padding, groups for a Conv2d, None for a Linear
    probe: str

    def node(self) -> Node:
        if self.conv is None:
            return Dense(self.weight, self.bias)
        return Conv2d(self.weight, self.bias, **self.conv)


Value = str | Pending


@dataclass
class Tracer:
    """Graph under construction: nodes in insertion order, edges, inferred shapes, probes."""

    T: int
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    probes: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # node -> module it came from

    # -- emitting ------------------------------------------------------------------------------
    def unique(self, qual: str) -> str:
        base = qual if qual and not qual[0].isdigit() else f"m{qual}"
        name, k = base, 1
        while name in self.nodes:
            k += 1
            name = f"{base}_{k}"
        return name

    def emit(self, qual: str, node: Node, inputs: list[str], module: str | None = None) -> str:
        name = self.unique(qual)
        try:
            shape = node.output_shape([self.shapes[i] for i in inputs])
        except GraphError as e:
            raise GraphError(f"{module or qual}: {e}") from None
        self.nodes[name] = node
        self.edges += [(i, name) for i in inputs]
        self.shapes[name] = tuple(int(s) for s in shape)
        self.sources[name] = module if module is not None else qual
        return name

    def node(self, value: Value) -> str:
        """Materialise ``value``: a pending synapse becomes its node."""
        if isinstance(value, Pending):
            return self.emit(value.name, value.node(), [value.src], value.probe)
        return value

    def shape(self, value: Value) -> tuple[int, ...]:
        if isinstance(value, Pending):
            return tuple(value.node().output_shape([self.shapes[value.src]]))
        return self.shapes[value]

    # -- walking ---------------------------------------------------------------------------
    def trace(self, module: nn.Module, qual: str, value: Value) -> Value:
        handler = HANDLERS.get(type(module))
        if handler is None:
            cls = f"{type(module).__module__}.{type(module).__name__}"
            raise GraphError(
                f"module {qual or '<root>'!r} ({cls}) has no folding rule; supported: "
                + ", ".join(sorted(t.__name__ for t in HANDLERS))
                + f". Register one for it: @toolchain.fold.register_folding_rule({cls}) on a "
                "function (tracer, module, name, value) -> value (docs/folding.md, 'Your own "
                "modules'); a module whose forward only chains children can reuse "
                "tracer.trace on each child"
            )
        return handler(self, module, qual, value)


def _join(qual: str, child: str) -> str:
    return f"{qual}.{child}" if qual else child


# ---------------------------------------------------------------------------------------------
# Handlers: (tracer, module, qualified name, value in) -> value out
# ---------------------------------------------------------------------------------------------


def _sequential(tr: Tracer, m: nn.Sequential, qual: str, v: Value) -> Value:
    for child_name, child in m.named_children():
        v = tr.trace(child, _join(qual, child_name), v)
    return v


def _time_distributed(tr: Tracer, m: TimeDistributed, qual: str, v: Value) -> Value:
    # The wrapper's multi-step output is [T, B, ...]; the inner module's is [T*B, ...]: nodes
    # and probes take the wrapper's name.
    return tr.trace(m.module, qual, v)


def _identity(tr: Tracer, m: nn.Module, qual: str, v: Value) -> Value:
    return v  # nn.Identity, and nn.Dropout (identity in eval mode)


def _flatten(tr: Tracer, m: nn.Flatten, qual: str, v: Value) -> Value:
    if m.start_dim != 1 or m.end_dim != -1:
        raise GraphError(f"{qual}: only Flatten(start_dim=1, end_dim=-1) folds (per sample)")
    if len(tr.shape(v)) == 1:
        return v
    return tr.emit(qual, Flatten(), [tr.node(v)])


def _linear(tr: Tracer, m: nn.Linear, qual: str, v: Value) -> Value:
    return Pending(qual, tr.node(v), passes.to_f64(m.weight), passes.to_f64(m.bias), None, qual)


def _conv2d(tr: Tracer, m: nn.Conv2d, qual: str, v: Value) -> Value:
    if tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise GraphError(
            f"{qual}: Conv2d with dilation {m.dilation}, padding {m.padding!r} "
            f"({m.padding_mode}) has no hardware form; use zero padding, no dilation"
        )
    conv = {"stride": tuple(m.stride), "padding": tuple(m.padding), "groups": int(m.groups)}
    src = tr.node(v)
    return Pending(qual, src, passes.to_f64(m.weight), passes.to_f64(m.bias), conv, qual)


def _norm(tr: Tracer, m: nn.Module, qual: str, v: Value) -> Value:
    if not isinstance(v, Pending):
        raise GraphError(
            f"{qual}: {type(m).__name__} must directly follow a Linear/Conv2d to fold into it "
            f"(it follows node {v!r})"
        )
    scale, shift = passes.norm_affine(m, qual)
    weight, bias = passes.fold_affine(v.weight, v.bias, scale, shift)
    return Pending(v.name, v.src, weight, bias, v.conv, qual)


def _lif(tr: Tracer, m: TorchLIF, qual: str, v: Value) -> Value:
    params = passes.lif_parameters(m, tr.T, qual)
    name = tr.emit(qual, LIF(**params), [tr.node(v)])
    tr.probes[name] = qual
    return name


def _avgpool(tr: Tracer, m: nn.AvgPool2d, qual: str, v: Value) -> Value:
    kernel, stride = passes.avgpool_geometry(m, qual)
    return tr.emit(qual, AvgPool2d(kernel, stride), [tr.node(v)])


def _adaptive_avgpool(tr: Tracer, m: nn.AdaptiveAvgPool2d, qual: str, v: Value) -> Value:
    src = tr.node(v)
    kernel = passes.adaptive_avgpool_geometry(m, tr.shapes[src], qual)
    return tr.emit(qual, AvgPool2d(kernel, kernel), [src])


def _block(tr: Tracer, m: ConvBlock | DenseBlock, qual: str, v: Value) -> Value:
    for part in m._parts:  # the block's own forward order: weight layer, norm, LIF, pool
        v = tr.trace(getattr(m, part), _join(qual, part), v)
    return v


def _sew_add(tr: Tracer, qual: str, main: Value, short: Value, probe: str) -> str:
    """SEW ADD: ``main + shortcut`` of spikes, a graded count (an ``Add`` node)."""
    name = tr.emit(_join(qual, "add"), Add(), [tr.node(main), tr.node(short)], probe)
    return name


def _sew_block(tr: Tracer, m: resnet.SEWBasicBlock, qual: str, v: Value) -> Value:
    x = tr.node(v)
    main = tr.trace(m.block2, _join(qual, "block2"), tr.trace(m.block1, _join(qual, "block1"), x))
    short = tr.trace(m.shortcut, _join(qual, "shortcut"), x)
    return _sew_add(tr, qual, main, short, qual)


def _ei_sew_block(tr: Tracer, m: ei_arch.EISEWBlock, qual: str, v: Value) -> Value:
    x = tr.node(v)
    main: Value = x
    for part in ("conv1", "sn1", "conv2", "sn2"):
        main = tr.trace(getattr(m, part), _join(qual, part), main)
    short = tr.trace(m.shortcut, _join(qual, "shortcut"), x)
    return _sew_add(tr, qual, main, short, qual)


def _ei_layer(tr: Tracer, m: EILinear | EIConv2d, qual: str, v: Value) -> Value:
    fields = passes.ei_parameters(m, qual)
    name = tr.emit(qual, EICircuit(**fields), [tr.node(v)])
    return name


Handler = Callable[[Tracer, nn.Module, str, Value], Value]

HANDLERS: dict[type, Handler] = {
    nn.Sequential: _sequential,
    TimeDistributed: _time_distributed,
    nn.Identity: _identity,
    nn.Dropout: _identity,
    nn.Flatten: _flatten,
    nn.Linear: _linear,
    nn.Conv2d: _conv2d,
    nn.BatchNorm1d: _norm,
    nn.BatchNorm2d: _norm,
    OSR: _norm,
    TorchLIF: _lif,
    OTSLIF: _lif,
    nn.AvgPool2d: _avgpool,
    nn.AdaptiveAvgPool2d: _adaptive_avgpool,
    ConvBlock: _block,
    DenseBlock: _block,
    resnet.SEWBasicBlock: _sew_block,
    ei_arch.EISEWBlock: _ei_sew_block,
    EILinear: _ei_layer,
    EIConv2d: _ei_layer,
}
"""Module type -> folding handler (exact type match; unmapped types raise). Open to users
through :func:`register_folding_rule`."""


def register_folding_rule(module_type: type, handler: Handler | None = None):
    """Register ``handler`` as the folding rule of ``module_type`` (exact type, as every
    rule); usable as a decorator, ``@register_folding_rule(MyBlock)``. A handler takes the
    tracer, the module, its qualified name and the value flowing in (a node name or a
    :class:`Pending` synapse) and returns the value flowing out: it emits nodes with
    ``tracer.emit``, or reuses the built-in rules with ``tracer.trace(child, name, value)``.
    Replacing a built-in rule is refused (a :class:`GraphError`): fold a subclass instead."""
    if not isinstance(module_type, type) or not issubclass(module_type, nn.Module):
        raise GraphError(f"a folding rule is keyed by a torch.nn.Module type, not {module_type!r}")

    def register(fn: Handler) -> Handler:
        if module_type in _BUILTIN and HANDLERS.get(module_type) is not fn:
            raise GraphError(
                f"{module_type.__name__} has spikefold's own folding rule; register a rule for "
                "your subclass of it instead"
            )
        HANDLERS[module_type] = fn
        return fn

    return register if handler is None else register(handler)


_BUILTIN = frozenset(HANDLERS)

# ---------------------------------------------------------------------------------------------
# fold_model
# ---------------------------------------------------------------------------------------------


def _readout(tr: Tracer, v: Value) -> None:
    """The network's output value is a current: it feeds the ``Readout`` accumulator."""
    if isinstance(v, Pending):
        probe = v.probe
    elif isinstance(tr.nodes.get(v), (Dense, Conv2d, EICircuit)):
        probe = tr.sources[v]
    else:
        kind = tr.nodes[v].kind if v in tr.nodes else "input"
        raise GraphError(
            f"the network ends in {kind} node {v!r}, not in a synapse layer: a readout must be a "
            "non-spiking Linear / E-I readout whose currents are summed over time"
        )
    src = tr.node(v)
    name = tr.emit("output", Readout(), [src], probe)
    tr.probes[name] = probe


def fold_model(
    model: nn.Module,
    in_shape: tuple[int, ...] | list[int],
    T: int,
    encoding: str = "direct",
    name: str = "model",
) -> FoldResult:
    """Fold a trained network into a float :class:`HardwareGraph` (``timing="ideal"``).

    ``in_shape`` the per-sample input shape ``(C, H, W)`` or ``(d,)``, ``T`` the number of
    steps (the length of OTS threshold schedules), ``encoding`` the training encoding
    (``direct``: an analog input every step; ``rate``, old spelling ``poisson``; ``spikes``).
    The model is read in eval semantics (running statistics, OTS schedules) and never modified or
    run. Raises :class:`GraphError`/:class:`ConfigError` naming the module for anything that
    has no hardware form. The graph's metadata ``origin`` records the model class and ``name``.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise GraphError(f"T must be a positive int, got {T!r}")
    if encoding not in ENCODINGS:
        raise GraphError(f"unknown input encoding {encoding!r}; valid: {sorted(ENCODINGS)}")
    tr = Tracer(T=int(T))
    shape = tuple(int(s) for s in in_shape)
    x = tr.emit("input", Input(shape, ENCODINGS[encoding]), [])
    _readout(tr, tr.trace(model, "", x))
    meta = GraphMetadata(
        T=int(T),
        origin={"model": type(model).__name__, "name": str(name), "encoding": encoding},
    )
    return FoldResult(HardwareGraph(tr.nodes, tuple(tr.edges), meta), dict(tr.probes))
