"""NIR 1.0 -> float hardware graph for the subset spikefold can hold (the inverse of
:func:`exporters.nir_export.export.to_nir`).

Each NIR node kind has one small converter; a kind or a parameter without a hwsim meaning
raises :class:`~hwsim.errors.ExportError` naming the node and why. The LIF mapping inverts the
derivation in :mod:`exporters.nir_export.export`::

    a = 1 - dt/τ      b = (dt/τ)·v_leak      input gain g = (dt/τ)·R      (IF: a = 1, g = dt·R)

CubaLIF and LI (and I) import the same way (:func:`_cuba_lif`, :func:`_li`). spikefold's neurons
have no input gain, so ``g != 1`` (e.g. Norse or snnTorch exports, ``R = 1``,
``dt/τ`` small) is folded into the incoming synapses' weights and biases when every one of
them is an ``Affine``/``Linear``/``Conv2d`` feeding only this neuron, and refused otherwise.
Graphs written by :func:`~exporters.nir_export.export.to_nir` come back identical (its hints
give the exact ``a`` and ``b``; without hints they are within an ulp). Values are normalised:
a pool stride equal to its kernel becomes ``None``, an all-zero conv bias or ``v_leak`` becomes
``None``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import nir
import numpy as np

from hwsim.errors import ExportError, GraphError
from hwsim.graph import (
    LI,
    LIF,
    Add,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    Encoding,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Node,
    Readout,
    SumPool2d,
)

from .export import (
    HINT_ADD,
    HINT_BIAS,
    HINT_BIAS_SHAPE,
    HINT_CURRENT_DECAY,
    HINT_DECAY,
    HINT_ENCODING,
    META_DT,
    META_ORIGIN,
    META_T,
)

__all__ = ["from_nir"]

_EPS = float(np.finfo(np.float64).eps)
_SUMMING = (LIF, CubaLIF, LI, Readout, Add)  # hwsim kinds that sum their inputs themselves


@dataclass
class _Ctx:
    graph: nir.NIRGraph
    dt: float
    gains: dict[str, float]  # LIF name -> input gain g to fold into its synapses

    def preds(self, name: str) -> list[str]:
        return [s for s, d in self.graph.edges if d == name]

    def succs(self, name: str) -> list[str]:
        return [d for s, d in self.graph.edges if s == name]


def _f64(where: str, field: str, v) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ExportError(f"{where}: {field} has NaN/infinite entries")
    return a


def _uniform(where: str, field: str, v, why: str) -> float:
    a = _f64(where, field, v)
    if a.size == 0 or not np.all(a == a.flat[0]):
        raise ExportError(f"{where}: {field} varies across neurons; {why}")
    return float(a.flat[0])


def _float_array(a) -> np.ndarray:
    a = np.asarray(a)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)


def _pair(name: str, field: str, v) -> tuple[int, int]:
    a = np.atleast_1d(np.asarray(v)).astype(np.int64)
    if a.size == 1:
        return int(a[0]), int(a[0])
    if a.size != 2:
        raise ExportError(f"node {name!r}: {field}={v!r} must be an int or a pair")
    return int(a[0]), int(a[1])


# ---------------------------------------------------------------------------------------------
# One function per NIR node kind: (name, node, ctx) -> hwsim node
# ---------------------------------------------------------------------------------------------


def _input(name: str, n: nir.Input, ctx: _Ctx, encoding: Encoding | None) -> Node:
    shape = tuple(int(s) for s in np.asarray(n.input_type["input"]).reshape(-1))
    enc = encoding or str(n.metadata.get(HINT_ENCODING, "spikes"))
    return Input(shape, enc)


def _affine(name: str, n: nir.NIRNode, ctx: _Ctx) -> Node:
    w = _float_array(n.weight)
    if w.ndim != 2:
        raise ExportError(f"node {name!r} ({type(n).__name__}): weight must be 2-D, got {w.shape}")
    bias = _float_array(n.bias) if isinstance(n, nir.Affine) else None
    return Dense(w, bias)


def _conv2d(name: str, n: nir.Conv2d, ctx: _Ctx) -> Node:
    w = _float_array(n.weight)
    if w.ndim != 4:
        raise ExportError(f"node {name!r} (Conv2d): weight must be 4-D, got {w.shape}")
    if _pair(name, "dilation", n.dilation) != (1, 1):
        raise ExportError(f"node {name!r} (Conv2d): dilation {n.dilation} != 1 has no hwsim form")
    stride = _pair(name, "stride", n.stride)
    if isinstance(n.padding, str):
        kh, kw = w.shape[2:]
        if n.padding == "valid":
            padding = (0, 0)
        elif stride == (1, 1) and kh % 2 and kw % 2:
            padding = ((kh - 1) // 2, (kw - 1) // 2)
        else:
            raise ExportError(
                f"node {name!r} (Conv2d): padding 'same' with stride {stride} and kernel "
                f"{(kh, kw)} is asymmetric; hwsim pads symmetrically"
            )
    else:
        padding = _pair(name, "padding", n.padding)
    bias = _float_array(n.bias)
    return Conv2d(
        w,
        None if not np.any(bias) else bias,
        stride=stride,
        padding=padding,
        groups=int(n.groups),
    )


def _pool(cls: type) -> Callable[[str, nir.NIRNode, _Ctx], Node]:
    def convert(name: str, n: nir.NIRNode, ctx: _Ctx) -> Node:
        if np.any(np.asarray(n.padding)):
            raise ExportError(
                f"node {name!r} ({type(n).__name__}): padding {n.padding} has no hwsim form "
                "(hwsim pools do not pad)"
            )
        kernel = _pair(name, "kernel_size", n.kernel_size)
        stride = _pair(name, "stride", n.stride)
        return cls(kernel, None if stride == kernel else stride)

    return convert


def _flatten(name: str, n: nir.Flatten, ctx: _Ctx) -> Node:
    shape = n.input_type.get("input")
    ndim = None if shape is None else len(np.asarray(shape).reshape(-1))
    if ndim is None or n.start_dim != 0 or n.end_dim not in (-1, ndim - 1):
        raise ExportError(
            f"node {name!r} (Flatten): start_dim={n.start_dim}, end_dim={n.end_dim} on the "
            f"per-sample shape {shape} is not a full flatten; hwsim's Flatten maps a per-sample "
            "tensor to a vector (start_dim=0, end_dim=-1 in NIR's per-sample shapes)"
        )
    return Flatten()


_PER_NEURON = "hwsim's neurons have one value per population"


def _where(name: str, n: nir.NIRNode) -> str:
    return f"node {name!r} ({type(n).__name__})"


def _decay(name: str, n: nir.NIRNode, field: str, dt: float, hint_key: str) -> tuple[float, float]:
    """``(1 - dt/τ, dt/τ)`` of the time constant ``field``; the exact decay from its hint when
    the hint agrees (``1 - dt/(dt/(1-a))`` is only within an ulp of ``a``)."""
    d = dt / _uniform(_where(name, n), field, getattr(n, field), _PER_NEURON)
    if not 0.0 < d <= 1.0:
        raise ExportError(
            f"{_where(name, n)}: dt/{field} = {d} is outside (0, 1]: the Euler step with "
            f"dt={dt} gives no decay 1 - dt/{field} in [0, 1); pass a smaller dt"
        )
    decay = 1.0 - d
    hint = n.metadata.get(hint_key)
    if hint is not None and abs(float(hint) - decay) <= 4 * _EPS:
        decay = float(hint)
    return decay, d


def _threshold(name: str, n: nir.NIRNode) -> float:
    where = _where(name, n)
    if np.any(_f64(where, "v_reset", n.v_reset)):
        raise ExportError(
            f"{where}: v_reset != 0 is not expressible: hwsim's hard reset sets the membrane to 0"
        )
    return _uniform(where, "v_threshold", n.v_threshold, _PER_NEURON)


def _lif(name: str, n: nir.NIRNode, ctx: _Ctx) -> Node:
    theta = _threshold(name, n)
    r = _uniform(_where(name, n), "r", n.r, _PER_NEURON)
    if isinstance(n, nir.IF):
        ctx.gains[name] = ctx.dt * r  # Euler: v' = v + dt·R·I
        return LIF(1.0, theta, reset="hard")
    decay, d = _decay(name, n, "tau", ctx.dt, HINT_DECAY)
    ctx.gains[name] = d * r
    bias = d * _f64(_where(name, n), "v_leak", n.v_leak)
    return LIF(decay, theta, reset="hard", bias=_bias(n.metadata, bias))


def _cuba_lif(name: str, n: nir.CubaLIF, ctx: _Ctx) -> Node:
    """Forward Euler, the membrane driven by the new current: ``I' = (1 - d_s)·I + d_s·w_in·S``,
    ``v' = (1 - d_m)·v + d_m·(R·I' + v_leak)`` with ``d = dt/τ``; spikefold's ``u = d_m·R·I``
    makes it ``u' = c·u + g·S`` with the input gain ``g = d_s·w_in·d_m·R`` (folded into the
    incoming synapses) and ``b = d_m·v_leak``."""
    where = _where(name, n)
    theta = _threshold(name, n)
    r = _uniform(where, "r", n.r, _PER_NEURON)
    w_in = _uniform(where, "w_in", n.w_in, _PER_NEURON)
    decay, d_m = _decay(name, n, "tau_mem", ctx.dt, HINT_DECAY)
    current_decay, d_s = _decay(name, n, "tau_syn", ctx.dt, HINT_CURRENT_DECAY)
    ctx.gains[name] = d_s * w_in * d_m * r
    bias = _bias(n.metadata, d_m * _f64(where, "v_leak", n.v_leak))
    return CubaLIF(decay, current_decay, theta, "hard", bias=bias)


def _li(name: str, n: nir.NIRNode, ctx: _Ctx) -> Node:
    """NIR ``LI`` (``v' = (1 - d)·v + d·(R·I + v_leak)``) or ``I`` (``v' = v + dt·R·I``)."""
    r = _uniform(_where(name, n), "r", n.r, _PER_NEURON)
    if isinstance(n, nir.I):
        ctx.gains[name] = ctx.dt * r
        return LI(1.0)
    decay, d = _decay(name, n, "tau", ctx.dt, HINT_DECAY)
    ctx.gains[name] = d * r
    return LI(decay, bias=_bias(n.metadata, d * _f64(_where(name, n), "v_leak", n.v_leak)))


def _bias(meta: Mapping, bias: np.ndarray) -> np.ndarray | None:
    """The LIF bias: the exact hinted array when it agrees with ``(dt/τ)·v_leak``, else the
    most compact equal form (None, a scalar, per channel, per neuron)."""
    if HINT_BIAS in meta and HINT_BIAS_SHAPE in meta:
        shape = tuple(json.loads(str(meta[HINT_BIAS_SHAPE])))
        hinted = _float_array(meta[HINT_BIAS]).reshape(shape)  # the graph's dtype, kept
        full = (
            hinted.reshape(shape + (1,) * (bias.ndim - len(shape))) if len(shape) == 1 else hinted
        )
        if np.allclose(np.broadcast_to(full, bias.shape), bias, rtol=16 * _EPS, atol=0):
            return hinted
    if not np.any(bias):
        return None
    if np.all(bias == bias.flat[0]):
        return np.array(bias.flat[0])
    if bias.ndim > 1:
        per_channel = bias.reshape(bias.shape[0], -1)
        if np.all(per_channel == per_channel[:, :1]):
            return per_channel[:, 0].copy()
    return bias


def _delay(name: str, n: nir.Delay, ctx: _Ctx) -> Node:
    where = f"node {name!r} (Delay)"
    steps = _uniform(where, "delay", n.delay, "hwsim's Delay has one value per node") / ctx.dt
    if not (steps >= 0 and abs(steps - round(steps)) <= 1e-9 * max(1.0, steps)):
        raise ExportError(
            f"{where}: delay/dt = {steps} is not a whole number of steps (dt={ctx.dt})"
        )
    return Delay(int(round(steps)))


def _output(name: str, n: nir.Output, ctx: _Ctx) -> Node:
    return Readout()


def _refuse(reason: str) -> Callable[[str, nir.NIRNode, _Ctx], Node]:
    def refuse(name: str, n: nir.NIRNode, ctx: _Ctx) -> Node:
        raise ExportError(f"node {name!r} ({type(n).__name__}): {reason}")

    return refuse


_IMPORTERS: dict[type, Callable[[str, nir.NIRNode, _Ctx], Node]] = {
    nir.Affine: _affine,
    nir.Linear: _affine,
    nir.Conv2d: _conv2d,
    nir.SumPool2d: _pool(SumPool2d),
    nir.AvgPool2d: _pool(AvgPool2d),
    nir.Flatten: _flatten,
    nir.LIF: _lif,
    nir.IF: _lif,
    nir.Delay: _delay,
    nir.Output: _output,
    nir.CubaLIF: _cuba_lif,
    nir.CubaLI: _refuse("a current-based leaky integrator has no hwsim node"),
    nir.LI: _li,
    nir.I: _li,
    nir.Scale: _refuse("an element-wise Scale has no hwsim node; fold it into a synapse"),
    nir.Threshold: _refuse("a stateless Threshold has no hwsim node"),
    nir.Conv1d: _refuse("1-D convolutions have no hwsim node"),
    nir.NIRGraph: _refuse("nested NIR graphs are not supported; flatten the graph first"),
}


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------


def from_nir(
    nir_graph: nir.NIRGraph,
    *,
    T: int | None = None,
    dt: float | None = None,
    encoding: Encoding | None = None,
) -> HardwareGraph:
    """The float, ``ideal``-timing hardware graph of a NIR graph (node names kept).

    ``T`` and ``dt`` default to the graph's ``spikefold_T`` and ``dt`` metadata (written by
    :func:`~exporters.nir_export.export.to_nir`); a graph from elsewhere needs them passed.
    ``encoding`` of the input defaults to its hint, else ``"spikes"``. A node with several
    incoming edges that does not sum by itself (a synapse, pool, Flatten, Delay) gets an
    :class:`Add` in front (named by the ``spikefold_add`` hint, else ``<node>.sum``).
    """
    if not isinstance(nir_graph, nir.NIRGraph):
        raise ExportError(f"from_nir takes a nir.NIRGraph, got {type(nir_graph).__name__}")
    md = nir_graph.metadata if isinstance(nir_graph.metadata, dict) else {}
    dt = float(dt if dt is not None else md.get(META_DT, np.nan))
    T = T if T is not None else md.get(META_T)
    if not (np.isfinite(dt) and dt > 0):
        raise ExportError("the NIR graph has no 'dt' metadata; pass dt (the simulation step)")
    if T is None:
        raise ExportError("the NIR graph has no 'spikefold_T' metadata; pass T (steps per sample)")
    ctx = _Ctx(nir_graph, dt, {})
    nodes: dict[str, Node] = {}
    for name in _order(nir_graph):
        n = nir_graph.nodes[name]
        if isinstance(n, nir.Input):
            nodes[name] = _input(name, n, ctx, encoding)
            continue
        convert = _IMPORTERS.get(type(n))
        if convert is None:
            raise ExportError(f"node {name!r} ({type(n).__name__}): no hwsim mapping")
        nodes[name] = convert(name, n, ctx)
    for name, g in ctx.gains.items():
        if abs(g - 1.0) > 8 * _EPS:
            _fold_gain(name, g, ctx, nodes)
    nodes, edges = _edges_with_adds(nir_graph, nodes)
    origin = json.loads(str(md.get(META_ORIGIN, "{}")))
    try:
        return HardwareGraph(
            nodes=nodes,
            edges=edges,
            metadata=GraphMetadata(T=int(T), origin={str(k): str(v) for k, v in origin.items()}),
        )
    except GraphError as exc:
        raise ExportError(f"the NIR graph gives no valid hardware graph: {exc}") from exc


def _order(g: nir.NIRGraph) -> list[str]:
    """Node names in topological order, ties broken by the edge list's order (a file keeps the
    edge order but not the node order: HDF5 lists groups alphabetically)."""
    indeg = {k: 0 for k in g.nodes}
    for _, d in g.edges:
        indeg[d] += 1
    firsts = [s for s, _ in g.edges] + list(g.nodes)
    ready = [k for k in dict.fromkeys(firsts) if indeg[k] == 0]
    order: list[str] = []
    while ready:
        k = ready.pop(0)
        order.append(k)
        for s, d in g.edges:
            if s == k:
                indeg[d] -= 1
                if indeg[d] == 0:
                    ready.append(d)
    if len(order) != len(g.nodes):
        cyc = sorted(set(g.nodes) - set(order))
        raise ExportError(f"the NIR graph has a cycle (recurrence) through {cyc}; not supported")
    return order


def _fold_gain(name: str, g: float, ctx: _Ctx, nodes: dict[str, Node]) -> None:
    """Scale the weights and biases of every synapse into LIF ``name`` by its input gain."""
    for p in ctx.preds(name):
        node = nodes[p]
        if not isinstance(node, (Dense, Conv2d)) or ctx.succs(p) != [name]:
            raise ExportError(
                f"node {name!r}: its input gain R·dt/tau = {g} (hwsim's LIF has none) cannot be "
                f"folded into its input {p!r} ({node.kind}): only a Dense/Conv2d feeding this "
                "neuron alone can take it"
            )
        bias = None if node.bias is None else node.bias * g
        nodes[p] = dataclasses.replace(node, weight=node.weight * g, bias=bias)


def _edges_with_adds(
    nir_graph: nir.NIRGraph, nodes: dict[str, Node]
) -> tuple[dict[str, Node], list[tuple[str, str]]]:
    out: dict[str, Node] = {}
    edges: list[tuple[str, str]] = []
    for name, node in nodes.items():
        srcs = [s for s, d in nir_graph.edges if d == name]
        if len(srcs) > 1 and not isinstance(node, _SUMMING):
            add = str(nir_graph.nodes[name].metadata.get(HINT_ADD, f"{name}.sum"))
            if add in nodes or (add in out and not isinstance(out[add], Add)):
                add = f"{name}.sum"
            if add not in out:
                out[add] = Add()
                edges += [(s, add) for s in srcs]
            edges.append((add, name))
        else:
            edges += [(s, name) for s in srcs]
        out[name] = node
    return out, edges
