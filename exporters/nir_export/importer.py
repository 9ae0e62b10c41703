"""NIR 1.0 -> float hardware graph, for the files spikefold writes and those snnTorch, Norse,
SpikingJelly, Sinabs and Rockpool write (the inverse of :func:`~.export.to_nir`).

Each NIR node kind has one small converter; a kind or a parameter without a hwsim meaning
raises :class:`~hwsim.errors.ExportError` naming the node and why. Neuron parameters are read
with the source's convention (:mod:`.conventions`): ``(τ, R, v_leak, dt) -> H = a·V + g·I + b``.
spikefold's LIF has no input gain, so ``g != 1`` is folded into the incoming synapses'
weights and biases when every one of them is an ``Affine``/``Linear``/``Conv`` feeding only
this neuron, and refused otherwise.

What the libraries write and how it is read (every decision lands in the
:class:`ImportRecord`):

* **names**: any NIR name; one that is not a valid hwsim name (``"0"`` from ``nn.Sequential``,
  ``"1_LIFNeuronTorch"``) gets an ``n`` prefix and ``_`` for other characters; the record maps
  back (rung S is keyed by the NIR names).
* **a batch axis** in ``Input`` (``[1, 64]``): dropped when the first consumer states the
  per-sample rank (an Affine takes a vector, a Conv2d a ``(C, H, W)`` image).
* **untyped Flatten**: its input shape is hwsim's inferred one; it must flatten a whole sample.
* **spiking outputs** (``LIF -> Output``): hwsim's Readout sums a synapse's currents, so an
  identity ``Dense`` (``W = 1``, exact in every format) is inserted between the neuron and the
  Readout; the prediction is then the spike count's argmax, as the libraries' own tutorials do.
* ``IF`` = a LIF without leak (``a = 1``); ``Threshold`` = a stateless LIF (``a = 0``, hard
  reset); ``Scale`` folded into the neighbouring synapse (the one before, else the one after);
  ``Conv1d`` = ``Conv2d`` with height 1 (its tensors ``(C, L)`` become ``(C, 1, L)``).
* ``v_reset != 0``: the membrane is shifted by ``v_reset`` (``U = V - v_reset``): threshold
  ``θ - v_reset``, bias ``b - (1 - a)·v_reset``, reset to ``U = 0``; exact when the source
  starts its neurons at ``v_reset`` (SpikingJelly does).

Graphs written by :func:`~.export.to_nir` come back identical (its hints give the exact ``a``
and ``b``; without hints they are within an ulp). Values are normalised: a pool stride equal
to its kernel becomes ``None``, an all-zero conv bias or ``v_leak`` becomes ``None``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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

from .conventions import LOSSY, Convention, LossyImportWarning, detect_source, resolve_dt
from .export import (
    HINT_ADD,
    HINT_BIAS,
    HINT_BIAS_SHAPE,
    HINT_CURRENT_DECAY,
    HINT_DECAY,
    HINT_ENCODING,
    META_ORIGIN,
    META_T,
)

__all__ = ["from_nir", "import_nir", "ImportRecord", "NirImport"]

_EPS = float(np.finfo(np.float64).eps)
_GAIN_ONE = 64 * 2.0**-24  # a gain this close to 1 is 1 written in float32 (R·dt/τ rounded)
_SUMMING = (LIF, CubaLIF, LI, Readout, Add)  # hwsim kinds that sum their inputs themselves
_NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class ImportRecord:
    """What an import read and decided. ``names``: hwsim node -> NIR node it came from;
    ``inserted``: hwsim nodes with no NIR counterpart (why); ``decisions``: every reading
    chosen (batch axis, gains folded, ...); ``assumptions``: what the source's export cannot
    state and was assumed (also warned)."""

    source: str
    source_from: str
    dt: float
    dt_from: str
    T: int
    encoding: str
    names: dict[str, str]
    inserted: dict[str, str] = field(default_factory=dict)
    decisions: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()

    def hw_name(self, nir_name: str) -> str:
        """The hwsim node of NIR node ``nir_name`` (raises :class:`ExportError` if none)."""
        for hw, nn in self.names.items():
            if nn == nir_name:
                return hw
        raise ExportError(f"the NIR graph has no node {nir_name!r} in this import")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["decisions"], d["assumptions"] = list(self.decisions), list(self.assumptions)
        return d


@dataclass(frozen=True)
class NirImport:
    """The float graph of a NIR graph and the record of how it was read."""

    graph: HardwareGraph
    record: ImportRecord


@dataclass
class _Ctx:
    graph: nir.NIRGraph
    conv: Convention
    dt: float
    names: dict[str, str]  # NIR name -> hwsim name
    nodes: dict[str, Node] = field(default_factory=dict)  # by hwsim name
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # by hwsim name
    unit_axis: set[str] = field(default_factory=set)  # hwsim names whose shape has Conv1d's H=1
    alias: dict[str, str] = field(default_factory=dict)  # folded NIR node -> its source
    gains: dict[str, float] = field(default_factory=dict)  # hwsim LIF -> input gain to fold
    in_scale: dict[str, np.ndarray] = field(default_factory=dict)  # synapse -> input Scale
    decisions: list[str] = field(default_factory=list)

    def preds(self, name: str) -> list[str]:
        return [s for s, d in self.graph.edges if d == name]

    def succs(self, name: str) -> list[str]:
        return [d for s, d in self.graph.edges if s == name]

    def src(self, nir_name: str) -> str:
        """The hwsim node whose output a NIR node's output is (a folded Scale passes on)."""
        while nir_name in self.alias:
            nir_name = self.alias[nir_name]
        return self.names[nir_name]

    def in_shape(self, name: str) -> tuple[int, ...]:
        preds = self.preds(name)
        if not preds:
            kind = type(self.graph.nodes[name]).__name__
            raise ExportError(f"node {name!r} ({kind}) has no input")
        return self.shapes[self.src(preds[0])]


def _f64(where: str, fld: str, v) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ExportError(f"{where}: {fld} has NaN/infinite entries")
    return a


def _uniform(where: str, fld: str, v, why: str) -> float:
    a = _f64(where, fld, v)
    if a.size == 0 or not np.all(a == a.flat[0]):
        raise ExportError(f"{where}: {fld} varies across neurons; {why}")
    return float(a.flat[0])


def _float_array(a) -> np.ndarray:
    a = np.asarray(a)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)


def _ints(name: str, fld: str, v, n: int) -> tuple[int, ...]:
    a = np.atleast_1d(np.asarray(v)).astype(np.int64)
    if a.size == 1:
        return (int(a[0]),) * n
    if a.size != n:
        raise ExportError(f"node {name!r}: {fld}={v!r} must be an int or {n} ints")
    return tuple(int(x) for x in a)


# ---------------------------------------------------------------------------------------------
# One function per NIR node kind: (name, node, ctx) -> hwsim node
# ---------------------------------------------------------------------------------------------


def _consumer_rank(n: nir.NIRNode) -> int | None:
    """The per-sample rank a node needs at its input (None: any)."""
    if isinstance(n, (nir.Affine, nir.Linear)):
        return 1
    return {nir.Conv2d: 3, nir.Conv1d: 2}.get(type(n))


def _input(name: str, n: nir.Input, ctx: _Ctx, encoding: Encoding | None) -> Node:
    shape = tuple(int(s) for s in np.asarray(n.input_type["input"]).reshape(-1))
    consumers = [ctx.graph.nodes[s] for s in ctx.succs(name)]
    ranks = {_consumer_rank(c) for c in consumers} - {None}
    if len(ranks) == 1 and len(shape) == ranks.pop() + 1 and shape[0] == 1:
        ctx.decisions.append(
            f"input {name!r}: shape {list(shape)} read as a batch axis of 1 and per-sample "
            f"shape {list(shape[1:])} (its consumer takes rank {len(shape) - 1})"
        )
        shape = shape[1:]
    if consumers and all(isinstance(c, nir.Conv1d) for c in consumers) and len(shape) == 2:
        ctx.decisions.append(
            f"input {name!r}: 1-D signal {list(shape)} held as {[shape[0], 1, shape[1]]} "
            "(Conv1d runs as a Conv2d of height 1); frames are reshaped to it"
        )
        shape = (shape[0], 1, shape[1])
    enc = encoding or str(n.metadata.get(HINT_ENCODING, "spikes"))
    return Input(shape, enc)


def _with_in_scale(name: str, w: np.ndarray, ctx: _Ctx) -> np.ndarray:
    """``w`` with a preceding, folded ``Scale`` applied to its input columns/channels."""
    scale = ctx.in_scale.pop(ctx.names[name], None)
    if scale is None:
        return w
    if w.ndim == 2:
        return w * np.broadcast_to(scale.reshape(-1), (w.shape[1],))[None, :]
    per_channel = scale.reshape(scale.shape[0], -1)[:, 0] if scale.ndim else scale
    return w * np.broadcast_to(per_channel, (w.shape[1],)).reshape(1, -1, *([1] * (w.ndim - 2)))


def _affine(name: str, n: nir.NIRNode, ctx: _Ctx) -> Node:
    w = _float_array(n.weight)
    if w.ndim != 2:
        raise ExportError(f"node {name!r} ({type(n).__name__}): weight must be 2-D, got {w.shape}")
    bias = _float_array(n.bias) if isinstance(n, nir.Affine) else None
    return Dense(_with_in_scale(name, w, ctx), bias)


def _padding(name: str, n, kernel: tuple[int, ...], stride: tuple[int, ...]) -> tuple[int, ...]:
    if not isinstance(n.padding, str):
        return _ints(name, "padding", n.padding, len(kernel))
    if n.padding == "valid":
        return (0,) * len(kernel)
    if all(s == 1 for s in stride) and all(k % 2 for k in kernel):
        return tuple((k - 1) // 2 for k in kernel)
    raise ExportError(
        f"node {name!r} ({type(n).__name__}): padding 'same' with stride {stride} and kernel "
        f"{kernel} is asymmetric; hwsim pads symmetrically"
    )


def _conv(name: str, n: nir.NIRNode, ctx: _Ctx) -> Node:
    """Conv2d, and Conv1d as a Conv2d of height 1 (``(C, L)`` held as ``(C, 1, L)``)."""
    dims = 1 if isinstance(n, nir.Conv1d) else 2
    w = _float_array(n.weight)
    if w.ndim != dims + 2:
        raise ExportError(f"node {name!r} ({type(n).__name__}): weight must be {dims + 2}-D")
    if any(d != 1 for d in _ints(name, "dilation", n.dilation, dims)):
        raise ExportError(f"node {name!r}: dilation {n.dilation} != 1 has no hwsim form")
    stride = _ints(name, "stride", n.stride, dims)
    padding = _padding(name, n, tuple(w.shape[2:]), stride)
    w = _with_in_scale(name, w, ctx)
    if dims == 1:
        w, stride, padding = w[:, :, None, :], (1, *stride), (0, *padding)
        ctx.unit_axis.add(ctx.names[name])
        ctx.decisions.append(f"node {name!r}: Conv1d held as a Conv2d of height 1")
    bias = _float_array(n.bias)
    return Conv2d(w, bias if np.any(bias) else None, stride=stride, padding=padding,
                  groups=int(n.groups))  # fmt: skip


def _pool(cls: type) -> Callable[[str, nir.NIRNode, _Ctx], Node]:
    def convert(name: str, n: nir.NIRNode, ctx: _Ctx) -> Node:
        if np.any(np.asarray(n.padding)):
            raise ExportError(
                f"node {name!r} ({type(n).__name__}): padding {n.padding} has no hwsim form "
                "(hwsim pools do not pad)"
            )
        kernel = _ints(name, "kernel_size", n.kernel_size, 2)
        stride = _ints(name, "stride", n.stride, 2)
        return cls(kernel, None if stride == kernel else stride)

    return convert


def _flatten(name: str, n: nir.Flatten, ctx: _Ctx) -> Node:
    typed = n.input_type.get("input")
    shape = ctx.in_shape(name)
    unit = ctx.src(ctx.preds(name)[0]) in ctx.unit_axis
    ndim = len(np.asarray(typed).reshape(-1)) if typed is not None else len(shape) - unit
    if typed is None:
        ctx.decisions.append(f"node {name!r}: untyped Flatten; its input is {list(shape)}")
    if n.start_dim not in (0, -ndim) or n.end_dim not in (-1, ndim - 1):
        raise ExportError(
            f"node {name!r} (Flatten): start_dim={n.start_dim}, end_dim={n.end_dim} on the "
            f"per-sample shape {list(shape)} is not a full flatten; hwsim's Flatten maps a "
            "per-sample tensor to a vector (start_dim=0, end_dim=-1 in NIR's per-sample shapes)"
        )
    return Flatten()


def _neuron_common(name: str, n: nir.NIRNode) -> tuple[str, float, float]:
    per_neuron = "hwsim's neuron has one value per population"
    where = f"node {name!r} ({type(n).__name__})"
    theta = _uniform(where, "v_threshold", n.v_threshold, per_neuron)
    v_reset = _uniform(where, "v_reset", n.v_reset, per_neuron)
    return where, theta, v_reset


def _shifted(name, ctx, decay, theta, v_reset, bias) -> tuple[float, np.ndarray | float]:
    """``v_reset != 0``: the membrane shifted by ``v_reset`` (module docstring)."""
    if v_reset == 0.0:
        return theta, bias
    ctx.decisions.append(
        f"node {name!r}: v_reset = {v_reset:g} read as a membrane shifted by v_reset (threshold "
        f"{theta:g} -> {theta - v_reset:g}); exact for a source that starts at v_reset"
    )
    return theta - v_reset, bias - (1.0 - decay) * v_reset


def _coefficients(name, n, ctx, tau_field, r, v_leak, hint_key) -> tuple[float, float, np.ndarray]:
    """``(a, g, b)`` of the time constant ``tau_field`` by the source's reading
    (:mod:`.conventions`); the exact ``a`` from a spikefold hint when it agrees (``1 -
    dt/(dt/(1-a))`` is only within an ulp of ``a``)."""
    where = f"node {name!r} ({type(n).__name__})"
    tau = _uniform(where, tau_field, getattr(n, tau_field), _PER_NEURON)
    if tau <= 0:
        raise ExportError(f"{where}: {tau_field} = {tau} must be positive")
    c = ctx.conv.lif(tau, r, v_leak, ctx.dt)
    if not 0.0 <= c.decay < 1.0:
        raise ExportError(
            f"{where}: with dt={ctx.dt:g} ({ctx.conv.name} reading) the decay of {tau_field} "
            f"is {c.decay:g}, outside [0, 1); pass the source's own dt (or source=) so that "
            f"dt/{tau_field} <= 1"
        )
    hint = n.metadata.get(hint_key)
    if hint is not None and abs(float(hint) - c.decay) <= 4 * _EPS:
        return float(hint), c.gain, c.bias
    return c.decay, c.gain, c.bias


_PER_NEURON = "hwsim's neurons have one value per population"


def _lif(name: str, n: nir.LIF, ctx: _Ctx) -> Node:
    where, theta, v_reset = _neuron_common(name, n)
    r = _uniform(where, "r", n.r, _PER_NEURON)
    v_leak = _f64(where, "v_leak", n.v_leak)
    decay, gain, bias = _coefficients(name, n, ctx, "tau", r, v_leak, HINT_DECAY)
    ctx.gains[ctx.names[name]] = gain
    theta, bias = _shifted(name, ctx, decay, theta, v_reset, bias)
    return LIF(decay, theta, reset="hard", bias=_bias(n.metadata, np.asarray(bias, float)))


def _if(name: str, n: nir.IF, ctx: _Ctx) -> Node:
    where, theta, v_reset = _neuron_common(name, n)
    r = _uniform(where, "r", n.r, _PER_NEURON)
    ctx.gains[ctx.names[name]] = ctx.conv.if_gain(r, ctx.dt)
    theta, _ = _shifted(name, ctx, 1.0, theta, v_reset, 0.0)
    return LIF(1.0, theta, reset="hard")


def _threshold(name: str, n: nir.Threshold, ctx: _Ctx) -> Node:
    where = f"node {name!r} (Threshold)"
    theta = _uniform(where, "threshold", n.threshold, "hwsim's LIF has one threshold")
    ctx.decisions.append(f"node {name!r}: Threshold read as a stateless LIF (decay 0, hard reset)")
    return LIF(0.0, theta, reset="hard")


def _cuba_lif(name: str, n: nir.CubaLIF, ctx: _Ctx) -> Node:
    """A current ``u' = c·u + g·S`` driving the membrane ``H = a·V + u' + b``: the current's
    time constant ``tau_syn`` (weight ``w_in``) and the membrane's ``tau_mem`` (``R``) each by
    the source's reading; the product of both gains is folded into the incoming synapses
    (Euler: ``g = d_s·w_in·d_m·R``, ``d = dt/τ``)."""
    where, theta, v_reset = _neuron_common(name, n)
    r = _uniform(where, "r", n.r, _PER_NEURON)
    w_in = _uniform(where, "w_in", n.w_in, _PER_NEURON)
    v_leak = _f64(where, "v_leak", n.v_leak)
    decay, g_mem, bias = _coefficients(name, n, ctx, "tau_mem", r, v_leak, HINT_DECAY)
    current_decay, g_syn, _ = _coefficients(
        name, n, ctx, "tau_syn", w_in, np.zeros(1), HINT_CURRENT_DECAY
    )
    ctx.gains[ctx.names[name]] = g_syn * g_mem
    theta, bias = _shifted(name, ctx, decay, theta, v_reset, bias)
    bias = _bias(n.metadata, np.asarray(bias, float))
    return CubaLIF(decay, current_decay, theta, "hard", bias=bias)


def _li(name: str, n: nir.NIRNode, ctx: _Ctx) -> Node:
    """NIR ``LI`` (a leaky, non-spiking membrane) by the source's reading, or ``I`` (no leak:
    gain as an IF's)."""
    where = f"node {name!r} ({type(n).__name__})"
    r = _uniform(where, "r", n.r, _PER_NEURON)
    if isinstance(n, nir.I):
        ctx.gains[ctx.names[name]] = ctx.conv.if_gain(r, ctx.dt)
        return LI(1.0)
    v_leak = _f64(where, "v_leak", n.v_leak)
    decay, gain, bias = _coefficients(name, n, ctx, "tau", r, v_leak, HINT_DECAY)
    ctx.gains[ctx.names[name]] = gain
    return LI(decay, bias=_bias(n.metadata, np.asarray(bias, float)))


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
    nir.Conv2d: _conv,
    nir.Conv1d: _conv,
    nir.SumPool2d: _pool(SumPool2d),
    nir.AvgPool2d: _pool(AvgPool2d),
    nir.Flatten: _flatten,
    nir.LIF: _lif,
    nir.IF: _if,
    nir.Threshold: _threshold,
    nir.Delay: _delay,
    nir.Output: _output,
    nir.CubaLIF: _cuba_lif,
    nir.CubaLI: _refuse("a current-based leaky integrator has no hwsim node"),
    nir.LI: _li,
    nir.I: _li,
    nir.NIRGraph: _refuse("nested NIR graphs are not supported; flatten the graph first"),
}


# ---------------------------------------------------------------------------------------------
# Scale: folded into the synapse before it, else the one after
# ---------------------------------------------------------------------------------------------


def _scale(name: str, n: nir.Scale, ctx: _Ctx) -> None:
    scale = _f64(f"node {name!r} (Scale)", "scale", n.scale)
    preds, succs = ctx.preds(name), ctx.succs(name)
    src = ctx.src(preds[0]) if len(preds) == 1 else None
    before = ctx.nodes.get(src) if src else None
    if isinstance(before, (Dense, Conv2d)) and len(ctx.succs(preds[0])) == 1:
        ctx.nodes[src] = _scale_outputs(name, before, scale)
        ctx.decisions.append(f"node {name!r}: Scale folded into the output of {preds[0]!r}")
    elif len(succs) == 1 and isinstance(ctx.graph.nodes[succs[0]], _SYNAPSES) and src:
        ctx.in_scale[ctx.names[succs[0]]] = scale
        ctx.decisions.append(f"node {name!r}: Scale folded into the input of {succs[0]!r}")
    else:
        raise ExportError(
            f"node {name!r} (Scale): hwsim has no element-wise scale; it folds into a synapse "
            "(Affine/Linear/Conv) that feeds only it or that it alone feeds, and here neither is"
        )
    ctx.alias[name] = preds[0]


_SYNAPSES = (nir.Affine, nir.Linear, nir.Conv2d, nir.Conv1d)


def _scale_outputs(name: str, node: Dense | Conv2d, scale: np.ndarray) -> Node:
    n_out = node.weight.shape[0]
    s = scale.reshape(-1) if scale.ndim <= 1 else scale.reshape(scale.shape[0], -1)
    if s.ndim == 2:
        if not np.all(s == s[:, :1]):
            raise ExportError(f"node {name!r} (Scale): varies within a channel; cannot fold")
        s = s[:, 0]
    s = np.broadcast_to(s, (n_out,))
    w = node.weight * s.reshape(-1, *([1] * (node.weight.ndim - 1)))
    bias = None if node.bias is None else node.bias * s
    return dataclasses.replace(node, weight=w, bias=bias)


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------


def _hw_names(g: nir.NIRGraph) -> dict[str, str]:
    """NIR name -> a valid, unique hwsim name (kept when already valid)."""
    out: dict[str, str] = {}
    taken = {k for k in g.nodes if _NAME_OK.match(k)}
    for k in g.nodes:
        if _NAME_OK.match(k):
            out[k] = k
            continue
        base = re.sub(r"[^A-Za-z0-9_.\-]", "_", k)
        if not (base[:1].isalpha() or base[:1] == "_"):
            base = "n" + base
        name, i = base, 1
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        taken.add(name)
        out[k] = name
    return out


def import_nir(
    nir_graph: nir.NIRGraph,
    *,
    T: int | None = None,
    dt: float | None = None,
    source: str | None = None,
    encoding: Encoding | None = None,
) -> NirImport:
    """The float, ``ideal``-timing hardware graph of a NIR graph and its :class:`ImportRecord`.

    ``T`` defaults to the graph's ``spikefold_T`` metadata; ``dt`` and the reading of neuron
    parameters follow ``source`` (:data:`~.conventions.SOURCES`; default: the library the file
    shows, :func:`~.conventions.detect_source`, else NIR's own reading) as
    :func:`~.conventions.resolve_dt` finds them. ``encoding`` of the input defaults to its
    hint, else ``"spikes"``. What the source cannot state is warned
    (:class:`~.conventions.LossyImportWarning`) and recorded.
    """
    if not isinstance(nir_graph, nir.NIRGraph):
        raise ExportError(f"from_nir takes a nir.NIRGraph, got {type(nir_graph).__name__}")
    md = nir_graph.metadata if isinstance(nir_graph.metadata, dict) else {}
    T = T if T is not None else md.get(META_T)
    if T is None:
        raise ExportError("the NIR graph has no 'spikefold_T' metadata; pass T (steps per sample)")
    source_from = "passed by the caller"
    if source is None:
        source, source_from = detect_source(nir_graph)
        source_from = f"detected: {source_from}"
    conv, dt, dt_from = resolve_dt(nir_graph, source, dt)
    ctx = _Ctx(nir_graph, conv, dt, _hw_names(nir_graph))
    for name in _order(nir_graph):
        n = nir_graph.nodes[name]
        if n is None:
            raise ExportError(
                f"node {name!r} is empty (None): the exporter that wrote the graph had no NIR "
                "mapping for that layer (Norse 1.1.0's to_nir for a Flatten or pool, e.g.)"
            )
        if isinstance(n, nir.Scale):
            _scale(name, n, ctx)
            continue
        if isinstance(n, nir.Input):
            node = _input(name, n, ctx, encoding)
        else:
            convert = _IMPORTERS.get(type(n))
            if convert is None:
                raise ExportError(f"node {name!r} ({type(n).__name__}): no hwsim mapping")
            node = convert(name, n, ctx)
        hw = ctx.names[name]
        ctx.nodes[hw] = node
        ins = [ctx.shapes[ctx.src(p)] for p in ctx.preds(name)]
        try:
            ctx.shapes[hw] = tuple(node.output_shape(ins[:1] if ins else []))
        except GraphError as exc:
            raise ExportError(f"node {name!r} ({type(n).__name__}): {exc}") from None
        if ins and ctx.src(ctx.preds(name)[0]) in ctx.unit_axis and not isinstance(n, nir.Flatten):
            ctx.unit_axis.add(hw)
    edges = [(ctx.src(s), ctx.names[d]) for s, d in nir_graph.edges if d not in ctx.alias]
    inserted: dict[str, str] = {}
    for name, g in ctx.gains.items():
        if abs(g - 1.0) > _GAIN_ONE:
            _fold_gain(name, g, ctx, edges)
    edges = _spiking_outputs(ctx, edges, inserted)
    nodes, edges = _edges_with_adds(nir_graph, ctx, edges, inserted)
    origin = json.loads(str(md.get(META_ORIGIN, "{}")))
    try:
        graph = HardwareGraph(
            nodes=nodes,
            edges=edges,
            metadata=GraphMetadata(T=int(T), origin={str(k): str(v) for k, v in origin.items()}),
        )
    except GraphError as exc:
        raise ExportError(f"the NIR graph gives no valid hardware graph: {exc}") from exc
    assumptions = LOSSY[conv.name]
    for a in assumptions:
        warnings.warn(f"{conv.name} NIR import: {a}", LossyImportWarning, stacklevel=2)
    (inp,) = [k for k, v in nodes.items() if isinstance(v, Input)] or [None]
    record = ImportRecord(
        source=conv.name,
        source_from=source_from,
        dt=dt,
        dt_from=dt_from,
        T=int(T),
        encoding=nodes[inp].encoding if inp else "",
        names={hw: nn for nn, hw in ctx.names.items() if nn not in ctx.alias},
        inserted=inserted,
        decisions=tuple(ctx.decisions),
        assumptions=assumptions,
    )
    return NirImport(graph, record)


def from_nir(
    nir_graph: nir.NIRGraph,
    *,
    T: int | None = None,
    dt: float | None = None,
    source: str | None = None,
    encoding: Encoding | None = None,
) -> HardwareGraph:
    """The float, ``ideal``-timing hardware graph of a NIR graph: :func:`import_nir`'s graph
    (node names kept where valid; the record maps them otherwise)."""
    return import_nir(nir_graph, T=T, dt=dt, source=source, encoding=encoding).graph


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


def _fold_gain(name: str, g: float, ctx: _Ctx, edges: list[tuple[str, str]]) -> None:
    """Scale the weights and biases of every synapse into LIF ``name`` by its input gain."""
    for p in [s for s, d in edges if d == name]:
        node = ctx.nodes[p]
        if not isinstance(node, (Dense, Conv2d)) or [d for s, d in edges if s == p] != [name]:
            raise ExportError(
                f"node {name!r}: its input gain {g:g} (hwsim's LIF has none) cannot be folded "
                f"into its input {p!r} ({node.kind}): only a Dense/Conv2d feeding this neuron "
                "alone can take it"
            )
        bias = None if node.bias is None else node.bias * g
        ctx.nodes[p] = dataclasses.replace(node, weight=node.weight * g, bias=bias)
    ctx.decisions.append(f"node {name!r}: input gain {g:.9g} folded into its synapses")


def _spiking_outputs(ctx: _Ctx, edges, inserted: dict[str, str]) -> list[tuple[str, str]]:
    """``LIF -> Readout`` becomes ``LIF -> identity Dense -> Readout`` (module docstring)."""
    out = []
    for s, d in edges:
        if isinstance(ctx.nodes[d], Readout) and isinstance(ctx.nodes[s], (LIF, CubaLIF)):
            shape = ctx.shapes[s]
            if len(shape) != 1:
                raise ExportError(
                    f"node {s!r} feeds the output with per-sample shape {list(shape)}; a spiking "
                    "output must be a vector (insert a Flatten before the output)"
                )
            name = f"{s}.readout"
            ctx.nodes[name] = Dense(np.eye(shape[0]))
            inserted[name] = f"identity synapse: the Readout sums {s!r}'s spikes (spike count)"
            out += [(s, name), (name, d)]
        else:
            out.append((s, d))
    return out


def _edges_with_adds(
    nir_graph: nir.NIRGraph, ctx: _Ctx, edges: list[tuple[str, str]], inserted: dict[str, str]
) -> tuple[dict[str, Node], list[tuple[str, str]]]:
    by_hw = {hw: nn for nn, hw in ctx.names.items()}
    out: dict[str, Node] = {}
    result: list[tuple[str, str]] = []
    for name, node in ctx.nodes.items():
        srcs = [s for s, d in edges if d == name]
        if len(srcs) > 1 and not isinstance(node, _SUMMING):
            meta = nir_graph.nodes[by_hw[name]].metadata if name in by_hw else {}
            add = str(meta.get(HINT_ADD, f"{name}.sum"))
            if add in ctx.nodes or (add in out and not isinstance(out[add], Add)):
                add = f"{name}.sum"
            if add not in out:
                out[add] = Add()
                inserted.setdefault(add, f"sums the inputs of {name!r} (NIR sums edges)")
                result += [(s, add) for s in srcs]
            result.append((add, name))
        else:
            result += [(s, name) for s in srcs]
        out[name] = node
    return out, result
