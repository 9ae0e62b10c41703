"""How each library's NIR file means its neuron parameters: the time step, the discretisation
and what its export cannot state (DESIGN.md section 2, "import"; ``docs/interop.md``).

NIR 1.0 describes neurons in continuous time (``τ dv/dt = (v_leak - v) + R·I``) and leaves the
discretisation to the reader; every library writes its own discrete neuron into those fields
with its own time step and, sometimes, its own reading of them. spikefold's LIF is the discrete
``H = a·V + g·I + b`` (``g``, the input gain, is folded into the incoming synapses), so an
import needs, per source, the map ``(τ, R, v_leak, dt) -> (a, g, b)``:

==============  ==========  ==============================================  ================
source          time step   LIF ``(a, g, b)``                               IF gain ``g``
==============  ==========  ==============================================  ================
``nir``         metadata    Euler: ``a = 1 - dt/τ, g = R·dt/τ, b = v_leak·dt/τ``  ``dt·R``
``snntorch``    1e-4 fixed  Euler (``snn.Leaky``: ``τ = dt/(1-β)``, ``R = τ/dt``)  ``dt·R``
``spikingjelly`` 1e-4 (arg)  Euler (``τ = tau·dt``; IF ``R = 1/dt``)          ``dt·R``
``norse``       1e-3 (arg)  Euler on ``τ/dt`` (its export writes ``τ = dt/τ_inv``,
                            Norse issue #411)                                ``R`` (IAF: ``v + I``)
``sinabs``      1 (steps)   exact: ``a = exp(-dt/τ), g = R·(1-a), b = v_leak·(1-a)``  ``R``
``rockpool``    from R      exact: ``a = exp(-dt/τ), g = R·dt/(τ·a)``
                            (it writes ``R = τ·exp(-dt/τ)/dt``: ``g = 1``)    --
==============  ==========  ==============================================  ================

The time step comes from, in order: ``dt`` passed by the caller; the graph's ``dt`` metadata
(spikefold writes it); the source's own convention (fixed or its exporter's default, or, for
Rockpool, solved from ``R``); and, without a source, the two patterns that state it in the
file itself: every LIF with ``R = τ/dt`` (``R != 1``: snnTorch and spikefold write the unit
input gain this way) or every IF with ``R = 1/dt`` (``R != 1``: SpikingJelly). A graph with
``R = 1`` everywhere and no metadata does not say its time step (Norse, Sinabs, SpikingJelly's
LIF): the import then asks for ``--dt`` or ``--source`` rather than guess.

``LOSSY`` lists, per source, what its exporter writes identically for different networks; the
import warns with what it assumed (:class:`LossyImportWarning`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import nir
import numpy as np

from hwsim.errors import ExportError

__all__ = [
    "SOURCES",
    "Convention",
    "Coefficients",
    "LossyImportWarning",
    "CONVENTIONS",
    "LOSSY",
    "detect_source",
    "resolve_dt",
    "solve_rockpool_dt",
]

SOURCES = ("nir", "snntorch", "norse", "spikingjelly", "sinabs", "rockpool")
"""Accepted ``source`` names: ``nir`` is NIR's own (Euler) reading, which spikefold writes."""


class LossyImportWarning(UserWarning):
    """The source library's export writes this network identically to a different one; the
    import assumed the reading it states (recorded in the import record)."""


@dataclass(frozen=True)
class Coefficients:
    """One population's discrete neuron: ``H = decay·V + gain·I + bias``."""

    decay: float
    gain: float
    bias: np.ndarray


def _euler(tau: float, r: float, v_leak: np.ndarray, dt: float) -> Coefficients:
    d = dt / tau
    return Coefficients(1.0 - d, d * r, d * v_leak)


def _norse(tau: float, r: float, v_leak: np.ndarray, dt: float) -> Coefficients:
    # Norse 1.1.0 writes tau = dt/tau_mem_inv (issue #411); its own step uses dt·tau_mem_inv.
    return _euler(tau / dt, r, v_leak, dt)


def _exact(tau: float, r: float, v_leak: np.ndarray, dt: float) -> Coefficients:
    a = math.exp(-dt / tau)
    return Coefficients(a, (1.0 - a) * r, (1.0 - a) * v_leak)


def _rockpool(tau: float, r: float, v_leak: np.ndarray, dt: float) -> Coefficients:
    a = math.exp(-dt / tau)
    return Coefficients(a, r * dt / (tau * a), v_leak)


@dataclass(frozen=True)
class Convention:
    """A source's reading of NIR neuron parameters. ``dt`` its time step (None: from the
    graph); ``lif`` the map ``(τ, R, v_leak, dt) -> Coefficients``; ``if_gain(R, dt)`` an
    IF's input gain; ``spikes`` how its neurons compare with the threshold (``>=`` as hwsim,
    or ``>``: a difference only where ``H == θ`` exactly)."""

    name: str
    dt: float | None
    lif: Callable[[float, float, np.ndarray, float], Coefficients]
    if_gain: Callable[[float, float], float]
    spikes: str
    dt_why: str


def _dt_r(r: float, dt: float) -> float:
    return dt * r


def _r(r: float, dt: float) -> float:
    return r


CONVENTIONS: dict[str, Convention] = {
    "nir": Convention("nir", None, _euler, _dt_r, ">", "NIR's forward-Euler reading"),
    "snntorch": Convention(
        "snntorch", 1e-4, _euler, _dt_r, ">",
        "snnTorch 1.0.0 hard-codes dt = 1e-4 in export_to_nir and import_from_nir",
    ),
    "spikingjelly": Convention(
        "spikingjelly", 1e-4, _euler, _dt_r, ">=",
        "SpikingJelly 2.0.0's export_to_nir default dt = 1e-4",
    ),
    "norse": Convention(
        "norse", 1e-3, _norse, _r, ">",
        "Norse 1.1.0's to_nir default dt = 1e-3 (its tau field is dt/tau_mem_inv, issue #411)",
    ),
    "sinabs": Convention(
        "sinabs", 1.0, _exact, _r, ">=",
        "Sinabs 3.1.3 counts time constants in steps (alpha = exp(-1/tau_mem))",
    ),
    "rockpool": Convention(
        "rockpool", None, _rockpool, _dt_r, ">=",
        "Rockpool 3.1.0 writes R = tau·exp(-dt/tau)/dt; dt solved from R",
    ),
}  # fmt: skip

LOSSY: dict[str, tuple[str, ...]] = {
    "snntorch": (
        "snn.Leaky's reset: its export writes v_reset = 0 for both reset_mechanism='zero' and "
        "the default 'subtract' (which subtracts the threshold); assumed 'zero' (hard reset)",
    ),
    "sinabs": (
        "spike_fn/reset_fn: its export writes the same IF/LIF for the default MultiSpike + "
        "MembraneSubtract (several spikes per step, reset by subtraction) and for SingleSpike "
        "+ MembraneReset; assumed SingleSpike + MembraneReset",
        "LIF norm_input: its export writes R = 1 whether the input is scaled by (1 - alpha) "
        "(norm_input=True, the default) or not; assumed norm_input=True",
        "min_v_mem is not written; assumed no lower bound on the membrane",
    ),
    "rockpool": (
        "bias: its export writes v_leak = 0 whatever the neurons' bias; assumed no bias",
        "spikes and reset: LIFNeuronTorch emits up to max_spikes_per_dt spikes per step and "
        "resets by subtraction, which NIR cannot state; assumed one spike and a hard reset",
    ),
    "norse": (),
    "spikingjelly": (),
    "nir": (),
}
"""What each source's export writes identically for different networks (warned on import)."""


def solve_rockpool_dt(tau: float, r: float) -> float:
    """The ``dt`` with ``r = τ·exp(-dt/τ)/dt`` (Rockpool's export), by bisection on ``log dt``:
    the right side falls strictly from ∞ to 0 as ``dt`` grows, so the root is unique."""
    if not (tau > 0 and r > 0):
        raise ExportError(f"Rockpool's R = tau·exp(-dt/tau)/dt needs tau, R > 0; got {tau}, {r}")
    lo, hi = math.log(tau) - 60.0, math.log(tau) + 60.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        dt = math.exp(mid)
        if tau * math.exp(-dt / tau) / dt > r:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def _common(values: list[float], rel: float = 1e-5) -> float | None:
    """The value shared by all of ``values`` within ``rel`` (float32 files), else None."""
    if not values:
        return None
    v0 = float(np.median(values))
    return v0 if all(abs(v - v0) <= rel * abs(v0) for v in values) else None


def _scalar(a) -> float | None:
    a = np.asarray(a, dtype=np.float64)
    return float(a.flat[0]) if a.size and np.all(a == a.flat[0]) else None


_ROCKPOOL_NAME = re.compile(r"^\d+_[A-Za-z]+Torch$")  # rockpool.nn.modules.torch.nir.to_nir
_FX_NAME = re.compile(r"^_\d+$")  # nirtorch.torch_to_nir on nn.Sequential (SpikingJelly)


def detect_source(nir_graph: nir.NIRGraph) -> tuple[str | None, str]:
    """The library that wrote ``nir_graph`` where the file shows it, and why (None: unknown).

    spikefold's metadata (``spikefold_version``); Rockpool's node names (``1_LIFNeuronTorch``);
    SpikingJelly's (``_0``, ``_1`` ... and ``input_1``, from nirtorch's ``torch_to_nir``);
    snnTorch's LIF parameters (``R = τ/dt`` with its fixed ``dt = 1e-4``)."""
    md = nir_graph.metadata if isinstance(nir_graph.metadata, dict) else {}
    if "spikefold_version" in md:
        return "nir", "spikefold's metadata (spikefold_version)"
    inner = [k for k, n in nir_graph.nodes.items() if not isinstance(n, (nir.Input, nir.Output))]
    if inner and all(_ROCKPOOL_NAME.match(k) for k in inner):
        return "rockpool", "Rockpool's node names (<index>_<Module>Torch)"
    if inner and all(_FX_NAME.match(k) for k in inner):
        return "spikingjelly", "SpikingJelly's node names (_0, _1, ... from torch.fx)"
    lifs = [n for n in nir_graph.nodes.values() if isinstance(n, nir.LIF)]
    ratios = [t / r for n in lifs if (t := _scalar(n.tau)) and (r := _scalar(n.r)) and r != 1.0]
    dt = _common(ratios) if lifs and len(ratios) == len(lifs) else None
    if dt is not None and abs(dt - 1e-4) <= 1e-5 * 1e-4:
        return "snntorch", "snnTorch's LIF parameters (R = tau/dt with dt = 1e-4)"
    return None, "not recognised"


def resolve_dt(
    nir_graph: nir.NIRGraph, source: str | None, dt: float | None
) -> tuple[Convention, float, str]:
    """The convention and time step of ``nir_graph`` and how the step was found (module
    docstring). Raises :class:`ExportError` when neither the caller, the metadata, the
    source nor the file states it."""
    if source is not None and source not in CONVENTIONS:
        raise ExportError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
    conv = CONVENTIONS[source or "nir"]
    md = nir_graph.metadata if isinstance(nir_graph.metadata, dict) else {}
    if dt is not None:
        return conv, _positive(dt, "dt"), "passed by the caller"
    if "dt" in md:
        return conv, _positive(md["dt"], "the graph's dt metadata"), "the graph's dt metadata"
    lifs = [n for n in nir_graph.nodes.values() if isinstance(n, nir.LIF)]
    ifs = [n for n in nir_graph.nodes.values() if isinstance(n, nir.IF)]
    if conv.name == "rockpool":
        pairs = [(_scalar(n.tau), _scalar(n.r)) for n in lifs]
        found = _common([solve_rockpool_dt(t, r) for t, r in pairs if t and r])
        if found is None or any(t is None or r is None for t, r in pairs):
            raise ExportError(
                "source rockpool: the LIF nodes' R = tau·exp(-dt/tau)/dt give no common dt; "
                "pass dt (Rockpool's module dt)"
            )
        return conv, found, "solved from Rockpool's R = tau·exp(-dt/tau)/dt"
    if conv.dt is not None:
        return conv, conv.dt, conv.dt_why
    taus_r = [(_scalar(n.tau), _scalar(n.r)) for n in lifs]
    unit_gain = [t / r for t, r in taus_r if t and r and r != 1.0]
    if lifs and len(unit_gain) == len(lifs) and (found := _common(unit_gain)) is not None:
        return conv, found, "R = tau/dt on every LIF (unit input gain, as snnTorch and spikefold)"
    if_dt = [1.0 / r for n in ifs if (r := _scalar(n.r)) and r != 1.0]
    if ifs and len(if_dt) == len(ifs) and (found := _common(if_dt)) is not None:
        return conv, found, "R = 1/dt on every IF (as SpikingJelly writes it)"
    if not lifs and not ifs:
        return conv, 1.0, "no LIF or IF node: dt does not matter (1)"
    raise ExportError(
        "the NIR graph does not state its time step (no dt metadata, R = 1 or varying across "
        f"neurons); pass dt, or source (one of {', '.join(SOURCES[1:])}) to read it as that "
        "library writes it"
    )


def _positive(v, what: str) -> float:
    try:
        f = float(np.asarray(v, dtype=np.float64).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        raise ExportError(f"{what} = {v!r} is not a number") from None
    if not (math.isfinite(f) and f > 0):
        raise ExportError(f"{what} = {f} must be a positive time step")
    return f
