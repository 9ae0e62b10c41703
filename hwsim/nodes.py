"""The node kinds of the hardware graph (re-exported by :mod:`hwsim.graph`).

Each kind is a frozen dataclass of numpy arrays and plain values whose fields mean one thing
in a float graph and its fixed-point counterpart in a fixed graph (both stated on the class;
the arithmetic is :mod:`hwsim.arith`). Every node offers :meth:`Node.output_shape` (shape
inference) and :meth:`Node.problems` (value checks for a format); the generic checks live in
the base class, each kind adds its own rules. ``docs/graph.md`` is the reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Literal

import numpy as np

from hwsim import arith
from hwsim.errors import GraphError

__all__ = [
    "Shape",
    "Scalar",
    "Format",
    "Timing",
    "Encoding",
    "Reset",
    "FIXED_ONLY",
    "NUMERIC",
    "Node",
    "Input",
    "Dense",
    "Conv2d",
    "SumPool2d",
    "AvgPool2d",
    "Flatten",
    "LIF",
    "CubaLIF",
    "LI",
    "FastInhibitory",
    "EICircuit",
    "Add",
    "Delay",
    "Readout",
    "NODE_KINDS",
    "SYNAPSE_KINDS",
    "NEURON_KINDS",
    "SPIKING_KINDS",
    "latency",
]

Shape = tuple[int, ...]
Scalar = int | float
Format = Literal["float32", "fixed"]
Timing = Literal["ideal", "lava"]
Encoding = Literal["direct", "spikes", "rate"]
Reset = Literal["soft", "hard"]

FIXED_ONLY = {"fixed_only": True}  # field metadata: must keep its default in float graphs
NUMERIC = {"numeric": True}  # scalar field whose type follows the format (int when fixed)


def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return int(v[0]), int(v[1])
    raise GraphError(f"{what} must be an int or a pair of ints, got {v!r}")


def _equal_inputs(in_shapes: Sequence[Shape], kind: str) -> Shape:
    if not in_shapes:
        raise GraphError(f"{kind} needs at least one input")
    first = tuple(in_shapes[0])
    for s in in_shapes[1:]:
        if tuple(s) != first:
            raise GraphError(f"{kind} sums its inputs, whose shapes differ: {list(in_shapes)}")
    return first


def _one_input(in_shapes: Sequence[Shape], kind: str) -> Shape:
    if len(in_shapes) != 1:
        raise GraphError(f"{kind} takes exactly one input, got {len(in_shapes)}")
    return tuple(in_shapes[0])


def _conv_out(hw: Shape, kernel, stride, padding) -> Shape:
    out = tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(hw, kernel, stride, padding))
    if min(out) < 1:
        raise GraphError(
            f"window {tuple(kernel)} (stride {tuple(stride)}, padding {tuple(padding)}) does not "
            f"fit the input {tuple(hw)}"
        )
    return out


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Node:
    """Base of every node kind. ``eq=False``: compare graphs with :func:`hwsim.io.graphs_equal`
    (numpy arrays have no truth value). Arrays are stored as read-only copies."""

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            hint = str(f.type)
            if isinstance(v, np.ndarray) or (isinstance(v, list) and "ndarray" in hint):
                a = np.array(v)  # a copy: the caller's array can change, the node cannot
                a.flags.writeable = False
                object.__setattr__(self, f.name, a)
            elif isinstance(v, list) and ("tuple" in hint or hint == "Shape"):
                object.__setattr__(self, f.name, tuple(v))

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # @dataclass gives each kind a repr of every field, arrays in full (kilobytes for a
        # tiny layer), unless the class already has one: every kind gets the short one below.
        cls.__repr__ = Node.__repr__

    def __repr__(self) -> str:
        """One line: the kind, then each field that is not at its default; an array as its
        dtype and shape (``weight=int64[3, 4]``), never its values."""
        parts = []
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                shown = f"{v.dtype}[{', '.join(map(str, v.shape))}]" if v.ndim else repr(v.item())
            elif f.default is not MISSING and _same(v, f.default):
                continue
            else:
                shown = repr(v)  # a nested node (EICircuit.inhibitory) is short too
            parts.append(f"{f.name}={shown}")
        return f"{self.kind}({', '.join(parts)})"

    @property
    def kind(self) -> str:
        """The node kind, the class name (the ``kind`` key of the file format)."""
        return type(self).__name__

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        """Shape inference: the per-sample output shape given the input shapes (one per
        incoming edge). Raises :class:`GraphError` (without the node's name; the graph adds
        it) when the inputs do not fit this node."""
        raise NotImplementedError

    def problems(self, fmt: Format, widths: arith.FixedWidths | None, T: int) -> list[str]:
        """Value checks of this node in a graph of format ``fmt`` (empty when valid). The
        generic checks (dtypes, NaN/inf, fixed-only fields) are done here, in the base class;
        subclasses add their ranges and rules in :meth:`_problems`."""
        out = []
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                out += _array_problems(f.name, v, fmt)
            elif f.metadata.get("numeric") and v is not None:
                if fmt == "fixed" and not isinstance(v, (int, np.integer)):
                    out.append(f"{f.name}={v!r} must be an integer in a fixed graph")
                elif fmt != "fixed" and not np.isfinite(v):
                    out.append(f"{f.name}={v!r} is not finite")
            if fmt != "fixed" and f.metadata.get("fixed_only") and v != f.default:
                out.append(
                    f"{f.name}={v!r} is a fixed-format field; a float graph keeps {f.default!r}"
                )
        if not out:
            out += self._problems(fmt, widths, T)
        return out

    def _problems(self, fmt: Format, widths: arith.FixedWidths | None, T: int) -> list[str]:
        return []


def _same(value, default) -> bool:
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False


def _array_problems(name: str, a: np.ndarray, fmt: Format) -> list[str]:
    if fmt == "fixed":
        if a.dtype.kind not in "iu" or a.dtype.itemsize > 8:
            return [f"{name} has dtype {a.dtype}; a fixed graph holds integer arrays"]
        return []
    if a.dtype not in (np.float32, np.float64):
        return [f"{name} has dtype {a.dtype}; a float graph holds float32/float64 arrays"]
    bad = int(np.count_nonzero(~np.isfinite(a)))
    return [f"{name} has {bad} NaN/infinite entries"] if bad else []


def _range_problem(name: str, v, lo: int, hi: int) -> list[str]:
    a = np.asarray(v)
    if a.size and (a.min() < lo or a.max() > hi):
        n = int(np.count_nonzero((a < lo) | (a > hi)))
        return [f"{name}: {n} entries outside [{lo}, {hi}]"]
    return []


def _grid_problems(name: str, w: np.ndarray, widths: arith.FixedWidths) -> list[str]:
    n = arith.count_lava_dense_changes(w, widths.weight_bits)
    if n:
        mode = arith.sign_mode(w)
        grid = arith.weight_grid(mode, widths.weight_bits)
        return [
            f"{name}: {n} entries are off Lava's {widths.weight_bits}-bit {mode} weight grid "
            f"{tuple(grid)} (lo, hi, step) and would be changed by Lava's Dense; quantise with "
            "hwsim.arith.quantize_weights"
        ]
    return []


def _nonneg(name: str, v) -> list[str]:
    if v is None:
        return []
    n = int(np.count_nonzero(np.asarray(v) < 0))
    return [f"{name}: {n} negative entries violate Dale's law (must be >= 0)"] if n else []


@dataclass(frozen=True, eq=False)
class Input(Node):
    """A graph input of per-sample shape ``shape``.

    ``encoding``: ``direct`` (the same analog frame enters every step; in a fixed graph it is
    quantised by :func:`hwsim.arith.quantize_input` with ``scale`` and ``widths.input_bits``),
    ``spikes`` (binary spike trains ``[T, B, *shape]`` supplied by the caller) or ``rate``
    (values in [0, 1], Bernoulli-encoded each step by the runner). ``scale`` (fixed only) is
    the real value of one integer input unit.
    """

    shape: Shape
    encoding: Encoding = "direct"
    scale: float = field(default=1.0, metadata=FIXED_ONLY)

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        if in_shapes:
            raise GraphError("an Input has no incoming edges")
        return tuple(self.shape)

    def _problems(self, fmt, widths, T) -> list[str]:
        out = []
        if not self.shape or min(self.shape) < 1:
            out.append(f"shape {self.shape} must be non-empty with positive sizes")
        if self.encoding not in ("direct", "spikes", "rate"):
            out.append(f"unknown encoding {self.encoding!r}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            out.append(f"scale={self.scale} must be positive")
        return out


@dataclass(frozen=True, eq=False)
class Dense(Node):
    """Fully connected synapses: ``(d,) -> (n,)``, ``weight [n, d]``, ``bias [n]`` or None.

    float: ``I = W s + b`` (torch ``F.linear``). fixed: ``a = dense_accumulate(weight, s,
    weight_exp) + bias`` with ``weight`` raw mantissas on Lava's weight grid
    (:func:`hwsim.arith.weight_grid`; checked) and ``bias`` in activation units, added to the
    activation *before* the consumer's ``a << 6`` and 24-bit fold (the Lava exporter moves it
    into a stock LIF's ``bias_mant``/``bias_exp``, which acts after them, only where a bound
    proves the two equal: ``exporters.lava.translate.BIAS_FOLD_LIMIT``).
    """

    weight: np.ndarray
    bias: np.ndarray | None = None
    weight_exp: int = field(default=0, metadata=FIXED_ONLY)

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        s = _one_input(in_shapes, "Dense")
        if self.weight.ndim != 2:
            raise GraphError(f"weight must be 2-D [out, in], got shape {self.weight.shape}")
        if s != (self.weight.shape[1],):
            raise GraphError(
                f"weight {self.weight.shape} expects input ({self.weight.shape[1]},), got {s}"
                + ("; insert a Flatten" if len(s) > 1 else "")
            )
        if self.bias is not None and self.bias.shape != (self.weight.shape[0],):
            raise GraphError(f"bias shape {self.bias.shape} != ({self.weight.shape[0]},)")
        return (int(self.weight.shape[0]),)

    def _problems(self, fmt, widths, T) -> list[str]:
        if fmt != "fixed":
            return []
        out = _grid_problems("weight", self.weight, widths)
        out += _range_problem("weight_exp", self.weight_exp, *arith.WEIGHT_EXP_RANGE)
        if self.bias is not None:
            out += _range_problem("bias", self.bias, *arith.signed_range(arith.ACC_BITS))
        return out


@dataclass(frozen=True, eq=False)
class Conv2d(Node):
    """2-D convolution synapses, torch semantics: ``(C, H, W) -> (O, H', W')``, ``weight [O,
    C/groups, kh, kw]`` (cross-correlation), zero ``padding``, ``bias [O]`` or None.

    fixed: ``a = conv_accumulate(weight, s, stride, padding, groups, weight_exp) + bias``;
    weights on Lava's weight grid like :class:`Dense`. Lava's stock Conv ignores
    ``weight_exp`` (see :func:`hwsim.arith.conv_accumulate`).
    """

    weight: np.ndarray
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    weight_exp: int = field(default=0, metadata=FIXED_ONLY)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stride", _pair(self.stride, "Conv2d stride"))
        object.__setattr__(self, "padding", _pair(self.padding, "Conv2d padding"))
        super().__post_init__()

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        s = _one_input(in_shapes, "Conv2d")
        _bias_check(self.bias, self.weight.shape[0])
        return _conv_shape(s, self.weight, self.stride, self.padding, self.groups, "weight")

    def _problems(self, fmt, widths, T) -> list[str]:
        out = []
        if min(self.stride) < 1 or min(self.padding) < 0 or self.groups < 1:
            out.append(f"stride {self.stride} >= 1, padding {self.padding} >= 0, groups >= 1")
        if fmt == "fixed":
            out += _grid_problems("weight", self.weight, widths)
            out += _range_problem("weight_exp", self.weight_exp, *arith.WEIGHT_EXP_RANGE)
            if self.bias is not None:
                out += _range_problem("bias", self.bias, *arith.signed_range(arith.ACC_BITS))
        return out


def _bias_check(bias, n: int) -> None:
    if bias is not None and bias.shape != (n,):
        raise GraphError(f"bias shape {bias.shape} != ({n},)")


def _conv_shape(s: Shape, w: np.ndarray, stride, padding, groups: int, name: str) -> Shape:
    if w.ndim != 4:
        raise GraphError(f"{name} must be 4-D [out, in/groups, kh, kw], got {w.shape}")
    if len(s) != 3:
        raise GraphError(f"expects a (C, H, W) input, got {s}")
    if groups < 1 or s[0] != w.shape[1] * groups or w.shape[0] % groups:
        raise GraphError(
            f"{name} {w.shape} with groups={groups} does not fit {s[0]} input channels"
        )
    return (int(w.shape[0]),) + _conv_out(s[1:], w.shape[2:], stride, padding)


@dataclass(frozen=True, eq=False)
class SumPool2d(Node):
    """Sum over ``kernel`` windows (no padding), ``stride`` defaulting to ``kernel``:
    ``(C, H, W) -> (C, H', W')``; pooled spikes are graded counts. Same in both formats."""

    kernel: tuple[int, int]
    stride: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", _pair(self.kernel, f"{self.kind} kernel"))
        if self.stride is not None:
            object.__setattr__(self, "stride", _pair(self.stride, f"{self.kind} stride"))
        super().__post_init__()

    @property
    def effective_stride(self) -> tuple[int, int]:
        return self.kernel if self.stride is None else self.stride

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        s = _one_input(in_shapes, self.kind)
        if len(s) != 3:
            raise GraphError(f"expects a (C, H, W) input, got {s}")
        return (s[0],) + _conv_out(s[1:], self.kernel, self.effective_stride, (0, 0))

    def _problems(self, fmt, widths, T) -> list[str]:
        if min(self.kernel) < 1 or min(self.effective_stride) < 1:
            return [f"kernel {self.kernel} and stride {self.stride} must be >= 1"]
        return []


@dataclass(frozen=True, eq=False)
class AvgPool2d(SumPool2d):
    """Average pool (float graphs only): ``SumPool2d / (kh·kw)``. The quantiser rewrites it
    as a :class:`SumPool2d` and folds ``1/(kh·kw)`` into the next synapse's weights."""

    def _problems(self, fmt, widths, T) -> list[str]:
        if fmt == "fixed":
            return ["AvgPool2d is float-only; quantise it as SumPool2d plus a weight scale"]
        return super()._problems(fmt, widths, T)


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    """Flatten a per-sample tensor in C order: ``(C, H, W) -> (C·H·W,)`` (torch's
    ``flatten(1)``)."""

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        s = _one_input(in_shapes, "Flatten")
        return (int(np.prod(s)),)


@dataclass(frozen=True, eq=False)
class _Population(Node):
    """What the neuron populations with a membrane (:class:`LIF`, :class:`CubaLIF`,
    :class:`LI`) share: the sum of the inputs, the bias shapes, and the checks of ``decay``,
    ``bias`` and (spiking kinds) ``threshold`` and ``reset``. Not a node kind itself."""

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        s = _equal_inputs(in_shapes, self.kind)
        if self.bias is not None:
            b = self.bias.shape
            if not (b == () or b == s or (len(s) > 1 and b == (s[0],))):
                raise GraphError(f"bias shape {b} fits neither {s}, ({s[0]},) nor ()")
        return s

    def bias_broadcast(self, shape: Shape) -> np.ndarray | None:
        """``bias`` shaped to broadcast against ``[B, *shape]`` (per-channel -> [C, 1, 1])."""
        if self.bias is None:
            return None
        b = self.bias
        if b.ndim == 1 and len(shape) > 1:
            b = b.reshape((-1,) + (1,) * (len(shape) - 1))
        return b

    def _membrane_problems(self, fmt: Format) -> list[str]:
        if fmt != "fixed":
            if not 0.0 <= self.decay <= 1.0:
                return [f"decay={self.decay} must be in [0, 1] (a = 1 - 1/tau)"]
            return []
        out = _range_problem("decay", self.decay, 1, arith.DECAY_UNITY)
        if self.bias is not None:
            out += _range_problem("bias", self.bias, *arith.signed_range(arith.BIAS_MANT_BITS))
        out += _range_problem("bias_exp", self.bias_exp, *arith.BIAS_EXP_RANGE)
        return out

    def _spiking_problems(self, fmt: Format, T: int) -> list[str]:
        out = []
        if self.reset not in ("soft", "hard"):
            out.append(f"reset must be 'soft' or 'hard', got {self.reset!r}")
        th = self.threshold
        if isinstance(th, np.ndarray) and th.shape not in ((), (T,)):
            out.append(f"threshold schedule has shape {th.shape}; expected () or (T,) = ({T},)")
        if fmt == "fixed":
            out += _range_problem("threshold", th, *arith.unsigned_range(arith.VTH_BITS))
        elif not (np.all(np.isfinite(th)) and np.all(np.asarray(th) > 0)):
            low = np.asarray(th).min() if np.asarray(th).size else th
            out.append(f"threshold must be finite and > 0, got {low}")
        return out


@dataclass(frozen=True, eq=False)
class LIF(_Population):
    """A population of LIF neurons; its input current is the sum of its predecessors'.

    float (TECHNIQUES.md section 1, :func:`hwsim.arith.lif_step_float`): ``decay`` is ``a``
    in [0, 1]; ``threshold`` θ a scalar or a per-step schedule ``[T]`` (OTS); spike on
    ``H >= θ``; ``bias`` in current units. fixed (:func:`hwsim.arith.lif_step_fixed`):
    ``decay`` is ``4096 - dv`` in [1, 4096] (the factor in units of 2**-12); ``threshold`` is
    ``vth`` (unsigned 17-bit, scalar or ``[T]``), spike on ``v > vth << 6``; ``bias`` the
    13-bit mantissa in ``v`` units, effective ``floor(bias · 2**bias_exp)``.

    ``bias`` is None, a scalar array, per neuron (the population's shape) or per channel
    (``[C]`` for a ``(C, H, W)`` population).
    """

    decay: Scalar = field(metadata=NUMERIC)
    threshold: Scalar | np.ndarray = field(metadata=NUMERIC)
    reset: Reset = "soft"
    bias: np.ndarray | None = None
    bias_exp: int = field(default=0, metadata=FIXED_ONLY)

    def _problems(self, fmt, widths, T) -> list[str]:
        return self._spiking_problems(fmt, T) + self._membrane_problems(fmt)


@dataclass(frozen=True, eq=False)
class CubaLIF(_Population):
    """A population of current-based LIF neurons (CUBA: Loihi's and Lava's native neuron,
    NIR's ``CubaLIF``, snnTorch's ``Synaptic``, Rockpool's ``LIFTorch``): a synaptic current
    ``u`` that decays with ``current_decay`` integrates the input and feeds the membrane.

    float (:func:`hwsim.arith.cuba_lif_step_float`)::

        u[t] = current_decay · u[t-1] + x[t]
        H[t] = decay · v[t-1] + (u[t] + bias)      spike H >= θ[t]; soft or hard reset of v

    with ``current_decay``, ``decay`` in [0, 1] (``current_decay = 0`` is a :class:`LIF`).
    fixed (:func:`hwsim.arith.cuba_lif_step_fixed`, Lava's ``PyLifModelBitAcc``):
    ``current_decay = 4095 - du`` in [0, 4095] (Lava adds ``ds_offset = 1`` to ``du``, so a
    current cannot be held without decay), ``decay = 4096 - dv`` in [1, 4096], ``threshold`` the
    17-bit ``vth`` (scalar or ``[T]``), ``bias``/``bias_exp`` as a :class:`LIF`'s (``v`` units,
    added to the membrane, not the current). ``reset`` has no default: the libraries differ.
    The current is never reset by a spike. A synapse bias feeding a CubaLIF enters the
    *current* (it is part of ``x``), unlike the neuron's own ``bias``.
    """

    decay: Scalar = field(metadata=NUMERIC)
    current_decay: Scalar = field(metadata=NUMERIC)
    threshold: Scalar | np.ndarray = field(metadata=NUMERIC)
    reset: Reset
    bias: np.ndarray | None = None
    bias_exp: int = field(default=0, metadata=FIXED_ONLY)

    def _problems(self, fmt, widths, T) -> list[str]:
        out = self._spiking_problems(fmt, T) + self._membrane_problems(fmt)
        if fmt == "fixed":
            out += _range_problem("current_decay", self.current_decay, 0, arith.DECAY_UNITY - 1)
        elif not 0.0 <= self.current_decay <= 1.0:
            out.append(f"current_decay={self.current_decay} must be in [0, 1] (1 - 1/tau_syn)")
        return out


@dataclass(frozen=True, eq=False)
class LI(_Population):
    """A population of leaky integrators: non-spiking, its output is the graded membrane.

    float (:func:`hwsim.arith.li_step_float`): ``v[t] = decay · v[t-1] + (x[t] + bias)``,
    output ``v[t]`` (``decay`` in [0, 1]; 1 is a perfect integrator). fixed
    (:func:`hwsim.arith.li_step_fixed`): Lava's LIF voltage update with ``du = 4095`` and no
    threshold: ``v = clip(trunc(v·decay/4096) + (a << 6) + bias, ±(2**23 - 1))``, output ``v``
    in ``v`` units (2**-6 of an activation unit); ``decay``, ``bias``, ``bias_exp`` as a
    :class:`LIF`'s. The readout of Norse's and snnTorch's classifiers: ``... -> Dense -> LI ->
    Readout`` sums ``v`` over the ``T`` steps (see :class:`Readout`).
    """

    decay: Scalar = field(metadata=NUMERIC)
    bias: np.ndarray | None = None
    bias_exp: int = field(default=0, metadata=FIXED_ONLY)

    def _problems(self, fmt, widths, T) -> list[str]:
        return self._membrane_problems(fmt)


@dataclass(frozen=True, eq=False)
class FastInhibitory(Node):
    """The E-I circuit's fast inhibitory population (TECHNIQUES.md section 2, **[choice]**):
    every unit emits, every step, a non-negative graded spike whose payload is its input
    current ``h`` (the sum of its predecessors).

    float: payload = ``h`` (real-valued, as in training). fixed: payload
    = :func:`hwsim.arith.fast_inhibitory_fixed` ``(h, payload_exp, widths.payload_bits)``.
    Stands alone in a lowered graph, and is the ``inhibitory`` part of :class:`EICircuit`.
    """

    payload_exp: int = field(default=0, metadata=FIXED_ONLY)

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        return _equal_inputs(in_shapes, "FastInhibitory")

    def _problems(self, fmt, widths, T) -> list[str]:
        if fmt == "fixed":
            return _range_problem("payload_exp", self.payload_exp, *arith.PAYLOAD_EXP_RANGE)
        return []


@dataclass(frozen=True, eq=False)
class EICircuit(Node):
    """One E-I layer's synapses and inhibitory population; output: the E current ``I``.

    Composite of the excitatory synapses ``W_EE``, the inhibitory population (``W_IE`` into a
    :class:`FastInhibitory`) and its projection ``W_EI`` back onto E; follow it by a
    :class:`LIF` (the E neurons) or, for the ``subtractive`` readout variant (``I = I_EE -
    I_sub``, no division, no gains), by a :class:`Readout`.

    Form, from ``w_ee.ndim``: dense (``w_ee [n_E, d]``, ``w_ie [n_I, d]``, input ``(d,)``) or
    conv (``[n_E|n_I, C/groups, kh, kw]`` with ``stride, padding, groups``, input ``(C, H,
    W)``); ``w_ei [n_E, n_I]`` (1x1 mixing at every pixel). ``g_i [n_I]``, ``g_e [n_E]``,
    ``b_e [n_E]``: required for ``divisive``, None for ``subtractive``. Dale's law: ``w_ee,
    w_ie, w_ei, g_i, g_e >= 0`` (checked).

    ``stabilisation``: ``exact`` (per-sample minimum positive ``D``, training semantics;
    ``floor`` must be 0) or ``floor`` (``max(D, floor)``, ``floor > 0``). float:
    :func:`hwsim.arith.ei_step_float`. fixed: :func:`hwsim.arith.ei_step_fixed` with weights
    on the excitatory weight grid, ``g_i, g_e`` unsigned 16-bit mantissas, ``b_e`` in
    activation units, ``floor`` an integer, and the ``*_exp`` exponents.
    """

    w_ee: np.ndarray
    w_ie: np.ndarray
    w_ei: np.ndarray
    inhibitory: FastInhibitory = field(default_factory=FastInhibitory)
    g_i: np.ndarray | None = None
    g_e: np.ndarray | None = None
    b_e: np.ndarray | None = None
    variant: arith.EIVariant = "divisive"
    stabilisation: arith.Stabilisation = "exact"
    floor: Scalar = field(default=0, metadata=NUMERIC)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    w_ee_exp: int = field(default=0, metadata=FIXED_ONLY)
    w_ie_exp: int = field(default=0, metadata=FIXED_ONLY)
    w_ei_exp: int = field(default=0, metadata=FIXED_ONLY)
    g_i_exp: int = field(default=0, metadata=FIXED_ONLY)
    g_e_exp: int = field(default=0, metadata=FIXED_ONLY)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stride", _pair(self.stride, "EICircuit stride"))
        object.__setattr__(self, "padding", _pair(self.padding, "EICircuit padding"))
        super().__post_init__()

    @property
    def form(self) -> Literal["dense", "conv"]:
        return "conv" if self.w_ee.ndim == 4 else "dense"

    @property
    def n_e(self) -> int:
        return int(self.w_ee.shape[0])

    @property
    def n_i(self) -> int:
        return int(self.w_ie.shape[0])

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        s = _one_input(in_shapes, "EICircuit")
        if self.w_ee.ndim not in (2, 4) or self.w_ie.ndim != self.w_ee.ndim:
            raise GraphError(
                f"w_ee {self.w_ee.shape} and w_ie {self.w_ie.shape} must both be 2-D (dense) "
                "or both 4-D (conv)"
            )
        if self.w_ee.shape[1:] != self.w_ie.shape[1:]:
            raise GraphError(f"w_ee {self.w_ee.shape} and w_ie {self.w_ie.shape} differ in fan-in")
        if self.w_ei.shape != (self.n_e, self.n_i):
            raise GraphError(f"w_ei shape {self.w_ei.shape} != (n_E, n_I) = {(self.n_e, self.n_i)}")
        if self.form == "dense":
            if s != (self.w_ee.shape[1],):
                raise GraphError(
                    f"w_ee {self.w_ee.shape} expects input ({self.w_ee.shape[1]},), got {s}"
                )
            out: Shape = (self.n_e,)
        else:
            out = _conv_shape(s, self.w_ee, self.stride, self.padding, self.groups, "w_ee")
            _conv_shape(s, self.w_ie, self.stride, self.padding, self.groups, "w_ie")
        for name, n in (("g_i", self.n_i), ("g_e", self.n_e), ("b_e", self.n_e)):
            v = getattr(self, name)
            if v is not None and v.shape != (n,):
                raise GraphError(f"{name} shape {v.shape} != ({n},)")
        return out

    def _problems(self, fmt, widths, T) -> list[str]:
        out = []
        for name in ("w_ee", "w_ie", "w_ei", "g_i", "g_e"):
            out += _nonneg(name, getattr(self, name))
        gains = (self.g_i, self.g_e, self.b_e)
        if self.variant == "divisive" and any(v is None for v in gains):
            out.append("the divisive variant needs g_i, g_e and b_e")
        elif self.variant == "subtractive" and any(v is not None for v in gains):
            out.append("the subtractive (readout) variant has no g_i, g_e, b_e; set them None")
        elif self.variant not in ("divisive", "subtractive"):
            out.append(f"unknown variant {self.variant!r}")
        if self.stabilisation == "exact" and self.floor != 0:
            out.append(f"exact stabilisation takes floor=0, got {self.floor}")
        elif self.stabilisation == "floor" and not self.floor > 0:
            out.append(f"floor stabilisation needs floor > 0, got {self.floor}")
        elif self.stabilisation not in ("exact", "floor"):
            out.append(f"unknown stabilisation {self.stabilisation!r}")
        conv_args = (self.stride, self.padding, self.groups)
        if self.form == "dense" and conv_args != ((1, 1), (0, 0), 1):
            out.append("stride, padding and groups apply to the conv form only")
        out += [f"inhibitory: {p}" for p in self.inhibitory.problems(fmt, widths, T)]
        if fmt == "fixed" and not out:
            for name in ("w_ee", "w_ie", "w_ei"):
                exp = getattr(self, f"{name}_exp")
                out += _grid_problems(name, getattr(self, name), widths)
                out += _range_problem(f"{name}_exp", exp, *arith.WEIGHT_EXP_RANGE)
            gain_range = arith.unsigned_range(arith.GAIN_BITS)
            for name in ("g_i", "g_e"):
                if getattr(self, name) is not None:
                    out += _range_problem(name, getattr(self, name), *gain_range)
                exp = getattr(self, f"{name}_exp")
                out += _range_problem(f"{name}_exp", exp, *arith.GAIN_EXP_RANGE)
            if self.b_e is not None:
                out += _range_problem("b_e", self.b_e, *arith.signed_range(arith.ACC_BITS))
            out += _range_problem("floor", self.floor, 0, arith.signed_range(arith.ACC_BITS)[1])
        return out


@dataclass(frozen=True, eq=False)
class Add(Node):
    """Element-wise sum of its inputs (SEW residual: spikes add to graded counts 0..k)."""

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        if len(in_shapes) < 2:
            raise GraphError(f"Add needs at least two inputs, got {len(in_shapes)}")
        return _equal_inputs(in_shapes, "Add")


@dataclass(frozen=True, eq=False)
class Delay(Node):
    """``y[t] = x[t - steps]`` (zeros for ``t < steps``); balances paths in ``lava`` timing."""

    steps: int

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        return _one_input(in_shapes, "Delay")

    def _problems(self, fmt, widths, T) -> list[str]:
        return [] if self.steps >= 0 else [f"steps={self.steps} must be >= 0"]


@dataclass(frozen=True, eq=False)
class Readout(Node):
    """Non-spiking accumulator of the sum of its inputs' currents; the prediction is the
    ``argmax`` of its total over the ``T`` steps (fixed: :func:`hwsim.arith.readout_accumulate`,
    32-bit saturating).

    Fed by synapses it sums their currents. Fed by :class:`LI` nodes it sums their graded
    membranes ``v[t]``: the prediction is the argmax of ``Σ_t v[t]``, i.e. of the mean
    membrane over the ``T`` steps (in the fixed format ``v`` is in ``v`` units, the sum stays
    32-bit saturating). A model trained on another statistic of the LI membrane (the maximum
    over time, Norse's usual ``max(v, dim=0)``, or the last step's ``v``) can predict
    differently; fold such a readout explicitly."""

    def output_shape(self, in_shapes: Sequence[Shape]) -> Shape:
        return _equal_inputs(in_shapes, "Readout")


NODE_KINDS: Mapping[str, type[Node]] = MappingProxyType(
    {
        cls.__name__: cls
        for cls in (
            Input,
            Dense,
            Conv2d,
            SumPool2d,
            AvgPool2d,
            Flatten,
            LIF,
            CubaLIF,
            LI,
            FastInhibitory,
            EICircuit,
            Add,
            Delay,
            Readout,
        )
    }
)
"""Every node kind by name (read-only). The file format's ``kind`` is a key of this map."""

SYNAPSE_KINDS = (Dense, Conv2d, EICircuit)
NEURON_KINDS = (LIF, CubaLIF, LI, FastInhibitory, Readout)
SPIKING_KINDS = (LIF, CubaLIF)
"""The kinds that emit binary spikes (compared spike by spike on every rung)."""


def latency(node: Node, timing: Timing) -> int:
    """Steps between a node's input and its output under ``timing``.

    ``ideal``: 0 for every node except :class:`Delay` (``steps``). ``lava``: Lava's Dense and
    Conv send last step's accumulation (DESIGN.md section 4), so a :class:`Dense` or
    :class:`Conv2d` takes 1 step and an :class:`EICircuit` 2 (``W_IE`` then ``W_EI`` on its I
    path; its E path is delayed by 1 inside the circuit to meet it). Pools, Flatten, Add and
    neurons take 0 (an exporter that realises a pool as a synapse process of its own must merge
    it into the next synapse).
    """
    if isinstance(node, Delay):
        return node.steps
    if timing == "lava":
        if isinstance(node, EICircuit):
            return 2
        if isinstance(node, (Dense, Conv2d)):
            return 1
    return 0
