"""Small hand-built hardware graphs for the Lava exporter's tests, benchmark and docs.

``example_graph(family, fmt, seed)`` builds one of four families, in ``lava`` timing, float
(``"float32"``) or fixed (``"fixed"``: integers on Lava's grids, chosen so that every layer
spikes at a moderate rate), with tiny layers so a Lava run takes about a second:

* ``mlp``     direct input -> Dense -> LIF (hard reset, constant θ) -> Dense -> Readout: the
              plain subset, on Lava's stock ``Dense`` and ``LIF`` (no bias before a LIF:
              a stock LIF applies its bias from step 0, the graph only from the layer's
              arrival offset; the biased layers are covered by ``osr_ots``);
* ``conv``    spikes -> Conv2d -> LIF -> pool -> Conv2d -> LIF -> Flatten -> Dense -> Readout
              (plain; the fixed convolutions have ``weight_exp = 0`` so they run on Lava's
              stock ``Conv``, which ignores ``weight_exp``);
* ``osr_ots`` direct input -> Dense(+folded OSR bias) -> LIF (soft reset, per-step θ[t]) ->
              Dense -> LIF (soft, θ[t]) -> Dense -> Readout: an OSR+OTS network after folding;
* ``ei_conv`` spikes -> conv E-I circuit (divisive) -> LIF -> SumPool -> Flatten -> dense E-I
              circuit (divisive) -> LIF -> dense E-I circuit (subtractive readout) -> Readout.

``example_input(graph, batch, seed)`` draws a matching input batch. The graphs are
deterministic for a seed.
"""

from __future__ import annotations

import numpy as np

from hwsim import arith
from hwsim.errors import ExportError
from hwsim.graph import (
    LIF,
    AvgPool2d,
    Conv2d,
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

__all__ = ["FAMILIES", "example_graph", "example_input"]

FAMILIES = ("mlp", "conv", "osr_ots", "ei_conv")
T = 6


def _meta(fmt: str, payload_bits: int = 16) -> GraphMetadata:
    fixed = fmt == "fixed"
    widths = arith.FixedWidths(weight_bits=8, payload_bits=payload_bits) if fixed else None
    return GraphMetadata(T=T, format=fmt, timing="lava", widths=widths,
                         origin={"model": "exporters.lava.examples"})  # fmt: skip


class _Draw:
    """Random parameters in the units of the format."""

    def __init__(self, fmt: str, seed: int) -> None:
        self.fixed = fmt == "fixed"
        self.rng = np.random.default_rng(seed)

    def mixed(self, shape, mean: float, std: float) -> np.ndarray:
        """Mixed-sign weights; fixed: even integers (Lava's mixed 8-bit grid)."""
        w = self.rng.normal(mean, std, shape)
        if self.fixed:
            return (2 * np.clip(np.rint(w / 2), -128, 127)).astype(np.int64)
        return w.astype(np.float32)

    def positive(self, shape, hi: float) -> np.ndarray:
        """Non-negative (Dale) weights in [0, hi]; fixed: integers in [0, 255]."""
        w = self.rng.uniform(0, hi, shape)
        if self.fixed:
            return np.clip(np.rint(w), 0, 255).astype(np.int64)
        return w.astype(np.float32)

    def ints(self, lo: int, hi: int, shape) -> np.ndarray:
        return self.rng.integers(lo, hi + 1, shape).astype(np.int64)

    def floats(self, lo: float, hi: float, shape) -> np.ndarray:
        return self.rng.uniform(lo, hi, shape).astype(np.float32)


def _mlp(fmt: str, d: _Draw) -> HardwareGraph:
    if d.fixed:
        fc1 = Dense(d.mixed((16, 12), 4, 14), None, weight_exp=-5)
        l1 = LIF(3072, 40, "hard")
        fc2 = Dense(d.mixed((5, 16), 0, 60), d.ints(-30, 30, 5))
        scale = 1 / 127
    else:
        fc1 = Dense(d.mixed((16, 12), 0.1, 0.25), None)
        l1 = LIF(0.75, 1.0, "hard")
        fc2 = Dense(d.mixed((5, 16), 0, 1), d.floats(-0.5, 0.5, 5))
        scale = 1.0
    nodes = {"x": Input((12,), "direct", scale=scale), "fc1": fc1, "l1": l1, "fc2": fc2,
             "ro": Readout()}  # fmt: skip
    edges = [("x", "fc1"), ("fc1", "l1"), ("l1", "fc2"), ("fc2", "ro")]
    return HardwareGraph(nodes, edges, _meta(fmt))


def _conv(fmt: str, d: _Draw) -> HardwareGraph:
    if d.fixed:
        c1 = Conv2d(d.mixed((4, 2, 3, 3), 10, 20), None, padding=1)
        l1 = LIF(2048, 30, "hard")
        pool = SumPool2d(2)
        c2 = Conv2d(d.mixed((6, 4, 3, 3), 6, 14), None)
        l2 = LIF(3072, 40, "hard")
        fc = Dense(d.mixed((3, 24), 0, 50), d.ints(-20, 20, 3))
    else:
        c1 = Conv2d(d.mixed((4, 2, 3, 3), 0.3, 0.5), None, padding=1)
        l1 = LIF(0.5, 1.0, "hard")
        pool = AvgPool2d(2)
        c2 = Conv2d(d.mixed((6, 4, 3, 3), 0.3, 0.6), None)
        l2 = LIF(0.75, 1.0, "hard")
        fc = Dense(d.mixed((3, 24), 0, 1), d.floats(-0.3, 0.3, 3))
    nodes = {"x": Input((2, 8, 8), "spikes"), "c1": c1, "l1": l1, "pool": pool, "c2": c2,
             "l2": l2, "flat": Flatten(), "fc": fc, "ro": Readout()}  # fmt: skip
    edges = [("x", "c1"), ("c1", "l1"), ("l1", "pool"), ("pool", "c2"), ("c2", "l2"),
             ("l2", "flat"), ("flat", "fc"), ("fc", "ro")]  # fmt: skip
    return HardwareGraph(nodes, edges, _meta(fmt))


def _osr_ots(fmt: str, d: _Draw) -> HardwareGraph:
    if d.fixed:
        fc1 = Dense(d.mixed((14, 10), 4, 16), d.ints(-40, 40, 14), weight_exp=-5)
        l1 = LIF(2048, np.array([30, 34, 38, 36, 33, 31]), "soft", d.ints(-6, 6, 14), bias_exp=5)
        fc2 = Dense(d.mixed((10, 14), 6, 30), d.ints(-15, 15, 10))
        l2 = LIF(3072, np.array([44, 40, 38, 39, 41, 42]), "soft")
        fc3 = Dense(d.mixed((4, 10), 0, 50), d.ints(-20, 20, 4))
        scale = 1 / 127
    else:
        fc1 = Dense(d.mixed((14, 10), 0.2, 0.4), d.floats(-0.4, 0.4, 14))
        th1 = np.array([0.9, 1.0, 1.1, 1.05, 0.95, 1.0], np.float32)
        l1 = LIF(0.5, th1, "soft", d.floats(-0.1, 0.1, 14))
        fc2 = Dense(d.mixed((10, 14), 0.15, 0.6), d.floats(-0.2, 0.2, 10))
        l2 = LIF(0.75, np.array([1.1, 1.0, 0.95, 0.97, 1.02, 1.05], np.float32), "soft")
        fc3 = Dense(d.mixed((4, 10), 0, 1), d.floats(-0.3, 0.3, 4))
        scale = 1.0
    nodes = {"x": Input((10,), "direct", scale=scale), "fc1": fc1, "l1": l1, "fc2": fc2,
             "l2": l2, "fc3": fc3, "ro": Readout()}  # fmt: skip
    edges = [("x", "fc1"), ("fc1", "l1"), ("l1", "fc2"), ("fc2", "l2"), ("l2", "fc3"),
             ("fc3", "ro")]  # fmt: skip
    return HardwareGraph(nodes, edges, _meta(fmt))


def _ei_conv(fmt: str, d: _Draw) -> HardwareGraph:
    fixed = d.fixed
    exps = {}
    if fixed:
        gi = lambda n: d.ints(3000, 5000, n)  # noqa: E731 - g_I · 2**-12 ≈ 1
        ge = lambda n: d.ints(12000, 20000, n)  # noqa: E731 - g_E · 2**-8 ≈ 64
        exps = dict(g_i_exp=-12, g_e_exp=-8)
        floor = 4
    else:
        gi = lambda n: d.floats(0.7, 1.2, n)  # noqa: E731
        ge = lambda n: d.floats(1.5, 2.5, n)  # noqa: E731
        floor = 0.0
    w = d.positive
    ei1 = EICircuit(
        w((6, 2, 3, 3), 255 if fixed else 1.0), w((2, 2, 3, 3), 255 if fixed else 1.0),
        w((6, 2), 255 if fixed else 1.0), FastInhibitory(payload_exp=-2 if fixed else 0),
        gi(2), ge(6), d.ints(8, 24, 6) if fixed else d.floats(-0.1, 0.3, 6),
        "divisive", "floor" if fixed else "exact", floor, padding=1,
        **(dict(w_ei_exp=-5, **exps) if fixed else {}),
    )  # fmt: skip
    l1 = LIF(2048 if fixed else 0.5, 16 if fixed else 1.0, "soft")
    ei2 = EICircuit(
        w((8, 54), 255 if fixed else 1.0), w((2, 54), 255 if fixed else 1.0),
        w((8, 2), 255 if fixed else 1.0), FastInhibitory(payload_exp=-3 if fixed else 0),
        gi(2), ge(8), d.ints(8, 24, 8) if fixed else d.floats(-0.1, 0.3, 8), "divisive",
        **(dict(w_ei_exp=-5, **exps) if fixed else {}),
    )  # fmt: skip
    l2 = LIF(3072 if fixed else 0.75, 40 if fixed else 1.0, "hard")
    ei3 = EICircuit(
        w((4, 8), 255 if fixed else 1.0), w((1, 8), 255 if fixed else 1.0),
        w((4, 1), 255 if fixed else 1.0), FastInhibitory(payload_exp=0), variant="subtractive",
        **(dict(w_ei_exp=-7) if fixed else {}),
    )  # fmt: skip
    nodes = {"x": Input((2, 6, 6), "spikes"), "ei1": ei1, "l1": l1, "pool": SumPool2d(2),
             "flat": Flatten(), "ei2": ei2, "l2": l2, "ei3": ei3, "ro": Readout()}  # fmt: skip
    edges = [("x", "ei1"), ("ei1", "l1"), ("l1", "pool"), ("pool", "flat"), ("flat", "ei2"),
             ("ei2", "l2"), ("l2", "ei3"), ("ei3", "ro")]  # fmt: skip
    return HardwareGraph(nodes, edges, _meta(fmt, payload_bits=14))


_FAMILIES = {"mlp": _mlp, "conv": _conv, "osr_ots": _osr_ots, "ei_conv": _ei_conv}


def example_graph(family: str, fmt: str = "fixed", seed: int = 0) -> HardwareGraph:
    """A small graph of ``family`` (:data:`FAMILIES`) in format ``fmt`` (module docstring)."""
    if family not in _FAMILIES:
        raise ExportError(f"unknown example family {family!r}; known: {', '.join(FAMILIES)}")
    if fmt not in ("fixed", "float32"):
        raise ExportError(f"format must be 'fixed' or 'float32', got {fmt!r}")
    return _FAMILIES[family](fmt, _Draw(fmt, seed))


def example_input(graph: HardwareGraph, batch: int, seed: int = 0) -> np.ndarray:
    """An input batch for ``graph``: frames in [0, 1] ``[B, *shape]`` for a ``direct``
    input, a Bernoulli(0.3) spike train ``[T, B, *shape]`` for ``spikes``."""
    rng = np.random.default_rng(seed)
    (name,) = graph.input_names()
    node = graph.nodes[name]
    if node.encoding == "spikes":
        shape = (graph.metadata.T, batch, *node.shape)
        return (rng.random(shape) < 0.3).astype(np.float64)
    return rng.random((batch, *node.shape))
