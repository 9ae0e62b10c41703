"""The five libraries' own networks, NIR exporters and runs, for the interop tests.

Each :class:`Lib` builds small ``nn.Sequential`` nets with the library's own layers (randomly
initialised, seeded; spiking on digits), exports them with the library's own NIR exporter,
and runs them with the library's own code, recording every neuron layer's spikes ``[T, B,
...]`` keyed by the NIR node name its exporter gives that layer (the reference of rung S).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import nir
import numpy as np
import pytest
import torch

T = 6
B = 24


@dataclass(frozen=True)
class Lib:
    name: str
    build: Callable[..., torch.nn.Module]  # (kind, **options) -> net
    export: Callable[[torch.nn.Module, tuple[int, ...]], nir.NIRGraph]  # (net, in_shape)
    run: Callable[[torch.nn.Module, torch.Tensor], dict[str, np.ndarray]]  # (net, [T,B,...])
    source: str | None = None  # what import_nir needs passed (None: detected from the file)


def _hooks(net, is_neuron, key, take=lambda o: o):
    rec: dict[str, list] = {}
    handles = []
    for i, m in enumerate(net):
        if is_neuron(m):
            name = key(i, m)
            rec[name] = []
            handles.append(m.register_forward_hook(
                lambda _m, _i, o, k=name: rec[k].append(take(o).detach())))  # fmt: skip
    return rec, handles


def _stack(rec, handles) -> dict[str, np.ndarray]:
    for h in handles:
        h.remove()
    return {k: torch.stack(v).numpy() for k, v in rec.items()}


def _conv_head(conv_out: int) -> list[torch.nn.Module]:
    return [torch.nn.Flatten(), torch.nn.Linear(conv_out, 10)]


# -- snnTorch ---------------------------------------------------------------------------------


def _snn_build(kind: str, reset: str = "zero") -> torch.nn.Module:
    import snntorch as snn

    def leaky(shape, **kw):  # per-neuron tensors: snnTorch issue #410
        return snn.Leaky(beta=torch.full(shape, 0.8), threshold=torch.ones(shape),
                         init_hidden=True, reset_mechanism=reset, **kw)  # fmt: skip

    if kind == "mlp":
        layers = [torch.nn.Linear(64, 32), leaky((32,)), torch.nn.Linear(32, 10)]
    else:
        layers = [torch.nn.Conv2d(1, 4, 3, padding=1), leaky((4, 8, 8)), torch.nn.AvgPool2d(2),
                  *_conv_head(64)]  # fmt: skip
    return torch.nn.Sequential(*layers, leaky((10,), output=True))


def _snn_export(net, in_shape):
    from snntorch.export_nir import export_to_nir

    return export_to_nir(net, torch.zeros(1, *in_shape), ignore_dims=[0])


def _snn_run(net, seq):
    import snntorch as snn
    from snntorch import utils

    rec, hs = _hooks(net, lambda m: isinstance(m, snn.Leaky), lambda i, m: str(i),
                     lambda o: o[0] if isinstance(o, tuple) else o)  # fmt: skip
    with torch.no_grad():
        utils.reset(net)
        for t in range(seq.shape[0]):
            net(seq[t])
    return _stack(rec, hs)


# -- Norse ------------------------------------------------------------------------------------


def _norse_build(kind: str) -> torch.nn.Module:
    import norse.torch as norse
    from norse.torch.module.lif_box import LIFBoxCell, LIFBoxParameters

    p = LIFBoxParameters(tau_mem_inv=torch.tensor(200.0), v_th=torch.tensor(0.5))
    if kind == "conv":
        return norse.SequentialState(torch.nn.Conv2d(1, 4, 3, padding=1), LIFBoxCell(p),
                                     *_conv_head(256), LIFBoxCell(p))  # fmt: skip
    return norse.SequentialState(torch.nn.Linear(64, 32), LIFBoxCell(p),
                                 torch.nn.Linear(32, 10), LIFBoxCell(p))  # fmt: skip


def _norse_export(net, in_shape):
    import norse.torch as norse

    return norse.to_nir(net, torch.zeros(1, *in_shape))  # dt = 1e-3, its default


def _norse_run(net, seq):
    from norse.torch.module.lif_box import LIFBoxCell

    rec, hs = _hooks(net, lambda m: isinstance(m, LIFBoxCell), lambda i, m: str(i),
                     lambda o: o[0])  # fmt: skip
    state = None
    with torch.no_grad():
        for t in range(seq.shape[0]):
            _, state = net(seq[t], state)
    return _stack(rec, hs)


# -- SpikingJelly -----------------------------------------------------------------------------


def _sj_build(kind: str, soft: bool = False) -> torch.nn.Module:
    from spikingjelly.activation_based import layer, neuron

    v_reset = None if soft else 0.0
    lif = lambda: neuron.LIFNode(tau=2.0, v_threshold=0.5, v_reset=v_reset)  # noqa: E731
    ifn = lambda: neuron.IFNode(v_threshold=1.0, v_reset=v_reset)  # noqa: E731
    if kind == "mlp":
        return torch.nn.Sequential(layer.Linear(64, 32), lif(), layer.Linear(32, 10), ifn())
    if kind == "conv1d":  # the 8x8 digit as 8 rows of length 8
        return torch.nn.Sequential(layer.Conv1d(8, 4, 3, padding=1), ifn(), layer.Flatten(),
                                   layer.Linear(32, 10), lif())  # fmt: skip
    return torch.nn.Sequential(layer.Conv2d(1, 4, 3, padding=1), ifn(), layer.AvgPool2d(2),
                               layer.Flatten(), layer.Linear(64, 10), lif())  # fmt: skip


def _sj_export(net, in_shape):
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    return export_to_nir(net, torch.zeros(1, *in_shape))  # dt = 1e-4, its default


def _sj_run(net, seq):
    from spikingjelly.activation_based import functional, neuron

    rec, hs = _hooks(net, lambda m: isinstance(m, neuron.BaseNode), lambda i, m: f"_{i}")
    with torch.no_grad():
        functional.reset_net(net)
        for t in range(seq.shape[0]):
            net(seq[t])
    functional.reset_net(net)
    return _stack(rec, hs)


# -- Sinabs -----------------------------------------------------------------------------------


def _sinabs_build(kind: str, exact: bool = True) -> torch.nn.Module:
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    fn = dict(spike_fn=SingleSpike, reset_fn=MembraneReset()) if exact else {}
    iaf = lambda: sl.IAFSqueeze(num_timesteps=T, **fn)  # noqa: E731
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(64, 32), iaf(), torch.nn.Linear(32, 10),
                                   sl.LIFSqueeze(tau_mem=3.0, num_timesteps=T, **fn))  # fmt: skip
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), iaf(), sl.SumPool2d(2),
                               *_conv_head(64), iaf())  # fmt: skip


def _sinabs_export(net, in_shape):
    import sinabs

    out = sinabs.to_nir(net, torch.zeros(T, *in_shape))
    sinabs.reset_states(net)
    return out


def _sinabs_run(net, seq):
    import sinabs

    steps, b = seq.shape[:2]
    rec, hs = _hooks(net, lambda m: type(m).__name__ in ("IAFSqueeze", "LIFSqueeze"),
                     lambda i, m: str(i))  # fmt: skip
    with torch.no_grad():
        sinabs.reset_states(net)
        net(seq.transpose(0, 1).reshape(b * steps, *seq.shape[2:]))  # [B*T, ...], B major
        sinabs.reset_states(net)
    out = _stack(rec, hs)
    return {k: v[0].reshape(b, steps, *v.shape[2:]).swapaxes(0, 1) for k, v in out.items()}


# -- Rockpool ---------------------------------------------------------------------------------


def _rockpool_build(kind: str) -> torch.nn.Module:
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFNeuronTorch, LinearTorch

    return Sequential(LinearTorch((64, 32)), LIFNeuronTorch(32, tau_mem=0.01, dt=1e-3),
                      LinearTorch((32, 10)), LIFNeuronTorch(10, tau_mem=0.02, dt=1e-3))  # fmt: skip


def _rockpool_export(net, in_shape):
    from rockpool.nn.modules.torch.nir import to_nir

    return to_nir(net)


def _rockpool_run(net, seq):
    with torch.no_grad():
        _, _, rec = net(seq.transpose(0, 1), record=True)  # Rockpool: [B, T, N]
    return {k: v["spikes"].swapaxes(0, 1).numpy() for k, v in rec.items()
            if isinstance(v, dict) and "spikes" in v}  # fmt: skip


LIBS = {
    "snntorch": Lib("snntorch", _snn_build, _snn_export, _snn_run),
    "norse": Lib("norse", _norse_build, _norse_export, _norse_run, source="norse"),
    "spikingjelly": Lib("spikingjelly", _sj_build, _sj_export, _sj_run),
    "sinabs": Lib("sinabs", _sinabs_build, _sinabs_export, _sinabs_run, source="sinabs"),
    "rockpool": Lib("rockpool", _rockpool_build, _rockpool_export, _rockpool_run),
}

IN_SHAPES = {"mlp": (64,), "conv": (1, 8, 8), "conv1d": (8, 8)}


@pytest.fixture(scope="session")
def libs():
    pytest.importorskip("snntorch")
    logging.getLogger().setLevel(logging.ERROR)  # Norse/nirtorch import chatter
    warnings.filterwarnings("ignore", message=".*Triton.*")
    return LIBS


@pytest.fixture(scope="session")
def digits():
    """Test frames of digits, ``[N, 1, 8, 8]`` in [0, 1], and labels (the first ``B``)."""
    from toolchain.data import load_dataset

    d = load_dataset("digits")
    return d.x_test[:B].clone(), d.y_test[:B].clone(), d.x_train[:64].clone()


def sequence(frames: torch.Tensor, in_shape) -> torch.Tensor:
    """Direct encoding: the frame, reshaped to the net's input, every step ``[T, B, ...]``."""
    x = frames.reshape(len(frames), *in_shape)
    return x[None].expand(T, *x.shape).contiguous()


@pytest.fixture(scope="session")
def seq_of():
    return sequence
