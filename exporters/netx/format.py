"""The NetX HDF5 file: what spikefold writes, what lava-dl 0.6.0's NetX reads, and back.

The layout is the one lava-dl's ``lava/lib/dl/netx/hdf5.py`` (``Network._create``,
``create_input``, ``create_dense``, ``create_conv``, ``get_neuron_params``) and
``lava/lib/dl/netx/utils.py`` (``NetDict``) read; ``docs/loihi.md`` states it field by field.
One group ``layer`` holds a group per layer, named ``"0"``, ``"1"``, ... in order:

* ``type``: ``input`` | ``flatten`` | ``dense`` | ``conv`` (ASCII, fixed-length bytes);
* ``shape``: the layer's output shape, ``(C, H, W)`` or ``(N,)`` (NetX reverses it to its
  ``(W, H, C)`` layout);
* ``weight``: the integer weights as they act (``weight_exp = 0``): ``[out, in]`` for dense,
  torch's ``[O, C/groups, kh, kw]`` for conv (NetX flips and transposes it for Lava's Conv);
* ``bias``: NetX gives it to the neuron as ``bias_mant`` with ``bias_exp = 6``, i.e. in
  activation units (per neuron, or per channel for conv);
* ``stride``, ``padding``, ``dilation`` (``(y, x)``), ``groups`` for conv;
* ``neuron``: ``type = CUBA``, ``iDecay`` (NetX passes ``du = iDecay - 1``), ``vDecay``
  (``dv``), ``vThMant`` (``vth``), ``refDelay`` (1; NetX's CUBA neuron has no refractory
  period) and ``gradedSpike`` (0: binary spikes).

A ``SumPool2d`` (stride = kernel ``k``) between a spiking layer and the next synapse is folded
into that synapse, since lava-dl 0.6.0's ``hdf5.Network`` has no pool layer: a convolution
becomes one whose kernel repeats each weight over a ``k x k`` block, with stride and padding
times ``k``; a Flatten + Dense one whose weights repeat over each pooled window. The integer
sums are the same; the layer's ``spikefold_nodes`` name the pool, and :func:`read_netx`
returns the folded synapse (no pool node).

No ``delay`` dataset is written: NetX would then build ``DelayDense`` synapses, and a
spikefold graph has no synaptic delays beyond the one step every Lava Dense/Conv takes.

spikefold adds HDF5 attributes NetX ignores, so that :func:`read_netx` rebuilds the graph
with its node names and metadata: ``spikefold_netx`` (the file version) and
``spikefold_metadata`` (JSON of :class:`~hwsim.graph.GraphMetadata`) on the root, and on each
layer ``spikefold_nodes`` (the graph nodes it realises), ``spikefold_role`` (``input``,
``flatten``, ``layer``, ``readout``) and, for the input, ``encoding`` and ``scale``.

The readout: a spikefold ``Dense -> Readout`` head becomes a dense layer whose neuron
integrates without leak and never fires (``iDecay = 4096``: ``du = 4095``, the current is the
step's input; ``vDecay = 0``: ``v`` keeps everything; ``vThMant = 2**17 - 1``), so its ``v``
is the running sum of the head's current (``<< 6``, 24-bit), bias included.

This module needs only h5py and numpy; running the file is :mod:`exporters.netx.runner`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from hwsim import arith
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
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
)
from hwsim.io import from_dict, to_dict

__all__ = [
    "NETX_VERSION",
    "READOUT_VTH",
    "netx_violations",
    "netx_layers",
    "write_netx",
    "read_netx",
    "netx_bias",
]

NETX_VERSION = 1
#: the readout layer's vThMant: the largest 17-bit threshold, never reached by a sum that fits
#: the 24-bit ``v`` below ``(2**17 - 1) << 6``
READOUT_VTH = (1 << arith.VTH_BITS) - 1
_BIAS_EXP = 6  # NetX: bias_exp = 6 for every CUBA neuron (hdf5.Network.get_neuron_params)
_BIAS_MAX = (1 << 12) - 1  # 13-bit signed bias mantissa
_TARGET = "loihi"

_LAVA_INSTEAD = (
    "deploy through `spikefold export lava` (its custom processes run it in Lava's simulator, "
    "not on a chip)"
)
_REQUANT = "quantise for NetX: `spikefold quantize RUN --target loihi`"


def _v(rule: str, layer: str, what: str, fix: str | None) -> Violation:
    return Violation(rule, _TARGET, layer, what, fix)


# ---------------------------------------------------------------------------------------------
# What NetX can express


def netx_bias(graph: HardwareGraph, neuron: str) -> np.ndarray | None:
    """The total bias of a LIF/CubaLIF ``neuron`` (its own plus its synapse's, per neuron, in
    ``v`` units: ``(b_syn << 6) + floor(b · 2**bias_exp)``), or None when it has none."""
    node = graph.nodes[neuron]
    shape = graph.shapes()[neuron]
    total = np.zeros(shape, np.int64)
    seen = False
    for p in graph.predecessors(neuron):
        syn = graph.nodes[p]
        b = getattr(syn, "bias", None)
        if b is not None and isinstance(node, LIF):
            b = np.asarray(b, np.int64)
            total += (b.reshape(-1, *([1] * (len(shape) - 1))) if b.ndim else b) << 6
            seen = True
    if node.bias is not None:
        b = arith.bias_effective(np.asarray(node.bias, np.int64), node.bias_exp)
        b = np.asarray(b, np.int64)
        if b.ndim == 1 and len(shape) == 3:
            b = b.reshape(-1, 1, 1)
        total += b
        seen = True
    return total if seen else None


def netx_violations(graph: HardwareGraph) -> list[Violation]:
    """Everything in ``graph`` that lava-dl 0.6.0's NetX cannot express, each naming its layer
    (node), what is wrong and the fix that exists. Empty: :func:`write_netx` writes it."""
    out: list[Violation] = []
    md = graph.metadata
    if md.format != "fixed":
        out.append(_v("fixed_graph", "-", f"the graph is {md.format}; NetX files hold the "
                      "integer (Loihi) parameters", _REQUANT))  # fmt: skip
    nodes = graph.nodes
    for name in graph.topological_order():
        node = nodes[name]
        preds, succs = graph.predecessors(name), graph.successors(name)
        if isinstance(node, (SumPool2d, AvgPool2d)):
            why = _pool_problem(graph, name, node)
            if why:
                out.append(_v("netx_pool", name, f"{node.kind}: lava-dl 0.6.0's hdf5.Network "
                              "raises NotImplementedError for 'pool' layers, and spikefold "
                              f"folds a pool into the next synapse only when {why}",
                              "replace the pooling by a strided convolution and retrain, or "
                              + _LAVA_INSTEAD))  # fmt: skip
        elif isinstance(node, Add):
            out.append(_v("netx_residual", name, "a residual Add: NetX's hdf5.Network is a "
                          "chain, each layer feeding only the next (no 'add' or skip layer)",
                          "train a plain (non-residual) architecture, or " + _LAVA_INSTEAD))
        elif isinstance(node, Delay):
            out.append(_v("netx_delay", name, f"a Delay node ({node.steps} steps) balancing "
                          "parallel paths: a NetX network has no parallel paths",
                          _LAVA_INSTEAD))  # fmt: skip
        elif isinstance(node, LI):
            out.append(_v("netx_li", name, "a leaky integrator read by its graded membrane: "
                          "NetX layers send spikes only",
                          "train with a Dense -> Readout head (current summed over T), or "
                          + _LAVA_INSTEAD))  # fmt: skip
        elif isinstance(node, EICircuit):
            if node.variant == "divisive":
                out.append(_v("no_ei_division", name, f"an E-I circuit ({node.variant}) "
                              "divides by a stabilised denominator per sample; no NetX layer "
                              "(and no Loihi core) divides",
                              "train a non-E-I architecture (e.g. `--arch mlp`), or "
                              + _LAVA_INSTEAD))  # fmt: skip
            out.append(_v("binary_spikes", name, "its inhibitory population sends graded "
                          "(real-valued) payloads; NetX's CUBA layers send binary spikes",
                          "train a non-E-I architecture (e.g. `--arch mlp`), or "
                          + _LAVA_INSTEAD))  # fmt: skip
        elif isinstance(node, FastInhibitory):
            out.append(_v("binary_spikes", name, "FastInhibitory sends graded payloads; "
                          "NetX's CUBA layers send binary spikes",
                          "train a non-E-I architecture, or " + _LAVA_INSTEAD))  # fmt: skip
        elif isinstance(node, (LIF, CubaLIF)):
            out += _neuron_violations(graph, name, node)
        elif isinstance(node, (Dense, Conv2d)):
            out += _synapse_violations(graph, name, node)
        elif isinstance(node, Readout):
            if len(preds) != 1 or not isinstance(nodes[preds[0]], Dense):
                out.append(_v("netx_readout", name, "the readout must be fed by one Dense "
                              f"(it is fed by {preds}): NetX's last layer is a dense layer "
                              "whose non-firing neuron integrates the current",
                              "train with a Dense -> Readout head"))  # fmt: skip
        if isinstance(node, Input) and preds:
            continue
        if len(succs) > 1:
            out.append(_v("netx_chain", name, f"feeds {len(succs)} nodes {succs}: NetX's "
                          "hdf5.Network is a chain", _LAVA_INSTEAD))  # fmt: skip
        if len(preds) > 1 and not isinstance(node, Add):
            out.append(_v("netx_chain", name, f"sums {len(preds)} inputs {preds}: NetX's "
                          "hdf5.Network is a chain", _LAVA_INSTEAD))  # fmt: skip
    ins = graph.input_names()
    if len(ins) != 1:
        out.append(_v("netx_chain", ",".join(ins), "NetX takes exactly one input", None))
    return out


def _pool_problem(graph: HardwareGraph, name: str, node) -> str | None:
    """Why the pool ``name`` cannot be folded into the synapse after it (None: it can). A
    sum pool of spikes followed by a convolution is one convolution whose kernel repeats each
    weight over a ``k x k`` block, with stride and padding times ``k``; followed by Flatten and
    a Dense, one Dense whose weights repeat over each pooled window: the same integer sums."""
    if isinstance(node, AvgPool2d):
        return "it is a SumPool2d (quantise first: `spikefold quantize RUN --target loihi`)"
    if tuple(node.effective_stride) != tuple(node.kernel):
        return f"its stride equals its kernel (kernel {node.kernel}, stride {node.stride})"
    preds, succs = graph.predecessors(name), graph.successors(name)
    if len(preds) != 1 or not isinstance(graph.nodes[preds[0]], (LIF, CubaLIF)):
        return "it pools a spiking layer's output"
    if len(succs) != 1:
        return "it feeds one node"
    nxt = graph.nodes[succs[0]]
    if isinstance(nxt, Conv2d):
        _, h, w = graph.input_shapes(name)[0]
        if h % node.kernel[0] or w % node.kernel[1]:
            return (f"the map ({h}x{w}) is a multiple of the kernel {node.kernel} (before a "
                    "convolution)")  # fmt: skip
        return None
    if isinstance(nxt, Flatten):
        after = graph.successors(succs[0])
        if len(after) == 1 and isinstance(graph.nodes[after[0]], Dense):
            return None
    return "a Conv2d, or a Flatten and a Dense, follows it"


def _fold_pool_conv(w: np.ndarray, conv: Conv2d, k: tuple[int, int]) -> dict:
    """A Conv2d after a ``k`` sum pool as one Conv2d on the unpooled map."""
    big = np.repeat(np.repeat(w, k[0], axis=2), k[1], axis=3)
    return {"weight": big,
            "stride": np.asarray([conv.stride[0] * k[0], conv.stride[1] * k[1]], np.int64),
            "padding": np.asarray([conv.padding[0] * k[0], conv.padding[1] * k[1]], np.int64)}


def _fold_pool_dense(w: np.ndarray, shape: tuple[int, int, int], k: tuple[int, int]):
    """A Dense after ``k`` sum pool + Flatten of a ``shape`` (C, H, W) map, as one Dense on
    the flattened unpooled map (rows beyond the last whole window get weight 0)."""
    c, h, wd = shape
    ho, wo = h // k[0], wd // k[1]
    pooled = w.reshape(w.shape[0], c, ho, wo)
    big = np.zeros((w.shape[0], c, h, wd), w.dtype)
    big[:, :, : ho * k[0], : wo * k[1]] = np.repeat(np.repeat(pooled, k[0], 2), k[1], 3)
    return big.reshape(w.shape[0], -1)


def _neuron_violations(graph, name, node) -> list[Violation]:
    out = []
    if node.reset != "hard":
        out.append(_v("hard_reset", name, "soft reset (V = H - θ·S): NetX's CUBA neuron "
                      "(Lava's LIF) resets v to 0",
                      "retrain with hard reset (`--set model.neuron.reset=hard`), or "
                      + _LAVA_INSTEAD))  # fmt: skip
    th = np.asarray(node.threshold)
    if th.ndim and not np.all(th == th.flat[0]):
        out.append(_v("constant_threshold", name, f"a per-step threshold schedule θ[t] "
                      f"({th.size} values, OTS): NetX's vThMant is one value for all steps",
                      "no exact rewrite to one threshold exists (docs/loihi.md); retrain "
                      "with `model.norm: osr` instead of osr_ots, or " + _LAVA_INSTEAD))
    preds = graph.predecessors(name)
    if len(preds) != 1 or not isinstance(graph.nodes[preds[0]], (Dense, Conv2d)):
        kinds = [graph.nodes[p].kind for p in preds]
        out.append(_v("netx_layer", name, f"a neuron fed by {kinds}: a NetX layer is one "
                      "Dense or Conv synapse feeding its neurons", _LAVA_INSTEAD))
        return out
    syn = graph.nodes[preds[0]]
    if isinstance(node, CubaLIF) and getattr(syn, "bias", None) is not None:
        out.append(_v("netx_bias", name, f"the bias of synapse {preds[0]!r} enters the CUBA "
                      "current, but NetX's bias acts on v", _LAVA_INSTEAD))
    if graph.metadata.format == "fixed":
        b = netx_bias(graph, name)
        if b is not None:
            if np.any(b % 64):
                out.append(_v("netx_bias", name, "its bias (neuron and synapse, in v units) is "
                              "not a whole number of activation units: NetX fixes bias_exp = 6",
                              _REQUANT))  # fmt: skip
            elif np.abs(b // 64).max() > _BIAS_MAX:
                out.append(_v("netx_bias", name, f"its bias reaches {int(np.abs(b).max()) // 64}"
                              f" activation units; NetX's 13-bit bias_mant holds {_BIAS_MAX}",
                              None))  # fmt: skip
    return out


def _synapse_violations(graph, name, node) -> list[Violation]:
    out = []
    if graph.metadata.format == "fixed" and node.weight_exp != 0:
        out.append(_v("netx_weight_exp", name, f"weight_exp={node.weight_exp}: NetX derives "
                      "each layer's weight exponent from the integer weights in the file "
                      "(utils.optimize_weight_bits), so the weights must act as they are",
                      _REQUANT))  # fmt: skip
    if graph.metadata.format == "fixed" and not np.any(np.asarray(node.weight)):
        out.append(_v("netx_zero_weights", name, "every weight is 0 (NetX's weight-bit "
                      "optimisation divides by the largest weight)", None))
    succs = graph.successors(name)
    ok = len(succs) == 1 and isinstance(graph.nodes[succs[0]], (LIF, CubaLIF, Readout))
    if not ok:
        kinds = [graph.nodes[s].kind for s in succs]
        out.append(_v("netx_layer", name, f"a synapse feeding {kinds}: a NetX layer is a "
                      "synapse feeding its own neurons (or the readout)", _LAVA_INSTEAD))
    if (graph.metadata.format == "fixed" and ok and isinstance(graph.nodes[succs[0]], Readout)
            and node.bias is not None and np.abs(np.asarray(node.bias)).max() > _BIAS_MAX):
        out.append(_v("netx_bias", name, f"its bias reaches {int(np.abs(node.bias).max())} "
                      f"activation units; NetX's 13-bit bias_mant holds {_BIAS_MAX}", None))
    return out


# ---------------------------------------------------------------------------------------------
# Writing


def _chain(graph: HardwareGraph) -> list[str]:
    return graph.topological_order()


def netx_layers(graph: HardwareGraph) -> list[dict]:
    """The NetX layers of ``graph`` (no violations: :func:`netx_violations` is empty), each a
    dict of the datasets of its group, ``neuron`` a dict, ``attrs`` its spikefold attributes."""
    bad = netx_violations(graph)
    if bad:
        lines = "\n".join(f"  {v}" for v in bad)
        raise ExportError(f"NetX cannot express this graph: {len(bad)} violation(s)\n{lines}")
    shapes = graph.shapes()
    order = _chain(graph)
    layers: list[dict] = []
    pool: tuple[str, tuple[int, int], tuple[int, ...]] | None = None  # (name, k, its input)
    i = 0
    while i < len(order):
        name = order[i]
        node = graph.nodes[name]
        if isinstance(node, SumPool2d):  # folded into the next synapse (_pool_problem)
            pool = (name, tuple(node.kernel), graph.input_shapes(name)[0])
            i += 1
            continue
        if isinstance(node, Input):
            layers.append({"type": "input", "shape": np.asarray(node.shape, np.int64),
                           "attrs": {"spikefold_nodes": [name], "spikefold_role": "input",
                                     "encoding": node.encoding, "scale": float(node.scale)}})
            i += 1
            continue
        if isinstance(node, Flatten):
            nodes_ = [name] if pool is None else [pool[0], name]
            layers.append({"type": "flatten", "shape": np.asarray(shapes[name], np.int64),
                           "attrs": {"spikefold_nodes": nodes_, "spikefold_role": "flatten"}})
            i += 1
            continue
        nxt = order[i + 1]
        neuron = graph.nodes[nxt]
        layer: dict = {"shape": np.asarray(shapes[name], np.int64)}
        w = np.asarray(node.weight, np.int64)
        if isinstance(node, Dense):
            layer["type"] = "dense"
            layer["weight"] = w if pool is None else _fold_pool_dense(w, pool[2], pool[1])
        else:
            layer.update(type="conv", weight=w, stride=np.asarray(node.stride, np.int64),
                         padding=np.asarray(node.padding, np.int64),
                         dilation=np.ones(2, np.int64), groups=np.int64(node.groups))
            if pool is not None:
                layer.update(_fold_pool_conv(w, node, pool[1]))
        pooled = [] if pool is None or isinstance(node, Dense) else [pool[0]]
        pool = None
        layer["wgtExp"] = np.int64(0)
        if isinstance(neuron, Readout):
            if node.bias is not None:
                layer["bias"] = np.asarray(node.bias, np.int64)
            layer["neuron"] = _neuron_group(4096, 0, READOUT_VTH)
            role = "readout"
        else:
            b = netx_bias(graph, nxt)
            if b is not None and np.any(b):
                layer["bias"] = _layer_bias(b // 64)
            cur = int(neuron.current_decay) if isinstance(neuron, CubaLIF) else 0
            layer["neuron"] = _neuron_group(
                4096 - cur, 4096 - int(neuron.decay), int(np.asarray(neuron.threshold).flat[0])
            )
            role = "layer"
        layer["attrs"] = {"spikefold_nodes": [*pooled, name, nxt], "spikefold_role": role}
        layers.append(layer)
        i += 2
    return layers


def _neuron_group(i_decay: int, v_decay: int, vth: int) -> dict:
    return {"type": "CUBA", "iDecay": np.int64(i_decay), "vDecay": np.int64(v_decay),
            "vThMant": np.int64(vth), "refDelay": np.int64(1), "gradedSpike": np.int64(0)}


def _layer_bias(b: np.ndarray) -> np.ndarray:
    """Per neuron ``[n]``; conv: per channel ``[C]`` when constant over the map, else per
    neuron in NetX's ``(W, H, C)`` layout."""
    if b.ndim == 3:
        per_c = b.reshape(b.shape[0], -1)
        if np.all(per_c == per_c[:, :1]):
            return per_c[:, 0].copy()
        return np.ascontiguousarray(b.transpose(2, 1, 0))
    return b


def _ascii(s: str) -> np.ndarray:
    return np.array([s.encode("ascii")], dtype=f"S{max(len(s), 1)}")


def write_netx(graph: HardwareGraph, path: str | os.PathLike) -> Path:
    """Write ``graph`` as a NetX HDF5 file at ``path`` (atomically); refuses with an
    :class:`ExportError` listing every violation (:func:`netx_violations`). The graph is
    taken in ``lava`` timing (NetX's: every Dense/Conv delivers one step late)."""
    import h5py

    layers = netx_layers(graph)
    md = dataclasses.replace(graph.metadata, timing="lava")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["spikefold_netx"] = NETX_VERSION
            f.attrs["spikefold_metadata"] = json.dumps(to_dict(md), default=_jsonable)
            root = f.create_group("layer")
            for k, layer in enumerate(layers):
                g = root.create_group(str(k))
                for key, value in layer.items():
                    if key == "attrs":
                        for a, av in value.items():
                            g.attrs[a] = json.dumps(av) if isinstance(av, list) else av
                    elif key == "type":
                        g.create_dataset("type", data=_ascii(value))
                    elif key == "neuron":
                        ng = g.create_group("neuron")
                        for nk, nv in value.items():
                            ng.create_dataset(nk, data=_ascii(nv) if nk == "type" else nv)
                    else:
                        g.create_dataset(key, data=value)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


# ---------------------------------------------------------------------------------------------
# Reading


def _str(ds) -> str:
    v = ds[()]
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0]
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def read_netx(path: str | os.PathLike, T: int | None = None) -> HardwareGraph:
    """The spikefold graph (fixed, ``lava`` timing) of a NetX file written by
    :func:`write_netx` (or any NetX file of input, flatten, dense and conv layers with CUBA
    neurons: pass ``T``; names are made up, the last layer is the readout when its neuron
    never fires). Raises :class:`ExportError` naming the file and layer for anything NetX's
    CUBA path or spikefold's graph cannot take."""
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ExportError(f"{path}: not an HDF5 file ({err})") from err
    with f:
        if "layer" not in f:
            raise ExportError(f"{path}: no 'layer' group (not a NetX network file)")
        if "spikefold_metadata" in f.attrs:
            md = from_dict(GraphMetadata, json.loads(f.attrs["spikefold_metadata"]), str(path))
        elif T is None:
            raise ExportError(f"{path}: not written by spikefold; pass T (steps per sample)")
        else:
            md = GraphMetadata(T=T, format="fixed", timing="lava", widths=arith.FixedWidths())
        md = dataclasses.replace(md, timing="lava")
        root = f["layer"]
        keys = sorted(root.keys(), key=int)
        nodes: dict = {}
        edges: list[tuple[str, str]] = []
        last = None
        for k in keys:
            g = root[k]
            kind = _str(g["type"])
            where = f"{path}: layer {k} ({kind})"
            names = json.loads(g.attrs["spikefold_nodes"]) if "spikefold_nodes" in g.attrs else None
            role = g.attrs.get("spikefold_role")
            if kind == "input":
                if "neuron" in g:
                    raise ExportError(f"{where}: an input layer with neurons is not supported")
                name = names[0] if names else "input"
                enc = str(g.attrs.get("encoding", "spikes"))
                nodes[name] = Input(tuple(int(s) for s in g["shape"][()]), enc,
                                    float(g.attrs.get("scale", 1.0)))  # fmt: skip
            elif kind == "flatten":
                name = names[-1] if names else f"flatten{k}"
                nodes[name] = Flatten()
            elif kind in ("dense", "conv"):
                syn_name, neu_name = names[-2:] if names else (f"syn{k}", f"neuron{k}")
                w = np.asarray(g["weight"][()], np.int64)
                bias = np.asarray(g["bias"][()], np.int64) if "bias" in g else None
                if "delay" in g and np.any(g["delay"][()]):
                    raise ExportError(f"{where}: synaptic delays are not supported")
                ng = g["neuron"]
                if _str(ng["type"]) not in ("CUBA", "LOIHI"):
                    raise ExportError(f"{where}: neuron type {_str(ng['type'])!r} (only CUBA)")
                i_decay, v_decay = int(ng["iDecay"][()]), int(ng["vDecay"][()])
                vth = int(ng["vThMant"][()])
                readout = role == "readout" or (
                    role is None and k == keys[-1] and i_decay == 4096 and v_decay == 0
                )
                if kind == "dense":
                    syn = Dense(w, bias if readout else None, 0)
                else:
                    dil = np.asarray(g["dilation"][()]).reshape(-1)
                    if np.any(dil != 1):
                        raise ExportError(f"{where}: dilation {dil.tolist()} (only 1)")
                    st, pad = (tuple(int(v) for v in np.broadcast_to(g[key][()], (2,)))
                               for key in ("stride", "padding"))  # fmt: skip
                    syn = Conv2d(w, bias if readout else None, st, pad, int(g["groups"][()]), 0)
                nodes[syn_name] = syn
                if readout:
                    if i_decay != 4096 or v_decay != 0:
                        raise ExportError(f"{where}: a readout neuron must integrate "
                                          "(iDecay 4096, vDecay 0)")  # fmt: skip
                    nodes[neu_name] = Readout()
                else:
                    b = None
                    if bias is not None:
                        b = bias.transpose(2, 1, 0) if bias.ndim == 3 else bias
                    cur = 4096 - i_decay
                    common = dict(decay=4096 - v_decay, threshold=vth, reset="hard", bias=b,
                                  bias_exp=_BIAS_EXP if b is not None else 0)  # fmt: skip
                    nodes[neu_name] = (LIF(**common) if cur == 0
                                       else CubaLIF(current_decay=cur, **common))  # fmt: skip
                edges.append((syn_name, neu_name))
                if last is not None:
                    edges.append((last, syn_name))
                last = neu_name
                continue
            else:
                raise ExportError(f"{where}: layer type {kind!r} is not supported")
            if last is not None:
                edges.append((last, name))
            last = name
    try:
        return HardwareGraph(nodes, edges, md)
    except Exception as err:  # GraphError: name the file
        raise ExportError(f"{path}: the layers do not form a valid graph: {err}") from err
