"""The simulator's node operations: one small class per node kind (used by :mod:`hwsim.sim`).

Every operation is built once per run from its node, the graph's format, the node's shapes
and what is proven about its input (``in_bound``: the largest ``|value|`` it can receive, in
the fixed format), and then computes a **block of consecutive steps** at once::

    run(x [k, B, *in_shape], t0, forced) -> y [k, B, *out_shape]     steps t0 .. t0 + k - 1

``x`` is the sum of the node's inputs (the runner sums the predecessors' outputs and applies
the latency of ``lava`` timing); ``forced`` the teacher-forced outputs of the block or None.

* **Stateless** nodes (:class:`StatelessOp`: synapses, pools, Flatten, the E-I circuit, the
  inhibitory population, pass-throughs) compute all ``k·B`` rows at once, one GEMM or one
  convolution over ``[k·B, ...]``: the graph is feed-forward, so their input for every step
  is known before they run. An input that is the same at every step of the block (a
  ``direct`` frame, a stride-0 view) is computed once.
* **Stateful** nodes (LIF) loop over the steps in tight code (float64 arithmetic that is exact
  for the 24-bit fixed format, see :class:`LIFOp`), carrying their state across blocks.
* A new node kind is one class: implement ``run`` (whole blocks) or only ``step(x [B, ...],
  t, forced) -> y`` (one step; the base class's ``run`` loops it, with the input widened to
  int64/float64 as the per-step API always had). Attributes named in ``traces`` (LIF: ``h``)
  are recorded as ``"<node>/<name>"``; a per-step op sets them in ``step``.

**Exact integer sums chosen by proven bounds** (fixed format). ``Σ w·s`` of Dense, Conv and
the E-I synapses is an integer; it is computed by BLAS/torch in float32 while the sum of the
``|terms|`` stays below ``2**24``, in float64 below ``2**53`` (every partial sum, in any
summation order, is then an integer the format holds exactly), else in int64 (exact, no BLAS).
The bound is ``max_i Σ_j |w_ij| · max|s|`` with ``max|s|`` the input's proven bound or, where
none is known, its actual maximum. The same bounds skip the reductions that cannot act: the
``dense_reduce`` 32-bit wrap, the Conv's 24-bit wrap and its ``acc`` count, the LIF's
activation wraps, fold and clip. Where a
bound does not prove it, the reduction runs and its events are counted exactly as
:mod:`hwsim.arith` defines them; the per-step reference (``bench/stepref.py``, which calls
:mod:`hwsim.arith` only) is equal bit for bit (``tests/hwsim/test_sim_fast.py``).

Overflow and saturation events are counted per node in ``overflow`` (names as in
``hwsim.arith``: ``act`` activations outside ``ACT_BITS``, ``fold`` currents folded by Lava's
24-bit fold, ``clip`` voltages clipped, ``acc`` synaptic sums outside the 24-bit accumulator,
``sat`` E-I/payload saturations, ``dead`` E-I samples whose denominator was all zero).

Output dtypes (what :mod:`hwsim.sim` records): spikes ``uint8``; fixed-format values ``int32``
where their proven bound fits 31 bits (24-bit currents, payloads and state always do), else
``int64``; float-format values ``float64``; pass-through nodes keep their input's dtype.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from hwsim import arith
from hwsim.errors import GraphError
from hwsim.nodes import (
    LI,
    LIF,
    Add,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    EICircuit,
    FastInhibitory,
    Flatten,
    Input,
    Node,
    Readout,
    Shape,
    SumPool2d,
)

__all__ = [
    "EXACT_FLOAT32",
    "EXACT_FLOAT64",
    "ConvWeights",
    "ExactWeights",
    "Op",
    "StatelessOp",
    "OPS",
    "absmax",
    "conv_sum",
    "dense_sum",
    "int_dtype",
    "repeat_view",
    "make_op",
]

EXACT_FLOAT32 = 2**24
"""Integers up to this magnitude are exact in float32."""
EXACT_FLOAT64 = 2**53
"""Integers up to this magnitude are exact in float64; a sum of integer terms computed in a
float format is exact when the sum of the absolute values of its terms stays below it."""
_CHANNEL = 1 << (arith.LAVA_CHANNEL_BITS - 1)  # |values| below it: dense_reduce's wrap32 is a no-op
_ACC = 1 << (arith.ACC_BITS - 1)  # |values| below this are inside the 24-bit accumulator


def absmax(x) -> int:
    """``max |x|`` of an integer (or bool) array as a Python int; 0 for an empty array."""
    x = np.asarray(x)
    if x.size == 0:
        return 0
    if x.dtype.kind in "bu":
        return int(x.max())
    return max(int(x.max()), -int(x.min()))


def repeat_view(y: np.ndarray, k: int) -> np.ndarray:
    """A read-only view ``[k, *y.shape]`` repeating ``y`` (stride 0; ``np.broadcast_to``
    without its Python overhead, which counts at batch 1)."""
    y = np.ascontiguousarray(y)
    v = np.ndarray((k, *y.shape), y.dtype, buffer=y, strides=(0, *y.strides))
    v.flags.writeable = False
    return v


def int_dtype(bound: int | None) -> np.dtype:
    """int32 when every value is proven to satisfy ``|v| <= bound < 2**31``, else int64."""
    return np.dtype(np.int32 if bound is not None and bound < 2**31 else np.int64)


def _scale(acc: np.ndarray, exp: int) -> np.ndarray:
    """:func:`hwsim.arith.scale_pow2` for a scalar exponent: ``floor(acc · 2**exp)``."""
    if exp > 0:
        return np.left_shift(acc, exp)
    return np.right_shift(acc, -exp) if exp < 0 else acc


def _scaled_bound(bound: int, exp: int) -> int:
    """The largest ``|floor(a · 2**exp)|`` for ``|a| <= bound`` (a floor of a negative value
    can add one)."""
    return bound << exp if exp >= 0 else (bound >> -exp) + 1


def _bias_max(b) -> int:
    return 0 if b is None else absmax(np.asarray(b, dtype=np.float64))


class ExactWeights:
    """An integer weight tensor ``[out, ...]`` prepared once for exact sums: ``row_sum``, the
    largest ``Σ |w|`` over one output (the bound factor), and its float32/float64/int64 copies
    made on first use (never a copy per step)."""

    def __init__(self, w) -> None:
        self.w = np.asarray(w)
        rows = np.abs(self.w.astype(np.int64)).reshape(self.w.shape[0], -1)
        self.row_sum = int(rows.sum(axis=1).max(initial=0))
        self._copies: dict[np.dtype, np.ndarray] = {}

    def sum_dtype(self, xmax: int) -> np.dtype:
        """The cheapest dtype in which ``Σ w·s`` is exact for ``|s| <= xmax``."""
        bound = self.row_sum * xmax
        if bound < EXACT_FLOAT32:
            return np.dtype(np.float32)
        return np.dtype(np.float64 if bound < EXACT_FLOAT64 else np.int64)

    def as_dtype(self, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        if dtype not in self._copies:  # a writable copy (torch refuses read-only arrays)
            self._copies[dtype] = np.array(self.w, dtype=dtype, order="C")
        return self._copies[dtype]


def _mix_exact(x: np.ndarray, ew: ExactWeights, xmax: int) -> np.ndarray:
    """``Σ_j w_ij x_bj..`` over axis 1 of ``x [N, in, ...]`` (dense, or the 1x1 channel mixing
    of the conv E-I circuit), exact, in the dtype :meth:`ExactWeights.sum_dtype` picks."""
    dt = ew.sum_dtype(xmax)
    xd, w = x.astype(dt, copy=False), ew.as_dtype(dt)
    if x.ndim == 2:
        return xd @ w.T
    return np.moveaxis(np.tensordot(xd, w, axes=([1], [1])), -1, 1)


def _conv_exact(x: np.ndarray, ew: ExactWeights, xmax: int, conv: dict) -> np.ndarray:
    """The exact integer convolution sum of ``x [N, C, H, W]``: torch in float32/float64 under
    the bounds, else :func:`hwsim.arith.conv2d` in int64. float32 inputs of 16 channels or
    more go channels-last (oneDNN's direct convolution is 1.3-3x faster so on one CPU core;
    the float64 path of the float format keeps its layout and rounding)."""
    dt = ew.sum_dtype(xmax)
    if dt == np.int64:
        return arith.conv2d(x.astype(np.int64), ew.as_dtype(np.int64), **conv)
    import torch

    wt = torch.from_numpy(ew.as_dtype(dt))
    if dt == np.float32 and x.shape[1] >= 16:
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=dt))
        xt = xt.permute(0, 3, 1, 2)  # an NCHW view of channels-last memory
    else:
        xt = torch.from_numpy(np.require(x, dt, ["C", "W"]))
    return torch.nn.functional.conv2d(xt, wt, **conv).numpy()


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prepared(node: Node, key, make: Callable[[], object]):
    """The weights of ``node`` prepared once per node and ``key`` (which weights, the input
    shape), kept while the node lives: a run of many small batches (batch 1) builds its ops
    every call but computes the bounds, the float copies and the Toeplitz matrices once.
    Node arrays are read-only (:mod:`hwsim.nodes`), so the cache cannot go stale."""
    per = _PREPARED.setdefault(node, {})
    if key not in per:
        per[key] = make()
    return per[key]


class ConvWeights(ExactWeights):
    """A convolution kernel prepared once for exact sums over inputs ``[N, *shape_in]``.

    An image no larger than the kernel (``H·W < kh·kw``, the deep layers of a VGG on small
    images) is summed as a dense product with the convolution's Toeplitz matrix
    ``[O·H'·W', C·H·W]`` (at most ``TOEPLITZ_MAX`` entries), which skips the taps that only
    ever meet padding; the same integer sums with fewer terms. Otherwise by torch
    (:func:`_conv_exact`)."""

    TOEPLITZ_MAX = 1 << 22

    def __init__(self, w, conv: dict, shape_in: Shape) -> None:
        super().__init__(w)
        self.conv = conv
        self.toeplitz: ExactWeights | None = None
        (c, h, wd), (o, _, kh, kw) = shape_in, self.w.shape
        (sh, sw), (ph, pw) = (np.broadcast_to(conv[k], 2) for k in ("stride", "padding"))
        self.out_shape = (o, (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1)
        if h * wd < kh * kw and o * self.out_shape[1] * self.out_shape[2] * c * h * wd <= (
            self.TOEPLITZ_MAX
        ):
            self.toeplitz = ExactWeights(self._toeplitz(shape_in))
            self.row_sum = self.toeplitz.row_sum  # a subset of the kernel's taps

    def _toeplitz(self, shape_in: Shape) -> np.ndarray:
        """``T [O·H'·W', C·H·W]`` with ``(T x)[o, i, j] = Σ w[o, c, y - i·s + p, x - j·s + p]
        x[c, y, x]`` (torch's cross-correlation; groups block-diagonal): one assignment per
        kernel tap and output pixel."""
        w, (c, h, wd) = self.w.astype(np.int64), shape_in
        o, cg, kh, kw = w.shape
        _, ho, wo = self.out_shape
        (sh, sw), (ph, pw) = (np.broadcast_to(self.conv[k], 2) for k in ("stride", "padding"))
        t = np.zeros((o, ho, wo, c, h, wd), np.int64)
        rows = np.arange(o)[:, None]
        cols = (rows // (o // self.conv["groups"])) * cg + np.arange(cg)[None, :]
        for i in range(ho):
            for j in range(wo):
                for ky in range(kh):
                    for kx in range(kw):
                        y, x = i * sh - ph + ky, j * sw - pw + kx
                        if 0 <= y < h and 0 <= x < wd:
                            t[rows, i, j, cols, y, x] = w[:, :, ky, kx]
        return t.reshape(o * ho * wo, c * h * wd)

    def sum(self, x: np.ndarray, xmax: int) -> np.ndarray:
        """``Σ w·x``, exact (float32/float64/int64 as :meth:`sum_dtype` picks)."""
        if self.toeplitz is None:
            return _conv_exact(x, self, xmax, self.conv)
        y = _mix_exact(x.reshape(x.shape[0], -1), self.toeplitz, xmax)
        return y.reshape(x.shape[0], *self.out_shape)


def conv_sum(x: np.ndarray, w: np.ndarray, stride, padding, groups: int) -> np.ndarray:
    """``Σ w·x`` of a 2-D convolution (torch semantics: cross-correlation, zero padding).

    Float arrays: float64 by torch. Integer arrays: the exact integer sum as int64, chosen by
    the bound of the module docstring (float32 or float64 by torch, else
    :func:`hwsim.arith.conv2d` in int64)."""
    conv = dict(stride=stride, padding=padding, groups=groups)
    x = np.asarray(x)
    if np.asarray(w).dtype.kind not in "iu":
        return _conv_exact(x.astype(np.float64), _FloatWeights(w), 0, conv)
    acc = _conv_exact(x, ExactWeights(w), absmax(x), conv)
    return acc.astype(np.int64)  # exact integers: the cast only removes the float type


def dense_sum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Σ_j w_ij x_j`` for ``x [B, in]``, ``w [out, in]``: float64 for floats; for integers
    the exact int64 sum, chosen by the bound of the module docstring."""
    if np.asarray(w).dtype.kind not in "iu":
        return x @ w.T
    x = np.asarray(x)
    return _mix_exact(x, ExactWeights(w), absmax(x)).astype(np.int64)


class _FloatWeights(ExactWeights):
    """A float weight tensor in float64 (the float format: no bound, no exactness claim)."""

    def __init__(self, w) -> None:
        self.w, self.row_sum, self._copies = np.asarray(w), 0, {}

    def sum_dtype(self, xmax: int) -> np.dtype:
        return np.dtype(np.float64)


class Op:
    """Base of the node operations. ``fixed`` selects the format; ``shape_in``/``shape_out``
    are per-sample shapes; ``offset`` the node's arrival offset (for per-step schedules);
    ``in_bound`` the proven ``max |input|`` (fixed format; None: unknown) and ``in_dtype`` the
    dtype the runner feeds. ``dtype`` is the compute dtype of the per-step API (int64 or
    float64)."""

    traces: ClassVar[tuple[str, ...]] = ()
    """Per-step extras recorded as ``"<node>/<name>"`` (after :meth:`run`: ``self.trace``)."""

    def __init__(
        self,
        node: Node,
        *,
        fixed: bool,
        widths: arith.FixedWidths | None,
        T: int,
        shape_in: Shape,
        shape_out: Shape,
        offset: int,
        in_bound: int | None = None,
        in_dtype=None,
    ) -> None:
        self.node = node
        self.fixed = fixed
        self.widths = widths
        self.T = T
        self.shape_in = shape_in
        self.shape_out = shape_out
        self.offset = offset
        self.dtype = np.dtype(np.int64 if fixed else np.float64)
        self.in_bound = in_bound if fixed else None
        self.in_dtype = np.dtype(self.dtype if in_dtype is None else in_dtype)
        self.overflow: dict[str, int] = {}
        self.trace: dict[str, np.ndarray] = {}
        self.record_traces = True  # the runner turns it off for nodes it does not record
        self.h: np.ndarray | None = None  # a per-step LIF: the pre-reset potential of the step

    @property
    def bound(self) -> int | None:
        """The proven ``max |output|`` (fixed format), or None."""
        return None

    @property
    def out_dtype(self) -> np.dtype:
        """The dtype of this op's output (and of its record)."""
        return int_dtype(self.bound) if self.fixed else np.dtype(np.float64)

    def trace_dtype(self, key: str) -> np.dtype:
        """The dtype of the record ``"<node>/<key>"``."""
        return self.dtype

    def count(self, key: str, n: int) -> None:
        if n:
            self.overflow[key] = self.overflow.get(key, 0) + int(n)

    def arr(self, a) -> np.ndarray | None:
        """A node array in the compute dtype (float64 widening is exact)."""
        return None if a is None else np.asarray(a, dtype=self.dtype)

    def reset(self, batch: int) -> None:
        """Clear the state before a run of ``batch`` samples."""

    def step(self, x: np.ndarray, t: int, forced: np.ndarray | None = None) -> np.ndarray:
        """One step ``t``: ``x [B, *shape_in] -> [B, *shape_out]``. Default: :meth:`run` on a
        block of one step (a subclass implements ``run``, ``step`` or both)."""
        if type(self).run is Op.run:
            raise NotImplementedError(f"{type(self).__name__} implements neither run nor step")
        y = self.run(x[None], t, None if forced is None else forced[None])[0]
        for key in self.traces:
            setattr(self, key, self.trace[key][0])
        return y

    def run(self, x: np.ndarray, t0: int, forced: np.ndarray | None = None) -> np.ndarray:
        """Steps ``t0 .. t0 + k - 1`` at once: ``x [k, B, *shape_in] -> [k, B, *shape_out]``.
        Default: :meth:`step` for each step, on the input widened to :attr:`dtype`."""
        if type(self).step is Op.step:
            raise NotImplementedError(f"{type(self).__name__} implements neither run nor step")
        xs = np.asarray(x).astype(self.dtype, copy=False)
        ys, tr = [], {key: [] for key in self.traces}
        for i in range(xs.shape[0]):
            ys.append(self.step(xs[i], t0 + i, None if forced is None else forced[i]))
            for key in self.traces:
                tr[key].append(getattr(self, key))
        self.trace = {key: np.stack(v) for key, v in tr.items()}
        return np.stack(ys)


class StatelessOp(Op):
    """An op whose output at a step depends on that step's input only: :meth:`apply` maps
    rows ``[N, *shape_in] -> [N, *shape_out]``, and a block of ``k`` steps is one call on
    ``k·B`` rows (or one call on ``B`` rows when the input is the same at every step).

    ``float_products``: the op multiplies matrices in the float format, where BLAS may round
    a row differently for a different number of rows; those ops call :meth:`apply` once per
    step (``B`` rows, as a per-step run does), so a float run does not depend on the block
    size and runs in ``lava`` timing exactly as in ``ideal`` timing, shifted. The fixed
    format's sums are exact integers: one call per block."""

    float_products: ClassVar[bool] = False

    def apply(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def step(self, x, t, forced=None):
        return self.apply(x)

    def run(self, x, t0, forced=None):
        k, b = x.shape[:2]
        if k > 1 and x.strides[0] == 0:  # one frame for every step: compute it once
            before = dict(self.overflow)
            y = self.apply(x[0])
            for key, n in self.overflow.items():  # ... and count its events k times
                self.overflow[key] = before.get(key, 0) + (n - before.get(key, 0)) * k
            return repeat_view(y, k)
        if self.float_products and not self.fixed:
            return np.stack([self.apply(x[i]) for i in range(k)])
        y = self.apply(x.reshape(k * b, *x.shape[2:]))
        return y.reshape(k, b, *y.shape[1:])


class IdentityOp(StatelessOp):
    """The nodes whose work the runner (``hwsim.sim``) does: :class:`Input` (encoded by the
    runner), :class:`Add` (its inputs summed), :class:`Delay` (its latency applied) and
    :class:`Readout` (the step's summed current; the runner accumulates the total)."""

    @property
    def bound(self):
        return self.in_bound

    @property
    def out_dtype(self):
        return self.in_dtype

    def apply(self, x):
        return x


class FlattenOp(IdentityOp):
    def apply(self, x):
        return x.reshape(x.shape[0], -1)


class _SynapseOp(StatelessOp):
    """Shared by the synapses: the input's ``max|s|`` and the exact, checked, reduced sums."""

    float_products = True

    def _xmax(self, x: np.ndarray) -> int:
        return self.in_bound if self.in_bound is not None else absmax(x)

    def _reduced(self, acc, exp: int, bias, bound: int, b_max: int | None = None) -> np.ndarray:
        """``floor(acc · 2**exp) + bias`` of the exact sums ``|acc| <= bound`` (``bias``: None
        or per unit on axis 1): in ``acc``'s float format when every intermediate is an
        integer below ``2**24`` (float32) or ``2**53`` (float64), where the scaling by a power
        of two, the floor and the addition are exact; else in int64."""
        if b_max is None:
            b_max = 0 if bias is None else absmax(bias)
        top = _scaled_bound(bound, exp) + b_max
        limit = {np.dtype(np.float32): EXACT_FLOAT32, np.dtype(np.float64): EXACT_FLOAT64}
        if top < limit.get(acc.dtype, 0):
            if exp:
                acc *= 2.0**exp
                if exp < 0:
                    np.floor(acc, out=acc)
        else:
            acc = _scale(acc.astype(np.int64, copy=False), exp)
        if bias is not None:
            acc += bias.reshape((1, -1) + (1,) * (acc.ndim - 2)).astype(acc.dtype)
        return acc

    def _count_acc(self, a: np.ndarray, bound: int) -> None:
        """``acc`` events: values outside the 24-bit accumulator (checked unless bounded)."""
        if bound >= _ACC and absmax(a) >= _ACC:
            self.count("acc", arith.count_outside_signed(a.astype(np.int64), arith.ACC_BITS))

    def _dense(self, ew: ExactWeights, x: np.ndarray, exp: int, xmax: int, bias=None, b_max=None):
        """``arith.dense_accumulate(w, x, exp) + bias`` for ``|x| <= xmax``, and its bound:
        the exact sum, then ``dense_reduce``'s ``wrap32(floor(acc · 2**exp))``, in int64 by
        :func:`hwsim.arith.dense_reduce` itself where the bound does not keep the scaled sum
        inside 32 bits (there the wrap may act), else by :meth:`_reduced` (the wrap cannot)."""
        bound = ew.row_sum * xmax
        acc = _mix_exact(x, ew, xmax)
        if b_max is None:
            b_max = 0 if bias is None else absmax(bias)
        if _scaled_bound(bound, exp) >= _CHANNEL:
            acc = arith.dense_reduce(acc.astype(np.int64, copy=False), exp)
            if bias is not None:
                acc += bias.reshape((1, -1) + (1,) * (acc.ndim - 2)).astype(np.int64)
            return acc, _CHANNEL + b_max
        return self._reduced(acc, exp, bias, bound, b_max), _scaled_bound(bound, exp) + b_max

    def _conv(self, cw: ConvWeights, x: np.ndarray, exp: int, bias=None, b_max=None):
        """``arith.conv_accumulate(...) + bias``: exact sum, 32-bit rule, ``wrap24`` (counted
        as ``acc``; skipped when the bound keeps the sum inside 24 bits), ``floor(·
        2**exp)``."""
        xmax = self._xmax(x)
        bound = cw.row_sum * xmax
        acc = cw.sum(x, xmax)
        if bound >= _ACC:
            acc = acc.astype(np.int64, copy=False)
            self.count("acc", arith.count_outside_signed(acc, arith.ACC_BITS))
            acc, bound = arith.wrap_signed(acc, arith.ACC_BITS), _ACC
        return self._reduced(acc, exp, bias, bound, b_max)

    def _conv_float(self, w: np.ndarray, x: np.ndarray, conv: dict) -> np.ndarray:
        return _conv_exact(x.astype(np.float64), _FloatWeights(w), 0, conv)


class DenseOp(_SynapseOp):
    """float ``I = x W^T + b``; fixed ``a = dense_accumulate(W, s, weight_exp) + b``, the
    exact sum by BLAS (module docstring), ``acc`` counting ``a`` outside 24 bits."""

    def __init__(self, node: Dense, **kw) -> None:
        super().__init__(node, **kw)
        self.b = prepared(node, ("b", self.fixed), lambda: self.arr(node.bias))
        self.b_max = prepared(node, "b_max", lambda: _bias_max(node.bias))
        if self.fixed:
            self.ew = prepared(node, "w", lambda: ExactWeights(node.weight))
        else:
            self.w = prepared(node, "w64", lambda: self.arr(node.weight))

    @property
    def bound(self):
        if not self.fixed or self.in_bound is None:
            return None
        acc = self.ew.row_sum * self.in_bound
        exp = self.node.weight_exp
        scaled = _scaled_bound(acc, exp)
        return (scaled if scaled < _CHANNEL else _CHANNEL) + self.b_max

    def apply(self, x):
        if not self.fixed:
            return arith.dense_float(self.w, x.astype(np.float64, copy=False), self.b)
        a, top = self._dense(self.ew, x, self.node.weight_exp, self._xmax(x), self.b, self.b_max)
        self._count_acc(a, top)
        return a.astype(self.out_dtype, copy=False)


class ConvOp(_SynapseOp):
    """float torch ``conv2d``; fixed ``conv_accumulate(...) + bias``, the exact sum by torch
    (module docstring)."""

    def __init__(self, node: Conv2d, **kw) -> None:
        super().__init__(node, **kw)
        self.conv = dict(stride=node.stride, padding=node.padding, groups=node.groups)
        self.b = prepared(node, ("b", self.fixed), lambda: self.arr(node.bias))
        self.b_max = prepared(node, "b_max", lambda: _bias_max(node.bias))
        if self.fixed:
            self.ew = prepared(node, ("w", self.shape_in),
                               lambda: ConvWeights(node.weight, self.conv, self.shape_in))
        else:
            self.w = prepared(node, "w64", lambda: self.arr(node.weight))

    @property
    def bound(self):
        if not self.fixed or self.in_bound is None:
            return None
        acc = min(self.ew.row_sum * self.in_bound, _ACC)  # the 24-bit wrap bounds it
        return _scaled_bound(acc, self.node.weight_exp) + self.b_max

    def apply(self, x):
        if self.fixed:
            y = self._conv(self.ew, x, self.node.weight_exp, self.b, self.b_max)
        else:
            y = self._conv_float(self.w, x, self.conv)
            y = y if self.b is None else y + self.b[None, :, None, None]
        return y.astype(self.out_dtype, order="C", copy=False)  # (from channels-last)


class SumPoolOp(StatelessOp):
    """Sum pooling (:func:`hwsim.arith.sum_pool2d`: one strided addition per window element).
    Fixed: in the input's own unsigned dtype where the proven bound fits it (spike counts of a
    2x2 pool in ``uint8``), which is also the output's dtype then."""

    @property
    def bound(self):
        kh, kw = self.node.kernel
        return None if self.in_bound is None else self.in_bound * kh * kw

    @property
    def out_dtype(self):
        b, dt = self.bound, self.in_dtype
        if self.fixed and dt.kind == "u" and b is not None and b <= np.iinfo(dt).max:
            return dt
        return super().out_dtype

    def apply(self, x):
        if not self.fixed:
            return arith.sum_pool2d(x, self.node.kernel, self.node.effective_stride)
        # sum in the input's own integer dtype when it holds the proven bound (spike counts
        # in uint8: no mixed-type additions), else in the output's
        dt = self.out_dtype
        if x.dtype.kind in "iu" and self.bound is not None and self.bound <= np.iinfo(x.dtype).max:
            dt = x.dtype
        y = arith.sum_pool2d(x, self.node.kernel, self.node.effective_stride, dtype=dt)
        return y.astype(self.out_dtype, copy=False)


class AvgPoolOp(StatelessOp):
    def apply(self, x):
        x = x.astype(np.float64, copy=False)
        return arith.avg_pool2d_float(x, self.node.kernel, self.node.effective_stride)


class LIFOp(Op):
    """LIF population; state ``v``. The threshold of step ``t`` is ``θ[k]`` with the input
    step ``k = clip(t - offset, 0, T - 1)`` (``lava`` timing shifts a layer by its offset).
    :class:`CubaLIFOp` (a second state, the current ``u``) and :class:`LIOp` (no threshold,
    the graded ``v`` is the output) share its block loop.

    Before its arrival offset (``t < offset``) the population holds its reset state: ``v = 0``,
    no spikes, ``h = 0``. Its bias (and any synapse bias folded into it) therefore acts only
    from the first step that carries input, so a feed-forward ``lava`` run equals the
    ``ideal`` run shifted by each node's offset even with biases.

    ``forced`` spikes (teacher forcing) replace the computed spikes *in the reset*, so the
    membrane follows the reference trajectory; the computed spikes are returned.

    A block runs as: the currents of every step at once (fixed: ``u =
    arith.lif_current_fixed(a)`` plus the effective bias, elementwise and stateless; the
    activation's ``act``/``fold`` counts for the whole block), then a loop over the steps with
    the state in float64. For the fixed format this is exact: ``|v| < 2**25`` and ``v·decay <
    2**37``, so ``trunc(v · (decay / 4096))`` in float64 is ``arith.decay_fixed`` (a product by
    a power-of-two fraction is exact, and ``trunc`` rounds toward zero as the sign-magnitude
    shift does). The clip to ``±STATE_MAX`` is checked and counted only at steps where the
    running bound ``|v_t| <= floor(|v_{t-1}|·decay/4096) + max|u + bias|`` does not keep it
    inside. The float format computes ``H = decay·V + (I + bias)`` and resets exactly as
    :func:`hwsim.arith.lif_step_float` does.
    """

    traces: ClassVar[tuple[str, ...]] = ("h",)
    spiking: ClassVar[bool] = True

    def __init__(self, node: LIF | CubaLIF | LI, **kw) -> None:
        super().__init__(node, **kw)
        self.th, self.bias, self.th_list = prepared(
            node, ("neuron", self.fixed, self.shape_out), self._params
        )
        self.bias_max = prepared(node, ("bias_max", self.fixed, self.shape_out),
                                 lambda: 0 if self.bias is None else absmax(self.bias))  # fmt: skip
        self.v: np.ndarray | None = None
        self.v_bound = 0  # fixed: a bound on |v| carried across blocks

    def _params(self):
        """``θ`` per step (fixed: ``vth << 6``), the bias in float64 (fixed: effective) and
        ``θ`` as a tuple of Python floats (what the step loop indexes)."""
        node = self.node
        th = np.asarray(getattr(node, "threshold", 0), dtype=np.float64).reshape(-1)
        b = node.bias_broadcast(self.shape_out)
        if self.fixed:
            th = th * (1 << arith.VTH_SHIFT)
            bias = np.zeros(()) if b is None else arith.bias_effective(b, node.bias_exp)
            return th, np.asarray(bias, dtype=np.float64), tuple(float(t) for t in th)
        bias = None if b is None else np.asarray(b, dtype=np.float64)
        return th, bias, tuple(float(t) for t in th)

    @property
    def bound(self):
        return 1

    @property
    def out_dtype(self):
        return np.dtype(np.uint8)

    def trace_dtype(self, key):
        return np.dtype(np.int32 if self.fixed else np.float64)

    def reset(self, batch: int) -> None:
        self.v = np.zeros((batch, *self.shape_out), np.float64)
        self.v_bound = 0

    def threshold(self, t: int) -> float:
        """``θ`` (fixed: ``vth << 6``) of step ``t``."""
        k = min(max(t - self.offset, 0), self.T - 1) if len(self.th_list) > 1 else 0
        return self.th_list[k]

    def run(self, x, t0, forced=None):
        k, batch = x.shape[:2]
        start = min(max(self.offset - t0, 0), k)  # the steps before the arrival offset rest
        spikes = np.zeros((k, batch, *self.shape_out), bool) if self.spiking else None
        dt = self._state_dtype(x[start:], forced is not None) if start < k else np.float64
        if self.v.dtype != dt:
            self.v = self.v.astype(dt)  # integers below 2**25: exact either way
        h = np.zeros((k, batch, *self.shape_out), dt)  # the currents, then H in place
        self._block_traces(k, batch)
        if start < k:
            xs, f = x[start:], None if forced is None else forced[start:]
            const = xs.shape[0] > 1 and xs.strides[0] == 0  # the same input every step
            if const:
                cur = self._current(xs[:1], out=np.empty(xs[:1].shape, dt), repeat=xs.shape[0])
            else:
                cur = h[start:]
                self._current(xs, out=cur)
            s = None if spikes is None else spikes[start:]
            self._loop(h[start:], cur, const, s, t0 + start, f, xs)
        if self.record_traces:
            self.trace = self._traces(h)
        return self._output(h, spikes)

    float32_state: ClassVar[bool] = True
    """Whether the fixed format may run the state in float32 (:meth:`_state_dtype`)."""

    def _state_dtype(self, x: np.ndarray, forced: bool) -> np.dtype:
        """float32 where a bound proves every value of the block's fixed-point arithmetic is
        an integer float32 holds exactly, else float64 (the float format: always float64).

        With ``|a| <= A`` (the input's proven bound, or its actual maximum): no fold when
        ``A·64 < 2**23``; then ``|u + bias| <= C = A·64 + max|bias|``, ``|v| <= V = STATE_MAX``
        (``+ θ`` after a forced soft reset) and ``|v'| <= V + C``. float32 is exact when ``V
        + C < 2**24`` and the decay product ``v · decay / 4096`` has at most 24 significant
        bits: ``V · odd(decay) < 2**24`` with ``odd(decay)`` the decay without its factors of
        two (``decay = 2048``, ``tau = 2``: 1; ``4096``: no product). Half the memory traffic of
        float64 in the step loop."""
        if not self.fixed or not self.float32_state:
            return np.dtype(np.float64)
        amax = self.in_bound
        if amax is None:
            amax = absmax(x[:1] if x.shape[0] > 1 and x.strides[0] == 0 else x)
        if amax >= 1 << (arith.STATE_BITS - 1 - arith.ACT_SHIFT):
            return np.dtype(np.float64)
        c = (amax << arith.ACT_SHIFT) + self.bias_max
        v = arith.STATE_MAX
        if forced and getattr(self.node, "reset", None) == "soft":
            v += int(self.th.max(initial=0))
        d = int(self.node.decay)
        odd = d >> ((d & -d).bit_length() - 1) if d else 0
        ok = v + c < EXACT_FLOAT32 and (d == arith.DECAY_UNITY or v * odd < EXACT_FLOAT32)
        return np.dtype(np.float32 if ok else np.float64)

    def _block_traces(self, k: int, batch: int) -> None:
        """Allocate the per-block state records a subclass keeps (CubaLIF: ``u``)."""

    def _traces(self, h: np.ndarray) -> dict[str, np.ndarray]:
        return {"h": h.astype(np.int32) if self.fixed else h}

    def _output(self, h, spikes):
        return spikes.view(np.uint8)

    def _current(self, a: np.ndarray, out: np.ndarray | None = None, repeat: int = 1):
        """The input term of every step in float64: float ``I + bias``; fixed ``u + bias`` with
        ``u = arith.lif_current_fixed(a)``, counting ``act`` and ``fold`` (``repeat`` times:
        ``a`` stands for that many equal steps)."""
        if out is None:
            out = np.empty(a.shape, np.float64)
        if not self.fixed:
            np.copyto(out, a)
            if self.bias is not None:
                out += self.bias
            return out
        amax = self.in_bound
        if amax is None or amax >= 1 << (arith.ACT_BITS - 1):
            amax = absmax(a)  # no proof from the bound: the block's actual maximum
        if amax >= 1 << (arith.ACT_BITS - 1):
            self.count("act", repeat * arith.count_outside_signed(a, arith.ACT_BITS))
        if amax < 1 << (arith.STATE_BITS - 1 - arith.ACT_SHIFT):  # |a << 6| < 2**23: no fold
            np.multiply(a, float(1 << arith.ACT_SHIFT), out=out)
        else:
            a64 = a.astype(np.int64)
            u = arith.lif_current_fixed(a64)
            self.count("fold", repeat * np.count_nonzero(u != np.left_shift(a64, arith.ACT_SHIFT)))
            np.copyto(out, u)
        out += self.bias
        return out

    def _charge(self, v, src, hi, tmp, vb: int, cur_max: int) -> int:
        """``hi = decay·v + src`` (float ``H``; fixed ``clip(trunc(v·decay/4096) + src,
        ±STATE_MAX)`` with the clip checked, counted and applied only where the running bound
        ``vb`` on ``|v|`` does not exclude it); returns the bound on ``|hi|``."""
        if not self.fixed:
            np.multiply(v, float(self.node.decay), out=tmp)
            np.add(tmp, src, out=hi)  # H = decay·V + (I + bias), as arith._charge_float
            return 0
        decay = int(self.node.decay)
        if decay == arith.DECAY_UNITY:
            np.add(v, src, out=hi)
        else:
            np.multiply(v, decay / arith.DECAY_UNITY, out=tmp)  # exact: 13-bit factor · 2**-12
            np.trunc(tmp, out=tmp)  # arith.decay_fixed: toward zero
            np.add(tmp, src, out=hi)
        vb = ((vb * decay) >> arith.DECAY_SHIFT) + cur_max
        if vb > arith.STATE_MAX:  # the bound does not keep v' inside the clip
            limit = float(arith.STATE_MAX)
            n = np.count_nonzero(np.abs(hi) > limit)
            if n:
                self.count("clip", n)
                np.clip(hi, -limit, limit, out=hi)
            vb = arith.STATE_MAX
        return vb

    def _fire(self, hi, s, th: float, r_forced, tmp, keep) -> int:
        """Spikes of ``hi`` into ``s`` and the reset ``v`` into ``tmp``; returns how far a
        forced soft reset can push ``|v|`` beyond ``|hi|``."""
        if self.fixed:
            np.greater(hi, th, out=s)  # v' > vth << 6
        else:
            np.greater_equal(hi, th, out=s)  # H >= θ
        r = s if r_forced is None else r_forced != 0
        if self.node.reset == "soft":  # v = v' - θ·s
            np.multiply(r, th, out=tmp)
            np.subtract(hi, tmp, out=tmp)
            return int(th) if r_forced is not None else 0
        np.logical_not(r, out=keep)  # v = v'·(1 - s)
        np.multiply(hi, keep, out=tmp)
        return 0

    def _loop(self, h, cur, const: bool, spikes, t0: int, forced, a) -> None:
        """The steps of a block: ``h[i]`` gets the charged potential of step ``t0 + i`` (float
        ``H``, fixed ``v'`` before reset) from the state and ``cur[i]`` (``cur[0]`` at every
        step when ``const``; ``cur`` may be ``h`` itself), ``spikes[i]`` the spikes."""
        v = self.v
        cur_max = int(max(cur.max(initial=0.0), -cur.min(initial=0.0))) if self.fixed else 0
        vb = self.v_bound
        tmp, keep = np.empty_like(v), np.empty(v.shape, bool)
        for i in range(h.shape[0]):
            hi = h[i]
            vb = self._charge(v, cur[0] if const else cur[i], hi, tmp, vb, cur_max)
            f = None if forced is None else forced[i]
            vb += self._fire(hi, spikes[i], self.threshold(t0 + i), f, tmp, keep)
            v, tmp = tmp, v
        self.v, self.v_bound = v, vb


class CubaLIFOp(LIFOp):
    """Current-based LIF population: a :class:`LIFOp` with a second state, the synaptic
    current ``u`` (:func:`arith.cuba_lif_step_fixed` / :func:`arith.cuba_lif_step_float`),
    gated before the arrival offset like ``v`` (``u = 0``). Teacher forcing resets ``v`` with
    the forced spikes; ``u`` is never reset by a spike.

    Fixed: the drive ``a << 6`` of every step at once, then per step ``u' = trunc(u ·
    current_decay / 4096) + (a << 6)`` in float64 (exact, as ``v``'s decay), where the running
    bound ``|u_t| <= floor(|u_{t-1}|·c/4096) + max|a << 6|`` stays inside 24 bits, so that
    Lava's int32 wrap and 24-bit fold cannot act; at a step where it does not,
    :func:`arith.cuba_current_fixed` itself computes ``u'`` and its folds are counted."""

    traces = ("h", "u")
    float32_state = False

    def reset(self, batch: int) -> None:
        super().reset(batch)
        self.u = np.zeros((batch, *self.shape_out), np.float64)
        self.u_bound = 0

    def _block_traces(self, k, batch):
        self._u_rec = np.zeros((k, batch, *self.shape_out), np.float64)

    def _traces(self, h):
        out = super()._traces(h)
        out["u"] = self._u_rec.astype(np.int32) if self.fixed else self._u_rec
        return out

    def _current(self, a, out=None, repeat=1):
        """The drive of every step: float ``I``; fixed ``a << 6`` (``act`` counted; NaN-free
        float64, exact where ``|a| < 2**25``, else marked for the exact path by ``None``)."""
        if out is None:
            out = np.empty(a.shape, np.float64)
        if not self.fixed:
            np.copyto(out, a)
            return out
        amax = self.in_bound
        if amax is None or amax >= 1 << (arith.ACT_BITS - 1):
            amax = absmax(a)
        if amax >= 1 << (arith.ACT_BITS - 1):
            self.count("act", repeat * arith.count_outside_signed(a, arith.ACT_BITS))
        self._drive_exact = amax < 1 << (arith.LAVA_CHANNEL_BITS - 1 - arith.ACT_SHIFT)
        np.multiply(a, float(1 << arith.ACT_SHIFT), out=out)  # (only used when exact)
        return out

    def _loop(self, h, cur, const, spikes, t0, forced, a):
        node, u, v = self.node, self.u, self.v
        tmp, keep, uu = np.empty_like(v), np.empty(v.shape, bool), np.empty_like(u)
        urec = self._u_rec[self._u_rec.shape[0] - h.shape[0] :]  # from the arrival on
        vb, ub = self.v_bound, self.u_bound
        if not self.fixed:
            cd = float(node.current_decay)
            bias = self.bias
            for i in range(h.shape[0]):
                np.multiply(u, cd, out=uu)
                np.add(uu, cur[0] if const else cur[i], out=uu)  # U = c·U + I
                u, uu = uu, u
                urec[i] = u
                src = u if bias is None else np.add(u, bias, out=tmp)
                hi = h[i]
                np.multiply(v, float(node.decay), out=uu)
                np.add(uu, src, out=hi)  # H = decay·V + (U + bias)
                f = None if forced is None else forced[i]
                self._fire(hi, spikes[i], self.threshold(t0 + i), f, tmp, keep)
                v, tmp = tmp, v
            self.u, self.v = u, v
            return
        cd = int(node.current_decay)
        d_max = int(max(cur.max(initial=0.0), -cur.min(initial=0.0)))
        b_max = self.bias_max
        for i in range(h.shape[0]):
            ub_next = ((ub * cd) >> arith.DECAY_SHIFT) + d_max
            if self._drive_exact and ub_next < 1 << (arith.STATE_BITS - 1):
                # no wrap, no fold: u' = trunc(u·c/4096) + (a << 6), exact in float64
                np.multiply(u, cd / arith.DECAY_UNITY, out=uu)
                np.trunc(uu, out=uu)
                np.add(uu, cur[0] if const else cur[i], out=uu)
                ub = ub_next
            else:
                u64 = u.astype(np.int64)
                a64 = np.asarray(a[0] if const else a[i]).astype(np.int64)
                un = arith.cuba_current_fixed(u64, a64, cd)
                exact = arith.decay_fixed(u64, cd) + np.left_shift(a64, arith.ACT_SHIFT)
                self.count("fold", np.count_nonzero(un != exact))
                np.copyto(uu, un)
                ub = absmax(un)
            u, uu = uu, u
            urec[i] = u
            np.add(u, self.bias, out=tmp)
            hi = h[i]
            vb = self._charge(v, tmp, hi, uu, vb, ub + b_max)
            f = None if forced is None else forced[i]
            vb += self._fire(hi, spikes[i], self.threshold(t0 + i), f, tmp, keep)
            v, tmp = tmp, v
        self.u, self.v, self.v_bound, self.u_bound = u, v, vb, ub


class LIOp(LIFOp):
    """Leaky-integrator population; state and graded output ``v`` (:func:`arith.li_step_fixed`
    / :func:`arith.li_step_float`): the :class:`LIFOp` charge (the same current, decay, clip
    and bounds) without a threshold or reset. Before its arrival offset it rests at ``v = 0``
    and outputs 0 (the bias gated off, as a LIF's). Output dtype: fixed ``int32`` (24-bit
    state), float ``float64``."""

    traces = ()
    spiking = False

    @property
    def bound(self):
        return arith.STATE_MAX if self.fixed else None

    @property
    def out_dtype(self):
        return np.dtype(np.int32 if self.fixed else np.float64)

    def _traces(self, h):
        return {}

    def _output(self, h, spikes):
        return h.astype(np.int32) if self.fixed else h

    def _loop(self, h, cur, const, spikes, t0, forced, a):
        v = self.v
        cur_max = int(max(cur.max(initial=0.0), -cur.min(initial=0.0))) if self.fixed else 0
        vb = self.v_bound
        tmp = np.empty_like(v)
        for i in range(h.shape[0]):
            vb = self._charge(v, cur[0] if const else cur[i], h[i], tmp, vb, cur_max)
            v = h[i]
        self.v, self.v_bound = v.copy(), vb


class FastInhibitoryOp(StatelessOp):
    """float: the payload is the input current; fixed: :func:`arith.fast_inhibitory_fixed`."""

    @property
    def bound(self):
        return (1 << self.widths.payload_bits) - 1 if self.fixed else None

    def apply(self, x):
        if not self.fixed:
            return x.astype(np.float64, copy=False)
        p = arith.fast_inhibitory_fixed(x, self.node.payload_exp, self.widths.payload_bits)
        self.count("sat", p.n_saturated)
        return p.value.astype(self.out_dtype)


class EICircuitOp(_SynapseOp):
    """The E-I circuit: ``W_EE x`` and ``W_IE x`` (dense or conv), then the float
    :func:`arith.ei_step_float`, or the fixed :func:`arith.ei_step_fixed` as its two halves
    (:func:`arith.ei_inhibitory_fixed`, :func:`arith.ei_excitatory_fixed`) around the two
    ``W_EI`` accumulations, whose exact sums come from BLAS (module docstring) instead of
    ``arith.dense_accumulate``'s int64 product. Each row (step, sample) is independent, so a
    block is one call (the ``exact`` stabilisation reduces within a row)."""

    def __init__(self, node: EICircuit, **kw) -> None:
        super().__init__(node, **kw)
        self.conv = dict(stride=node.stride, padding=node.padding, groups=node.groups)
        if self.fixed:
            def syn(key: str):
                w = getattr(node, key)
                if node.form == "dense":
                    return prepared(node, key, lambda: ExactWeights(w))
                return prepared(node, (key, self.shape_in),
                                lambda: ConvWeights(w, self.conv, self.shape_in))  # fmt: skip

            self.ee, self.ie, self.ei = syn("w_ee"), syn("w_ie"), prepared(
                node, "w_ei", lambda: ExactWeights(node.w_ei))  # fmt: skip
        else:
            self.w_ee = prepared(node, "w_ee64", lambda: self.arr(node.w_ee))
            self.w_ie = prepared(node, "w_ie64", lambda: self.arr(node.w_ie))

    @property
    def bound(self):
        if not self.fixed:
            return None
        return _ACC << 1 if self.node.variant == "subtractive" else _ACC  # 25 / 24 bits

    def _syn(self, ew: ExactWeights, x: np.ndarray, exp: int, xmax: int | None = None):
        """``W x`` accumulated (``dense_accumulate``/``conv_accumulate``), int64 for the
        integer functions of the circuit."""
        if self.node.form == "conv" and xmax is None:
            acc = self._conv(ew, x, exp)
        else:
            acc = self._dense(ew, x, exp, self._xmax(x) if xmax is None else xmax)[0]
        return acc.astype(np.int64, copy=False)

    def _syn_float(self, w: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.node.form == "conv":
            return self._conv_float(w, x, self.conv)
        return arith.dense_float(w, x.astype(np.float64, copy=False))

    def apply(self, x):
        n = self.node
        if not self.fixed:
            out = arith.ei_step_float(
                self._syn_float(self.w_ee, x), self._syn_float(self.w_ie, x), w_ei=n.w_ei,
                g_i=n.g_i, g_e=n.g_e, b_e=n.b_e, variant=n.variant,
                stabilisation=n.stabilisation, floor=float(n.floor),
            )  # fmt: skip
            self.count("dead", out.n_dead)
            return out.current
        ee = self._syn(self.ee, x, n.w_ee_exp)
        ie = self._syn(self.ie, x, n.w_ie_exp)
        inh = arith.ei_inhibitory_fixed(
            ie, g_i=None if n.variant == "subtractive" else n.g_i, g_i_exp=n.g_i_exp,
            payload_exp=n.inhibitory.payload_exp, payload_bits=self.widths.payload_bits,
        )  # fmt: skip
        p_max = (1 << self.widths.payload_bits) - 1  # p and q are unsigned payload_bits
        sub_raw = self._syn(self.ei, inh.payload, n.w_ei_exp, p_max)
        den_raw = None
        if inh.divisive is not None:
            den_raw = self._syn(self.ei, inh.divisive, n.w_ei_exp, p_max)
        exc = arith.ei_excitatory_fixed(
            ee, sub_raw, den_raw, g_e=n.g_e, g_e_exp=n.g_e_exp, b_e=n.b_e, variant=n.variant,
            stabilisation=n.stabilisation, floor=n.floor,
        )  # fmt: skip
        self.count("sat", inh.n_saturated + exc.n_saturated)
        self.count("dead", exc.n_dead)
        return exc.current.astype(self.out_dtype)


OPS: dict[type[Node], Callable[..., Op]] = {
    Input: IdentityOp,
    Dense: DenseOp,
    Conv2d: ConvOp,
    SumPool2d: SumPoolOp,
    AvgPool2d: AvgPoolOp,
    Flatten: FlattenOp,
    LIF: LIFOp,
    CubaLIF: CubaLIFOp,
    LI: LIOp,
    FastInhibitory: FastInhibitoryOp,
    EICircuit: EICircuitOp,
    Add: IdentityOp,
    Delay: IdentityOp,
    Readout: IdentityOp,
}
"""Node kind -> operation class (exact type: AvgPool2d is not a SumPool2d here)."""


def make_op(node: Node, **kw) -> Op:
    """The operation of ``node``; an unmapped kind raises :class:`GraphError`."""
    try:
        cls = OPS[type(node)]
    except KeyError:
        raise GraphError(f"the simulator has no operation for node kind {node.kind}") from None
    return cls(node, **kw)
