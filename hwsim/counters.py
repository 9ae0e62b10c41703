"""Exact counts of spikes and operations of a hardware-graph run (DESIGN.md section 7).

Counts are kept apart from prices (:mod:`hwsim.energy`), so one run is priced on several
platforms. Everything here is an exact integer count taken from the per-step outputs of a run
(hwsim's :class:`~hwsim.sim.SimResult` records, or a Lava run's probes — the same code counts
both, :func:`count_records`), per node and per step, summed over the samples; reports divide
by ``samples``.

Events and operations of a synapse node (:class:`Dense`, :class:`Conv2d`, :class:`EICircuit`)
-----------------------------------------------------------------------------------------------
Its input ``x[t]`` (the output of its one predecessor) at step ``t`` is a set of *events*, its
non-zero entries. An entry ``x_j`` reaches ``fanout_j`` targets, the **non-zero** weights
that connect it to an output (a synapse list stores only those, as Loihi does)::

    Dense    fanout_j = #{i : W_ij != 0}
    Conv2d   fanout_j = #{(o, p) : output p's window covers input j (stride, padding, groups
                                  and the borders: a border pixel reaches fewer outputs)
                                  and its tap weight W[o, ., tap] != 0}
             = ∂/∂x_j Σ conv(x, [W != 0])         (computed once, exactly, in float64)

    in_events[t] = #{j : x_j[t] != 0}
    acs[t]       = Σ_{j : x_j ∈ {-1, 1}} fanout_j         binary events: accumulate only
    macs[t]      = Σ_{j : x_j ∉ {-1, 0, 1}} fanout_j      graded events: multiply-accumulate
    dense[t]     = Σ_j reach_j                            every input, every weight (zeros too)

Values are in spike units: a float graph's :class:`AvgPool2d` output ``1/(kh·kw)`` is one spike,
as the fixed graph's :class:`SumPool2d` count ``1``, so float and fixed graphs count alike.
An input fed by a ``direct``-encoded :class:`Input` is analog: all its events are MACs
(``enc_macs``, the encoding layer). Graded events are the SEW ``Add`` counts above 1, pooled
spike counts, inhibitory payloads and analog pixels (``in_graded``). These are NeuroBench's
``Effective_ACs``, ``Effective_MACs`` and ``Dense`` (``neurobench/metrics/workload/
synaptic_operations.py``: a binary copy of the layer applied to the binarised input); NeuroBench
decides AC or MAC once per layer call (all inputs in {-1, 0, 1} or not), spikefold per event,
which agrees whenever a layer's input is all binary or all graded.

The :class:`EICircuit` adds its inhibitory population: ``h_I = W_IE x`` (recomputed from
``x`` with the node's own arithmetic, :mod:`hwsim.arith`), payloads ``p`` (and ``q = g_I p``
in the divisive variant) sent through ``W_EI`` at every pixel::

    inh_events[t] = #{p != 0}
    inh_macs[t]   = Σ_{p_i != 0} nnz(W_EI[:, i]) + Σ_{q_i != 0} nnz(W_EI[:, i])   (in macs too)
    divisions[t]  = n_E · pixels · B          (divisive variant: one division per E unit)

Neuron nodes
------------
``updates[t]`` every neuron of a :class:`LIF`/:class:`CubaLIF`/:class:`LI`/
:class:`FastInhibitory`/:class:`Readout` is updated at every step (clock-driven hardware);
``out_events[t]`` non-zero outputs (spikes; graded payloads and an LI's membrane also in
``out_graded``); ``membrane_updates[t]`` NeuroBench's ``MembraneUpdates``: every neuron at the
first step, then the neurons whose state ``v`` changed during the step (``neurobench/metrics/
workload/membrane_updates.py``) — for a LIF/CubaLIF when its pre-reset membrane ``<node>/h``
was recorded (``v`` follows from ``H`` and the spikes), for an LI from its output ``v``;
``current_updates[t]`` the same count for a CubaLIF's synaptic current ``u`` (when
``<node>/u`` was recorded): every neuron at the first step, then those whose ``u`` changed.
An :class:`Input` counts its ``out_events``.

Static facts (``LayerCounts.static``): ``neurons``, ``state_words`` (state variables per
neuron: 2 for a CubaLIF's ``u`` and ``v``, else 1), ``weights`` (entries of all synaptic
arrays), ``nonzero_weights``, ``ann_macs`` (one dense pass of the same layer, the
ANN-equivalent), ``ann_divisions``, ``param_bits`` and ``state_bits`` at the graph's widths
(fixed: :class:`hwsim.arith.FixedWidths`; float: 32 bits each, :func:`footprint_bits`),
``weight_bits``, and for synapses ``inputs``/``outputs`` (elements), ``fan_in``, ``bias``
(0/1) and ``analog_input`` (0/1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hwsim import arith
from hwsim.errors import DataError, GraphError
from hwsim.graph import (
    LI,
    LIF,
    SPIKING_KINDS,
    Add,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    EICircuit,
    FastInhibitory,
    Flatten,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
)
from hwsim.simops import conv_sum, dense_sum

__all__ = [
    "SYNAPSE_METRICS",
    "NEURON_METRICS",
    "LayerCounts",
    "Counts",
    "dense_fanout",
    "conv_fanout",
    "needed_records",
    "count_records",
    "count_result",
    "count_run",
    "footprint_bits",
]

SYNAPSE_METRICS = (
    "in_events",
    "in_graded",
    "acs",
    "macs",
    "enc_macs",
    "dense",
    "inh_events",
    "inh_macs",
    "divisions",
)
NEURON_METRICS = ("updates", "out_events", "out_graded", "membrane_updates", "current_updates")
SPIKING = tuple(k.__name__ for k in SPIKING_KINDS)  # the kinds that emit binary spikes
_MEMBRANES = (LIF, CubaLIF, LI)  # the neuron kinds with a membrane v
FLOAT_BITS = 32  # a float graph stores every parameter and state as float32


# ---------------------------------------------------------------------------------------------
# result containers


@dataclass
class LayerCounts:
    """Counts of one node: ``steps[metric]`` int64 ``[steps]`` summed over the samples;
    ``static`` per-sample facts that do not depend on the data (see the module docstring)."""

    name: str
    kind: str
    role: str  # "synapse" | "neuron" | "input"
    shape: tuple[int, ...]
    static: dict[str, float] = field(default_factory=dict)
    steps: dict[str, np.ndarray] = field(default_factory=dict)

    def total(self, metric: str) -> int:
        """The metric summed over steps and samples (0 when the node has no such metric)."""
        a = self.steps.get(metric)
        return 0 if a is None else int(a.sum())


@dataclass
class Counts:
    """Exact counts of a run: ``layers`` by node name (topological order), ``samples`` counted,
    ``steps`` per sample, ``T``, the graph's ``format``/``timing`` and the ``source`` of the
    records (``hwsim``, ``lava`` or ``records``)."""

    layers: dict[str, LayerCounts]
    samples: int
    steps: int
    T: int
    format: str
    timing: str
    source: str = "hwsim"

    def per_sample(self, metric: str, layer: str | None = None) -> float:
        """``metric`` per sample, of one ``layer`` or summed over all nodes that have it."""
        names = [layer] if layer is not None else list(self.layers)
        return sum(self.layers[n].total(metric) for n in names) / max(self.samples, 1)

    def per_step(self, metric: str, layer: str) -> np.ndarray:
        """``metric`` of ``layer`` per step, averaged per sample (float ``[steps]``)."""
        a = self.layers[layer].steps.get(metric)
        return np.zeros(self.steps) if a is None else a / max(self.samples, 1)

    def static_sum(self, key: str) -> float:
        return float(sum(la.static.get(key, 0) for la in self.layers.values()))

    def nodes(self, role: str, kinds: tuple[str, ...] | None = None) -> list[str]:
        return [
            n
            for n, la in self.layers.items()
            if la.role == role and (kinds is None or la.kind in kinds)
        ]

    def firing_rate(self, layer: str) -> float:
        """Spikes per neuron per input step ``T`` (the run's extra ``lava`` steps included in
        the count, so a rate can exceed the ideal run's by the tail's spikes)."""
        la = self.layers[layer]
        return la.total("out_events") / max(self.samples * la.static["neurons"] * self.T, 1)

    def neurobench(self) -> dict[str, float | None]:
        """NeuroBench-named totals per sample (``Footprint`` in bytes at the graph's widths)."""
        lif = self.nodes("neuron", SPIKING)
        act_total = sum(self.layers[n].static["neurons"] for n in lif) * self.steps * self.samples
        act_nz = sum(self.layers[n].total("out_events") for n in lif)
        mem = self.nodes("neuron", SPIKING + ("LI",))
        has_mu = bool(mem) and all("membrane_updates" in self.layers[n].steps for n in mem)
        weights = self.static_sum("weights")
        return {
            "Effective_ACs": self.per_sample("acs"),
            "Effective_MACs": self.per_sample("macs"),
            "Dense": self.per_sample("dense"),
            "ActivationSparsity": 1.0 - act_nz / act_total if act_total else None,
            "MembraneUpdates": self.per_sample("membrane_updates") if has_mu else None,
            "Footprint": (self.static_sum("param_bits") + self.static_sum("state_bits")) / 8,
            "ConnectionSparsity": 1.0 - self.static_sum("nonzero_weights") / weights
            if weights
            else None,
        }

    def merge(self, other: Counts) -> Counts:
        """The counts of both runs (same graph), e.g. two batches."""
        if set(other.layers) != set(self.layers) or other.steps != self.steps:
            raise DataError("cannot merge counts of different graphs or run lengths")
        layers = {}
        for n, la in self.layers.items():
            ob = other.layers[n]
            keys = set(la.steps) & set(ob.steps)  # membrane_updates only if both have it
            layers[n] = LayerCounts(
                la.name, la.kind, la.role, la.shape, dict(la.static),
                {k: la.steps[k] + ob.steps[k] for k in keys},
            )  # fmt: skip
        return Counts(
            layers, self.samples + other.samples, self.steps, self.T, self.format,
            self.timing, self.source,
        )  # fmt: skip

    def to_dict(self, per_step_decimals: int = 4) -> dict:
        """JSON-ready: settings, NeuroBench totals, and per layer its static facts, per-sample
        totals of every metric and per-step per-sample series."""
        layers = {}
        for n, la in self.layers.items():
            layers[n] = {
                "kind": la.kind,
                "role": la.role,
                "shape": list(la.shape),
                "static": {k: _num(v) for k, v in la.static.items()},
                "per_sample": {k: la.total(k) / max(self.samples, 1) for k in la.steps},
                "per_step": {
                    k: np.round(v / max(self.samples, 1), per_step_decimals).tolist()
                    for k, v in la.steps.items()
                },
            }
            if la.kind in SPIKING:
                layers[n]["firing_rate"] = self.firing_rate(n)
        return {
            "samples": self.samples,
            "steps": self.steps,
            "T": self.T,
            "format": self.format,
            "timing": self.timing,
            "source": self.source,
            "neurobench": self.neurobench(),
            "layers": layers,
        }


def _num(v):
    return int(v) if float(v).is_integer() else float(v)


# ---------------------------------------------------------------------------------------------
# fan-out


def dense_fanout(weight: np.ndarray) -> np.ndarray:
    """``fanout_j = #{i : W_ij != 0}`` of a dense ``weight [out, in]`` (int64 ``[in]``)."""
    return np.count_nonzero(np.asarray(weight), axis=0).astype(np.int64)


def conv_fanout(
    mask: np.ndarray, in_shape: tuple[int, ...], stride, padding, groups: int
) -> np.ndarray:
    """Per input element ``(C, H, W)``, the number of (output, tap) pairs whose tap weight in
    ``mask [O, C/groups, kh, kw]`` (0/1, or any weight: non-zero counts) covers it: the gradient
    of ``Σ conv(x, mask != 0)`` with respect to ``x``. Exact: every partial sum is a small
    integer in float64. Borders, padding, stride and groups are the convolution's own."""
    import torch

    m = torch.from_numpy((np.asarray(mask) != 0).astype(np.float64))
    x = torch.zeros((1, *in_shape), dtype=torch.float64, requires_grad=True)
    conv = torch.nn.functional.conv2d
    y = conv(x, m, stride=tuple(stride), padding=tuple(padding), groups=groups)
    y.sum().backward()
    return np.rint(x.grad[0].numpy()).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# footprint


def footprint_bits(graph: HardwareGraph, name: str) -> tuple[int, int, int]:
    """``(param_bits, state_bits, weight_bits)`` of node ``name`` at the graph's widths.

    fixed: weights at ``widths.weight_bits``, synapse and E-I biases and the E-I floor at the
    24-bit accumulator, LIF/CubaLIF/LI biases 13-bit mantissas, thresholds 17-bit (each entry of
    a schedule), decays 12-bit (``dv``; a CubaLIF also ``du``), gains 16-bit, exponents 4
    (weights), 3 (bias) or 6 (gain, payload) bits; state: LIF and LI ``v`` 24 bits, CubaLIF
    ``u`` and ``v`` 24 bits each, Readout totals 32 bits, Delay lines ``steps`` entries of 24
    bits. float: 32 bits per parameter entry and per state entry. Graph
    structure (edges, shapes) and routing tables are not counted.
    """
    md = graph.metadata
    node = graph.nodes[name]
    fixed = md.format == "fixed"
    w = md.widths
    wb = w.weight_bits if fixed else FLOAT_BITS
    size = int(np.prod(graph.shapes()[name]))

    def n(a) -> int:
        return 0 if a is None else int(np.asarray(a).size)

    def bits(fixed_bits: int) -> int:
        return fixed_bits if fixed else FLOAT_BITS

    p = s = 0
    if isinstance(node, (Dense, Conv2d)):
        p = n(node.weight) * wb + n(node.bias) * bits(arith.ACC_BITS) + (4 if fixed else 0)
    elif isinstance(node, EICircuit):
        p = (n(node.w_ee) + n(node.w_ie) + n(node.w_ei)) * wb
        p += (n(node.g_i) + n(node.g_e)) * bits(arith.GAIN_BITS)
        p += n(node.b_e) * bits(arith.ACC_BITS)
        p += bits(arith.ACC_BITS) if node.stabilisation == "floor" else 0
        p += (3 * 4 + 3 * 6) if fixed else 0  # w_*_exp (4 bits), g_*_exp and payload_exp (6)
    elif isinstance(node, _MEMBRANES):
        words = 2 if isinstance(node, CubaLIF) else 1  # CubaLIF: current u and membrane v
        p = n(getattr(node, "threshold", None)) * bits(arith.VTH_BITS)
        p += words * bits(arith.DECAY_SHIFT)  # dv (and du)
        p += n(node.bias) * bits(arith.BIAS_MANT_BITS)
        p += 3 if fixed and node.bias is not None else 0  # bias_exp
        s = words * size * bits(arith.STATE_BITS)
    elif isinstance(node, FastInhibitory):
        p = 6 if fixed else 0
    elif isinstance(node, Readout):
        s = size * bits(arith.READOUT_BITS)
    elif isinstance(node, Delay):
        s = size * node.steps * bits(arith.ACC_BITS)
    return int(p), int(s), int(wb)


# ---------------------------------------------------------------------------------------------
# counting from records


_PASS_THROUGH = (Flatten, SumPool2d, AvgPool2d, Add, Delay)


def needed_records(graph: HardwareGraph) -> list[str]:
    """The nodes whose per-step outputs :func:`count_records` reads: the predecessor of every
    synapse, every neuron and input node (LIF and CubaLIF nodes also give ``<node>/h``,
    CubaLIF nodes ``<node>/u`` in hwsim)."""
    need: list[str] = []
    for name, node in graph.nodes.items():
        if isinstance(node, (Dense, Conv2d, EICircuit)):
            need += graph.predecessors(name)
        elif isinstance(node, (*_MEMBRANES, FastInhibitory, Input)):
            need.append(name)
    return list(dict.fromkeys(need))


def _analog(graph: HardwareGraph, name: str) -> bool:
    """Whether ``name``'s output derives (through pass-through nodes) from a direct Input."""
    node = graph.nodes[name]
    if isinstance(node, Input):
        return node.encoding == "direct"
    if isinstance(node, _PASS_THROUGH):
        return any(_analog(graph, p) for p in graph.predecessors(name))
    return False


def _unit(graph: HardwareGraph, name: str) -> float:
    """The value of one spike in ``name``'s output: a float graph's :class:`AvgPool2d` divides
    spike counts by its window area, so its output ``0.25`` is one spike (as the fixed graph's
    :class:`SumPool2d` count ``1``); every other node keeps the unit of its inputs."""
    node = graph.nodes[name]
    preds = graph.predecessors(name)
    if not preds or not isinstance(node, _PASS_THROUGH):
        return 1.0
    unit = max(_unit(graph, p) for p in preds)
    if isinstance(node, AvgPool2d):
        unit *= node.kernel[0] * node.kernel[1]
    return unit


class _Outputs:
    """Per-step outputs ``[steps, B, *shape]`` by node: recorded, or recomputed from the
    records of predecessors for the stateless pass-through nodes (Flatten, pools, Add, Delay),
    so a run that probed only its neurons (a Lava run) can be counted too."""

    def __init__(self, graph: HardwareGraph, records: Mapping[str, np.ndarray]) -> None:
        self.g, self.rec, self.cache = graph, records, {}

    def __call__(self, name: str) -> np.ndarray:
        if name in self.rec:
            return np.asarray(self.rec[name])
        if name in self.cache:
            return self.cache[name]
        node = self.g.nodes[name]
        preds = self.g.predecessors(name)
        if not isinstance(node, _PASS_THROUGH):
            raise GraphError(
                f"node {name!r} ({node.kind}) was not recorded; counting needs its per-step output"
            )
        xs = [self(p) for p in preds]
        steps, b = xs[0].shape[:2]
        if isinstance(node, Flatten):
            y = xs[0].reshape(steps, b, -1)
        elif isinstance(node, Add):
            y = sum(xs[1:], xs[0])
        elif isinstance(node, Delay):
            y = np.zeros_like(xs[0])
            if node.steps < steps:
                y[node.steps :] = xs[0][: steps - node.steps]
        else:
            flat = xs[0].reshape(steps * b, *xs[0].shape[2:])
            pool = arith.avg_pool2d_float if isinstance(node, AvgPool2d) else arith.sum_pool2d
            y = pool(flat, node.kernel, node.effective_stride)
            y = y.reshape(steps, b, *y.shape[1:])
        self.cache[name] = y
        return y


def _per_step(a: np.ndarray) -> np.ndarray:
    """Sum over everything but the step axis, as int64."""
    return a.reshape(a.shape[0], -1).sum(axis=1).astype(np.int64)


def _event_ops(
    x: np.ndarray, fanout: np.ndarray, analog: bool, unit: float = 1.0
) -> dict[str, np.ndarray]:
    """in_events, in_graded, acs, macs of input ``x [steps, B, *in_shape]`` through
    ``fanout [*in_shape]``; ``unit`` the value of one spike in ``x`` (:func:`_unit`)."""
    nz = x != 0
    binary = np.zeros_like(nz) if analog else nz & (np.abs(x) * unit == 1)
    graded = nz & ~binary
    f = fanout[None, None]
    return {
        "in_events": _per_step(nz),
        "in_graded": _per_step(graded),
        "acs": _per_step(binary * f),
        "macs": _per_step(graded * f),
    }


def _synapse(graph, name, x, steps_, batch) -> tuple[dict, dict]:
    node = graph.nodes[name]
    fixed = graph.metadata.format == "fixed"
    in_shape = graph.input_shapes(name)[0]
    out_shape = graph.shapes()[name]
    (pred,) = graph.predecessors(name)
    analog = _analog(graph, pred)
    static: dict[str, float] = {"analog_input": int(analog), "fan_in": 0}
    if isinstance(node, Dense):
        mats = [node.weight]
        fan = dense_fanout(node.weight)
        reach = int(node.weight.size)  # dense per sample per step
        static["fan_in"] = int(node.weight.shape[1])
    elif isinstance(node, Conv2d):
        mats = [node.weight]
        conv = (node.stride, node.padding, node.groups)
        fan = conv_fanout(node.weight, in_shape, *conv)
        reach = int(conv_fanout(np.ones_like(node.weight), in_shape, *conv).sum())
        static["fan_in"] = int(np.prod(node.weight.shape[1:]))
    else:  # EICircuit
        mats = [node.w_ee, node.w_ie, node.w_ei]
        if node.form == "dense":
            fan = dense_fanout(node.w_ee) + dense_fanout(node.w_ie)
            reach = int(node.w_ee.size + node.w_ie.size)
        else:
            conv = (node.stride, node.padding, node.groups)
            fan = conv_fanout(node.w_ee, in_shape, *conv) + conv_fanout(node.w_ie, in_shape, *conv)
            reach = int(
                conv_fanout(np.ones_like(node.w_ee), in_shape, *conv).sum()
                + conv_fanout(np.ones_like(node.w_ie), in_shape, *conv).sum()
            )
        static["fan_in"] = int(np.prod(node.w_ee.shape[1:]))
    out = _event_ops(x, fan, analog, _unit(graph, pred))
    out["enc_macs"] = out["macs"].copy() if analog else np.zeros(steps_, np.int64)
    ann = reach
    ann_div = 0
    if isinstance(node, EICircuit):
        pixels = int(np.prod(out_shape[1:])) if node.form == "conv" else 1
        n_paths = 2 if node.variant == "divisive" else 1
        mix = node.n_i * node.n_e * pixels * n_paths
        inh = _ei_inhibitory(node, x, fixed, graph.metadata.widths)
        col = np.count_nonzero(node.w_ei, axis=0).astype(np.int64)  # nnz(W_EI[:, i])
        colb = col.reshape((1, 1, -1) + (1,) * (len(out_shape) - 1))
        inh_macs = _per_step((inh[0] != 0) * colb)
        if inh[1] is not None:
            inh_macs = inh_macs + _per_step((inh[1] != 0) * colb)
        out["inh_events"] = _per_step(inh[0] != 0)
        out["inh_macs"] = inh_macs
        out["macs"] = out["macs"] + inh_macs
        div = node.n_e * pixels * batch if node.variant == "divisive" else 0
        out["divisions"] = np.full(steps_, div, np.int64)
        ann += mix
        reach += mix
        ann_div = node.n_e * pixels if node.variant == "divisive" else 0
    out["dense"] = np.full(steps_, reach * batch, np.int64)
    for k in SYNAPSE_METRICS:
        out.setdefault(k, np.zeros(steps_, np.int64))
    weights = sum(int(m.size) for m in mats)
    nonzero = sum(int(np.count_nonzero(m)) for m in mats)
    param, state, wb = footprint_bits(graph, name)
    static.update(
        weights=weights, nonzero_weights=nonzero, ann_macs=ann, ann_divisions=ann_div,
        param_bits=param, state_bits=state, weight_bits=wb, neurons=0,
        inputs=int(np.prod(in_shape)), outputs=int(np.prod(out_shape)),
        bias=int(getattr(node, "bias", None) is not None or getattr(node, "b_e", None) is not None),
    )  # fmt: skip
    return static, out


def _ei_inhibitory(node: EICircuit, x: np.ndarray, fixed: bool, widths):
    """The inhibitory payloads ``(p, q)`` ``[steps, B, n_I, ...]`` of an E-I circuit for the
    inputs ``x [steps, B, ...]``, by the node's own arithmetic (``q`` None: subtractive)."""
    steps_, b = x.shape[:2]
    flat = x.reshape(steps_ * b, *x.shape[2:])
    if node.form == "conv":
        acc = conv_sum(flat, node.w_ie, node.stride, node.padding, node.groups)
        acc = arith.conv_reduce(acc, node.w_ie_exp) if fixed else acc
    elif fixed:
        acc = arith.dense_reduce(dense_sum(flat, node.w_ie), node.w_ie_exp)
    else:
        acc = arith.dense_float(node.w_ie, flat.astype(np.float64))
    g_i = node.g_i if node.variant == "divisive" else None
    if fixed:
        inh = arith.ei_inhibitory_fixed(
            acc, g_i=g_i, g_i_exp=node.g_i_exp, payload_exp=node.inhibitory.payload_exp,
            payload_bits=widths.payload_bits,
        )  # fmt: skip
    else:
        inh = arith.ei_inhibitory_float(acc, g_i)
    shape = (steps_, b, *inh.payload.shape[1:])
    q = None if inh.divisive is None else inh.divisive.reshape(shape)
    return inh.payload.reshape(shape), q


def _state_updates(states: np.ndarray) -> np.ndarray:
    """NeuroBench's MembraneUpdates per step of a state ``[steps, B, ...]``: every neuron at
    step 0, then the neurons whose state changed during the step."""
    out = np.zeros(states.shape[0], np.int64)
    out[0] = states[0].size
    if states.shape[0] > 1:
        out[1:] = _per_step(states[1:] != states[:-1])
    return out


def _lif_membranes(graph, name, spikes, h) -> np.ndarray:
    """The post-reset states ``v [steps, B, ...]`` of a LIF/CubaLIF from its pre-reset ``H``
    and its spikes, by the node's own reset (:func:`hwsim.arith.lif_reset_fixed`/``_float``)."""
    node: LIF | CubaLIF = graph.nodes[name]
    reset = arith.lif_reset_fixed if graph.metadata.format == "fixed" else arith.lif_reset_float
    off, T = graph.arrival_offsets()[name], graph.metadata.T
    th = np.asarray(node.threshold).reshape(-1)
    v = np.empty_like(h)
    for t in range(h.shape[0]):
        k = min(max(t - off, 0), T - 1) if th.size > 1 else 0
        v[t] = reset(h[t], spikes[t] != 0, th[k], node.reset)
    return v


def count_records(
    graph: HardwareGraph,
    records: Mapping[str, np.ndarray],
    *,
    source: str = "records",
) -> Counts:
    """Count a run from its per-step outputs ``records {node: [steps, B, *shape]}`` (hwsim's
    ``SimResult.records``, a Lava run's, or any reference's): the nodes of
    :func:`needed_records` (pass-through nodes may be missing; they are recomputed), plus
    ``"<lif>/h"`` for MembraneUpdates and ``"<cubalif>/u"`` for the current updates (each left
    out when absent). Raises :class:`GraphError`
    naming a node that is needed but neither recorded nor recomputable."""
    outputs = _Outputs(graph, records)
    need = needed_records(graph)
    if not need:
        raise GraphError("the graph has no node to count")
    first = outputs(need[0])
    steps_, batch = int(first.shape[0]), int(first.shape[1])
    shapes = graph.shapes()
    md = graph.metadata
    layers: dict[str, LayerCounts] = {}
    for name in graph.topological_order():
        node = graph.nodes[name]
        shape = shapes[name]
        size = int(np.prod(shape))
        if isinstance(node, (Dense, Conv2d, EICircuit)):
            (pred,) = graph.predecessors(name)
            x = outputs(pred)
            if x.shape[:2] != (steps_, batch):
                raise DataError(f"records of {pred!r} have shape {x.shape}, expected steps/batch "
                                f"{(steps_, batch)}")  # fmt: skip
            static, per = _synapse(graph, name, x, steps_, batch)
            layers[name] = LayerCounts(name, node.kind, "synapse", shape, static, per)
        elif isinstance(node, (*_MEMBRANES, FastInhibitory, Readout, Input)):
            param, state, wb = footprint_bits(graph, name)
            static = {"neurons": size, "param_bits": param, "state_bits": state}
            static["state_words"] = 2 if isinstance(node, CubaLIF) else 1
            static["bias"] = int(isinstance(node, _MEMBRANES) and node.bias is not None)
            per: dict[str, np.ndarray] = {}
            if not isinstance(node, Input):
                per["updates"] = np.full(steps_, size * batch, np.int64)
            if not isinstance(node, Readout):
                y = outputs(name)
                nz = y != 0
                per["out_events"] = _per_step(nz)
                per["out_graded"] = _per_step(nz & (np.abs(y) != 1))
            if isinstance(node, SPIKING_KINDS) and f"{name}/h" in records:
                h = np.asarray(records[f"{name}/h"])
                per["membrane_updates"] = _state_updates(_lif_membranes(graph, name, y, h))
            elif isinstance(node, LI):
                per["membrane_updates"] = _state_updates(y)  # its output is its membrane
            if isinstance(node, CubaLIF) and f"{name}/u" in records:
                per["current_updates"] = _state_updates(np.asarray(records[f"{name}/u"]))
            role = "input" if isinstance(node, Input) else "neuron"
            layers[name] = LayerCounts(name, node.kind, role, shape, static, per)
        else:
            param, state, _ = footprint_bits(graph, name)
            if param or state:  # Delay lines hold state
                static = {"neurons": 0, "param_bits": param, "state_bits": state}
                layers[name] = LayerCounts(name, node.kind, "other", shape, static, {})
    return Counts(layers, batch, steps_, md.T, md.format, md.timing, source)


def count_result(graph: HardwareGraph, result) -> Counts:
    """:func:`count_records` on a run result with ``records`` (hwsim's ``SimResult`` run with
    ``record=needed_records(graph)``, or ``exporters.lava.LavaResult``); ``source`` is
    ``lava`` for a Lava result."""
    source = "lava" if hasattr(result, "select_tag") else "hwsim"
    return count_records(graph, result.records, source=source)


def count_run(
    graph: HardwareGraph,
    x,
    batch_size: int = 64,
    *,
    generator: np.random.Generator | None = None,
    progress: bool = False,
    with_result: bool = False,
):
    """Simulate ``graph`` on ``x [N, ...]`` (``[T, N, ...]`` for ``spikes``) in batches with
    hwsim, recording only what counting needs, and return the merged :class:`Counts` (and,
    with ``with_result``, the predictions ``[N]`` and readout ``[N, K]`` as a tuple
    ``(counts, predictions, readout)``). Memory stays bounded by one batch of records."""
    from hwsim.sim import iter_batches, simulate

    gen = np.random.default_rng(0) if generator is None else generator
    rec = needed_records(graph)
    total: Counts | None = None
    preds, readouts = [], []
    for xb in iter_batches(graph, x, batch_size, "counting" if progress else None):
        res = simulate(graph, xb, record=rec, generator=gen)
        c = count_result(graph, res)
        total = c if total is None else total.merge(c)
        if with_result and res.predictions is not None:
            preds.append(res.predictions)
            readouts.append(res.readout)
    if not with_result:
        return total
    cat = (lambda v: np.concatenate(v)) if preds else (lambda v: None)
    return total, cat(preds), cat(readouts)
