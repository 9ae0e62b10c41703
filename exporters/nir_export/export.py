"""Float hardware graph -> NIR 1.0 (``nir.NIRGraph``), one small function per node kind.

NIR describes neurons in continuous time; a backend discretises them with its own step ``dt``.
The mapping is chosen so that NIR's ``LIF``, discretised as Norse does it (forward Euler,
``norse.torch.functional.lif_box.lif_box_feed_forward_step``), is exactly the training-time
update of TECHNIQUES.md section 1.

LIF parameters (derivation)
---------------------------
NIR ``LIF``::

    τ dv/dt = (v_leak - v) + R·I,     z = Θ(v - v_th) (spike on v > v_th),  on z: v <- v_reset

Norse, one Euler step of length ``dt`` (``dv = dt·(1/τ)·(R·I + v_leak - v)``)::

    v' = (1 - dt/τ)·v + (dt/τ)·R·I + (dt/τ)·v_leak

hwsim (float): ``H = a·V + I + b``, spike on ``H >= θ``, hard reset ``V = H·(1 - S)``. Matching
the coefficients of ``v``, ``I`` and the constant term gives::

    τ = dt / (1 - a)      R = τ / dt = 1 / (1 - a)      v_leak = b / (1 - a) = R·b
    v_th = θ              v_reset = 0

``dt`` is free (only ``dt/τ`` matters); the default ``dt = 1`` makes one hwsim step one time
unit, so ``τ`` equals the torch ``tau`` (``a = 1 - 1/tau``): ``a = 0.5 -> τ = 2, R = 2``.
``a = 0`` gives ``τ = dt, R = 1``. ``a = 1`` (no leak) has no finite ``τ``: it becomes NIR
``IF`` (``dv/dt = R·I``, Euler ``v' = v + dt·R·I``) with ``R = 1/dt``; its bias is not expressible
(``IF`` has no constant term). The graph's ``metadata["dt"]`` records ``dt``.

What differs and is handled by the runner (:mod:`exporters.nir_export.norse_runner`): spikefold
starts every neuron at ``V[-1] = 0`` (Norse starts at ``v_leak``; NIR leaves it open), and spikes
on ``H >= θ`` where NIR/Norse spike on ``v > θ``: they differ only where ``H == θ`` exactly (a
tie). In floating point, Norse's evaluation order rounds differently from ``fl(fl(a·V) + I)``
(a few ulps), which again matters only at ties; rung 4 classifies both.

Not expressible in NIR 1.0 (each raises :class:`~hwsim.errors.ExportError` naming the node):
soft reset, non-constant per-step thresholds, E-I circuits, graded inhibitory payloads,
grouped convolutions (nir 1.0.8's type check), fixed-point graphs and ``lava`` timing.

spikefold hints
---------------
Where NIR loses something spikefold needs to rebuild the *identical* graph, a node carries a
``metadata`` hint (NIR consumers ignore them; :func:`~exporters.nir_export.importer.from_nir`
uses a value hint only when it agrees with the NIR parameters): ``spikefold_add`` (the name of a
dissolved :class:`~hwsim.graph.Add`, on its successors), ``spikefold_decay``,
``spikefold_current_decay`` (CubaLIF) and ``spikefold_bias``/``spikefold_bias_shape`` (exact
``a``, ``c`` and ``b``: ``1 - dt/τ`` and ``v_leak·dt/τ`` are only within an ulp of them),
``spikefold_encoding`` on the input.

CubaLIF and LI
--------------
``CubaLIF`` (``u = c·u + x``, then the LIF membrane driven by the new ``u``) becomes NIR
``CubaLIF`` with the membrane constants above and, for the current, ``τ_syn = dt/(1-c)`` and
``w_in = 1/(1-c)`` (Euler: ``I' = (1 - dt/τ_syn)·I + (dt/τ_syn)·w_in·S``); ``c = 1`` or ``a = 1``
has no finite time constant and is refused. ``LI`` (``V = a·V + I + b``, graded output)
becomes NIR ``LI`` with the LIF's ``τ``, ``R``, ``v_leak``, or NIR ``I`` (``R = 1/dt``) for
``a = 1``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import nir
import numpy as np

from hwsim.errors import ExportError
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
    HardwareGraph,
    Input,
    Node,
    Readout,
    Shape,
    SumPool2d,
)

__all__ = ["to_nir", "lif_to_nir_params", "DEFAULT_DT", "HINT_ADD", "META_T", "META_DT"]

DEFAULT_DT = 1.0
"""One hwsim step = one NIR time unit (``τ`` then equals the torch ``tau``)."""

META_DT = "dt"
META_T = "spikefold_T"
META_ORIGIN = "spikefold_origin"
META_VERSION = "spikefold_version"
HINT_ADD = "spikefold_add"
HINT_DECAY = "spikefold_decay"
HINT_CURRENT_DECAY = "spikefold_current_decay"
HINT_BIAS = "spikefold_bias"
HINT_BIAS_SHAPE = "spikefold_bias_shape"
HINT_ENCODING = "spikefold_encoding"


@dataclass(frozen=True)
class _Ctx:
    graph: HardwareGraph
    shapes: dict[str, Shape]
    dt: float


def lif_to_nir_params(decay: float, dt: float) -> dict[str, float]:
    """The continuous-time constants of a hwsim LIF ``H = a·V + I + b`` (module docstring)::

        tau = dt/(1-a),  r = 1/(1-a),  v_leak = b/(1-a)    (a < 1)

    Returns ``{"tau", "r", "v_leak_gain"}`` with ``v_leak = v_leak_gain·b``; ``a == 1`` (IF)
    returns ``{"r": 1/dt}`` only.
    """
    a = float(decay)
    if not (np.isfinite(dt) and dt > 0):
        raise ExportError(f"dt={dt!r} must be a positive number")
    if a == 1.0:
        return {"r": 1.0 / dt}
    return {"tau": dt / (1.0 - a), "r": 1.0 / (1.0 - a), "v_leak_gain": 1.0 / (1.0 - a)}


# ---------------------------------------------------------------------------------------------
# One function per node kind: (name, node, ctx) -> nir node
# ---------------------------------------------------------------------------------------------


def _input(name: str, node: Input, ctx: _Ctx) -> nir.NIRNode:
    return nir.Input(
        input_type={"input": np.array(node.shape)},
        metadata={HINT_ENCODING: node.encoding},
    )


def _dense(name: str, node: Dense, ctx: _Ctx) -> nir.NIRNode:
    if node.bias is None:
        return nir.Linear(weight=np.array(node.weight))
    return nir.Affine(weight=np.array(node.weight), bias=np.array(node.bias))


def _conv2d(name: str, node: Conv2d, ctx: _Ctx) -> nir.NIRNode:
    if node.groups != 1:
        raise ExportError(
            f"node {name!r} (Conv2d): groups={node.groups} cannot be exported: nir 1.0.8 takes "
            "weight.shape[1] (C/groups) as the input channels in its type check and Norse builds "
            "the layer the same way; export an ungrouped convolution"
        )
    c, h, w = ctx.graph.input_shapes(name)[0]
    bias = node.bias if node.bias is not None else np.zeros(node.weight.shape[0], node.weight.dtype)
    return nir.Conv2d(
        input_shape=(h, w),
        weight=np.array(node.weight),
        stride=tuple(node.stride),
        padding=tuple(node.padding),
        dilation=(1, 1),
        groups=1,
        bias=np.array(bias),
    )


def _pool(cls: type) -> Callable[[str, SumPool2d, _Ctx], nir.NIRNode]:
    def convert(name: str, node: SumPool2d, ctx: _Ctx) -> nir.NIRNode:
        return cls(
            kernel_size=np.array(node.kernel),
            stride=np.array(node.effective_stride),
            padding=np.array([0, 0]),
        )

    return convert


def _flatten(name: str, node: Flatten, ctx: _Ctx) -> nir.NIRNode:
    # NIR shapes are per sample, so flattening (C, H, W) -> (C·H·W,) is start_dim=0 (the runner
    # shifts it by one for Norse, which applies torch.nn.Flatten to batched tensors).
    in_shape = ctx.graph.input_shapes(name)[0]
    return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)


def _constant_threshold(name: str, node: LIF) -> float:
    th = np.asarray(node.threshold, dtype=np.float64)
    if th.ndim and not np.all(th == th.flat[0]):
        raise ExportError(
            f"node {name!r} (LIF): a per-step threshold schedule θ[t] (OTS) is not expressible "
            "in NIR 1.0: v_threshold is constant in time and NIR has no time-varying parameter"
        )
    return float(th.flat[0])


def _hard_reset(name: str, node: LIF | CubaLIF) -> None:
    if node.reset != "hard":
        raise ExportError(
            f"node {name!r} ({node.kind}): soft reset (V = H - θ·S, reset by subtraction) is "
            "not expressible in NIR 1.0: its LIF, IF and CubaLIF set the membrane to v_reset "
            "on a spike (Norse's reset_method is a runner option, not part of the graph); "
            "retrain with hard reset (model option neuron.reset: hard), or export to Lava or ONNX"
        )


def _membrane(name: str, node: LIF | CubaLIF | LI, ctx: _Ctx, leakless: str) -> dict:
    """The NIR arrays of a membrane ``V = a·V + I + b`` (:func:`lif_to_nir_params`) over the
    population's shape: ``tau``, ``r``, ``v_leak`` (``a < 1``) or ``r`` only (``a == 1``, the
    ``leakless`` NIR kind, which has no constant term: a bias there raises), and the hints."""
    shape = ctx.shapes[name]
    full = np.ones(shape, dtype=np.float64)
    params = lif_to_nir_params(node.decay, ctx.dt)
    bias = node.bias_broadcast(shape)
    meta: dict = {HINT_DECAY: float(node.decay)}
    if bias is not None:
        meta[HINT_BIAS] = np.array(node.bias).reshape(-1)  # its own dtype: float32 stays
        meta[HINT_BIAS_SHAPE] = json.dumps(list(node.bias.shape))
    if "tau" not in params:
        if bias is not None and np.any(bias != 0):
            raise ExportError(
                f"node {name!r} ({node.kind}): decay 1 (no leak) maps to NIR {leakless}, which "
                "has no constant input term for the bias b; move the bias into the preceding "
                "synapse"
            )
        return {"r": full * params["r"], "metadata": meta}
    v_leak = 0 * full if bias is None else full * (params["v_leak_gain"] * np.asarray(bias, float))
    tau, r = full * params["tau"], full * params["r"]
    return {"tau": tau, "r": r, "v_leak": v_leak, "metadata": meta}


def _lif(name: str, node: LIF, ctx: _Ctx) -> nir.NIRNode:
    _hard_reset(name, node)
    m = _membrane(name, node, ctx, "IF")
    full = np.ones(ctx.shapes[name], dtype=np.float64)
    spiking = {"v_threshold": full * _constant_threshold(name, node), "v_reset": 0 * full}
    if "tau" not in m:
        return nir.IF(**m, **spiking)
    return nir.LIF(**m, **spiking)


def _cuba_lif(name: str, node: CubaLIF, ctx: _Ctx) -> nir.NIRNode:
    """NIR ``CubaLIF``: the current ``τ_syn dI/dt = -I + w_in S`` in forward Euler is ``I' =
    (1 - dt/τ_syn)·I + (dt/τ_syn)·w_in·S``, spikefold's ``u = c·u + x`` with ``τ_syn =
    dt/(1-c)`` and ``w_in = τ_syn/dt = 1/(1-c)``; the membrane, driven by the new current, as
    the LIF's (:func:`lif_to_nir_params`)."""
    _hard_reset(name, node)
    c = float(node.current_decay)
    if c == 1.0 or float(node.decay) == 1.0:
        raise ExportError(
            f"node {name!r} (CubaLIF): current_decay={c}, decay={node.decay}: a decay of 1 (no "
            "leak) has no finite tau_syn/tau_mem in NIR's CubaLIF (and NIR has no "
            "current-based IF)"
        )
    m = _membrane(name, node, ctx, "CubaLIF")
    m["metadata"][HINT_CURRENT_DECAY] = c
    full = np.ones(ctx.shapes[name], dtype=np.float64)
    return nir.CubaLIF(
        tau_syn=full * (ctx.dt / (1.0 - c)),
        tau_mem=m["tau"],
        r=m["r"],
        v_leak=m["v_leak"],
        v_threshold=full * _constant_threshold(name, node),
        v_reset=0 * full,
        w_in=full * (1.0 / (1.0 - c)),
        metadata=m["metadata"],
    )


def _li(name: str, node: LI, ctx: _Ctx) -> nir.NIRNode:
    """NIR ``LI`` (``τ dv/dt = (v_leak - v) + R·I``, the LIF's membrane without threshold), or
    NIR ``I`` (``dv/dt = R·I``) for ``decay == 1``; parameters as the LIF's."""
    m = _membrane(name, node, ctx, "I")
    return nir.LI(**m) if "tau" in m else nir.I(**m)


def _delay(name: str, node: Delay, ctx: _Ctx) -> nir.NIRNode:
    return nir.Delay(delay=np.full(ctx.shapes[name], node.steps * ctx.dt, dtype=np.float64))


def _readout(name: str, node: Readout, ctx: _Ctx) -> nir.NIRNode:
    # The Readout accumulates; NIR's Output passes the per-step current and the runner sums it.
    return nir.Output(output_type={"output": np.array(ctx.shapes[name])})


def _not_expressible(reason: str) -> Callable[[str, Node, _Ctx], nir.NIRNode]:
    def refuse(name: str, node: Node, ctx: _Ctx) -> nir.NIRNode:
        raise ExportError(f"node {name!r} ({node.kind}): {reason}")

    return refuse


_GRADED = (
    "a graded inhibitory payload (the unit's real-valued current sent as the event's value) is "
    "not expressible in NIR 1.0: its neurons (LIF, IF, CubaLIF, Threshold) emit binary events "
    "and it has no graded-spike node"
)

_EXPORTERS: dict[type, Callable[[str, Node, _Ctx], nir.NIRNode]] = {
    Input: _input,
    Dense: _dense,
    Conv2d: _conv2d,
    SumPool2d: _pool(nir.SumPool2d),
    AvgPool2d: _pool(nir.AvgPool2d),
    Flatten: _flatten,
    LIF: _lif,
    CubaLIF: _cuba_lif,
    LI: _li,
    Delay: _delay,
    Readout: _readout,
    FastInhibitory: _not_expressible(_GRADED),
    EICircuit: _not_expressible(
        "an E-I circuit is not expressible in NIR 1.0: divisive inhibition "
        "I = g_E(I_EE - I_sub)/stab(D) + b_E needs a division by a per-sample stabilised "
        "denominator, which has no NIR primitive, and its inhibitory population sends graded "
        "payloads (" + _GRADED + ")"
    ),
}
"""Node kind -> converter. :class:`Add` is structural (dissolved into summing edges);
a kind missing here raises."""


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------


def to_nir(graph: HardwareGraph, *, dt: float = DEFAULT_DT) -> nir.NIRGraph:
    """The NIR graph of a float, ``ideal``-timing hardware graph (node names kept).

    Node kinds: ``Input -> nir.Input``, ``Dense -> nir.Affine`` (``nir.Linear`` without bias),
    ``Conv2d -> nir.Conv2d``, ``SumPool2d/AvgPool2d -> nir.SumPool2d/AvgPool2d``, ``Flatten ->
    nir.Flatten(start_dim=0)``, ``LIF`` (hard reset, constant threshold) ``-> nir.LIF`` (``nir.IF``
    when ``decay == 1``) with the parameters of :func:`lif_to_nir_params`, ``CubaLIF`` (hard
    reset, constant threshold, decays < 1) ``-> nir.CubaLIF``, ``LI -> nir.LI`` (``nir.I``
    when ``decay == 1``), ``Delay ->
    nir.Delay(steps·dt)``, ``Readout -> nir.Output`` (the runner sums it over time). ``Add`` is
    dissolved: NIR sums the edges into a node, so each source of the ``Add`` is wired to each of
    its successors. Graph metadata: ``dt``, ``spikefold_T``, ``spikefold_version``,
    ``spikefold_origin`` (JSON). Raises :class:`ExportError` naming the node for anything NIR
    1.0 cannot express.
    """
    md = graph.metadata
    if md.format != "float32":
        raise ExportError(
            "NIR export takes the float graph: NIR 1.0 has no fixed-point semantics (Loihi-style "
            f"shifts, 24-bit wraps); this graph's format is {md.format!r}"
        )
    if md.timing != "ideal":
        raise ExportError(
            "NIR export takes the 'ideal'-timing graph: NIR synapses have no delay, so the "
            f"'{md.timing}' graph's one-step synapse latency would be lost"
        )
    ctx = _Ctx(graph, graph.shapes(), float(dt))
    lif_to_nir_params(0.0, ctx.dt)  # validates dt
    nodes: dict[str, nir.NIRNode] = {}
    for name in graph.topological_order():
        node = graph.nodes[name]
        if isinstance(node, Add):
            continue
        convert = _EXPORTERS.get(type(node))
        if convert is None:
            raise ExportError(f"node {name!r} ({node.kind}): no NIR mapping for this node kind")
        nodes[name] = convert(name, node, ctx)
    edges = _dissolve_adds(graph, nodes)
    metadata = {
        META_DT: ctx.dt,
        META_T: int(md.T),
        META_VERSION: md.spikefold_version,
        META_ORIGIN: json.dumps(md.origin, sort_keys=True),
    }
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)
    except (ValueError, AssertionError, TypeError) as exc:
        raise ExportError(f"nir rejected the exported graph: {exc}") from exc


def _dissolve_adds(graph: HardwareGraph, nodes: dict[str, nir.NIRNode]) -> list[tuple[str, str]]:
    """Edges with every :class:`Add` replaced by edges from its (recursive) sources."""

    def sources(name: str) -> list[str]:
        if not isinstance(graph.nodes[name], Add):
            return [name]
        return [s for p in graph.predecessors(name) for s in sources(p)]

    edges: list[tuple[str, str]] = []
    for dst in nodes:
        srcs: list[str] = []
        for p in graph.predecessors(dst):
            if isinstance(graph.nodes[p], Add):
                nodes[dst].metadata[HINT_ADD] = p
            srcs += sources(p)
        if len(set(srcs)) != len(srcs):
            raise ExportError(
                f"node {dst!r}: one source reaches it twice through Add nodes; NIR sums edges, "
                "and a doubled edge has no NIR expression without a Scale node"
            )
        edges += [(s, dst) for s in srcs]
    return edges
