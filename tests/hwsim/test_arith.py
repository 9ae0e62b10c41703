"""Property tests of hwsim.arith against exact Python-integer references.

Every reference below is written independently of the implementation: bit masks instead of
modulo, ``fractions.Fraction`` instead of shifts, scalar loops instead of vector code.
"""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import arith
from hwsim.errors import GraphError, OverflowBoundError, QuantizationError

REPO = Path(__file__).resolve().parents[2]
I62 = st.integers(-(2**62), 2**62)
FAST = settings(max_examples=200, deadline=None)

# -- independent scalar references ------------------------------------------------------------


def ref_wrap_signed(x: int, bits: int) -> int:
    y = x & ((1 << bits) - 1)  # the low `bits` bits of the two's complement
    return y - (1 << bits) if y >> (bits - 1) else y


def ref_floor_pow2(x: int, e: int) -> int:
    return math.floor(Fraction(x) * Fraction(2) ** e)


def ref_trunc(q: Fraction) -> int:
    return int(q)  # int() of a Fraction truncates toward zero


def ref_lava_fold(x: int) -> int:
    m = 2**23
    if x > m:
        return x - 2 * m
    if x <= -m:
        return x + 2 * m
    return x


def ref_lif(v: int, a: int, decay: int, vth: int, bias: int, reset: str) -> tuple[bool, int]:
    """One LIF step on Python ints, from DESIGN.md section 4 and Lava's code, literally."""
    a32 = ref_wrap_signed(a, 32)
    u = ref_lava_fold(ref_wrap_signed(a32 * 64, 32))
    dec = ref_trunc(Fraction(v * decay, 4096))
    vn = min(max(dec + u + bias, -(2**23) + 1), 2**23 - 1)
    s = vn > vth * 64
    if s:
        vn = 0 if reset == "hard" else vn - vth * 64
    return s, vn


# -- reductions, shifts, division -------------------------------------------------------------


@FAST
@given(
    x=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=8), bits=st.integers(1, 64)
)
def test_wrap_signed_matches_bitmask(x, bits):
    got = arith.wrap_signed(np.array(x), bits)
    assert got.tolist() == [ref_wrap_signed(v, bits) for v in x]


@FAST
@given(x=st.lists(I62, min_size=1, max_size=8), bits=st.integers(1, 62))
def test_wrap_unsigned_saturate_and_count(x, bits):
    a = np.array(x)
    assert arith.wrap_unsigned(a, bits).tolist() == [v & ((1 << bits) - 1) for v in x]
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    assert arith.saturate_signed(a, bits).tolist() == [min(max(v, lo), hi) for v in x]
    assert arith.saturate_unsigned(a, bits).tolist() == [min(max(v, 0), 2**bits - 1) for v in x]
    assert arith.count_outside_signed(a, bits) == sum(not lo <= v <= hi for v in x)
    assert arith.count_outside_unsigned(a, bits) == sum(not 0 <= v < 2**bits for v in x)


@FAST
@given(x=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=8), e=st.integers(-20, 20))
def test_scale_pow2_is_floor(x, e):
    assert arith.scale_pow2(np.array(x), e).tolist() == [ref_floor_pow2(v, e) for v in x]


def test_scale_pow2_golden_negative_floors():
    # Lava's np.right_shift rounds toward -inf: -3 * 2**-1 = -1.5 -> -2, 3 -> 1
    assert arith.scale_pow2(np.array([-3, 3, -4]), -1).tolist() == [-2, 1, -2]


@FAST
@given(x=st.lists(st.integers(-(2**50), 2**50), min_size=1, max_size=8), n=st.integers(0, 30))
def test_shift_right_trunc_is_toward_zero(x, n):
    got = arith.shift_right_trunc(np.array(x), n)
    assert got.tolist() == [ref_trunc(Fraction(v, 2**n)) for v in x]


@FAST
@given(num=st.lists(I62, min_size=1, max_size=8), den=st.integers(1, 2**40))
def test_trunc_div(num, den):
    got = arith.trunc_div(np.array(num), den)
    assert got.tolist() == [ref_trunc(Fraction(v, den)) for v in num]


def test_trunc_div_rejects_non_positive():
    with pytest.raises(ZeroDivisionError):
        arith.trunc_div(np.array([1]), np.array([0]))


@FAST
@given(x=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=8))
def test_lava_fold24(x):
    assert arith.lava_fold24(np.array(x)).tolist() == [ref_lava_fold(v) for v in x]


def test_lava_fold24_golden_edges():
    m = 2**23
    # +2**23 is kept (one more than a 24-bit register holds), -2**23 becomes +2**23
    assert arith.lava_fold24(np.array([m, -m, m + 1, -m - 1, 3 * m + 5])).tolist() == [
        m,
        m,
        -m + 1,
        m - 1,
        m + 5,
    ]


def test_integer_functions_refuse_floats():
    with pytest.raises(TypeError):
        arith.wrap_signed(np.array([1.5]), 8)


# -- LIF ---------------------------------------------------------------------------------------


@FAST
@given(
    v=st.lists(st.integers(-(2**23) + 1, 2**23 - 1), min_size=1, max_size=6),
    a=st.integers(-(2**27), 2**27),
    decay=st.integers(1, 4096),
    vth=st.integers(0, 2**17 - 1),
    bias=st.integers(-(2**19), 2**19),
    reset=st.sampled_from(["hard", "soft"]),
)
def test_lif_step_fixed_matches_scalar_reference(v, a, decay, vth, bias, reset):
    out = arith.lif_step_fixed(
        np.array(v), np.full(len(v), a), decay=decay, vth=vth, bias=bias, reset=reset
    )
    ref = [ref_lif(x, a, decay, vth, bias, reset) for x in v]
    assert out.spikes.tolist() == [r[0] for r in ref]
    assert out.v.tolist() == [r[1] for r in ref]
    assert out.n_act_overflow == (len(v) if not -(2**15) <= a < 2**15 else 0)


def test_lif_step_fixed_golden_impulse_decay():
    # a single activation of 1 enters as u = 64; with decay = 2048 (dv = 2048, a = 0.5)
    # v halves each step, truncating toward zero: 64, 32, 16, ..., 1, 0
    v = np.zeros(1, np.int64)
    seen = []
    for t in range(9):
        out = arith.lif_step_fixed(v, np.array([1 if t == 0 else 0]), decay=2048, vth=100)
        v = out.v
        seen.append(int(v[0]))
    assert seen == [64, 32, 16, 8, 4, 2, 1, 0, 0]
    # negative voltages decay toward zero too (sign-magnitude shift): -3 * 0.5 -> -1, not -2
    assert arith.decay_fixed(np.array([-3, 3]), 2048).tolist() == [-1, 1]


def test_lif_step_fixed_spike_is_strict_and_resets():
    v = np.array([0, 0, 0])
    out = arith.lif_step_fixed(v, np.array([10, 11, 12]), decay=4096, vth=11, reset="hard")
    # u = a << 6; vth << 6 = 704: 640 and 704 do not spike, 768 does
    assert out.spikes.tolist() == [False, False, True]
    assert out.v.tolist() == [640, 704, 0]
    soft = arith.lif_step_fixed(v[:1], np.array([12]), decay=4096, vth=11, reset="soft")
    assert soft.v.tolist() == [768 - 704]


def test_lif_step_fixed_counts_clipping_and_folding():
    out = arith.lif_step_fixed(np.array([-(2**23) + 10]), np.array([-1]), decay=4096, vth=5)
    assert out.v.tolist() == [-(2**23) + 1] and out.n_v_clipped == 1  # symmetric clip
    big = arith.lif_step_fixed(np.array([0]), np.array([2**17 + 1]), decay=4096, vth=0)
    assert big.n_u_folded == 1 and big.n_act_overflow == 1


def test_lif_step_float_golden():
    # H = 0.5*V + I; soft reset subtracts θ; spike on equality (Θ(0) = 1)
    v = np.array([0.0, 0.0, 1.0], np.float32)
    out = arith.lif_step_float(v, np.array([1.0, 0.5, 0.5], np.float32), decay=0.5, threshold=1.0)
    assert out.spikes.tolist() == [True, False, True]
    assert out.v.tolist() == [0.0, 0.5, 0.0] and out.v.dtype == np.float32
    hard = arith.lif_step_float(
        np.array([0.0]), np.array([2.5]), decay=0.5, threshold=1.0, reset="hard", bias=0.25
    )
    assert hard.h.tolist() == [2.75] and hard.v.tolist() == [0.0]


# -- weights (the Dense sign-mode trap) -------------------------------------------------------


def ref_lava_dense_weight(w: int, bits: int, mode: str) -> int:
    """Lava's clip + truncate on one integer, from DESIGN.md's description."""
    k = 8 - bits + (mode == "mixed")
    if mode == "inhibitory":
        return -((min(max(-w, 0), 255) >> k) << k)
    lo = -256 if mode == "mixed" else 0
    return (min(max(w, lo), 255) >> k) << k


@FAST
@given(w=st.lists(st.integers(-300, 300), min_size=1, max_size=12), bits=st.integers(2, 8))
def test_lava_dense_weights_rule(w, bits):
    mode = arith.sign_mode(w)
    got = arith.lava_dense_weights(np.array(w), bits)
    assert got.tolist() == [ref_lava_dense_weight(x, bits, mode) for x in w]
    lo, hi, step = arith.weight_grid(mode, bits)
    assert all(lo <= x <= hi and x % step == 0 for x in got.tolist())


def test_lava_dense_weights_golden_design_examples():
    # DESIGN.md: mixed 8-bit weights become even integers in [-256, 254]: 255 -> 254, -3 -> -4
    assert arith.lava_dense_weights(np.array([255, -3, 7, -256]), 8).tolist() == [254, -4, 6, -256]
    assert arith.lava_dense_weights(np.array([255, 3, 0]), 8).tolist() == [255, 3, 0]
    assert arith.lava_dense_weights(np.array([-255, -3]), 8).tolist() == [-255, -3]
    assert arith.weight_grid("mixed", 8) == (-256, 254, 2)
    assert arith.weight_grid("excitatory", 6) == (0, 252, 4)


@FAST
@given(
    w=st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=16),
    bits=st.integers(2, 8),
    sign=st.sampled_from(["any", "pos", "neg"]),
)
def test_quantize_weights_is_lava_invariant_and_close(w, bits, sign):
    w = np.array(w)
    w = np.abs(w) if sign == "pos" else -np.abs(w) if sign == "neg" else w
    q = arith.quantize_weights(w, bits)
    assert arith.count_lava_dense_changes(q.mantissa, bits) == 0
    assert q.n_clipped == 0
    # half a step of the input's grid (the mode Lava sees can only be finer)
    step = arith.weight_grid(arith.sign_mode(w), bits).step
    assert q.max_abs_error <= step * 2.0**q.weight_exp / 2 + 1e-12
    if np.any(w) and q.sign_mode == arith.sign_mode(w):
        smaller = q.weight_exp - 1  # the exponent is the smallest one without clipping
        if smaller >= arith.WEIGHT_EXP_RANGE[0]:
            lo, hi, st_ = arith.weight_grid(q.sign_mode, bits)
            r = np.rint(w / 2.0**smaller / st_) * st_
            assert r.min() < lo or r.max() > hi


def test_quantize_weights_golden_mixed_that_rounds_single_signed():
    # 1.0 rounds to 0 on the 2-bit mixed grid (step 128 at e=-6) and -3 to -256: Lava would see
    # an inhibitory matrix and clip -256 to -255 -> -192. The quantiser re-quantises instead.
    q = arith.quantize_weights(np.array([1.0, -3.0]), 2)
    assert q.sign_mode == "inhibitory"
    assert arith.count_lava_dense_changes(q.mantissa, 2) == 0
    assert (q.mantissa * 2.0**q.weight_exp).tolist() == [0.0, -3.0]


def test_quantize_weights_errors():
    with pytest.raises(QuantizationError):
        arith.quantize_weights(np.array([np.nan]), 8)
    with pytest.raises(QuantizationError):
        arith.quantize_weights(np.array([1.0, -1.0]), 8, mode="excitatory")
    with pytest.raises(QuantizationError):
        arith.weight_grid("mixed", 9)
    big = arith.quantize_weights(np.array([1e9]), 8)
    assert big.n_clipped == 1 and big.weight_exp == arith.WEIGHT_EXP_RANGE[1]


def test_bias_effective_is_lava_scale_bias():
    assert arith.bias_effective(np.array([3, -3, 4095]), np.array([6, 0, 7])).tolist() == [
        192,
        -3,
        4095 * 128,
    ]


# -- synapses ----------------------------------------------------------------------------------


@FAST
@given(
    data=st.data(),
    n_in=st.integers(1, 6),
    n_out=st.integers(1, 4),
    exp=st.integers(-8, 7),
)
def test_dense_accumulate_matches_loops(data, n_in, n_out, exp):
    w = data.draw(st.lists(st.integers(-256, 255), min_size=n_in * n_out, max_size=n_in * n_out))
    s = data.draw(st.lists(st.integers(0, 2**24 - 1), min_size=2 * n_in, max_size=2 * n_in))
    w = np.array(w).reshape(n_out, n_in)
    s = np.array(s).reshape(2, n_in)
    got = arith.dense_accumulate(w, s, exp)
    for b in range(2):
        for o in range(n_out):
            acc = sum(int(w[o, i]) * int(s[b, i]) for i in range(n_in))
            assert got[b, o] == ref_wrap_signed(ref_floor_pow2(acc, exp), 32)


def test_conv2d_matches_torch_and_pools():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, (2, 4, 7, 6))
    w = rng.integers(-256, 256, (6, 2, 3, 2))
    got = arith.conv_accumulate(w, x, stride=(2, 1), padding=(1, 0), groups=2)
    ref = torch.nn.functional.conv2d(
        torch.tensor(x, dtype=torch.float64),
        torch.tensor(w, dtype=torch.float64),
        stride=(2, 1),
        padding=(1, 0),
        groups=2,
    )
    assert np.array_equal(got, ref.numpy().astype(np.int64))
    xf = rng.random((2, 3, 6, 6))
    ap = torch.nn.functional.avg_pool2d(torch.tensor(xf), 2).numpy()
    assert np.allclose(arith.avg_pool2d_float(xf, 2), ap, rtol=0, atol=1e-12)
    assert np.array_equal(
        arith.sum_pool2d(x, 2, 1),
        (x[:, :, :-1, :-1] + x[:, :, 1:, :-1] + x[:, :, :-1, 1:] + x[:, :, 1:, 1:]),
    )


def test_conv_accumulate_wraps_at_24_bits():
    w = np.full((1, 1, 1, 1), 255)
    x = np.full((1, 1, 1, 1), 2**20)  # 255 * 2**20 > 2**23: wraps
    assert arith.conv_accumulate(w, x)[0, 0, 0, 0] == ref_wrap_signed(255 * 2**20, 24)


# -- E-I circuit -------------------------------------------------------------------------------


def test_fast_inhibitory_fixed():
    out = arith.fast_inhibitory_fixed(np.array([5, 7, -1, 2**20]), -1, 8)
    assert out.value.tolist() == [2, 3, 0, 255] and out.n_saturated == 2


@FAST
@given(
    num=st.lists(st.integers(-(2**24), 2**24 - 1), min_size=1, max_size=6),
    den=st.integers(1, 2**23 - 1),
    g=st.integers(0, 2**16 - 1),
    e=st.integers(-24, 16),
)
def test_ei_divide_fixed_is_exact_truncation(num, den, g, e):
    n = np.array(num)[None, :]  # [B=1, n_E]
    got = arith.ei_divide_fixed(n, np.full_like(n, den), np.full(len(num), g), e)
    ref = [ref_trunc(Fraction(g * x) * Fraction(2) ** e / den) for x in num]
    assert got[0].tolist() == ref


def test_ei_divide_fixed_rejects_out_of_width():
    with pytest.raises(OverflowBoundError):
        arith.ei_divide_fixed(np.array([[2**25]]), np.array([[1]]), np.array([1]), 0)
    with pytest.raises(OverflowBoundError):
        arith.ei_divide_fixed(np.array([[1]]), np.array([[1]]), np.array([1]), 17)
    with pytest.raises(OverflowBoundError):
        arith.ei_divide_fixed(np.array([[1]]), np.array([[0]]), np.array([1]), 0)


def test_stabilise_denominator_exact_and_floor():
    d = np.array([[0, 3, 5], [0, 0, 0], [2, 0, 7]])
    ds, alive = arith.stabilise_denominator(d, "exact")
    assert ds.tolist() == [[3, 3, 5], [1, 1, 1], [2, 2, 7]]
    assert alive.tolist() == [True, False, True]
    df, alive = arith.stabilise_denominator(d.astype(float), "floor", 2.5)
    assert df.tolist() == [[2.5, 3, 5], [2.5, 2.5, 2.5], [2.5, 2.5, 7]] and alive.all()
    with pytest.raises(GraphError):
        arith.stabilise_denominator(np.array([[-1]]), "exact")
    with pytest.raises(GraphError):
        arith.stabilise_denominator(d, "floor", 0)


def ref_ei_fixed(acc_ee, acc_ie, p):
    """Scalar Python reference of ei_step_fixed for one sample (dense form)."""
    n_e, n_i = p["w_ei"].shape
    pay = [min(max(ref_floor_pow2(h, p["payload_exp"]), 0), 2 ** p["pb"] - 1) for h in acc_ie]
    q = [
        min(max(ref_floor_pow2(p["g_i"][j] * pay[j], p["g_i_exp"]), 0), 2 ** p["pb"] - 1)
        for j in range(n_i)
    ]
    sat24 = lambda x: min(max(x, -(2**23)), 2**23 - 1)  # noqa: E731
    sub = [
        sat24(ref_floor_pow2(sum(int(p["w_ei"][i, j]) * pay[j] for j in range(n_i)), p["w_ei_exp"]))
        for i in range(n_e)
    ]
    den = [
        sat24(ref_floor_pow2(sum(int(p["w_ei"][i, j]) * q[j] for j in range(n_i)), p["w_ei_exp"]))
        for i in range(n_e)
    ]
    num = [sat24(acc_ee[i]) - sub[i] for i in range(n_e)]
    pos = [d for d in den if d > 0]
    if not pos:
        return [sat24(int(b)) for b in p["b_e"]], num
    m = min(pos)
    cur = []
    for i in range(n_e):
        d = den[i] if den[i] > 0 else m
        r = ref_trunc(Fraction(int(p["g_e"][i]) * num[i]) * Fraction(2) ** p["g_e_exp"] / d)
        cur.append(sat24(r + int(p["b_e"][i])))
    return cur, num


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n_e=st.integers(1, 5), n_i=st.integers(1, 3))
def test_ei_step_fixed_matches_reference(data, n_e, n_i):
    ints = lambda lo, hi, n: np.array(  # noqa: E731
        data.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    )
    p = dict(
        w_ei=ints(0, 255, n_e * n_i).reshape(n_e, n_i),
        w_ei_exp=data.draw(st.integers(-4, 2)),
        g_i=ints(0, 2**16 - 1, n_i),
        g_i_exp=data.draw(st.integers(-16, 0)),
        g_e=ints(0, 2**16 - 1, n_e),
        g_e_exp=data.draw(st.integers(-24, 16)),
        b_e=ints(-(2**20), 2**20, n_e),
        payload_exp=data.draw(st.integers(-6, 0)),
        pb=data.draw(st.integers(4, 16)),
    )
    acc_ee = ints(0, 2**24, 2 * n_e).reshape(2, n_e)
    acc_ie = ints(0, 2**12, 2 * n_i).reshape(2, n_i)
    acc_ie[1] = 0  # a sample whose denominator is all zero: current = b_E

    def step(variant):
        return arith.ei_step_fixed(
            acc_ee,
            acc_ie,
            w_ei=p["w_ei"],
            w_ei_exp=p["w_ei_exp"],
            g_i=p["g_i"],
            g_i_exp=p["g_i_exp"],
            g_e=p["g_e"],
            g_e_exp=p["g_e_exp"],
            b_e=p["b_e"],
            payload_exp=p["payload_exp"],
            payload_bits=p["pb"],
            variant=variant,
            stabilisation="exact",
        )

    out = step("divisive")
    for b in range(2):
        cur, num = ref_ei_fixed(acc_ee[b].tolist(), acc_ie[b].tolist(), p)
        assert out.current[b].tolist() == cur
        assert out.numerator[b].tolist() == num
    assert out.n_dead >= 1
    sub = step("subtractive")
    assert np.array_equal(sub.current, out.numerator)


def test_ei_step_float_matches_loop_reference_conv_form():
    rng = np.random.default_rng(3)
    n_e, n_i = 4, 2
    i_ee = rng.random((3, n_e, 2, 2))
    h_i = rng.random((3, n_i, 2, 2))
    h_i[1] = 0.0  # dead sample
    h_i[2, :, 0, 0] = 0.0  # a zero denominator at one pixel: replaced by the sample's minimum
    w_ei = rng.random((n_e, n_i))
    g_i, g_e, b_e = rng.random(n_i), rng.random(n_e), rng.normal(size=n_e)
    out = arith.ei_step_float(
        i_ee, h_i, w_ei=w_ei, g_i=g_i, g_e=g_e, b_e=b_e, variant="divisive", stabilisation="exact"
    )
    for b in range(3):
        sub = np.einsum("oi,ihw->ohw", w_ei, h_i[b])
        d = np.einsum("oi,ihw->ohw", w_ei, g_i[:, None, None] * h_i[b])
        if not (d > 0).any():
            expect = np.broadcast_to(b_e[:, None, None], d.shape)
        else:
            d = np.where(d > 0, d, d[d > 0].min())
            expect = g_e[:, None, None] * (i_ee[b] - sub) / d + b_e[:, None, None]
        assert np.allclose(out.current[b], expect, rtol=1e-12, atol=0)
    assert out.n_dead == 1


def test_readout_accumulate_saturates():
    out = arith.readout_accumulate(np.array([2**31 - 2, 5]), np.array([5, -7]))
    assert out.value.tolist() == [2**31 - 1, -2] and out.n_saturated == 1


# -- widths and the generated spec ------------------------------------------------------------


def test_fixed_widths_problems():
    assert arith.FixedWidths().problems() == []
    assert arith.FixedWidths(weight_bits=9).problems()
    assert arith.FixedWidths(state_bits=32).problems()


def test_numeric_spec_doc_is_up_to_date():
    doc = (REPO / "docs" / "numeric-spec.md").read_text(encoding="utf-8")
    assert doc == arith.spec_markdown(), (
        "docs/numeric-spec.md is stale: run `python -m hwsim.arith --markdown > "
        "docs/numeric-spec.md`"
    )


def test_markdown_cli():
    out = subprocess.run(
        [sys.executable, "-m", "hwsim.arith", "--markdown"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == arith.spec_markdown()
