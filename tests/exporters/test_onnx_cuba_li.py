"""The ``ai.spikefold.CubaLIF`` and ``ai.spikefold.LI`` function bodies, op by op, against
hwsim.arith on values that reach every reduction (the int32 wrap of the current sum, Lava's
24-bit fold, the voltage clip), in onnxruntime and onnx.reference."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from exporters.onnx.body import DEFAULT_OPSET
from exporters.onnx.ops import DOMAIN, OPS, OPSET_VERSION, build_function
from hwsim import arith

N = 8
STATE = st.integers(-(2**23) + 1, 2**23)  # +2**23: what Lava's fold can leave in u


def _op_model(name: str, attrs: dict):
    """A model of one ``ai.spikefold`` node whose inputs are all graph inputs (int64)."""
    op = OPS[name]
    scalars = {"t", "decay", "current_decay", "threshold", "bias"}
    vi = helper.make_tensor_value_info
    ins = [vi(k, TensorProto.INT64, [] if k in scalars else [1, N]) for k in op.inputs]
    outs = [vi(k, TensorProto.INT64, None) for k in op.outputs]
    node = helper.make_node(name, list(op.inputs), list(op.outputs), domain=DOMAIN, **attrs)
    graph = helper.make_graph([node], name, ins, outs)
    return helper.make_model(
        graph,
        opset_imports=[helper.make_operatorsetid("", DEFAULT_OPSET),
                       helper.make_operatorsetid(DOMAIN, OPSET_VERSION)],
        functions=[build_function(op, "fixed")],
        ir_version=10,
    )  # fmt: skip


def _run_both(model, feeds: dict) -> list[dict]:
    names = [o.name for o in model.graph.output]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ev = ReferenceEvaluator(model)
    return [dict(zip(names, run(names, feeds))) for run in (sess.run, ev.run)]


def _vec(data, strategy):
    return np.array([data.draw(st.lists(strategy, min_size=N, max_size=N))], np.int64)


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    c=st.integers(0, 4095),
    decay=st.integers(1, 4096),
    vth=st.integers(0, 2**17 - 1),
    bias=st.integers(-4096, 4095),
    bias_exp=st.integers(0, 7),
    reset=st.sampled_from(["hard", "soft"]),
)
def test_cubalif_body_equals_arith(data, c, decay, vth, bias, bias_exp, reset):
    model = _op_model("CubaLIF", {"reset": reset, "bias_exp": bias_exp, "t_offset": 0})
    u, v = _vec(data, STATE), _vec(data, st.integers(-(2**23) + 1, 2**23 - 1))
    i = _vec(data, st.integers(-(2**27), 2**27))  # beyond ACT_BITS: the wraps and the fold
    feeds = {"i": i, "current": u, "v": v, "t": np.array(0), "decay": np.array(decay),
             "current_decay": np.array(c), "threshold": np.array(vth), "bias": np.array(bias)}
    want = arith.cuba_lif_step_fixed(
        u, v, i, current_decay=c, decay=decay, vth=vth,
        bias=arith.bias_effective(bias, bias_exp), reset=reset,
    )  # fmt: skip
    for got in _run_both(model, {k: np.asarray(x, np.int64) for k, x in feeds.items()}):
        assert got["s"].tolist() == want.spikes.astype(np.int64).tolist()
        assert got["current_next"].tolist() == want.u.tolist() == got["u"].tolist()
        assert got["v_next"].tolist() == want.v.tolist()
        assert got["h"].tolist() == want.v_charged.tolist()


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    decay=st.integers(1, 4096),
    bias=st.integers(-4096, 4095),
    bias_exp=st.integers(0, 7),
    t_offset=st.integers(0, 2),
)
def test_li_body_equals_arith_and_gates_before_its_arrival(data, decay, bias, bias_exp, t_offset):
    model = _op_model("LI", {"bias_exp": bias_exp, "t_offset": t_offset})
    v = _vec(data, st.integers(-(2**23) + 1, 2**23 - 1))
    i = _vec(data, st.integers(-(2**27), 2**27))
    want = arith.li_step_fixed(v, i, decay=decay, bias=arith.bias_effective(bias, bias_exp)).v
    for t in (0, 1):
        feeds = {"i": i, "v": v, "t": np.array(t), "decay": np.array(decay),
                 "bias": np.array(bias)}  # fmt: skip
        expect = want if t >= t_offset else np.zeros_like(want)
        for got in _run_both(model, {k: np.asarray(x, np.int64) for k, x in feeds.items()}):
            assert got["y"].tolist() == expect.tolist() == got["v_next"].tolist()
