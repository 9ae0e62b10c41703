"""Differential tests of hwsim.arith against Lava's own bit-accurate process models.

Lava (lava-nc 0.10.0) is the independent oracle of DESIGN.md section 4. Running a Lava network
is slow, so these tests call the process models' numpy methods directly: a model instance is
built without a runtime, its Vars are set by hand, and its ports are replaced by stubs.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import arith

exporters = pytest.importorskip("exporters")  # installs the Python 3.11 shim for Lava
lif_models = pytest.importorskip("lava.proc.lif.models")
dense_models = pytest.importorskip("lava.proc.dense.models")
conv_models = pytest.importorskip("lava.proc.conv.models")
weightutils = pytest.importorskip("lava.utils.weightutils")


class _Out:
    def __init__(self) -> None:
        self.data = None

    def send(self, d) -> None:
        self.data = np.array(d)


class _In:
    def __init__(self, d) -> None:
        self.d = d

    def recv(self):
        return self.d


def _lif_model(n: int, dv: int, vth: int, bias_mant, bias_exp):
    cls = lif_models.PyLifModelBitAcc
    m = cls.__new__(cls)
    cls.__init__(m, {})
    m.u = np.zeros(n, np.int32)
    m.v = np.zeros(n, np.int32)
    m.du, m.dv, m.vth = 4095, dv, vth
    m.bias_mant = np.asarray(bias_mant, np.int16)
    m.bias_exp = np.asarray(bias_exp, np.int16)
    m.scale_bias()
    m.scale_threshold()
    return m


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 6),
    dv=st.integers(0, 4095),
    vth=st.integers(0, 2**17 - 1),
    bias_exp=st.integers(0, 7),
)
def test_lif_step_fixed_equals_pylifmodelbitacc(data, n, dv, vth, bias_exp):
    bias = np.array(data.draw(st.lists(st.integers(-4096, 4095), min_size=n, max_size=n)))
    m = _lif_model(n, dv, vth, bias, bias_exp)
    v = np.zeros(n, np.int64)
    for _ in range(5):
        # activations as Lava's int32 channel delivers them, widths beyond ACT_BITS included
        a = np.array(
            data.draw(st.lists(st.integers(-(2**24), 2**24), min_size=n, max_size=n)), np.int32
        )
        m.subthr_dynamics(activation_in=a)
        s_lava = m.spiking_activation()
        m.reset_voltage(spike_vector=s_lava)
        out = arith.lif_step_fixed(
            v, a, decay=4096 - dv, vth=vth, bias=arith.bias_effective(bias, bias_exp)
        )
        v = out.v
        assert np.array_equal(out.spikes, s_lava)
        assert np.array_equal(v, m.v.astype(np.int64))


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 6),
    du=st.integers(0, 4095),
    dv=st.integers(0, 4095),
    vth=st.integers(0, 2**17 - 1),
    bias_exp=st.integers(0, 7),
)
def test_cuba_lif_step_fixed_equals_pylifmodelbitacc(data, n, du, dv, vth, bias_exp):
    # Lava's LIF with a persistent current (du < 4095; ds_offset = 1 makes du = 4095 the LIF)
    bias = np.array(data.draw(st.lists(st.integers(-4096, 4095), min_size=n, max_size=n)))
    m = _lif_model(n, dv, vth, bias, bias_exp)
    m.du = du
    u, v = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for _ in range(6):
        a = np.array(
            data.draw(st.lists(st.integers(-(2**20), 2**20), min_size=n, max_size=n)), np.int32
        )
        m.subthr_dynamics(activation_in=a)
        s_lava = m.spiking_activation()
        m.reset_voltage(spike_vector=s_lava)
        out = arith.cuba_lif_step_fixed(
            u, v, a, current_decay=4095 - du, decay=4096 - dv, vth=vth,
            bias=arith.bias_effective(bias, bias_exp),
        )  # fmt: skip
        u, v = out.u, out.v
        assert np.array_equal(out.spikes, s_lava)
        assert np.array_equal(u, m.u.astype(np.int64))
        assert np.array_equal(v, m.v.astype(np.int64))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 6), dv=st.integers(0, 4095), bias_exp=st.integers(0, 7))
def test_li_step_fixed_equals_lava_subthreshold_dynamics(data, n, dv, bias_exp):
    # the LI is Lava's LIF voltage update (du = 4095) without spiking_activation/reset
    bias = np.array(data.draw(st.lists(st.integers(-4096, 4095), min_size=n, max_size=n)))
    m = _lif_model(n, dv, 0, bias, bias_exp)
    v = np.zeros(n, np.int64)
    for _ in range(6):
        a = np.array(
            data.draw(st.lists(st.integers(-(2**16), 2**16), min_size=n, max_size=n)), np.int32
        )
        m.subthr_dynamics(activation_in=a)
        v = arith.li_step_fixed(
            v, a, decay=4096 - dv, bias=arith.bias_effective(bias, bias_exp)
        ).v
        assert np.array_equal(v, m.v.astype(np.int64))


def _run_dense(w, s_steps, weight_exp: int, num_weight_bits: int, graded: bool):
    cls = dense_models.PyDenseModelBitAcc
    m = cls.__new__(cls)
    cls.__init__(m, {"weight_exp": weight_exp, "num_weight_bits": num_weight_bits})
    m.weights = np.asarray(w, np.int32)
    m.a_buff = np.zeros(w.shape[0], np.int32)
    m.num_message_bits = np.array([8 if graded else 0])
    m.a_out = _Out()
    outs = []
    for s in list(s_steps) + [np.zeros(w.shape[1], np.int32)]:
        m.s_in = _In(np.asarray(s, np.int32))
        m.run_spk()
        # Lava's channel is int32: what the LIF receives
        outs.append(m.a_out.data.astype(np.int32))
    return outs[1:], m.weights  # one step late: output t+1 belongs to input t


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_in=st.integers(1, 8),
    n_out=st.integers(1, 5),
    exp=st.integers(-8, 7),
    bits=st.integers(2, 8),
)
def test_dense_equals_pydensemodelbitacc(data, n_in, n_out, exp, bits):
    wq = data.draw(st.lists(st.integers(-300, 300), min_size=n_in * n_out, max_size=n_in * n_out))
    w = np.array(wq).reshape(n_out, n_in)
    spikes = [
        np.array(data.draw(st.lists(st.integers(0, 1), min_size=n_in, max_size=n_in)))
        for _ in range(3)
    ]
    outs, w_lava = _run_dense(w, spikes, exp, bits, graded=False)
    w_ours = arith.lava_dense_weights(w, bits)
    assert np.array_equal(w_ours, w_lava)  # the sign-mode truncation rule
    for s, a_lava in zip(spikes, outs):
        a = arith.dense_accumulate(w_ours, s[None, :], exp)[0]
        assert np.array_equal(a, a_lava.astype(np.int64))


@settings(max_examples=60, deadline=None)
@given(w=st.lists(st.integers(-400, 400), min_size=1, max_size=20), bits=st.integers(2, 8))
def test_lava_dense_weights_equals_weightutils(w, bits):
    w = np.array(w)
    mode = weightutils.determine_sign_mode(w)
    lava = weightutils.truncate_weights(weightutils.clip_weights(w, mode, 8), mode, bits)
    assert arith.sign_mode(w) == mode.name.lower()
    assert np.array_equal(arith.lava_dense_weights(w, bits), lava)


def test_quantized_weights_survive_lava_dense():
    rng = np.random.default_rng(0)
    for w in (rng.normal(size=(5, 7)), np.abs(rng.normal(size=(5, 7)))):
        for bits in (2, 5, 8):
            q = arith.quantize_weights(w, bits)
            _, w_lava = _run_dense(q.mantissa, [np.zeros(7)], q.weight_exp, bits, graded=False)
            assert np.array_equal(w_lava, q.mantissa)


def test_graded_dense_equals_lava():
    rng = np.random.default_rng(2)
    w = rng.integers(0, 256, (4, 3))
    p = [rng.integers(0, 2**12, 3) for _ in range(3)]
    outs, _ = _run_dense(w, p, -2, 8, graded=True)
    for s, a_lava in zip(p, outs):
        assert np.array_equal(arith.dense_accumulate(w, s[None], -2)[0], a_lava)


def test_conv_accumulate_equals_pyconvmodelfixed():
    rng = np.random.default_rng(0)
    cls = conv_models.PyConvModelFixed
    for groups, stride, padding in (((1), (2, 1), (0, 1)), (2, (1, 1), (1, 1))):
        x = rng.integers(0, 2, (4, 7, 6))  # [C, H, W]
        w = rng.integers(-256, 256, (6, 4 // groups, 3, 2))  # [O, I/g, kh, kw]
        m = cls.__new__(cls)
        cls.__init__(m, {})
        m.kernel_size = np.array([2, 3])  # XY: (kw, kh)
        m.stride = np.array(stride[::-1])
        m.padding = np.array(padding[::-1])
        m.dilation = np.array([1, 1])
        m.groups = np.array([groups])
        m.num_message_bits = np.array([0])
        m.weight = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))
        m.a_buf, m.a_out = None, _Out()
        m.a_out.shape = (1,)
        m.s_in = _In(x.transpose(2, 1, 0))
        m.run_spk()
        m.s_in = _In(np.zeros_like(x.transpose(2, 1, 0)))
        m.run_spk()
        ours = arith.conv_accumulate(w, x[None], stride=stride, padding=padding, groups=groups)
        assert np.array_equal(m.a_out.data.transpose(2, 1, 0), ours[0])
