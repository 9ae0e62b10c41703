"""The Lava exporter: a hardware graph as a Lava process graph, run in Lava's simulator.

    spec = translate(graph)                 # LavaGraphSpec: processes, connections, taps
    export_lava(graph, "model.lava.json")   # the spec as JSON (inspectable, rebuildable)
    spec = load_lava("model.lava.json")     # ... without the training code
    res = run_lava(spec_or_graph, x, record=True)   # LavaResult: readout, records, counts

Plain layers run on Lava's own ``Dense``/``Conv``/``LIF`` (bit-accurate models under
``fixed_pt``), everything else on the custom processes of :mod:`exporters.lava.procs`, whose
models follow :mod:`hwsim.arith`. ``docs/lava.md`` describes the mapping and the timing; rung 2
of the verification ladder (hwsim vs Lava) is :mod:`exporters.lava.rung2`.
"""

from __future__ import annotations

from pathlib import Path

import exporters  # noqa: F401 - installs the Python 3.11 shim before any Lava import
from exporters.lava.build import PROCESS_KINDS, LavaNetwork, build, instantiate, var_shapes
from exporters.lava.runner import LavaResult, as_spec, encode_for_spec, run_lava, run_lava_steps
from exporters.lava.spec import (
    Connection,
    LavaGraphSpec,
    ProcSpec,
    Tap,
    load_spec,
    save_spec,
    spec_from_json,
    spec_to_json,
)
from exporters.lava.translate import translate
from hwsim.graph import HardwareGraph

__all__ = [
    "PROCESS_KINDS",
    "Connection",
    "LavaGraphSpec",
    "LavaNetwork",
    "LavaResult",
    "ProcSpec",
    "Tap",
    "as_spec",
    "build",
    "encode_for_spec",
    "export_lava",
    "load_lava",
    "run_lava",
    "run_lava_steps",
    "save_spec",
    "load_spec",
    "spec_from_json",
    "spec_to_json",
    "translate",
    "with_vars",
]


def with_vars(spec: LavaGraphSpec) -> LavaGraphSpec:
    """``spec`` with every process's Lava Vars (name and shape) recorded, found by building
    each process once (the source's Vars depend on the data and are not recorded)."""
    from dataclasses import replace

    procs = {}
    for name, p in spec.processes.items():
        if p.role == "source":
            procs[name] = p
            continue
        procs[name] = replace(p, vars=var_shapes(instantiate(name, p)))
    return replace(spec, processes=procs)


def export_lava(graph: HardwareGraph, path: str | Path) -> LavaGraphSpec:
    """Translate ``graph`` and write its Lava process graph to ``path`` (JSON, atomic);
    returns the spec (with its Vars recorded)."""
    spec = with_vars(translate(graph))
    save_spec(spec, path)
    return spec


def load_lava(path: str | Path) -> LavaGraphSpec:
    """Read a Lava process graph written by :func:`export_lava`; build and run it with
    :func:`build` / :func:`run_lava` (the Vars are checked against the file when built)."""
    return load_spec(path)
