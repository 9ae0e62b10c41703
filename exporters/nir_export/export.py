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

from hwsim.errors import ExportError, Violation
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

__all__ = [
    "to_nir",
    "nir_violations",
    "lif_to_nir_params",
    "DEFAULT_DT",
    "HINT_ADD",
    "META_T",
    "META_DT",
]

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


META_PORTABLE = "spikefold_portable"


@dataclass(frozen=True)
class _Ctx:
    graph: HardwareGraph
    shapes: dict[str, Shape]
    dt: float
    portable: bool
    gains: dict[str, float]  # synapse -> factor folded into its weights (portable mode)


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


# One function per node kind: (name, node, ctx) -> nir node
# ---------------------------------------------------------------------------------------------


def _input(name: str, node: Input, ctx: _Ctx) -> nir.NIRNode:
    return nir.Input(
        input_type={"input": np.array(node.shape)},
        metadata={HINT_ENCODING: node.encoding},
    )


def _dense(name: str, node: Dense, ctx: _Ctx) -> nir.NIRNode:
    g = ctx.gains.get(name, 1.0)
    if node.bias is None and not ctx.portable:
        return nir.Linear(weight=np.array(node.weight) * g)
    # portable: always Affine (zero bias), the one dense kind every reader imports (Sinabs)
    bias = np.zeros(node.weight.shape[0]) if node.bias is None else np.array(node.bias) * g
    return nir.Affine(weight=np.array(node.weight) * g, bias=bias)


def _conv2d(name: str, node: Conv2d, ctx: _Ctx) -> nir.NIRNode:
    c, h, w = ctx.graph.input_shapes(name)[0]
    g = ctx.gains.get(name, 1.0)
    bias = node.bias if node.bias is not None else np.zeros(node.weight.shape[0], node.weight.dtype)
    return nir.Conv2d(
        input_shape=(h, w),
        weight=np.array(node.weight) * g,
        stride=tuple(node.stride),
        padding=tuple(node.padding),
        dilation=(1, 1),
        groups=1,
        bias=np.array(bias) * g,
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
    # NIR shapes are per sample, but readers apply torch.nn.Flatten(start_dim, end_dim) to
    # batched tensors: start_dim=0 would flatten the batch axis there (snnTorch, Norse).
    # Counted from the end, (-ndim, -1) flattens a whole sample with or without a batch axis.
    in_shape = ctx.graph.input_shapes(name)[0]
    return nir.Flatten(
        input_type={"input": np.array(in_shape)}, start_dim=-len(in_shape), end_dim=-1
    )


def _membrane(name: str, node: LIF | CubaLIF | LI, ctx: _Ctx) -> dict:
    """The NIR arrays of a membrane ``V = a·V + I + b`` (:func:`lif_to_nir_params`) over the
    population's shape: ``tau``, ``r``, ``v_leak`` (``a < 1``) or ``r`` only (``a == 1``: IF or
    I, which have no constant term; :func:`nir_violations` refuses a bias there), and the
    hints. Portable: ``R = 1``, its factor is in the incoming weights (``ctx.gains``)."""
    shape = ctx.shapes[name]
    full = np.ones(shape, dtype=np.float64)
    params = lif_to_nir_params(node.decay, ctx.dt)
    r = 1.0 if ctx.portable else params["r"]
    bias = node.bias_broadcast(shape)
    meta: dict = {HINT_DECAY: float(node.decay)}
    if bias is not None:
        meta[HINT_BIAS] = np.array(node.bias).reshape(-1)  # its own dtype: float32 stays
        meta[HINT_BIAS_SHAPE] = json.dumps(list(node.bias.shape))
    if "tau" not in params:
        return {"r": full * r, "metadata": meta}
    v_leak = 0 * full if bias is None else full * (params["v_leak_gain"] * np.asarray(bias, float))
    return {"tau": full * params["tau"], "r": full * r, "v_leak": v_leak, "metadata": meta}


def _spiking(name: str, node: LIF | CubaLIF, ctx: _Ctx) -> dict:
    full = np.ones(ctx.shapes[name], dtype=np.float64)
    theta = float(np.asarray(node.threshold, dtype=np.float64).reshape(-1)[0])
    return {"v_threshold": full * theta, "v_reset": 0 * full}


def _lif(name: str, node: LIF, ctx: _Ctx) -> nir.NIRNode:
    m = _membrane(name, node, ctx)
    kind = nir.LIF if "tau" in m else nir.IF
    return kind(**m, **_spiking(name, node, ctx))


def _cuba_lif(name: str, node: CubaLIF, ctx: _Ctx) -> nir.NIRNode:
    """NIR ``CubaLIF``: the current ``τ_syn dI/dt = -I + w_in S`` in forward Euler is ``I' =
    (1 - dt/τ_syn)·I + (dt/τ_syn)·w_in·S``, spikefold's ``u = c·u + x`` with ``τ_syn =
    dt/(1-c)`` and ``w_in = τ_syn/dt = 1/(1-c)`` (portable: 1, the factor in the weights); the
    membrane, driven by the new current, as the LIF's (:func:`lif_to_nir_params`)."""
    c = float(node.current_decay)
    m = _membrane(name, node, ctx)
    m["metadata"][HINT_CURRENT_DECAY] = c
    full = np.ones(ctx.shapes[name], dtype=np.float64)
    w_in = 1.0 if ctx.portable else 1.0 / (1.0 - c)
    return nir.CubaLIF(
        tau_syn=full * (ctx.dt / (1.0 - c)),
        tau_mem=m["tau"],
        r=m["r"],
        v_leak=m["v_leak"],
        w_in=full * w_in,
        metadata=m["metadata"],
        **_spiking(name, node, ctx),
    )


def _li(name: str, node: LI, ctx: _Ctx) -> nir.NIRNode:
    """NIR ``LI`` (``τ dv/dt = (v_leak - v) + R·I``, the LIF's membrane without threshold), or
    NIR ``I`` (``dv/dt = R·I``) for ``decay == 1``; parameters as the LIF's."""
    m = _membrane(name, node, ctx)
    return nir.LI(**m) if "tau" in m else nir.I(**m)


def _delay(name: str, node: Delay, ctx: _Ctx) -> nir.NIRNode:
    return nir.Delay(delay=np.full(ctx.shapes[name], node.steps * ctx.dt, dtype=np.float64))


def _readout(name: str, node: Readout, ctx: _Ctx) -> nir.NIRNode:
    # The Readout accumulates; NIR's Output passes the per-step current and the runner sums it.
    return nir.Output(output_type={"output": np.array(ctx.shapes[name])})


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
}
"""Node kind -> converter. :class:`Add` is structural (dissolved into summing edges); a kind
missing here is reported by :func:`nir_violations`."""


# ---------------------------------------------------------------------------------------------
# What NIR 1.0 cannot express: every violation at once
# ---------------------------------------------------------------------------------------------

_GRADED = (
    "a graded inhibitory payload (the unit's real-valued current sent as the event's value) is "
    "not expressible in NIR 1.0: its neurons (LIF, IF, CubaLIF, Threshold) emit binary events "
    "and it has no graded-spike node"
)
_NO_EI = "use an architecture without E-I circuits, or export to Lava or ONNX, which hold them"


def _v(rule: str, layer: str, what: str, fix: str | None) -> Violation:
    return Violation(rule=rule, target="nir", layer=layer, what=what, fix=fix)


def _lif_violations(name: str, node: LIF | CubaLIF | LI, graph: HardwareGraph) -> list[Violation]:
    out = []
    if isinstance(node, CubaLIF) and 1.0 in (float(node.current_decay), float(node.decay)):
        out.append(_v("nir_cuba_no_leak", name,
            f"current_decay={node.current_decay}, decay={node.decay}: a decay of 1 (no leak) "
            "has no finite tau_syn/tau_mem in NIR's CubaLIF (and NIR has no current-based IF)",
            "train with decays below 1"))  # fmt: skip
    if isinstance(node, LI):
        return out + _bias_violations(name, node, graph, "I")
    if node.reset != "hard":
        out.append(_v("nir_soft_reset", name,
            "soft reset (V = H - θ·S, reset by subtraction) is not expressible in NIR 1.0: its "
            "LIF and IF set the membrane to v_reset on a spike (Norse's reset_method is a "
            "runner option, not part of the graph)",
            "retrain with hard reset (model option neuron.reset: hard), or export to Lava or "
            "ONNX"))  # fmt: skip
    th = np.asarray(node.threshold, dtype=np.float64)
    if th.ndim and not np.all(th == th.flat[0]):
        out.append(_v("nir_threshold_schedule", name,
            "a per-step threshold schedule θ[t] (OTS) is not expressible in NIR 1.0: "
            "v_threshold is constant in time and NIR has no time-varying parameter",
            "train without OTS (a constant threshold)"))  # fmt: skip
    return out + _bias_violations(name, node, graph, "IF")


def _bias_violations(name: str, node, graph: HardwareGraph, leakless: str) -> list[Violation]:
    bias = node.bias_broadcast(graph.shapes()[name])
    if float(node.decay) == 1.0 and bias is not None and np.any(bias != 0):
        return [_v("nir_if_bias", name,
            f"decay 1 (no leak) maps to NIR {leakless}, which has no constant input term for "
            "the bias b", "move the bias into the preceding synapse")]  # fmt: skip
    return []


def _node_violations(name: str, node: Node, graph: HardwareGraph) -> list[Violation]:
    if isinstance(node, (LIF, CubaLIF, LI)):
        return _lif_violations(name, node, graph)
    if isinstance(node, Conv2d) and node.groups != 1:
        return [_v("nir_grouped_conv", name,
            f"groups={node.groups} cannot be exported: nir 1.0.8 takes weight.shape[1] "
            "(C/groups) as the input channels in its type check and Norse builds the layer the "
            "same way", "export an ungrouped convolution")]  # fmt: skip
    if isinstance(node, EICircuit):
        return [_v("nir_ei_circuit", name,
            "an E-I circuit is not expressible in NIR 1.0: divisive inhibition "
            "I = g_E(I_EE - I_sub)/stab(D) + b_E needs a division by a per-sample stabilised "
            "denominator, which has no NIR primitive, and its inhibitory population sends "
            "graded payloads (" + _GRADED + ")", _NO_EI)]  # fmt: skip
    if isinstance(node, FastInhibitory):
        return [_v("nir_graded_payload", name, _GRADED, _NO_EI)]
    if not isinstance(node, Add) and type(node) not in _EXPORTERS:
        return [_v("nir_node_kind", name, "no NIR mapping for this node kind", None)]
    return []


def _portable_gains(graph: HardwareGraph, dt: float, out: list[Violation]) -> dict[str, float]:
    """Portable mode: per synapse, the factor ``1/(R·dt/τ)`` that lets its LIF have ``R = 1``
    (``1/(1 - a)``; an IF's ``1/dt``). A LIF fed by anything but its own synapses cannot."""
    gains: dict[str, float] = {}
    for name, node in graph.nodes.items():
        if not isinstance(node, (LIF, CubaLIF, LI)):
            continue
        g = 1.0 / dt if float(node.decay) == 1.0 else 1.0 / (1.0 - float(node.decay))
        if isinstance(node, CubaLIF) and float(node.current_decay) < 1.0:
            g /= 1.0 - float(node.current_decay)  # w_in = 1 too
        for p in graph.predecessors(name):
            own = isinstance(graph.nodes[p], (Dense, Conv2d)) and graph.successors(p) == [name]
            if not own:
                out.append(_v("nir_portable_gain", name,
                    f"portable mode folds the input gain {g:g} into the synapses feeding this "
                    f"neuron, but its input {p!r} ({graph.nodes[p].kind}) is not a Dense/Conv2d "
                    "feeding it alone", "export without portable (R = 1/(1 - a))"))  # fmt: skip
            gains[p] = g
    return gains


def _graph_violations(graph: HardwareGraph) -> list[Violation]:
    md, out = graph.metadata, []
    if md.format != "float32":
        out.append(_v("nir_float_graph", "<graph>",
            "NIR export takes the float graph: NIR 1.0 has no fixed-point semantics (Loihi-style "
            f"shifts, 24-bit wraps); this graph's format is {md.format!r}",
            "export graph.float.npz"))  # fmt: skip
    if md.timing != "ideal":
        out.append(_v("nir_ideal_timing", "<graph>",
            "NIR export takes the 'ideal'-timing graph: NIR synapses have no delay, so the "
            f"'{md.timing}' graph's one-step synapse latency would be lost",
            "export the ideal-timing float graph"))  # fmt: skip
    return out


def nir_violations(
    graph: HardwareGraph, *, portable: bool = False, dt: float = DEFAULT_DT
) -> list[Violation]:
    """Everything in ``graph`` that NIR 1.0 cannot express (empty when it exports), each a
    :class:`~hwsim.errors.Violation` with ``target="nir"``: fixed format, ``lava`` timing,
    soft reset, per-step thresholds, E-I circuits, graded payloads, grouped convolutions, an IF
    with a bias, a source reaching a node twice through ``Add``s, unmapped kinds; ``portable``
    also a LIF whose gain cannot move into its synapses."""
    out = _graph_violations(graph)
    for name in graph.topological_order():
        out += _node_violations(name, graph.nodes[name], graph)
    out += _doubled_sources(graph)
    if portable:
        _portable_gains(graph, dt, out)
    return out


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------


def to_nir(
    graph: HardwareGraph, *, dt: float = DEFAULT_DT, portable: bool = False
) -> nir.NIRGraph:
    """The NIR graph of a float, ``ideal``-timing hardware graph (node names kept).

    Node kinds: ``Input -> nir.Input``, ``Dense -> nir.Affine`` (``nir.Linear`` without bias),
    ``Conv2d -> nir.Conv2d``, ``SumPool2d/AvgPool2d -> nir.SumPool2d/AvgPool2d``, ``Flatten ->
    nir.Flatten(start_dim=-ndim)`` (a whole sample, batched or not), ``LIF`` (hard reset,
    constant threshold) ``-> nir.LIF`` (``nir.IF`` when ``decay == 1``) with the parameters of
    :func:`lif_to_nir_params`, ``CubaLIF`` (hard reset, constant threshold, decays < 1) ``->
    nir.CubaLIF``, ``LI -> nir.LI`` (``nir.I`` when ``decay == 1``), ``Delay ->
    nir.Delay(steps·dt)``, ``Readout -> nir.Output`` (the
    runner sums it over time). ``Add`` is dissolved: NIR sums the edges into a node, so each
    source of the ``Add`` is wired to each of its successors. Graph metadata: ``dt``,
    ``spikefold_T``, ``spikefold_version``, ``spikefold_origin`` (JSON).

    ``portable``: every neuron gets ``R = 1`` and its input gain (``1/(1 - a)``, an IF's
    ``1/dt``) is folded into the incoming weights and biases, for readers that ignore ``R``
    (Norse, Sinabs); ``docs/interop.md`` gives the ``dt`` each reader needs. Raises
    :class:`ExportError` listing every :func:`nir_violations` entry.
    """
    md = graph.metadata
    lif_to_nir_params(0.0, float(dt))  # validates dt
    problems = nir_violations(graph, portable=portable, dt=dt)
    if problems:
        lines = [
            f"node {v.layer!r} ({graph.nodes[v.layer].kind if v.layer in graph.nodes else 'graph'})"
            f": {v.what}" + (f"; fix: {v.fix}" if v.fix else "")
            for v in problems
        ]
        if len(lines) == 1:  # one line, as every other refusal (spikefold run prints it so)
            raise ExportError(lines[0])
        raise ExportError(
            f"the graph is not expressible in NIR 1.0 ({len(lines)} problems):\n  "
            + "\n  ".join(lines)
        )
    gains = _portable_gains(graph, float(dt), []) if portable else {}
    ctx = _Ctx(graph, graph.shapes(), float(dt), portable, gains)
    nodes: dict[str, nir.NIRNode] = {}
    for name in graph.topological_order():
        node = graph.nodes[name]
        if not isinstance(node, Add):
            nodes[name] = _EXPORTERS[type(node)](name, node, ctx)
    edges = _dissolve_adds(graph, nodes)
    metadata = {
        META_DT: ctx.dt,
        META_T: int(md.T),
        META_VERSION: md.spikefold_version,
        META_ORIGIN: json.dumps(md.origin, sort_keys=True),
    }
    if portable:
        metadata[META_PORTABLE] = 1
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)
    except (ValueError, AssertionError, TypeError) as exc:
        raise ExportError(f"nir rejected the exported graph: {exc}") from exc


def _sources(graph: HardwareGraph, name: str) -> list[str]:
    """The non-Add nodes whose outputs reach ``name`` through ``Add`` nodes (or itself)."""
    if not isinstance(graph.nodes[name], Add):
        return [name]
    return [s for p in graph.predecessors(name) for s in _sources(graph, p)]


def _doubled_sources(graph: HardwareGraph) -> list[Violation]:
    out = []
    for dst, node in graph.nodes.items():
        if isinstance(node, Add):
            continue
        srcs = [s for p in graph.predecessors(dst) for s in _sources(graph, p)]
        if len(set(srcs)) != len(srcs):
            out.append(_v("nir_doubled_edge", dst,
                "one source reaches it twice through Add nodes; NIR sums edges, and a doubled "
                "edge has no NIR expression without a Scale node", None))  # fmt: skip
    return out


def _dissolve_adds(graph: HardwareGraph, nodes: dict[str, nir.NIRNode]) -> list[tuple[str, str]]:
    """Edges with every :class:`Add` replaced by edges from its (recursive) sources."""
    edges: list[tuple[str, str]] = []
    for dst in nodes:
        for p in graph.predecessors(dst):
            if isinstance(graph.nodes[p], Add):
                nodes[dst].metadata[HINT_ADD] = p
            edges += [(s, dst) for s in _sources(graph, p)]
    return edges
