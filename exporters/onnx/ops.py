"""The ``ai.spikefold`` op set: one custom op per hardware-graph node kind, each defined as a
model-local ONNX function built from standard ops (docs/ir.md is the reference).

Every op has one signature (inputs, outputs, attributes) and two bodies: the **fixed** body
(int64, bit for bit :mod:`hwsim.arith`) and the **float** body (float64, the training
semantics of the ``*_float`` functions of :mod:`hwsim.arith`). A model carries the body of
its own format (``metadata_props["spikefold.format"]``); the importer refuses a model whose
function bodies differ from the ones this module builds, so a body cannot drift silently.

Conventions: tensors are batched ``[B, *shape]`` per step; ``t`` is the int64 step index;
parameters are initializers in the hardware node's own dtype and shape and are cast inside
the body (int64 or float64); an absent optional parameter (a ``None`` field) is the shared
initializer :data:`NONE` (a 0-d zero of the compute type).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from onnx import FunctionProto, TensorProto, helper

from exporters.onnx.body import DEFAULT_OPSET, Body
from hwsim import arith
from hwsim.nodes import NODE_KINDS

__all__ = [
    "DOMAIN",
    "OPSET_VERSION",
    "NONE",
    "OpDef",
    "OPS",
    "OP_FOR_KIND",
    "KIND_FOR_OP",
    "compute_type",
    "build_function",
    "functions_for",
]

DOMAIN = "ai.spikefold"
OPSET_VERSION = 1
"""Version of the ``ai.spikefold`` op set; bumped with any change of an op's signature or
semantics (including :mod:`hwsim.arith`)."""

NONE = "ai.spikefold.none"
"""Initializer name standing for an absent optional parameter (``bias=None`` and the like)."""


def compute_type(fmt: str) -> int:
    """``TensorProto.INT64`` for the ``fixed`` format, ``TensorProto.DOUBLE`` for float."""
    return TensorProto.INT64 if fmt == "fixed" else TensorProto.DOUBLE


@dataclass(frozen=True)
class OpDef:
    """One op of the domain: formal inputs/outputs, attribute names, the equations (doc) and
    a builder per format returning ``{output name: tensor name}``."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: tuple[str, ...]
    doc: str
    fixed: Callable[[Body], dict[str, str]]
    float: Callable[[Body], dict[str, str]]


# ---------------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------------


def _input_fixed(b: Body) -> dict[str, str]:
    # quantize_input: saturate(rint(x / scale)) for direct; spikes/rate frames are 0/1 already.
    # Div of float64 is correctly rounded (IEEE 754), Round is half-to-even in ONNX and numpy.
    bits = b.attr("bits", "int")
    half = b.op("Pow", b.const(2.0, TensorProto.DOUBLE), b.op("Sub", bits, b.i64(1)))
    lo = b.op("Neg", half)
    hi = b.op("Sub", half, b.const(1.0, TensorProto.DOUBLE))
    q = b.op("Clip", b.op("Round", b.op("Div", "x", "scale")), lo, hi)
    y = b.op("Where", b.attr_is("encoding", "direct"), q, "x")
    return {"y": b.cast(y)}


def _input_float(b: Body) -> dict[str, str]:
    return {"y": b.cast("x")}


def _dense_fixed(b: Body) -> dict[str, str]:
    w = b.cast("weight")
    acc = b.op("MatMul", "x", b.op("Transpose", w))  # exact int64 sum (< 2**46)
    a = b.wrap_signed(b.scale_pow2(acc, b.attr("weight_exp", "int")), arith.LAVA_CHANNEL_BITS)
    return {"y": b.op("Add", a, b.cast("bias"))}


def _dense_float(b: Body) -> dict[str, str]:
    y = b.op("MatMul", "x", b.op("Transpose", b.cast("weight")))
    return {"y": b.op("Add", y, b.cast("bias"))}


def _conv_sum(b: Body, x: str, w: str) -> str:
    strides, pads = b.attr("strides", "ints"), b.attr("pads", "ints")
    return b.conv_sum(x, b.cast(w), strides, pads, b.attr("group", "int"))


def _conv_fixed(b: Body) -> dict[str, str]:
    s = b.wrap_signed(_conv_sum(b, "x", "weight"), arith.ACC_BITS)  # Lava's signed_clamp
    a = b.scale_pow2(s, b.attr("weight_exp", "int"))
    return {"y": b.op("Add", a, b.per_unit(b.cast("bias"), a))}


def _conv_float(b: Body) -> dict[str, str]:
    y = _conv_sum(b, "x", "weight")
    return {"y": b.op("Add", y, b.per_unit(b.cast("bias"), y))}


def _pool_sum(b: Body) -> tuple[str, str]:
    kernel = b.attr("kernel_shape", "ints")
    # strides [] means "= kernel": the first two of strides ++ kernel
    given = b.attr("strides", "ints")
    strides = b.op("Slice", b.concat(given, kernel), b.i64([0]), b.i64([2]))
    kh = b.op("Slice", kernel, b.i64([0]), b.i64([1]))
    kw = b.op("Slice", kernel, b.i64([1]), b.i64([2]))
    patches, ho, wo = b.im2col("x", kh, kw, strides, b.i64([0, 0, 0, 0]))
    area = b.op("Mul", kh, kw)
    npix = b.op("Mul", ho, wo)
    win = b.op("Reshape", patches, b.concat(b.i64([0, -1]), area, npix))  # [B, C, k, P]
    ones = b.op("Expand", b.num(1), b.concat(b.i64([1]), area))  # [1, k]
    total = b.op("MatMul", ones, win)  # [B, C, 1, P]; int64 MatMul is exact
    return b.op("Reshape", total, b.concat(b.i64([0, 0]), ho, wo)), area


def _sumpool(b: Body) -> dict[str, str]:
    return {"y": _pool_sum(b)[0]}


def _avgpool_float(b: Body) -> dict[str, str]:
    total, area = _pool_sum(b)
    return {"y": b.op("Div", total, b.cast(area))}


def _avgpool_fixed(b: Body) -> dict[str, str]:
    # no fixed AvgPool2d exists (the graph validator refuses one); keep the signature
    return _avgpool_float(b)


def _flatten(b: Body) -> dict[str, str]:
    return {"y": b.op("Reshape", "x", b.i64([0, -1]))}


def _threshold_at(b: Body) -> str:
    """θ[k] with the input step ``k = clip(t - t_offset, 0, len - 1)`` (the step this layer is
    processing; ``t_offset`` is its arrival offset), or the scalar θ."""
    th = b.op("Reshape", b.cast("threshold"), b.i64([-1]))
    last = b.op("Sub", b.scalar(b.dims(th, 0, 1)), b.i64(1))
    k = b.op("Sub", "t", b.attr("t_offset", "int"))
    return b.op("Gather", th, b.op("Clip", k, b.i64(0), last), axis=0)


def _arrived(b: Body) -> str:
    """``t >= t_offset``: the layer's input has arrived. Before it the population holds its
    reset state (``v' = 0``, ``h = 0``, no spikes): the bias is gated (hwsim.simops.LIFOp)."""
    return b.op("GreaterOrEqual", "t", b.attr("t_offset", "int"))


def _act_fixed(b: Body) -> str:
    """``wrap32(wrap32(i) << 6)``: the activation MSB-aligned as Lava's int32 channel does."""
    a32 = b.wrap_signed("i", arith.LAVA_CHANNEL_BITS)
    shifted = b.op("Mul", a32, b.i64(1 << arith.ACT_SHIFT))
    return b.wrap_signed(shifted, arith.LAVA_CHANNEL_BITS)


def _charge_fixed(b: Body, u: str) -> str:
    """``clip(trunc(v·decay/4096) + u + floor(bias·2**bias_exp), ±STATE_MAX)``."""
    dv = b.trunc_div(b.op("Mul", "v", b.cast("decay")), b.i64(arith.DECAY_UNITY))
    bias = b.scale_pow2(b.bias_like(b.cast("bias"), "v"), b.attr("bias_exp", "int"))
    raw = b.op("Add", b.op("Add", dv, u), bias)
    return b.op("Clip", raw, b.i64(-arith.STATE_MAX), b.i64(arith.STATE_MAX))


def _fire_fixed(b: Body, v1: str) -> dict[str, str]:
    """``s = v1 > θ[k]·64``, the reset, and the outputs gated before the arrival."""
    vth = b.op("Mul", _threshold_at(b), b.i64(1 << arith.VTH_SHIFT))
    s = b.op("Greater", v1, vth)
    soft = b.op("Where", s, b.op("Sub", v1, vth), v1)
    hard = b.op("Where", s, b.i64(0), v1)
    v2 = b.op("Where", b.attr_is("reset", "soft"), soft, hard)
    on = _arrived(b)
    zero = b.i64(0)
    return {
        "s": b.cast(b.op("And", s, on)),
        "v_next": b.op("Where", on, v2, zero),
        "h": b.op("Where", on, v1, zero),
    }


def _lif_fixed(b: Body) -> dict[str, str]:
    # lif_step_fixed: u = fold24(wrap32(wrap32(a) << 6)); v' = clip(trunc(v·decay/4096) + u
    # + bias_eff, ±STATE_MAX); s = v' > vth << 6; hard: v' = 0 | soft: v' -= vth << 6
    return _fire_fixed(b, _charge_fixed(b, b.fold24(_act_fixed(b))))


def _cubalif_fixed(b: Body) -> dict[str, str]:
    # cuba_lif_step_fixed: u' = fold24(wrap32(trunc(u·current_decay/4096) + wrap32(wrap32(a)
    # << 6))); then the LIF's charge, spike and reset with u' (the current is never reset)
    du = b.trunc_div(b.op("Mul", "current", b.cast("current_decay")), b.i64(arith.DECAY_UNITY))
    u1 = b.fold24(b.wrap_signed(b.op("Add", du, _act_fixed(b)), arith.LAVA_CHANNEL_BITS))
    out = _fire_fixed(b, _charge_fixed(b, u1))
    u2 = b.op("Where", _arrived(b), u1, b.i64(0))
    return {**out, "current_next": u2, "u": b.op("Identity", u2)}


def _li_fixed(b: Body) -> dict[str, str]:
    # li_step_fixed: v' = clip(trunc(v·decay/4096) + fold24(wrap32(wrap32(a) << 6)) + bias_eff)
    v1 = b.op("Where", _arrived(b), _charge_fixed(b, b.fold24(_act_fixed(b))), b.i64(0))
    return {"y": v1, "v_next": b.op("Identity", v1)}


def _charge_float(b: Body, i: str) -> str:
    """``H = decay·V + (I + bias)``, in lif_step_float's order."""
    cur = b.op("Add", i, b.bias_like(b.cast("bias"), "v"))
    return b.op("Add", b.op("Mul", b.cast("decay"), "v"), cur)


def _fire_float(b: Body, h: str) -> dict[str, str]:
    th = _threshold_at(b)
    s = b.cast(b.op("GreaterOrEqual", h, th))
    soft = b.op("Sub", h, b.op("Mul", th, s))
    hard = b.op("Mul", h, b.op("Sub", b.num(1.0), s))
    v = b.op("Where", b.attr_is("reset", "soft"), soft, hard)
    on, zero = _arrived(b), b.num(0.0)
    return {
        "s": b.op("Where", on, s, zero),
        "v_next": b.op("Where", on, v, zero),
        "h": b.op("Where", on, h, zero),
    }


def _lif_float(b: Body) -> dict[str, str]:
    # lif_step_float, in its order: H = decay·V + (I + bias); S = H >= θ;
    # soft: V = H - θ·S | hard: V = H·(1 - S)
    return _fire_float(b, _charge_float(b, "i"))


def _cubalif_float(b: Body) -> dict[str, str]:
    # cuba_lif_step_float: U = current_decay·U + I; then the LIF step with U
    u1 = b.op("Add", b.op("Mul", b.cast("current_decay"), "current"), "i")
    out = _fire_float(b, _charge_float(b, u1))
    u2 = b.op("Where", _arrived(b), u1, b.num(0.0))
    return {**out, "current_next": u2, "u": b.op("Identity", u2)}


def _li_float(b: Body) -> dict[str, str]:
    # li_step_float: V = decay·V + (I + bias), the output
    v1 = b.op("Where", _arrived(b), _charge_float(b, "i"), b.num(0.0))
    return {"y": v1, "v_next": b.op("Identity", v1)}


def _payload(b: Body, h: str) -> str:
    """fast_inhibitory_fixed: sat_u(floor(h · 2**payload_exp), payload_bits)."""
    raw = b.scale_pow2(h, b.attr("payload_exp", "int"))
    return b.sat_unsigned(raw, b.attr("payload_bits", "int"))


def _fastinh_fixed(b: Body) -> dict[str, str]:
    return {"p": _payload(b, "h")}


def _fastinh_float(b: Body) -> dict[str, str]:
    return {"p": b.op("Identity", "h")}


def _ei_accumulations(b: Body) -> tuple[str, str]:
    """``W_EE x`` and ``W_IE x`` as exact sums in the input's form: dense ``[B, n]`` (as a 1x1
    convolution of ``[B, d, 1, 1]``) or conv ``[B, n, Ho, Wo]``."""
    x4 = b.to4d("x")
    outs = []
    for w in ("w_ee", "w_ie"):
        y = _conv_sum(b, x4, b.to4d(w))
        rest = b.op("Slice", b.dims(y, 2), b.i64([0]), b.op("Sub", b.rank("x"), b.i64([2])))
        outs.append(b.op("Reshape", y, b.concat(b.dims(y, 0, 2), rest)))
    return outs[0], outs[1]


def _stabilise(b: Body, d: str, big: str, one: str) -> tuple[str, str]:
    """stabilise_denominator: ``exact`` (per-sample smallest positive D; a sample without one
    is dead, D = 1) or ``floor`` (max(D, floor)). Returns (D_s, alive broadcastable)."""
    flat = b.op("Reshape", d, b.i64([0, -1]))
    pos = b.op("Greater", flat, b.num(0))
    smallest = b.op("ReduceMin", b.op("Where", pos, flat, big), b.i64([1]), keepdims=1)
    alive = b.op("Less", smallest, big)  # [B, 1]
    smallest = b.op("Where", alive, smallest, one)
    shape = b.concat(b.dims(d, 0, 1), b.ones(b.op("Sub", b.rank(d), b.i64([1]))))
    exact = b.op("Where", b.op("Greater", d, b.num(0)), d, b.op("Reshape", smallest, shape))
    is_floor = b.attr_is("stabilisation", "floor")
    d_s = b.op("Where", is_floor, b.op("Max", d, b.cast("floor")), exact)
    return d_s, b.op("Or", is_floor, b.op("Reshape", alive, shape))


def _ei_fixed(b: Body) -> dict[str, str]:
    # ei_step_fixed, every intermediate with hwsim.arith's width and reduction
    s_ee, s_ie = _ei_accumulations(b)
    is_conv = b.op("Equal", b.rank("x"), b.i64([4]))

    def accumulate(s: str, exp_name: str) -> str:  # conv_accumulate | dense_accumulate
        e = b.attr(exp_name, "int")
        conv = b.scale_pow2(b.wrap_signed(s, arith.ACC_BITS), e)
        dense = b.wrap_signed(b.scale_pow2(s, e), arith.LAVA_CHANNEL_BITS)
        return b.op("Where", is_conv, conv, dense)

    acc_ee, acc_ie = accumulate(s_ee, "w_ee_exp"), accumulate(s_ie, "w_ie_exp")
    p = _payload(b, acc_ie)
    gp = b.op("Mul", b.per_unit(b.cast("g_i"), p), p)
    q = b.sat_unsigned(b.scale_pow2(gp, b.attr("g_i_exp", "int")), b.attr("payload_bits", "int"))
    w_ei, e_ei = b.cast("w_ei"), b.attr("w_ei_exp", "int")

    def through_w_ei(v: str) -> str:  # sat24(dense_accumulate(w_ei, v, w_ei_exp))
        a = b.wrap_signed(b.scale_pow2(b.mix(w_ei, v), e_ei), arith.LAVA_CHANNEL_BITS)
        return b.sat_signed(a, arith.ACC_BITS)

    num = b.op("Sub", b.sat_signed(acc_ee, arith.ACC_BITS), through_w_ei(p))
    big = b.i64(arith.signed_range(64)[1])
    d_s, alive = _stabilise(b, through_w_ei(q), big, b.i64(1))
    # ei_divide_fixed: trunc(g_E·N·2**e / D), the shift moved to D when e < 0
    e = b.attr("g_e_exp", "int")
    zero = b.i64(0)
    n2 = b.op("Mul", b.op("Mul", b.per_unit(b.cast("g_e"), num), num), b.pow2(b.op("Max", e, zero)))
    d2 = b.op("Mul", d_s, b.pow2(b.op("Max", b.op("Neg", e), zero)))
    ratio = b.op("Where", alive, b.trunc_div(n2, d2), zero)
    cur = b.sat_signed(b.op("Add", ratio, b.per_unit(b.cast("b_e"), num)), arith.ACC_BITS)
    return {"y": b.op("Where", b.attr_is("variant", "divisive"), cur, num)}


def _ei_float(b: Body) -> dict[str, str]:
    # ei_step_float, in its order
    i_ee, h_i = _ei_accumulations(b)
    w_ei = b.cast("w_ei")
    num = b.op("Sub", i_ee, b.mix(w_ei, h_i))
    d = b.mix(w_ei, b.op("Mul", b.per_unit(b.cast("g_i"), h_i), h_i))
    d_s, alive = _stabilise(b, d, b.num(float("inf")), b.num(1.0))
    ratio = b.op("Div", b.op("Mul", b.per_unit(b.cast("g_e"), num), num), d_s)
    cur = b.op("Add", b.op("Where", alive, ratio, b.num(0.0)), b.per_unit(b.cast("b_e"), num))
    return {"y": b.op("Where", b.attr_is("variant", "divisive"), cur, num)}


def _add(b: Body) -> dict[str, str]:
    return {"y": b.op("Identity", "x")}


def _delay(b: Body) -> dict[str, str]:
    cat = b.op("Concat", "buf", b.op("Unsqueeze", "x", b.i64([0])), axis=0)
    y = b.op("Gather", cat, b.i64(0), axis=0)
    rest = b.op("Slice", cat, b.i64([1]), b.i64([arith.signed_range(64)[1]]), b.i64([0]))
    return {"y": y, "buf_next": rest}


def _in_window(b: Body) -> str:
    """``t_offset <= t < t_offset + window``: the steps whose current the readout sums."""
    start = b.attr("t_offset", "int")
    end = b.op("Add", start, b.attr("window", "int"))
    return b.op("And", b.op("GreaterOrEqual", "t", start), b.op("Less", "t", end))


def _readout_fixed(b: Body) -> dict[str, str]:
    total = b.sat_signed(b.op("Add", "total", "i"), arith.READOUT_BITS)
    total = b.op("Where", _in_window(b), total, "total")
    return {"y": b.op("Identity", "i"), "total_next": total}


def _readout_float(b: Body) -> dict[str, str]:
    total = b.op("Where", _in_window(b), b.op("Add", "total", "i"), "total")
    return {"y": b.op("Identity", "i"), "total_next": total}


# ---------------------------------------------------------------------------------------------
# The op set
# ---------------------------------------------------------------------------------------------

_CONV_ATTRS = ("strides", "pads", "group")

OPS: Mapping[str, OpDef] = MappingProxyType(
    {
        op.name: op
        for op in (
            OpDef(
                "Input",
                ("x", "scale"),
                ("y",),
                ("encoding", "bits"),
                "Graph input frame of one step. fixed, encoding 'direct': "
                "y = clip(round_half_even(x / scale), -2**(bits-1), 2**(bits-1) - 1); "
                "otherwise y = x (spikes already drawn). float: y = x.",
                _input_fixed,
                _input_float,
            ),
            OpDef(
                "Dense",
                ("x", "weight", "bias"),
                ("y",),
                ("weight_exp",),
                "fixed: y = wrap32(floor((x W^T) · 2**weight_exp)) + bias. float: y = x W^T + b.",
                _dense_fixed,
                _dense_float,
            ),
            OpDef(
                "Conv2d",
                ("x", "weight", "bias"),
                ("y",),
                (*_CONV_ATTRS, "weight_exp"),
                "torch conv2d (cross-correlation). fixed: y = floor(wrap24(Σ w·x) · "
                "2**weight_exp) + bias[c]. float: y = Σ w·x + bias[c].",
                _conv_fixed,
                _conv_float,
            ),
            OpDef(
                "SumPool2d",
                ("x",),
                ("y",),
                ("kernel_shape", "strides"),
                "Window sums, no padding; strides [] means strides = kernel_shape.",
                _sumpool,
                _sumpool,
            ),
            OpDef(
                "AvgPool2d",
                ("x",),
                ("y",),
                ("kernel_shape", "strides"),
                "float only: SumPool2d(x) / (kh·kw).",
                _avgpool_fixed,
                _avgpool_float,
            ),
            OpDef(
                "FlattenCHW",
                ("x",),
                ("y",),
                (),
                "C-order flatten of each sample: [B, C, H, W] -> [B, C·H·W].",
                _flatten,
                _flatten,
            ),
            OpDef(
                "LIF",
                ("i", "v", "t", "decay", "threshold", "bias"),
                ("s", "v_next", "h"),
                ("reset", "bias_exp", "t_offset"),
                "fixed: u = fold24(wrap32(wrap32(i)·64)); h = clip(trunc(v·decay/4096) + u + "
                "floor(bias·2**bias_exp), ±(2**23-1)); s = h > θ[k]·64; v' = h - θ[k]·64·s "
                "(soft) | h·(1-s) (hard). float: h = decay·v + (i + bias); s = h >= θ[k]; "
                "v' = h - θ[k]·s (soft) | h·(1-s) (hard), with θ[k] the schedule's entry for the "
                "input step k = clip(t - t_offset, 0, len - 1) (a scalar θ for every k). "
                "Before the arrival (t < t_offset): s = 0, v' = 0, h = 0 (the bias is gated).",
                _lif_fixed,
                _lif_float,
            ),
            OpDef(
                "CubaLIF",
                ("i", "current", "v", "t", "decay", "current_decay", "threshold", "bias"),
                ("s", "current_next", "v_next", "h", "u"),
                ("reset", "bias_exp", "t_offset"),
                "Current-based LIF; its current u is the state input 'current'. fixed: u' = "
                "fold24(wrap32(trunc(u·current_decay/4096) + "
                "wrap32(wrap32(i)·64))); then the LIF's fixed step with u' as its current: h = "
                "clip(trunc(v·decay/4096) + u' + floor(bias·2**bias_exp), ±(2**23-1)), s = h > "
                "θ[k]·64, v' = h - θ[k]·64·s (soft) | h·(1-s) (hard). float: u' = "
                "current_decay·u + i; h = decay·v + (u' + bias); s = h >= θ[k]; v' as the LIF's. "
                "The current is never reset. Outputs: current_next (state) and u (the same, "
                "the current after the step). Before the arrival (t < t_offset): everything 0.",
                _cubalif_fixed,
                _cubalif_float,
            ),
            OpDef(
                "LI",
                ("i", "v", "t", "decay", "bias"),
                ("y", "v_next"),
                ("bias_exp", "t_offset"),
                "Leaky integrator, output y = v' (graded). fixed: v' = clip(trunc(v·decay/4096) + "
                "fold24(wrap32(wrap32(i)·64)) + floor(bias·2**bias_exp), ±(2**23-1)). float: "
                "v' = decay·v + (i + bias). Before the arrival (t < t_offset): v' = 0.",
                _li_fixed,
                _li_float,
            ),
            OpDef(
                "FastInhibitory",
                ("h",),
                ("p",),
                ("payload_exp", "payload_bits"),
                "fixed: p = clip(floor(h·2**payload_exp), 0, 2**payload_bits - 1). float: p = h.",
                _fastinh_fixed,
                _fastinh_float,
            ),
            OpDef(
                "EICircuit",
                ("x", "w_ee", "w_ie", "w_ei", "g_i", "g_e", "b_e", "floor"),
                ("y",),
                (
                    "variant",
                    "stabilisation",
                    *_CONV_ATTRS,
                    "w_ee_exp",
                    "w_ie_exp",
                    "w_ei_exp",
                    "g_i_exp",
                    "g_e_exp",
                    "payload_exp",
                    "payload_bits",
                ),
                "E-I circuit (hwsim.arith.ei_step_fixed / ei_step_float): I_EE = W_EE x, "
                "h_I = W_IE x, N = I_EE - W_EI p, D = W_EI q, y = g_E N / stab(D) + b_E "
                "(divisive) | N (subtractive).",
                _ei_fixed,
                _ei_float,
            ),
            OpDef(
                "ResidualAdd",
                ("x",),
                ("y",),
                (),
                "SEW residual: y = x, the sum of the node's inputs (formed by standard Add).",
                _add,
                _add,
            ),
            OpDef(
                "Delay",
                ("x", "buf"),
                ("y", "buf_next"),
                ("steps",),
                "y[t] = x[t - steps]: buf [steps, B, ...] holds the last inputs, oldest first.",
                _delay,
                _delay,
            ),
            OpDef(
                "Latency",
                ("x", "buf"),
                ("y", "buf_next"),
                ("steps",),
                "Not a hardware node: the synaptic latency of lava timing (Lava's Dense/Conv "
                "send last step's accumulation) in front of the synapse that has it; "
                "y[t] = x[t - steps], as Delay.",
                _delay,
                _delay,
            ),
            OpDef(
                "Readout",
                ("i", "total", "t"),
                ("y", "total_next"),
                ("t_offset", "window"),
                "y = i; in the window t_offset <= t < t_offset + window, fixed: total' = "
                "clip(total + i, -2**31, 2**31 - 1), float: total' = total + i; else total' "
                "= total.",
                _readout_fixed,
                _readout_float,
            ),
        )
    }
)
"""Every op of the domain by name."""

_RENAMED = {"Flatten": "FlattenCHW", "Add": "ResidualAdd"}
OP_FOR_KIND: Mapping[str, str] = MappingProxyType(
    {kind: _RENAMED.get(kind, kind) for kind in NODE_KINDS}
)
"""Hardware node kind -> op name (``Latency`` is the one op without a node kind). An op is
named after its kind except where the kind's name is a standard ONNX op: onnxruntime 1.32
aborts (a C++ assertion, measured) when a model-local function shares its name with a
standard op used in the model, whatever the domains."""

KIND_FOR_OP: Mapping[str, str] = MappingProxyType({v: k for k, v in OP_FOR_KIND.items()})

if set(OP_FOR_KIND.values()) | {"Latency"} != set(OPS):  # a new node kind needs its op
    raise ImportError("the ai.spikefold op set does not match hwsim's node kinds")


def build_function(op: OpDef, fmt: str) -> FunctionProto:
    """The model-local function of ``op`` for the format ``fmt`` (``fixed`` or ``float32``)."""
    b = Body(compute_type(fmt))
    outs = (op.fixed if fmt == "fixed" else op.float)(b)
    for name in op.outputs:
        b.output(outs[name], name)
    return b.build(
        DOMAIN,
        op.name,
        op.inputs,
        op.outputs,
        op.attributes,
        [helper.make_operatorsetid("", DEFAULT_OPSET)],
        f"ai.spikefold.{op.name} v{OPSET_VERSION} ({fmt}): {op.doc}",
    )


def functions_for(fmt: str, names) -> list[FunctionProto]:
    """The functions of the ops ``names`` (in op-set order) for ``fmt``."""
    wanted = set(names)
    return [build_function(op, fmt) for name, op in OPS.items() if name in wanted]
