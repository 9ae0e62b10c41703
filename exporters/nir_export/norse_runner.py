"""Run a NIR graph in Norse (``norse.torch.from_nir``), step by step, in float64.

Norse 1.1.0 builds the modules (``LIFBoxCell``, ``IAFCell``, ``torch.nn.Linear/Conv2d/
LPPool2d/Flatten``) and nirtorch's ``GraphExecutor`` wires and sums them; every update below is
Norse's own code. Its import differs from NIR's semantics in documented ways, which this runner
restores on the built modules (public attributes and torch hooks only), each for a stated reason:

1. **float64**: Norse casts every NIR array to float32 and computes ``1/τ`` in float32; the
   weights, biases and neuron parameters are reloaded from the NIR arrays in ``dtype``.
2. **R**: Norse's ``nir.LIF``/``nir.IF`` import drops the input resistance ``R`` (it logs "r is
   expected to be 1"); a forward pre-hook multiplies the neuron's input by ``R`` (LIF: Norse's
   Euler step then applies ``dt/τ``) or by ``dt·R`` (IF: Norse's ``v + I`` ignores ``dt``).
3. **v_reset** is dropped by the import (Norse's default 0); it is set from the NIR node.
4. **initial state**: Norse starts a LIF at ``v_leak``; NIR leaves it open and spikefold's
   semantics is ``V[-1] = 0`` (TECHNIQUES.md section 1), so the pre-hook passes a zero state.
5. **Flatten**: NIR shapes are per sample (``start_dim=0`` flattens ``(C, H, W)``); Norse applies
   ``torch.nn.Flatten(start_dim)`` to batched tensors, so non-negative dims move up by one
   (spikefold writes ``start_dim=-ndim``, which needs no shift).
6. **AvgPool2d** has no Norse import; it runs as Norse's ``SumPool2d`` (``LPPool2d``, p = 1)
   with a forward hook dividing by ``kh·kw``. ``nir.Delay`` has no Norse import: refused.
7. **CubaLIF**: Norse imports it as ``w_in·x -> LIBoxCell (the current) -> r·i -> LIFBoxCell``
   (forward Euler, the membrane driven by the new current, as NIR and spikefold) but gives the
   current's ``LIBoxCell`` the *membrane's* ``v_leak`` (NIR's current has no leak term:
   ``τ_syn dI/dt = -I + w_in S``) and starts it at ``v_leak``: its ``v_leak`` is set to 0 and
   it starts at 0; ``w_in``, ``1/τ_syn`` are reloaded in ``dtype``; ``r`` moves into the
   membrane probe's gain (the same product, so the probe reads the current before ``R``).
8. **LI** has no Norse 1.1.0 import: it is built as a ``LIFBoxCell`` placeholder (an
   infinite threshold) whose forward hook returns Norse's own leaky integrator,
   ``norse.torch.functional.leaky_integrator_box.li_box_feed_forward_step`` on the input times
   ``R`` (its output the membrane ``v``, as NIR's ``LI``). ``nir.I`` (no leak) has no Norse
   function: refused.

Probes: a forward hook on every neuron records its own spikes, its pre-reset membrane ``H`` and
its input current, and, for **teacher forcing**, replaces its output spikes by given ones and
resets its membrane with them (``reset_value(z_forced, H)``, Norse's own reset function), so a
mismatch stays local to the layer where it arises. ``H`` is recomputed from the step's input
and state with Norse's expression; every step checks that Norse's new membrane equals
``reset_value(z, H)`` bit for bit, so a change in Norse fails loudly instead of skewing records.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass

import nir
import numpy as np
import torch
from nirtorch.utils import sanitize_name
from norse.torch import from_nir as norse_from_nir
from norse.torch.functional.iaf import IAFFeedForwardState
from norse.torch.functional.leaky_integrator_box import (
    LIBoxParameters,
    LIBoxState,
    li_box_feed_forward_step,
)
from norse.torch.functional.lif_box import LIFBoxFeedForwardState
from norse.torch.functional.reset import reset_value
from norse.torch.module.iaf import IAFCell
from norse.torch.module.lif_box import LIFBoxCell
from norse.torch.utils.import_nir import CubaLIF as NorseCubaLIF

from hwsim.errors import ExportError, VerificationError

from .export import META_DT

__all__ = ["NorseRun", "run_nir_norse", "NORSE_KINDS"]

NORSE_KINDS = (
    nir.Input,
    nir.Output,
    nir.Affine,
    nir.Linear,
    nir.Conv2d,
    nir.Flatten,
    nir.SumPool2d,
    nir.AvgPool2d,
    nir.LIF,
    nir.IF,
    nir.CubaLIF,
    nir.LI,
)
"""NIR node kinds this runner executes in Norse 1.1.0 (LI through Norse's own function, point
8 of the module docstring)."""
_NEURONS = (nir.LIF, nir.IF, nir.CubaLIF)  # spiking: their output can be forced


@dataclass(frozen=True)
class NorseRun:
    """The record of one Norse run of ``T`` steps on ``B`` samples (numpy arrays).

    ``outputs``: every NIR node's output ``[T, B, *shape]`` (a neuron's *own* spikes, before any
    forcing; an LI's membrane); ``membrane``/``currents``: per neuron node, the pre-reset
    membrane ``H`` and the input current ``I`` of its membrane (before ``R``; a CubaLIF's: its
    synaptic current); ``synaptic``: per CubaLIF, its own input (before ``w_in``);
    ``readout``: ``[B, K]``, the sum over steps of the ``Output`` node; ``predictions``: its
    ``argmax``.
    """

    outputs: dict[str, np.ndarray]
    membrane: dict[str, np.ndarray]
    currents: dict[str, np.ndarray]
    readout: np.ndarray
    predictions: np.ndarray
    synaptic: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


class _NeuronProbe:
    """Pre- and forward hooks of one ``LIFBoxCell``/``IAFCell`` (module docstring)."""

    def __init__(self, name: str, module: torch.nn.Module, gain: torch.Tensor, forced):
        self.name, self.module, self.gain, self.forced = name, module, gain, forced
        self.t = 0
        self.spikes: list[torch.Tensor] = []
        self.h: list[torch.Tensor] = []
        self.currents: list[torch.Tensor] = []
        self.synaptic: list[torch.Tensor] = []  # a CubaLIF's input (point 7)

    def pre(self, module: torch.nn.Module, args: tuple):
        x = args[0]
        state = args[1] if len(args) > 1 and args[1] is not None else None
        if state is None:  # first step: V[-1] = 0, not Norse's v_leak
            cls = IAFFeedForwardState if isinstance(module, IAFCell) else LIFBoxFeedForwardState
            state = cls(v=torch.zeros_like(x))
        self.currents.append(x)
        x_in = x * self.gain
        self._v, self._x = state.v, x_in
        return (x_in, state)

    def _charged(self) -> torch.Tensor:
        m, v, x = self.module, self._v, self._x
        if isinstance(m, IAFCell):
            return v + x  # norse.torch.functional.iaf.iaf_feed_forward_step
        # norse.torch.functional.lif_box.lif_box_feed_forward_step, same expression and order
        return v + m.dt * m.p.tau_mem_inv * (x + m.p.v_leak - v)

    def post(self, module: torch.nn.Module, args: tuple, output):
        z, state = output
        h = self._charged()
        p = module.p
        if not torch.equal(reset_value(z, h, p.v_reset, p.v_th), state.v):
            raise VerificationError(
                f"Norse's {type(module).__name__} update of node {self.name!r} no longer matches "
                "the probe's reading of it (norse.torch.functional.lif_box/iaf changed?); the "
                "runner's records would be wrong"
            )
        self.spikes.append(z)
        self.h.append(h)
        if self.forced is None:
            return None
        z_ref = torch.as_tensor(self.forced[self.t], dtype=z.dtype)
        if z_ref.shape != z.shape:
            raise ExportError(
                f"force[{self.name!r}] step {self.t} has shape {tuple(z_ref.shape)}, the node's "
                f"output is {tuple(z.shape)}"
            )
        return z_ref, type(state)(v=reset_value(z_ref, h, p.v_reset, p.v_th))


class _IntegratorProbe:
    """The hooks that make a ``LIFBoxCell`` placeholder Norse's leaky integrator (point 8)."""

    def __init__(self, name: str, n: nir.LI, module: LIFBoxCell, arr) -> None:
        self.name, self.module = name, module
        self.gain = arr(n.r)
        self.p = LIBoxParameters(tau_mem_inv=1.0 / arr(n.tau), v_leak=arr(n.v_leak))
        self.currents: list[torch.Tensor] = []

    def pre(self, module: torch.nn.Module, args: tuple):
        x = args[0]
        state = args[1] if len(args) > 1 and args[1] is not None else None
        self.v = torch.zeros_like(x) if state is None else state.v  # V[-1] = 0
        self.currents.append(x)
        return (x, state)

    def post(self, module: torch.nn.Module, args: tuple, output):
        x_in = self.currents[-1] * self.gain
        v, _ = li_box_feed_forward_step(x_in, LIBoxState(v=self.v), self.p, dt=module.dt)
        return v, LIFBoxFeedForwardState(v=v)


def _norse_graph(g: nir.NIRGraph) -> tuple[nir.NIRGraph, dict[str, int]]:
    """A copy of ``g`` that Norse imports (AvgPool2d as SumPool2d, LI as a LIF placeholder),
    and the divisors."""
    nodes, divisors = {}, {}
    for name, n in g.nodes.items():
        if not isinstance(n, NORSE_KINDS):
            raise ExportError(
                f"node {name!r} ({type(n).__name__}): Norse 1.1.0's from_nir has no import for "
                f"this node kind; the runner executes {', '.join(k.__name__ for k in NORSE_KINDS)}"
            )
        if isinstance(n, nir.AvgPool2d):
            nodes[name] = nir.SumPool2d(
                kernel_size=n.kernel_size, stride=n.stride, padding=n.padding
            )
            divisors[name] = int(np.prod(n.kernel_size))
        elif isinstance(n, nir.LI):  # point 8: its hooks replace what the placeholder computes
            inf = np.full(np.shape(n.tau), np.inf)
            nodes[name] = nir.LIF(tau=n.tau, r=n.r, v_leak=n.v_leak, v_threshold=inf)
        else:
            nodes[name] = n
    for kind in (nir.Input, nir.Output):
        found = [k for k, n in nodes.items() if isinstance(n, kind)]
        if len(found) != 1:
            raise ExportError(f"the runner needs exactly one nir.{kind.__name__} node, got {found}")
    md = dict(g.metadata) if isinstance(g.metadata, dict) else {}
    return nir.NIRGraph(nodes, list(g.edges), metadata=md, type_check=False), divisors


def _build(g: nir.NIRGraph, dt: float) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch.load's deprecation
        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # Norse's "r is expected to be 1" (point 2)
        try:
            return norse_from_nir(g, ignore_warnings=True, dt=dt)
        except Exception as exc:
            raise ExportError(f"Norse could not import the NIR graph: {exc}") from exc
        finally:
            logging.getLogger().setLevel(level)


def run_nir_norse(
    nir_graph: nir.NIRGraph,
    x_seq,
    *,
    dt: float | None = None,
    force: dict[str, np.ndarray] | None = None,
    dtype: torch.dtype = torch.float64,
) -> NorseRun:
    """Run ``nir_graph`` in Norse on ``x_seq [T, B, *input_shape]`` (one input per step).

    ``dt`` defaults to the graph's ``dt`` metadata. ``force``: ``{neuron node: spikes [T, B,
    *shape]}`` replaces those neurons' outputs (and resets) by the given spikes, while
    ``outputs`` still hold their own spikes. Raises :class:`ExportError` for node kinds Norse
    cannot import (``NORSE_KINDS``) and bad inputs.
    """
    md = nir_graph.metadata if isinstance(nir_graph.metadata, dict) else {}
    dt = float(dt if dt is not None else md.get(META_DT, np.nan))
    if not (np.isfinite(dt) and dt > 0):
        raise ExportError("the NIR graph has no 'dt' metadata; pass dt")
    g, divisors = _norse_graph(nir_graph)
    x_seq = torch.as_tensor(np.array(x_seq, dtype=np.float64), dtype=dtype)
    force = dict(force or {})
    module = _build(g, dt)
    children = dict(module.named_children())
    probes: dict[str, _NeuronProbe] = {}
    integrators: dict[str, _IntegratorProbe] = {}
    for name, n in nir_graph.nodes.items():
        m = children.get(sanitize_name(name))
        if isinstance(n, nir.LI):
            if name in force:
                raise ExportError(f"force[{name!r}]: only neuron nodes (LIF, IF, CubaLIF) can be "
                                  "forced; an LI's output is graded")  # fmt: skip
            integrators[name] = _hook(_IntegratorProbe(name, n, m, _tensor(dtype)))
            continue
        probe = _restore(name, n, m, dt, dtype, force.pop(name, None), divisors.get(name))
        if probe is not None:
            probes[name] = probe
    if force:
        raise ExportError(f"force names no neuron node of the graph: {sorted(force)}")
    out_name = next(k for k, n in g.nodes.items() if isinstance(n, nir.Output))
    records: dict[str, list[torch.Tensor]] = {k: [] for k in g.nodes}
    module.eval()
    state = None
    with torch.no_grad():
        for t in range(x_seq.shape[0]):
            for p in probes.values():
                p.t = t
            _, state = module(x_seq[t], state)
            for k in g.nodes:
                records[k].append(state.cache[sanitize_name(k)])
    for k, p in probes.items():
        records[k] = p.spikes
    currents = {**{k: p.currents for k, p in probes.items()},
                **{k: p.currents for k, p in integrators.items()}}  # fmt: skip

    def stack(xs: list[torch.Tensor]) -> np.ndarray:
        return torch.stack(xs).numpy()

    outputs = {k: stack(v) for k, v in records.items()}
    readout = outputs[out_name].sum(axis=0)
    return NorseRun(
        outputs=outputs,
        membrane={k: stack(p.h) for k, p in probes.items()},
        currents={k: stack(v) for k, v in currents.items()},
        readout=readout,
        predictions=readout.argmax(axis=-1),
        synaptic={k: stack(p.synaptic) for k, p in probes.items() if p.synaptic},
    )


def _tensor(dtype: torch.dtype):
    return lambda v: torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype)


def _restore(
    name: str,
    n: nir.NIRNode,
    m: torch.nn.Module | None,
    dt: float,
    dtype: torch.dtype,
    forced,
    divisor: int | None,
) -> _NeuronProbe | None:
    """Points 1-6 of the module docstring for one node; returns the neuron's probe."""

    arr = _tensor(dtype)
    if forced is not None and not isinstance(n, _NEURONS):
        raise ExportError(f"force[{name!r}]: only neuron nodes (LIF, IF, CubaLIF) can be forced")
    if isinstance(n, (nir.Affine, nir.Linear, nir.Conv2d)):
        m.weight.data = arr(n.weight)
        if m.bias is not None:
            m.bias.data = arr(n.bias)
    elif isinstance(n, nir.Flatten):  # dims counted from the end need no shift
        if m.start_dim >= 0:
            m.start_dim += 1
        if m.end_dim >= 0:
            m.end_dim += 1
    elif divisor is not None:
        m.register_forward_hook(lambda mod, args, out: out / divisor)
    elif isinstance(n, nir.LIF):
        if not isinstance(m, LIFBoxCell):
            raise ExportError(f"node {name!r}: Norse built {type(m).__name__}, not LIFBoxCell")
        m.p = m.p._replace(
            tau_mem_inv=1.0 / arr(n.tau),
            v_leak=arr(n.v_leak),
            v_th=arr(n.v_threshold),
            v_reset=arr(n.v_reset),
        )
        return _hook(_NeuronProbe(name, m, arr(n.r), forced))
    elif isinstance(n, nir.IF):
        if not isinstance(m, IAFCell):
            raise ExportError(f"node {name!r}: Norse built {type(m).__name__}, not IAFCell")
        m.p = m.p._replace(v_th=arr(n.v_threshold), v_reset=arr(n.v_reset))
        return _hook(_NeuronProbe(name, m, dt * arr(n.r), forced))
    elif isinstance(n, nir.CubaLIF):
        if not isinstance(m, NorseCubaLIF):
            raise ExportError(f"node {name!r}: Norse built {type(m).__name__}, not its CubaLIF")
        m.w_in = arr(n.w_in)
        m.r = torch.ones((), dtype=dtype)  # R moves into the membrane probe's gain
        syn = m.synapse
        no_leak = torch.zeros((), dtype=dtype)
        syn.p = syn.p._replace(tau_mem_inv=1.0 / arr(n.tau_syn), v_leak=no_leak)
        syn.register_forward_pre_hook(_rest_at_zero)
        m.lif.p = m.lif.p._replace(
            tau_mem_inv=1.0 / arr(n.tau_mem),
            v_leak=arr(n.v_leak),
            v_th=arr(n.v_threshold),
            v_reset=arr(n.v_reset),
        )
        probe = _hook(_NeuronProbe(name, m.lif, arr(n.r), forced))
        m.register_forward_pre_hook(lambda mod, args: probe.synaptic.append(args[0]))
        return probe
    return None


def _rest_at_zero(module: torch.nn.Module, args: tuple):
    """A CubaLIF's current starts at 0 (Norse's LIBoxCell would start at ``v_leak``)."""
    if len(args) > 1 and args[1] is not None:
        return None
    return (args[0], LIBoxState(v=torch.zeros_like(args[0])))


def _hook(probe):
    probe.module.register_forward_pre_hook(probe.pre)
    probe.module.register_forward_hook(probe.post)
    return probe
