"""The integer macros of the ONNX function bodies (exporters.onnx.body) against Python's
unbounded integers, in onnxruntime and onnx.reference: floor and truncating division
(``Div`` only on exact quotients), exponent shifts, wraps, Lava's fold, saturation. Values up
to 2**58 (the widest intermediate of hwsim.arith is below 2**58)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from exporters.onnx.body import DEFAULT_OPSET, Body

BIG = 2**58


def _model(build):
    b = Body(TensorProto.INT64)
    y = build(b)
    b.output(y, "y")
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        b.nodes,
        "macro",
        [vi("x", TensorProto.INT64, ["n"]), vi("q", TensorProto.INT64, [])],
        [vi("y", TensorProto.INT64, ["n"])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_operatorsetid("", DEFAULT_OPSET)])


def _floor(x, q):
    return x // q


def _trunc(x, q):
    return -(-x // q) if x < 0 else x // q


def _scale(x, e):
    return x * 2**e if e >= 0 else x // 2 ** (-e)


def _wrap(bits):
    return lambda x, q: ((x + 2 ** (bits - 1)) % 2**bits) - 2 ** (bits - 1)


def _fold(x, q):
    m = 2**23
    return x - 2 * m if x > m else (x + 2 * m if x <= -m else x)


def _sat_u(x, q):
    return min(max(x, 0), 2**q - 1)


MACROS = {
    "floor_div": (lambda b: b.floor_div("x", "q"), _floor, st.integers(1, 2**24)),
    "trunc_div": (lambda b: b.trunc_div("x", "q"), _trunc, st.integers(1, 2**48)),
    "scale_pow2": (lambda b: b.scale_pow2("x", "q"), _scale, st.integers(-24, 4)),
    "wrap32": (lambda b: b.wrap_signed("x", 32), _wrap(32), st.just(0)),
    "wrap24": (lambda b: b.wrap_signed("x", 24), _wrap(24), st.just(0)),
    "fold24": (lambda b: b.fold24("x"), _fold, st.just(0)),
    "sat_unsigned": (lambda b: b.sat_unsigned("x", "q"), _sat_u, st.integers(1, 24)),
}

_SESSIONS: dict = {}


def _runners(name):
    if name not in _SESSIONS:
        m = _model(MACROS[name][0])
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        ev = ReferenceEvaluator(m)
        _SESSIONS[name] = {
            "onnxruntime": lambda f, s=s: s.run(None, f)[0],
            "reference": lambda f, ev=ev: ev.run(None, f)[0],
        }
    return _SESSIONS[name]


EDGES = [0, 1, -1, 2, -2, 3, -3, 7, -7, 4095, -4095, 4096, -4096, 2**23, -(2**23), 2**23 + 1,
         -(2**23) - 1, 2**31 - 1, -(2**31), 2**31, BIG - 1, -BIG + 1]  # fmt: skip


@pytest.mark.parametrize("name", list(MACROS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_macro_matches_python_integers(name, data):
    xs = data.draw(st.lists(st.integers(-BIG, BIG), min_size=1, max_size=30)) + EDGES
    if name == "scale_pow2":  # x · 2**e stays inside 63 bits for e <= 4
        xs = [v >> 4 for v in xs]
    q = data.draw(MACROS[name][2])
    want = [MACROS[name][1](v, q) for v in xs]
    feeds = {"x": np.array(xs, dtype=np.int64), "q": np.array(q, dtype=np.int64)}
    for backend, run in _runners(name).items():
        got = run(feeds)
        assert got.dtype == np.int64
        assert got.tolist() == want, backend


def test_divisions_round_as_documented():
    """The two roundings the spec distinguishes, at the values where they differ."""
    feeds = {"x": np.array([-7, 7, -8, -1, -(2**57) - 3], np.int64), "q": np.array(2, np.int64)}
    for name, want in (("floor_div", [-4, 3, -4, -1, -(2**56) - 2]),
                       ("trunc_div", [-3, 3, -4, 0, -(2**56) - 1])):  # fmt: skip
        for backend, run in _runners(name).items():
            assert run(feeds).tolist() == want, (name, backend)
