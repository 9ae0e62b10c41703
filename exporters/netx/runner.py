"""Load a NetX file with lava-dl's NetX and run it in Lava's simulator (``fixed_pt``).

    res = run_netx("model.netx.h5", inputs)     # inputs: hwsim.sim.encode_inputs(graph, x)

The file is loaded by ``lava.lib.dl.netx.hdf5.Network(net_config=...)`` itself; nothing of
spikefold sits between the file and Lava's processes except a stock source
(``lava.proc.io.source.RingBuffer``) feeding ``Network.inp``, a stock sink
(``lava.proc.io.sink.RingBuffer``) on every layer's ``out`` and a ``Monitor`` on the readout
layer's ``v``. Samples run one after another in one runtime, ``steps`` steps each; between
samples the state NetX's processes keep (``LIF.u``, ``LIF.v``, ``Dense.a_buff``,
``Conv.a_buf``) is zeroed with ``Var.set``, so every sample starts from rest as in hwsim.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import exporters  # noqa: F401 - the import shim, before any Lava import

__all__ = ["NetxResult", "run_netx"]


@dataclass
class NetxResult:
    """``spikes {node: [steps, B, *shape]}`` every spiking layer's output in graph layout
    (named by the layer's neuron node); ``readout_v [steps, B, K]`` the readout layer's ``v``
    after each step (None without a readout layer); ``readout_node``, ``steps``, ``batch``,
    ``timings`` (``build_s``, ``run_s``) and ``layers`` (NetX's table of the network)."""

    spikes: dict[str, np.ndarray]
    readout_v: np.ndarray | None
    readout_node: str | None
    steps: int
    batch: int
    timings: dict[str, float] = field(default_factory=dict)
    layers: str = ""


def _graph_layout(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """NetX's ``(W, H, C)`` (or ``(N,)``) per-step data ``[..., steps]`` -> ``[steps, C, H, W]``."""
    a = np.moveaxis(a, -1, 0)
    if len(shape) == 3:
        a = a.transpose(0, 3, 2, 1)
    return a.reshape(a.shape[0], *shape)


def run_netx(
    path: str | Path,
    inputs: np.ndarray,
    steps: int,
    *,
    input_message_bits: int | None = None,
) -> NetxResult:
    """Run the NetX file ``path`` on ``inputs [T, B, *shape]`` (hwsim's encoded input of the
    graph, int; steps ``>= T`` are zero) for ``steps`` steps per sample. ``input_message_bits``
    (None: 0 for spike inputs, 24 for graded ones) is NetX's ``Network`` argument of that name:
    it is not part of the file."""
    import h5py
    from lava.lib.dl.netx.hdf5 import Network
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.monitor.process import Monitor

    path = Path(path)
    inputs = np.asarray(inputs)
    T, B = inputs.shape[:2]
    with h5py.File(path, "r") as f:
        roles, names, shapes = [], [], []
        for k in sorted(f["layer"].keys(), key=int):
            g = f["layer"][k]
            roles.append(g.attrs.get("spikefold_role", ""))
            names.append(json.loads(g.attrs.get("spikefold_nodes", "[]")))
            shapes.append(tuple(int(s) for s in g["shape"][()]) if "shape" in g else ())
    graded = bool(np.any((inputs != 0) & (inputs != 1)))
    bits = input_message_bits if input_message_bits is not None else (24 if graded else 0)

    t0 = time.perf_counter()
    net = Network(net_config=str(path), input_message_bits=bits)
    # which NetX layer is which spikefold layer: NetX builds one block per dense/conv layer
    blocks = [(r, n, s) for r, n, s in zip(roles, names, shapes) if r in ("layer", "readout")]
    if len(blocks) != len(net.layers):
        raise RuntimeError(f"{path}: NetX built {len(net.layers)} blocks for {len(blocks)} layers")
    total = B * steps
    data = np.zeros((*net.inp.shape, total), np.int64)
    for b in range(B):
        for t in range(T):
            x = inputs[t, b]
            x = x.transpose(2, 1, 0) if x.ndim == 3 and len(net.inp.shape) == 3 else x.reshape(-1)
            data[..., b * steps + t] = x.reshape(net.inp.shape)
    src = Source(data=data)
    src.s_out.connect(net.inp)
    sinks, monitor, ro = {}, None, None
    for (role, nodes, shape), layer in zip(blocks, net.layers):
        if role == "readout":
            monitor, ro = Monitor(), (nodes[-1], shape, layer)
            monitor.probe(target=layer.neuron.v, num_steps=total)
        else:
            sink = Sink(shape=layer.out.shape, buffer=total)
            layer.out.connect(sink.a_in)
            sinks[nodes[-1]] = (sink, shape)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    build_s = run_s = 0.0
    try:
        for b in range(B):
            t1 = time.perf_counter()
            src.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
            if b == 0:
                build_s = time.perf_counter() - t0
            else:
                run_s += time.perf_counter() - t1
            t1 = time.perf_counter()
            if b + 1 < B:  # every sample starts from rest
                for layer in net.layers:
                    for var in (layer.neuron.u, layer.neuron.v):
                        var.set(np.zeros(var.shape))
                    syn = layer.synapse
                    buf = getattr(syn, "a_buff", None) or getattr(syn, "a_buf", None)
                    if buf is not None:
                        buf.set(np.zeros(buf.shape))
            run_s += time.perf_counter() - t1
        spikes = {}
        for name, (sink, shape) in sinks.items():
            a = np.asarray(sink.data.get()).astype(np.int64)  # [*lava shape, total]
            a = _graph_layout(a, shape)  # [total, *shape]
            spikes[name] = a.reshape(B, steps, *shape).swapaxes(0, 1)
        readout_v = None
        if monitor is not None:
            name, shape, layer = ro
            got = monitor.get_data()[layer.neuron.name]["v"]  # [total, K]
            readout_v = np.asarray(got).astype(np.int64).reshape(B, steps, -1).swapaxes(0, 1)
    finally:
        src.stop()
    return NetxResult(spikes, readout_v, ro[0] if ro else None, steps, B,
                      {"build_s": build_s, "run_s": run_s}, str(net))  # fmt: skip
