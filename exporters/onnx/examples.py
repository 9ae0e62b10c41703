"""Small hand-built hardware graphs, float and fixed, for docs/ir.md's worked example, the
tests and quick experiments with the ONNX IR.

Each builder takes ``fmt`` (``float32`` or ``fixed``), ``timing`` (``ideal`` or ``lava``),
``T`` and a ``seed``. The float and fixed graphs are *independent* random networks of the same
structure (not quantised twins): rung 3 compares each graph with its own ONNX model. Fixed
values lie on Lava's weight grids, and the thresholds are set so that every layer fires at a
moderate rate on uniform inputs in [0, 1] (checked by ``tests/exporters/test_onnx_rung3.py``).
"""

from __future__ import annotations

import numpy as np

from hwsim import arith
from hwsim.graph import (
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
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
)

__all__ = [
    "EXAMPLES",
    "mlp",
    "convnet",
    "osr_ots_convnet",
    "ei_convnet",
    "sew_net",
    "cuba_li_net",
    "cuba_li_convnet",
]

_WIDTHS = arith.FixedWidths(weight_bits=8, payload_bits=12, input_bits=8)


class _Maker:
    """Random parameters of either format."""

    def __init__(self, fmt: str, seed: int) -> None:
        self.fixed = fmt == "fixed"
        self.rng = np.random.default_rng(seed)

    def mixed(self, *shape, scale: float = 1.0, mag: int = 64):
        """Mixed-sign weights: float N(0, scale²/fan_in); fixed even integers in [-mag, mag]
        (on the 8-bit mixed grid)."""
        if self.fixed:
            return 2 * self.rng.integers(-mag // 2, mag // 2 + 1, shape)
        fan_in = int(np.prod(shape[1:]))
        return (self.rng.normal(size=shape) * scale / np.sqrt(fan_in)).astype(np.float32)

    def positive(self, *shape, scale: float = 1.0, top: int = 255):
        """Dale-signed weights: float |N(0, scale²/fan_in)|; fixed integers in [0, top]."""
        if self.fixed:
            return self.rng.integers(0, top + 1, shape)
        fan_in = int(np.prod(shape[1:]))
        return np.abs(self.rng.normal(size=shape) * scale / np.sqrt(fan_in)).astype(np.float32)

    def pick(self, float_value, fixed_value):
        return fixed_value if self.fixed else float_value


def _meta(fmt: str, timing: str, T: int, name: str) -> GraphMetadata:
    fixed = fmt == "fixed"
    return GraphMetadata(
        T=T,
        format=fmt,
        timing=timing,
        widths=_WIDTHS if fixed else None,
        origin={"example": name},
    )


def _graph(nodes: dict, fmt: str, timing: str, T: int, name: str) -> HardwareGraph:
    names = list(nodes)
    edges = [(a, b) for a, b in zip(names, names[1:])]
    return HardwareGraph(nodes, edges, _meta(fmt, timing, T, name))


def mlp(fmt: str = "float32", timing: str = "ideal", T: int = 4, seed: int = 0) -> HardwareGraph:
    """Plain LIF MLP: 64 direct inputs -> Dense 32 -> LIF (hard) -> Dense 16 -> LIF (hard) ->
    Dense 10 -> Readout; constant thresholds, Dense biases."""
    m = _Maker(fmt, seed)
    nodes = {
        "x": Input((64,), "direct", scale=m.pick(1.0, 1 / 16)),
        "fc1": Dense(m.mixed(32, 64, scale=3.0), m.pick(np.zeros(32, np.float32), None)),
        "lif1": LIF(m.pick(0.5, 2048), m.pick(1.0, 1500), "hard"),
        "fc2": Dense(
            m.mixed(16, 32, scale=4.0), m.pick(np.full(16, 0.1, np.float32), np.full(16, 8))
        ),  # fmt: skip
        "lif2": LIF(m.pick(0.75, 3072), m.pick(1.0, 60), "hard"),
        "fc3": Dense(m.mixed(10, 16), weight_exp=m.pick(0, 2)),
        "ro": Readout(),
    }
    return _graph(nodes, fmt, timing, T, "mlp")


def convnet(
    fmt: str = "float32", timing: str = "ideal", T: int = 4, seed: int = 0
) -> HardwareGraph:
    """Plain conv net: (1, 8, 8) -> Conv 3x3 (4, pad 1) -> LIF -> pool 2 (Avg float, Sum
    fixed) -> Conv 3x3 (8, stride 2, pad 1, 2 groups) -> LIF -> Flatten -> Dense 10 ->
    Readout."""
    m = _Maker(fmt, seed)
    pool = SumPool2d(2) if m.fixed else AvgPool2d((2, 2))
    nodes = {
        "x": Input((1, 8, 8), "direct", scale=m.pick(1.0, 1 / 16)),
        "c1": Conv2d(m.mixed(4, 1, 3, 3, scale=3.0), padding=1, weight_exp=m.pick(0, -1)),
        "l1": LIF(m.pick(0.5, 2048), m.pick(1.0, 150), "hard"),
        "pool": pool,
        "c2": Conv2d(
            m.mixed(8, 2, 3, 3, scale=6.0),
            m.pick(np.zeros(8, np.float32), np.arange(8) - 4),
            stride=2,
            padding=1,
            groups=2,
        ),  # fmt: skip
        "l2": LIF(m.pick(0.5, 2048), m.pick(1.0, 40), "hard"),
        "flat": Flatten(),
        "fc": Dense(m.mixed(10, 32)),
        "ro": Readout(),
    }
    return _graph(nodes, fmt, timing, T, "convnet")


def osr_ots_convnet(
    fmt: str = "float32", timing: str = "ideal", T: int = 4, seed: int = 0
) -> HardwareGraph:
    """OSR+OTS style: the folded OSR affine is a conv bias and a per-channel LIF bias, OTS
    gives per-step thresholds ``θ[T]``; soft reset; rate-encoded input."""
    m = _Maker(fmt, seed)

    def schedule(lo: float, hi: float, lo_i: int, hi_i: int):
        if m.fixed:
            return m.rng.integers(lo_i, hi_i, T)
        return np.linspace(lo, hi, T).astype(np.float32)

    nodes = {
        "x": Input((2, 6, 6), "rate"),
        "c1": Conv2d(
            m.mixed(4, 2, 3, 3, scale=3.0),
            m.pick(np.linspace(-0.2, 0.2, 4).astype(np.float32), np.array([-6, -2, 2, 6])),
            padding=1,
        ),  # fmt: skip
        "l1": LIF(
            m.pick(0.5, 2048),
            schedule(0.8, 1.2, 20, 40),
            "soft",
            m.pick(np.array([0.1, -0.1, 0.05, 0.0], np.float32), np.array([64, -64, 32, 0])),
            bias_exp=m.pick(0, 3),
        ),  # fmt: skip
        "pool": SumPool2d(2),
        "c2": Conv2d(m.mixed(6, 4, 3, 3, scale=3.0), padding=1),
        "l2": LIF(
            m.pick(0.25, 1024),
            schedule(1.5, 2.5, 30, 60),
            "soft",
            m.pick(np.float32(0.05) * np.ones((6, 3, 3), np.float32), np.full((6, 3, 3), 16)),
        ),  # fmt: skip
        "flat": Flatten(),
        "fc": Dense(m.mixed(5, 54), m.pick(np.zeros(5, np.float32), np.arange(5))),
        "ro": Readout(),
    }
    return _graph(nodes, fmt, timing, T, "osr_ots_convnet")


def ei_convnet(
    fmt: str = "float32", timing: str = "ideal", T: int = 4, seed: int = 0
) -> HardwareGraph:
    """E-I conv net: (2, 6, 6) direct -> EICircuit conv (8 E / 2 I, exact stabilisation) ->
    LIF -> SumPool 2 -> EICircuit conv (8 / 2, stride 1, floor stabilisation) -> LIF ->
    Flatten -> EICircuit dense subtractive (the E-I readout variant) -> Readout."""
    m = _Maker(fmt, seed)

    def ei(n_e, n_i, c, k, stab, floor, **conv):
        g_i = m.pick((m.rng.random(n_i) + 0.5).astype(np.float32), m.rng.integers(800, 1200, n_i))
        g_e = m.pick((m.rng.random(n_e) + 0.5).astype(np.float32),
                     m.rng.integers(20000, 40000, n_e))  # fmt: skip
        b_e = m.pick((m.rng.normal(size=n_e) * 0.1).astype(np.float32),
                     m.rng.integers(-8, 8, n_e))  # fmt: skip
        shape = (c, k, k) if k else (c,)
        return EICircuit(
            m.positive(n_e, *shape),
            m.positive(n_i, *shape),
            m.positive(n_e, n_i, top=127),
            FastInhibitory(payload_exp=m.pick(0, -2)),
            g_i,
            g_e,
            b_e,
            stabilisation=stab,
            floor=floor,
            w_ee_exp=m.pick(0, -4),
            w_ie_exp=m.pick(0, -4),
            w_ei_exp=m.pick(0, -6),
            g_i_exp=m.pick(0, -8),
            g_e_exp=m.pick(0, -3),
            **conv,
        )

    nodes = {
        "x": Input((2, 6, 6), "direct", scale=m.pick(1.0, 1 / 16)),
        "ei1": ei(8, 2, 2, 3, "exact", 0, padding=1),
        "l1": LIF(m.pick(0.5, 2048), m.pick(0.5, 2500), "soft"),
        "pool": SumPool2d(2),
        "ei2": ei(8, 2, 8, 3, "floor", m.pick(0.5, 500), padding=1),
        "l2": LIF(m.pick(0.5, 2048), m.pick(0.5, 1500), "hard"),
        "flat": Flatten(),
        "eiro": EICircuit(
            m.positive(5, 72, scale=0.5, top=8),
            m.positive(2, 72, scale=0.5, top=8),
            m.positive(5, 2, top=8),
            variant="subtractive",
        ),
        "ro": Readout(),
    }
    return _graph(nodes, fmt, timing, T, "ei_convnet")


def sew_net(
    fmt: str = "float32", timing: str = "ideal", T: int = 4, seed: int = 0
) -> HardwareGraph:
    """SEW residual block with spike inputs: x -> Conv -> LIF -> Conv -> LIF, plus the skip
    path LIF1 -> Delay -> Add (Delay 1 in lava timing, where the second Conv takes a step;
    0 in ideal timing) -> SumPool -> Flatten -> Dense -> Readout, and a lowered inhibitory
    branch Dense -> FastInhibitory -> Dense into the readout."""
    m = _Maker(fmt, seed)
    nodes = {
        "x": Input((2, 4, 4), "spikes"),
        "c1": Conv2d(m.mixed(4, 2, 3, 3, scale=4.0), padding=1),
        "l1": LIF(m.pick(0.5, 2048), m.pick(0.5, 20), "soft"),
        "c2": Conv2d(m.mixed(4, 4, 3, 3, scale=4.0), padding=1),
        "l2": LIF(m.pick(0.5, 2048), m.pick(0.5, 20), "hard"),
        "skip": Delay(1 if timing == "lava" else 0),
        "add": Add(),
        "pool": SumPool2d(2),
        "flat": Flatten(),
        "fc": Dense(m.mixed(6, 16)),
        "ie": Dense(m.positive(3, 16)),
        "inh": FastInhibitory(payload_exp=m.pick(0, -2)),
        "ei": Dense(m.mixed(6, 3), weight_exp=m.pick(0, -3)),
        "ro": Readout(),
    }
    edges = [
        ("x", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l2"), ("l1", "skip"), ("skip", "add"),
        ("l2", "add"), ("add", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "ro"),
        ("flat", "ie"), ("ie", "inh"), ("inh", "ei"), ("ei", "ro"),
    ]  # fmt: skip
    if timing == "lava":  # fc (1 step) and ie -> ei (2 steps) meet at the readout
        nodes["fcd"] = Delay(1)
        edges = [e for e in edges if e != ("fc", "ro")] + [("fc", "fcd"), ("fcd", "ro")]
    return HardwareGraph(nodes, edges, _meta(fmt, timing, T, "sew_net"))


def cuba_li_net(
    fmt: str = "float32", timing: str = "ideal", T: int = 4, seed: int = 0
) -> HardwareGraph:
    """Current-based neurons and a leaky-integrator readout (Norse's and snnTorch's classifier
    shape): 16 direct inputs -> Dense 12 -> CubaLIF (hard reset, constant θ, no bias: Lava's
    stock LIF with ``du < 4095``) -> Dense 5 (+bias) -> LI (+bias) -> Readout (the sum of the
    LI membrane over the steps)."""
    m = _Maker(fmt, seed)
    nodes = {
        "x": Input((16,), "direct", scale=m.pick(1.0, 1 / 16)),
        "fc1": Dense(m.mixed(12, 16, scale=2.0, mag=40)),
        "cuba": CubaLIF(m.pick(0.5, 2048), m.pick(0.5, 2048), m.pick(1.0, 1500), "hard"),
        "fc2": Dense(
            m.mixed(5, 12, scale=2.0), m.pick(np.full(5, 0.1, np.float32), np.arange(5) - 2)
        ),  # fmt: skip
        "li": LI(
            m.pick(0.75, 3072),
            m.pick(np.array(0.05, np.float32), np.array(7)),
            bias_exp=m.pick(0, 2),
        ),  # fmt: skip
        "ro": Readout(),
    }
    return _graph(nodes, fmt, timing, T, "cuba_li_net")


def cuba_li_convnet(
    fmt: str = "float32", timing: str = "ideal", T: int = 4, seed: int = 0
) -> HardwareGraph:
    """The conv variant: (2, 6, 6) spikes -> Conv 3x3 (4, pad 1) -> CubaLIF (soft reset,
    per-step θ[t], per-channel bias: a custom process on Lava) -> SumPool 2 -> Flatten ->
    Dense 5 -> LI -> Readout."""
    m = _Maker(fmt, seed)
    theta = m.pick(np.linspace(0.8, 1.2, T).astype(np.float32), m.rng.integers(20, 30, T))
    nodes = {
        "x": Input((2, 6, 6), "spikes"),
        "c1": Conv2d(m.mixed(4, 2, 3, 3, scale=2.0, mag=16), padding=1),
        "cuba": CubaLIF(
            m.pick(0.5, 2048),
            m.pick(0.25, 1024),
            theta,
            "soft",
            m.pick(np.array([0.1, -0.1, 0.05, 0.0], np.float32), np.array([64, -64, 32, 0])),
            bias_exp=m.pick(0, 2),
        ),
        "pool": SumPool2d(2),
        "flat": Flatten(),
        "fc": Dense(m.mixed(5, 36, scale=2.0)),
        "li": LI(m.pick(0.5, 2048)),
        "ro": Readout(),
    }
    return _graph(nodes, fmt, timing, T, "cuba_li_convnet")


EXAMPLES = {
    "mlp": mlp,
    "convnet": convnet,
    "osr_ots_convnet": osr_ots_convnet,
    "ei_convnet": ei_convnet,
    "sew_net": sew_net,
    "cuba_li_net": cuba_li_net,
    "cuba_li_convnet": cuba_li_convnet,
}
"""Every example builder by name."""
