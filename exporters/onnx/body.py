"""Building the function bodies of the ``ai.spikefold`` ops from standard ONNX ops.

:class:`Body` appends nodes to a list and returns fresh tensor names; its methods are the
macros every op body is written with. Integer macros work on ``int64`` tensors and use only
operations whose result is the same in every conforming runtime (docs/ir.md, "Exactness"):

* ``Add``, ``Sub``, ``Mul``, ``MatMul`` on int64: exact while no intermediate leaves 63 bits
  (the widths of :mod:`hwsim.arith` keep every one below 2**58);
* ``Mod`` with ``fmod=0`` and a **positive** divisor: the remainder in ``[0, q)`` (floor
  semantics for integers, the same as Python's ``%``);
* ``Div`` on integers only where the quotient is **exact** (the numerator is made a multiple
  of the divisor first with ``Mod``), or where both operands are non-negative (shape
  arithmetic): there truncation and floor agree, so it does not matter which one a runtime
  implements (ONNX leaves integer ``Div`` rounding to the runtime);
* ``Where``, ``Clip``, ``Max``, ``Min``, ``Sign``, ``Abs``, ``Greater``, ``Equal``,
  ``ReduceMin`` (exact for any integers), ``Gather``, ``Pad``, shape ops.

Never used on integers: ``ReduceSum`` (onnxruntime 1.32 returns 0 for
``[-7, 7, 2**57, -2**57 - 3]``, measured), ``Sum`` (no int64 kernel in onnxruntime),
``BitShift`` (unsigned only, so no arithmetic shift), ``Conv`` (float only; and no float64
kernel in onnxruntime, measured, so convolutions are an im2col ``Gather`` plus ``MatMul``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import AttributeProto, FunctionProto, TensorProto, helper, numpy_helper

__all__ = ["Body", "DEFAULT_OPSET"]

DEFAULT_OPSET = 21
"""The standard (``""``) opset of the bodies and of the model (onnxruntime >= 1.17)."""

_REF_KIND = {
    "int": ("value_int", AttributeProto.INT),
    "ints": ("value_ints", AttributeProto.INTS),
    "str": ("value_string", AttributeProto.STRING),
}


class Body:
    """A function body under construction.

    ``dtype`` is the compute type of the body (``TensorProto.INT64`` for the fixed format,
    ``TensorProto.DOUBLE`` for the float format); :meth:`num` makes constants of it.
    """

    def __init__(self, dtype: int) -> None:
        self.dtype = dtype
        self.nodes: list = []
        self._count = 0
        self._consts: dict[tuple, str] = {}

    # -- primitives -----------------------------------------------------------------------------
    def fresh(self, hint: str = "t") -> str:
        self._count += 1
        return f"_{hint}{self._count}"

    def op(self, op_type: str, *inputs: str, n_out: int = 1, name: str | None = None, **attrs):
        """Append ``op_type(inputs, **attrs)``; returns the output name (or a list of them)."""
        outs = [self.fresh(name or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def output(self, value: str, name: str) -> None:
        """Bind the function output ``name`` to ``value``."""
        self.nodes.append(helper.make_node("Identity", [value], [name]))

    def const(self, value, dtype: int = TensorProto.INT64) -> str:
        """A constant tensor (scalar if ``value`` is a scalar); equal constants are shared."""
        arr = np.asarray(value, dtype=helper.tensor_dtype_to_np_dtype(dtype))
        key = (dtype, arr.shape, arr.tobytes())
        if key not in self._consts:
            out = self.fresh("c")
            tensor = numpy_helper.from_array(arr, out)
            self.nodes.append(helper.make_node("Constant", [], [out], value=tensor))
            self._consts[key] = out
        return self._consts[key]

    def i64(self, value) -> str:
        return self.const(value, TensorProto.INT64)

    def num(self, value) -> str:
        """A constant of the compute type."""
        return self.const(value, self.dtype)

    def attr(self, name: str, kind: str) -> str:
        """The function attribute ``name`` as a tensor (``int``: int64 scalar, ``ints``: 1-D
        int64, ``str``: string scalar), via a ``Constant`` whose attribute refers to it."""
        field, typ = _REF_KIND[kind]
        out = self.fresh(name)
        node = helper.make_node("Constant", [], [out])
        ref = AttributeProto()
        ref.name, ref.ref_attr_name, ref.type = field, name, typ
        node.attribute.append(ref)
        self.nodes.append(node)
        return out

    def attr_is(self, name: str, literal: str) -> str:
        """Bool scalar: the string attribute ``name`` equals ``literal`` (a plain word).

        ``RegexFullMatch`` rather than ``Equal``: onnx.reference's ``Equal`` refuses two
        strings of different lengths (numpy dtypes ``<U8`` vs ``<U11``), measured."""
        if not literal.isidentifier():
            raise ValueError(f"attr_is: {literal!r} is not a plain word")  # a bug, not data
        return self.op("RegexFullMatch", self.attr(name, "str"), pattern=literal)

    def cast(self, x: str, dtype: int | None = None) -> str:
        return self.op("Cast", x, to=self.dtype if dtype is None else dtype)

    def build(
        self,
        domain: str,
        name: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        attributes: Sequence[str],
        opset_imports: Sequence,
        doc: str,
    ) -> FunctionProto:
        return helper.make_function(
            domain,
            name,
            list(inputs),
            list(outputs),
            self.nodes,
            list(opset_imports),
            attributes=list(attributes),
            doc_string=doc,
        )

    # -- shapes ---------------------------------------------------------------------------------
    def rank(self, x: str) -> str:
        """The rank of ``x`` as a 1-element int64 tensor."""
        return self.op("Shape", self.op("Shape", x))

    def dims(self, x: str, start: int, end: int | None = None) -> str:
        """``shape(x)[start:end]`` as a 1-D int64 tensor."""
        if end is None:
            return self.op("Shape", x, start=start)
        return self.op("Shape", x, start=start, end=end)

    def ones(self, n: str) -> str:
        """A 1-D int64 tensor of ``n`` ones (``n`` a 1-element tensor, possibly 0)."""
        one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
        return self.op("ConstantOfShape", n, value=one)

    def concat(self, *parts: str) -> str:
        return self.op("Concat", *parts, axis=0)

    def scalar(self, x: str) -> str:
        """A 1-element tensor as a 0-d tensor."""
        return self.op("Reshape", x, self.i64([]))

    def per_unit(self, v: str, like: str) -> str:
        """A per-unit vector ``[C]`` shaped to broadcast against ``like [B, C, ...]``."""
        extra = self.op("Sub", self.rank(like), self.i64([2]))
        return self.op("Reshape", v, self.concat(self.i64([1, -1]), self.ones(extra)))

    def bias_like(self, bias: str, like: str) -> str:
        """A LIF bias (shape ``()``, the population's shape, or ``[C]`` per channel) shaped to
        broadcast against ``like [B, *shape]``: trailing 1s up to rank ``rank(like) - 1``."""
        pad = self.op("Sub", self.op("Sub", self.rank(like), self.i64([1])), self.rank(bias))
        return self.op("Reshape", bias, self.concat(self.dims(bias, 0), self.ones(pad)))

    def to4d(self, x: str) -> str:
        """``[B, d] -> [B, d, 1, 1]``; a 4-D tensor is returned unchanged."""
        pad = self.op("Sub", self.i64([4]), self.rank(x))
        return self.op("Reshape", x, self.concat(self.dims(x, 0), self.ones(pad)))

    # -- integer arithmetic (int64) -------------------------------------------------------------
    def pow2(self, e: str) -> str:
        """``2**e`` for a non-negative int64 ``e`` (exact: ``Pow`` of small integers)."""
        return self.op("Pow", self.i64(2), e)

    def floor_div(self, x: str, q: str) -> str:
        """``floor(x / q)`` for ``q > 0``: ``(x - (x mod q)) / q``, an exact division."""
        r = self.op("Mod", x, q, fmod=0)
        return self.op("Div", self.op("Sub", x, r), q)

    def trunc_div(self, x: str, q: str) -> str:
        """``trunc(x / q)`` (toward zero) for ``q > 0``: ``sign(x) · floor(|x| / q)``."""
        return self.op("Mul", self.op("Sign", x), self.floor_div(self.op("Abs", x), q))

    def scale_pow2(self, x: str, e: str) -> str:
        """``floor(x · 2**e)`` for an int64 scalar ``e`` of either sign
        (:func:`hwsim.arith.scale_pow2`): ``floor(x · 2**max(e, 0) / 2**max(-e, 0))``."""
        zero = self.i64(0)
        up = self.pow2(self.op("Max", e, zero))
        down = self.pow2(self.op("Max", self.op("Neg", e), zero))
        return self.floor_div(self.op("Mul", x, up), down)

    def wrap_signed(self, x: str, bits: int) -> str:
        """Two's complement wrap to ``bits``: ``((x + 2**(bits-1)) mod 2**bits) - 2**(bits-1)``."""
        half = self.i64(1 << (bits - 1))
        return self.op("Sub", self.op("Mod", self.op("Add", x, half), self.i64(1 << bits)), half)

    def sat_signed(self, x: str, bits: int) -> str:
        return self.op("Clip", x, self.i64(-(1 << (bits - 1))), self.i64((1 << (bits - 1)) - 1))

    def sat_unsigned(self, x: str, bits: str) -> str:
        """Clip to ``[0, 2**bits - 1]``, ``bits`` an int64 scalar tensor."""
        top = self.op("Sub", self.pow2(bits), self.i64(1))
        return self.op("Clip", x, self.i64(0), top)

    def fold24(self, x: str) -> str:
        """Lava's one-fold 24-bit "wrap" (:func:`hwsim.arith.lava_fold24`)."""
        m = 1 << 23
        hi = self.op(
            "Where", self.op("Greater", x, self.i64(m)), self.op("Sub", x, self.i64(2 * m)), x
        )
        low = self.op("LessOrEqual", x, self.i64(-m))
        return self.op("Where", low, self.op("Add", x, self.i64(2 * m)), hi)

    # -- synapses (either compute type) ---------------------------------------------------------
    def im2col(self, x4: str, kh: str, kw: str, strides: str, pads: str) -> tuple[str, str, str]:
        """Patches of ``x4 [B, C, H, W]`` for a ``kh x kw`` window (1-element tensors).

        ``strides [sh, sw]``, ``pads [top, left, bottom, right]`` (1-D int64). Returns
        ``(patches [B, C·kh·kw, Ho·Wo], Ho, Wo)`` with ``Ho, Wo`` 1-element tensors; the patch
        axis is ordered ``(c, i, j)`` like ``w.reshape(O, -1)``. Pure data movement (``Pad``
        with zeros, ``Gather``), so exact in every type.
        """
        zeros2 = self.i64([0, 0])
        pad_all = self.concat(
            zeros2,
            self.op("Slice", pads, self.i64([0]), self.i64([2])),
            zeros2,
            self.op("Slice", pads, self.i64([2]), self.i64([4])),
        )
        xp = self.op("Pad", x4, pad_all)
        hp, wp = self.dims(xp, 2, 3), self.dims(xp, 3, 4)
        sh = self.op("Slice", strides, self.i64([0]), self.i64([1]))
        sw = self.op("Slice", strides, self.i64([1]), self.i64([2]))
        one = self.i64([1])
        # (Hp - kh) // sh + 1 with non-negative operands: truncation = floor
        ho = self.op("Add", self.op("Div", self.op("Sub", hp, kh), sh), one)
        wo = self.op("Add", self.op("Div", self.op("Sub", wp, kw), sw), one)

        def rng(n: str) -> str:
            return self.op("Range", self.i64(0), self.scalar(n), self.i64(1))

        rows = self.op("Mul", rng(ho), sh)  # top row of each output pixel
        cols = self.op("Mul", rng(wo), sw)
        ki = self.op("Unsqueeze", rng(kh), self.i64([1, 2, 3]))  # [kh, 1, 1, 1]
        kj = self.op("Unsqueeze", rng(kw), self.i64([0, 2, 3]))  # [1, kw, 1, 1]
        r = self.op("Add", ki, self.op("Unsqueeze", rows, self.i64([0, 1, 3])))  # [kh,1,Ho,1]
        c = self.op("Add", kj, self.op("Unsqueeze", cols, self.i64([0, 1, 2])))  # [1,kw,1,Wo]
        idx = self.op("Add", self.op("Mul", r, wp), c)  # [kh, kw, Ho, Wo] flat positions
        flat_x = self.op("Reshape", xp, self.i64([0, 0, -1]))  # [B, C, Hp·Wp]
        g = self.op("Gather", flat_x, self.op("Reshape", idx, self.i64([-1])), axis=2)
        npix = self.op("Mul", ho, wo)
        patches = self.op("Reshape", g, self.concat(self.i64([0, -1]), npix))
        return patches, ho, wo

    def conv_sum(self, x4: str, w: str, strides: str, pads: str, group: str) -> str:
        """``Σ w·x`` of a grouped 2-D cross-correlation (torch ``conv2d``, no bias), in the
        compute type: im2col patches times the kernel matrix, ``MatMul`` per group.
        ``group`` an int64 scalar. Result ``[B, O, Ho, Wo]``."""
        kh, kw = self.dims(w, 2, 3), self.dims(w, 3, 4)
        patches, ho, wo = self.im2col(x4, kh, kw, strides, pads)
        g1 = self.op("Reshape", group, self.i64([1]))
        npix = self.op("Mul", ho, wo)
        pg = self.op("Reshape", patches, self.concat(self.i64([0]), g1, self.i64([-1]), npix))
        o = self.dims(w, 0, 1)
        wg = self.op("Reshape", w, self.concat(g1, self.op("Div", o, g1), self.i64([-1])))
        y = self.op("MatMul", wg, pg)  # [B, G, O/G, P]
        return self.op("Reshape", y, self.concat(self.i64([0]), o, ho, wo))

    def mix(self, w: str, s: str) -> str:
        """``W s`` over the unit axis 1 of ``s [B, n_in, ...]`` (dense, or 1x1 mixing at every
        pixel): ``[B, n_out, ...]``."""
        s3 = self.op("Reshape", s, self.i64([0, 0, -1]))
        y = self.op("MatMul", w, s3)
        shape = self.concat(self.dims(s, 0, 1), self.dims(w, 0, 1), self.dims(s, 2))
        return self.op("Reshape", y, shape)
