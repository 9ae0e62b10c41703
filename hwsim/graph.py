"""The hardware graph: a small, versioned IR of named nodes and edges (DESIGN.md section 3).

Nodes (defined in :mod:`hwsim.nodes`, re-exported here) are frozen dataclasses holding numpy
arrays and plain values, in the style of NIR's ``nir/ir``; ``hwsim.io`` turns any of them
into a dict and back with one generic pair of functions, driven by the dataclass fields and
their type hints, and stores a graph in one ``.npz`` file. The full reference, with the
reasons for each choice, is ``docs/graph.md``.

How a layer is expressed
------------------------
A *synapse* node (:class:`Dense`, :class:`Conv2d`, or the composite :class:`EICircuit`)
produces a current; a *neuron* node (:class:`LIF`, :class:`CubaLIF`, :class:`LI`,
:class:`Readout`, :class:`FastInhibitory`) receives the **sum** of the outputs of all its
predecessors as its input current::

    Input -> Conv2d -> LIF -> SumPool2d -> Flatten -> Dense -> LIF -> Dense -> Readout

Every multi-input node (:class:`LIF`, :class:`Readout`, :class:`FastInhibitory`,
:class:`Add`) sums its inputs, so edges need no port names and their order never matters.
Shapes are per sample and per step (no batch or time axis): ``(features,)`` or ``(C, H, W)``.

One set of node classes for both formats
----------------------------------------
A float graph and its quantised twin have the same nodes and edges; only the field *values*
change: float arrays (float32/float64) become integer arrays (mantissas) and the fixed-only
fields (exponents such as ``weight_exp``, ``bias_exp``) leave their neutral default. The
meaning of every field in each format is stated on the class and in ``docs/graph.md``; the
arithmetic is :mod:`hwsim.arith`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata as _importlib_metadata

import numpy as np

from hwsim import arith, describe
from hwsim.errors import GraphError
from hwsim.nodes import (
    LI,
    LIF,
    NEURON_KINDS,
    NODE_KINDS,
    SPIKING_KINDS,
    SYNAPSE_KINDS,
    Add,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    EICircuit,
    Encoding,
    FastInhibitory,
    Flatten,
    Format,
    Input,
    Node,
    Readout,
    Reset,
    Scalar,
    Shape,
    SumPool2d,
    Timing,
    latency,
)

__all__ = [
    "SCHEMA_VERSION",
    "Shape",
    "Scalar",
    "Format",
    "Timing",
    "Encoding",
    "Reset",
    "Node",
    "Input",
    "Dense",
    "Conv2d",
    "SumPool2d",
    "AvgPool2d",
    "Flatten",
    "LIF",
    "CubaLIF",
    "LI",
    "FastInhibitory",
    "EICircuit",
    "Add",
    "Delay",
    "Readout",
    "NODE_KINDS",
    "SYNAPSE_KINDS",
    "NEURON_KINDS",
    "SPIKING_KINDS",
    "GraphMetadata",
    "HardwareGraph",
    "latency",
]

SCHEMA_VERSION = 1
"""Bumped on every change of a node's fields or of their meaning (or of the numeric
spec they follow); readers refuse any other version."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


# ---------------------------------------------------------------------------------------------
# Metadata and graph
# ---------------------------------------------------------------------------------------------


def _spikefold_version() -> str:
    try:
        return _importlib_metadata.version("spikefold")
    except _importlib_metadata.PackageNotFoundError:  # running from a plain checkout
        return "0+unknown"


@dataclass(frozen=True, eq=False)
class GraphMetadata:
    """Graph-wide facts. ``T`` steps per sample; ``format`` ``float32`` (float arrays,
    training semantics; float64 arrays are allowed) or ``fixed`` (integers, ``widths``
    required); ``timing`` ``ideal`` or ``lava`` (:func:`latency`); ``scales`` (fixed) the
    real value of one integer unit, keyed by node name or ``"node/quantity"`` (e.g.
    ``"fc1/v"``); ``origin`` free strings (model class, config hash, checkpoint)."""

    T: int
    format: Format = "float32"
    timing: Timing = "ideal"
    widths: arith.FixedWidths | None = None
    scales: dict[str, float] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    spikefold_version: str = field(default_factory=_spikefold_version)
    schema_version: int = SCHEMA_VERSION

    def problems(self, names: Mapping[str, Node]) -> list[str]:
        out = []
        if not (isinstance(self.T, int) and self.T >= 1):
            out.append(f"T={self.T!r} must be a positive int")
        if self.format not in ("float32", "fixed"):
            out.append(f"format {self.format!r} is neither 'float32' nor 'fixed'")
        if self.timing not in ("ideal", "lava"):
            out.append(f"timing {self.timing!r} is neither 'ideal' nor 'lava'")
        if self.format == "fixed":
            if self.widths is None:
                out.append("a fixed graph needs widths (hwsim.arith.FixedWidths)")
            else:
                out += [f"widths: {p}" for p in self.widths.problems()]
        elif self.widths is not None:
            out.append("a float graph has no widths")
        if self.schema_version != SCHEMA_VERSION:
            out.append(
                f"schema_version {self.schema_version}; this spikefold reads {SCHEMA_VERSION}"
            )
        for key, val in self.scales.items():
            if key.split("/", 1)[0] not in names:
                out.append(f"scales[{key!r}] names no node")
            if not (np.isfinite(val) and val > 0):
                out.append(f"scales[{key!r}]={val} must be positive")
        for key in list(self.scales) + list(self.origin):
            if key.startswith("$"):
                out.append(f"key {key!r}: keys starting with '$' are reserved by the file format")
        return out


@dataclass(frozen=True, eq=False)
class HardwareGraph:
    """Named nodes, directed edges ``(src, dst)`` and metadata; validated on construction.

    Construction raises :class:`GraphError` naming the node and the problem: unknown node
    kinds, bad names, dangling or duplicate edges, cycles, inputs with predecessors, nodes
    without, shape mismatches (shape inference through the graph), NaN/inf or wrongly typed
    arrays, values out of the format's ranges, unbalanced paths in ``lava`` timing, and
    metadata problems. Use ``dataclasses.replace`` to derive a changed graph (re-validated).
    """

    nodes: dict[str, Node]
    edges: tuple[tuple[str, str], ...]
    metadata: GraphMetadata

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", dict(self.nodes))
        object.__setattr__(self, "edges", tuple((str(s), str(d)) for s, d in self.edges))
        self._check_structure()
        order = self._topological_order()
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_shapes", self._infer_shapes(order))
        self._check_values()
        object.__setattr__(self, "_offsets", self._arrival_offsets(order))

    # -- queries -------------------------------------------------------------------------------
    def predecessors(self, name: str) -> list[str]:
        """The sources of ``name``'s incoming edges, in edge order."""
        self._known(name)
        return [s for s, d in self.edges if d == name]

    def successors(self, name: str) -> list[str]:
        """The destinations of ``name``'s outgoing edges, in edge order."""
        self._known(name)
        return [d for s, d in self.edges if s == name]

    def topological_order(self) -> list[str]:
        """Every node name, each after all its predecessors (ties: insertion order)."""
        return list(self._order)

    def input_names(self) -> list[str]:
        """The :class:`Input` nodes, in insertion order."""
        return [n for n, v in self.nodes.items() if isinstance(v, Input)]

    def output_names(self) -> list[str]:
        """Nodes without successors (usually the :class:`Readout`), in insertion order."""
        has_succ = {s for s, _ in self.edges}
        return [n for n in self.nodes if n not in has_succ]

    def shapes(self) -> dict[str, Shape]:
        """The inferred per-sample output shape of every node."""
        return dict(self._shapes)

    def input_shapes(self, name: str) -> list[Shape]:
        """The output shapes of ``name``'s predecessors, in edge order."""
        return [self._shapes[p] for p in self.predecessors(name)]

    def arrival_offsets(self) -> dict[str, int]:
        """Per node, the step at which its output for input step 0 appears (sum of
        :func:`latency` along any path; validation guarantees all paths agree). A run lasts
        ``T + max(offsets)`` steps; ``ideal`` graphs without Delay have all zeros."""
        return dict(self._offsets)

    # -- for people ----------------------------------------------------------------------------
    def summary(self) -> str:
        """A table of the nodes, one line each in topological order: name, kind, input and
        output shapes, parameter entries, bit widths, timing offset and settings
        (:func:`hwsim.describe.node_rows` gives the same rows as dicts)."""
        return describe.summary_text(self)

    def __repr__(self) -> str:
        # the dataclass repr would print every array of every node (kilobytes for a tiny net)
        return describe.graph_line(self)

    # -- validation ----------------------------------------------------------------------------
    def _known(self, name: str) -> None:
        if name not in self.nodes:
            raise GraphError(f"no node named {name!r}")

    def _check_structure(self) -> None:
        problems = []
        for name, node in self.nodes.items():
            if not isinstance(name, str) or not _NAME.match(name):
                problems.append(
                    f"node name {name!r} must match {_NAME.pattern} (letters, digits, _ . -)"
                )
            if type(node) not in NODE_KINDS.values():
                problems.append(
                    f"node {name!r}: unknown node kind {type(node).__name__}; known kinds: "
                    f"{', '.join(NODE_KINDS)}"
                )
        seen = set()
        for s, d in self.edges:
            for end in (s, d):
                if end not in self.nodes:
                    problems.append(f"edge ({s!r}, {d!r}) is dangling: no node named {end!r}")
            if s == d:
                problems.append(f"edge ({s!r}, {d!r}) is a self-loop")
            if (s, d) in seen:
                problems.append(f"edge ({s!r}, {d!r}) appears twice")
            seen.add((s, d))
        if not any(isinstance(v, Input) for v in self.nodes.values()):
            problems.append("the graph has no Input node")
        problems += [f"metadata: {p}" for p in self.metadata.problems(self.nodes)]
        _raise(problems)

    def _topological_order(self) -> list[str]:
        indeg = {n: 0 for n in self.nodes}
        succ: dict[str, list[str]] = {n: [] for n in self.nodes}
        for s, d in self.edges:
            indeg[d] += 1
            succ[s].append(d)
        ready = [n for n in self.nodes if indeg[n] == 0]
        order = []
        while ready:
            n = ready.pop(0)
            order.append(n)
            for d in succ[n]:
                indeg[d] -= 1
                if indeg[d] == 0:
                    ready.append(d)
        if len(order) != len(self.nodes):
            cyc = [n for n in self.nodes if indeg[n] > 0]
            raise GraphError(f"the graph has a cycle through the nodes {cyc}")
        return order

    def _infer_shapes(self, order: list[str]) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {}
        for name in order:
            node = self.nodes[name]
            ins = [shapes[p] for p in self.predecessors(name)]
            if not isinstance(node, Input) and not ins:
                raise GraphError(f"node {name!r} ({node.kind}) has no incoming edge")
            try:
                shapes[name] = tuple(int(x) for x in node.output_shape(ins))
            except GraphError as e:
                raise GraphError(f"node {name!r} ({node.kind}): {e}") from None
        return shapes

    def _check_values(self) -> None:
        md = self.metadata
        problems = []
        for name, node in self.nodes.items():
            found = node.problems(md.format, md.widths, md.T)
            problems += [f"node {name!r} ({node.kind}): {p}" for p in found]
        _raise(problems)

    def _arrival_offsets(self, order: list[str]) -> dict[str, int]:
        offsets: dict[str, int] = {}
        for name in order:
            ins = {p: offsets[p] for p in self.predecessors(name)}
            if len(set(ins.values())) > 1:
                raise GraphError(
                    f"node {name!r} ({self.nodes[name].kind}): its inputs arrive at different "
                    f"steps {ins} under {self.metadata.timing!r} timing; insert Delay nodes to "
                    "balance the paths"
                )
            offsets[name] = max(ins.values(), default=0) + latency(
                self.nodes[name], self.metadata.timing
            )
        return offsets


def _raise(problems: list[str]) -> None:
    if problems:
        more = f"\n  ... and {len(problems) - 12} more" if len(problems) > 12 else ""
        raise GraphError("invalid hardware graph:\n  " + "\n  ".join(problems[:12]) + more)
