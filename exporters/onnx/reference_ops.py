"""Op-level implementations of the ``ai.spikefold`` ops for ``onnx.reference``.

One small class per op (STYLE.md "follow" 5), each calling :mod:`hwsim.arith` directly: run
with ``ReferenceEvaluator(model, new_ops=reference_ops(fmt))`` they replace the model-local
function bodies, so the same ONNX graph (wiring, attributes, initializers, state) is executed
once through the standard-op bodies and once through the numeric spec itself. Checks common
to every op (argument count, compute dtype) live in the base class.
"""

from __future__ import annotations

import numpy as np
from onnx.reference.op_run import OpRun

from exporters.onnx.ops import DOMAIN, OPS
from hwsim import arith

__all__ = ["reference_ops"]


class _SpikefoldOp(OpRun):
    """Base: ``fixed`` (int64 arithmetic of :mod:`hwsim.arith`) or float64, set per format by
    :func:`reference_ops`; ``_step`` is the op's own computation."""

    op_domain = DOMAIN
    fixed: bool = False

    def _run(self, *args, **attrs):
        op = OPS[type(self).__name__]
        if len(args) != len(op.inputs):
            raise TypeError(f"{op.name} takes {len(op.inputs)} inputs, got {len(args)}")
        out = self._step(*args, **attrs)
        dtype = np.int64 if self.fixed else np.float64
        return tuple(np.asarray(o).astype(dtype, copy=False) for o in out)

    def _step(self, *args, **attrs):  # pragma: no cover - every op overrides it
        raise NotImplementedError

    @staticmethod
    def _opt(a: np.ndarray):
        """An optional parameter: the 0-d :data:`~exporters.onnx.ops.NONE` means absent."""
        return None if np.ndim(a) == 0 else a

    def _i(self, a):
        return np.asarray(a).astype(np.int64 if self.fixed else np.float64)


def _pads(pads) -> tuple[int, int]:
    return int(pads[0]), int(pads[1])


class Input(_SpikefoldOp):
    def _step(self, x, scale, encoding=None, bits=None):
        if self.fixed and encoding == "direct":
            return (arith.quantize_input(x, float(scale), int(bits)),)
        return (x,)


class Dense(_SpikefoldOp):
    def _step(self, x, weight, bias, weight_exp=None):
        if self.fixed:
            return (arith.dense_accumulate(weight, x, int(weight_exp)) + self._i(bias),)
        return (arith.dense_float(weight, x) + self._i(bias),)


class Conv2d(_SpikefoldOp):
    def _step(self, x, weight, bias, strides=None, pads=None, group=None, weight_exp=None):
        geo = (tuple(strides), _pads(pads), int(group))
        b = self._opt(bias)
        if self.fixed:
            a = arith.conv_accumulate(weight, x, *geo, int(weight_exp))
            return (a if b is None else a + self._i(b)[None, :, None, None],)
        return (arith.conv2d_float(weight, x, b, *geo),)


class SumPool2d(_SpikefoldOp):
    def _step(self, x, kernel_shape=None, strides=None):
        stride = tuple(strides) if len(strides) else None
        return (arith.sum_pool2d(x, tuple(kernel_shape), stride),)


class AvgPool2d(_SpikefoldOp):
    def _step(self, x, kernel_shape=None, strides=None):
        stride = tuple(strides) if len(strides) else None
        return (arith.avg_pool2d_float(x, tuple(kernel_shape), stride),)


class FlattenCHW(_SpikefoldOp):
    def _step(self, x):
        return (x.reshape(x.shape[0], -1),)


def _bias_like(bias, v: np.ndarray):
    """A LIF bias ``()``, per neuron or per channel ``[C]``, broadcastable to ``v``."""
    b = np.asarray(bias)
    return b.reshape(b.shape + (1,) * (v.ndim - 1 - b.ndim))


class LIF(_SpikefoldOp):
    def _step(self, i, v, t, decay, threshold, bias, reset=None, bias_exp=None, t_offset=None):
        if int(t) < int(t_offset):  # before the arrival: the reset state, the bias gated off
            z = np.zeros_like(v)
            return z, z, z
        th = np.asarray(threshold).reshape(-1)
        th = th[min(max(int(t) - int(t_offset), 0), th.size - 1)]
        b = _bias_like(bias, v)
        if self.fixed:
            b_eff = arith.bias_effective(b, int(bias_exp))
            r = arith.lif_step_fixed(v, i, decay=int(decay), vth=th, bias=b_eff, reset=reset)
            # the pre-reset membrane, the same spec's first two lines
            h = arith.decay_fixed(v, int(decay)) + arith.lif_current_fixed(i) + b_eff
            h = np.clip(h, -arith.STATE_MAX, arith.STATE_MAX)
            return r.spikes, r.v, h
        r = arith.lif_step_float(v, i, decay=float(decay), threshold=th, bias=b, reset=reset)
        return r.spikes, r.v, r.h


class CubaLIF(_SpikefoldOp):
    def _step(self, i, u, v, t, decay, current_decay, threshold, bias, reset=None,
              bias_exp=None, t_offset=None):  # fmt: skip
        if int(t) < int(t_offset):  # before the arrival: the reset state, the bias gated off
            z = np.zeros_like(v)
            return z, z, z, z, z
        th = np.asarray(threshold).reshape(-1)
        th = th[min(max(int(t) - int(t_offset), 0), th.size - 1)]
        b = _bias_like(bias, v)
        if self.fixed:
            r = arith.cuba_lif_step_fixed(
                u, v, i, current_decay=int(current_decay), decay=int(decay), vth=th,
                bias=arith.bias_effective(b, int(bias_exp)), reset=reset,
            )  # fmt: skip
            return r.spikes, r.u, r.v, r.v_charged, r.u
        r = arith.cuba_lif_step_float(
            u, v, i, current_decay=float(current_decay), decay=float(decay), threshold=th,
            bias=b, reset=reset,
        )  # fmt: skip
        return r.spikes, r.u, r.v, r.h, r.u


class LI(_SpikefoldOp):
    def _step(self, i, v, t, decay, bias, bias_exp=None, t_offset=None):
        if int(t) < int(t_offset):
            z = np.zeros_like(v)
            return z, z
        b = _bias_like(bias, v)
        if self.fixed:
            b_eff = arith.bias_effective(b, int(bias_exp))
            v1 = arith.li_step_fixed(v, i, decay=int(decay), bias=b_eff).v
        else:
            v1 = arith.li_step_float(v, i, decay=float(decay), bias=b)
        return v1, v1


class FastInhibitory(_SpikefoldOp):
    def _step(self, h, payload_exp=None, payload_bits=None):
        if self.fixed:
            return (arith.fast_inhibitory_fixed(h, int(payload_exp), int(payload_bits)).value,)
        return (h,)


class EICircuit(_SpikefoldOp):
    def _step(self, x, w_ee, w_ie, w_ei, g_i, g_e, b_e, floor, **a):
        conv = x.ndim == 4
        geo = (tuple(a["strides"]), _pads(a["pads"]), int(a["group"]))
        opt = {"g_i": self._opt(g_i), "g_e": self._opt(g_e), "b_e": self._opt(b_e)}
        kw = dict(w_ei=w_ei, variant=a["variant"], stabilisation=a["stabilisation"], **opt)
        if self.fixed:
            if conv:
                acc = [arith.conv_accumulate(w, x, *geo, int(a[f"{n}_exp"]))
                       for w, n in ((w_ee, "w_ee"), (w_ie, "w_ie"))]  # fmt: skip
            else:
                acc = [arith.dense_accumulate(w, x, int(a[f"{n}_exp"]))
                       for w, n in ((w_ee, "w_ee"), (w_ie, "w_ie"))]  # fmt: skip
            exps = {k: int(a[k]) for k in ("w_ei_exp", "g_i_exp", "g_e_exp", "payload_exp")}
            r = arith.ei_step_fixed(
                *acc, payload_bits=int(a["payload_bits"]), floor=int(floor), **exps, **kw
            )
            return (r.current,)
        if conv:
            i_ee, h_i = (arith.conv2d_float(w, x, None, *geo) for w in (w_ee, w_ie))
        else:
            i_ee, h_i = arith.dense_float(w_ee, x), arith.dense_float(w_ie, x)
        return (arith.ei_step_float(i_ee, h_i, floor=float(floor), **kw).current,)


class ResidualAdd(_SpikefoldOp):
    def _step(self, x):
        return (x,)


class Delay(_SpikefoldOp):
    def _step(self, x, buf, steps=None):
        cat = np.concatenate([buf, x[None]], axis=0)
        return cat[0], cat[1:]


class Latency(Delay):
    pass


class Readout(_SpikefoldOp):
    def _step(self, i, total, t, t_offset=None, window=None):
        if not int(t_offset) <= int(t) < int(t_offset) + int(window):
            return i, total
        if self.fixed:
            return i, arith.readout_accumulate(total, i).value
        return i, total + i


_CLASSES = (
    Input,
    Dense,
    Conv2d,
    SumPool2d,
    AvgPool2d,
    FlattenCHW,
    LIF,
    CubaLIF,
    LI,
    FastInhibitory,
    EICircuit,
    ResidualAdd,
    Delay,
    Latency,
    Readout,
)


def reference_ops(fmt: str) -> list[type[OpRun]]:
    """The op classes for a model of format ``fmt`` (``fixed`` or ``float32``), to pass as
    ``ReferenceEvaluator(model, new_ops=reference_ops(fmt))``."""
    fixed = fmt == "fixed"
    return [
        type(cls.__name__, (cls,), {"fixed": fixed, "__module__": __name__}) for cls in _CLASSES
    ]


if {c.__name__ for c in _CLASSES} != set(OPS):  # a new op needs its reference class
    raise ImportError("exporters.onnx.reference_ops does not cover every ai.spikefold op")
