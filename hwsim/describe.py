"""A hardware graph for people: a table of its nodes, a one-line ``repr`` and a text summary.

:func:`node_rows` gives one row per node in topological order — ``name``, ``kind``,
``inputs`` (the shapes of its predecessors), ``output`` shape, ``params`` (parameter entries:
every entry of every array field, plus every numeric scalar such as a LIF's ``decay`` and
scalar ``threshold``; exponents and settings are not parameters), ``bits`` (the widths its
parameters and state are held at), ``offset`` (the step at which its output for input step 0
appears, :meth:`HardwareGraph.arrival_offsets`) and ``settings`` (its non-array fields). The
rows feed :meth:`HardwareGraph.summary`, ``spikefold inspect`` and the report's drawing of the
network. Nothing here changes or checks a graph; shapes and offsets come from its validation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields

import numpy as np

from hwsim import arith
from hwsim.nodes import (
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
    Input,
    Node,
    Readout,
    SumPool2d,
)

__all__ = ["COLUMNS", "node_rows", "node_params", "format_table", "graph_line", "summary_text"]

COLUMNS = ("name", "kind", "inputs", "output", "params", "bits", "offset", "settings")


def node_params(node: Node) -> int:
    """Parameter entries of ``node``: array entries and numeric scalars (nested nodes too)."""
    n = 0
    for f in fields(node):
        v = getattr(node, f.name)
        if isinstance(v, np.ndarray):
            n += int(v.size)
        elif isinstance(v, Node):
            n += node_params(v)
        elif f.metadata.get("numeric") and v is not None:
            n += 1
    return n


# The widths a fixed graph holds a node's parameters and state at (hwsim.arith); a float graph
# holds everything as float32. Pass-through nodes (Flatten, pools, Add) hold nothing.
_FIXED_BITS: dict[type, Callable[[arith.FixedWidths], str]] = {
    Input: lambda w: f"{w.input_bits}-bit input",
    Dense: lambda w: f"{w.weight_bits}-bit w",
    Conv2d: lambda w: f"{w.weight_bits}-bit w",
    EICircuit: lambda w: f"{w.weight_bits}-bit w, {w.gain_bits}-bit g",
    LIF: lambda w: f"{w.state_bits}-bit v, {w.vth_bits}-bit θ",
    CubaLIF: lambda w: f"{w.state_bits}-bit u and v, {w.vth_bits}-bit θ",
    LI: lambda w: f"{w.state_bits}-bit v",
    FastInhibitory: lambda w: f"{w.payload_bits}-bit payload",
    Readout: lambda w: f"{w.readout_bits}-bit sum",
    Delay: lambda w: f"{w.acc_bits}-bit line",
}
_HOLDS_NOTHING = (Flatten, SumPool2d, AvgPool2d, Add)


def _bits(node: Node, fmt: str, widths: arith.FixedWidths | None) -> str:
    if isinstance(node, _HOLDS_NOTHING) or (isinstance(node, Input) and fmt != "fixed"):
        return "-"
    if fmt != "fixed":
        return "float32"
    describe = _FIXED_BITS.get(type(node))
    return "-" if describe is None or widths is None else describe(widths)


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return "x".join(map(str, v))
    return str(v)


def _settings(node: Node, fmt: str) -> str:
    """The node's non-array fields as ``name=value``: its choices (string fields) always, the
    others when they differ from their default; a numeric field holding an array (a threshold
    schedule) as ``name=[n steps]``; an Input's ``shape`` is the output column."""
    out = []
    for f in fields(node):
        v = getattr(node, f.name)
        if isinstance(v, np.ndarray):
            if f.metadata.get("numeric"):
                shown = f"[{v.size} steps]" if v.ndim else _value(v.item())
                out.append(f"{f.name}={shown}")
            continue
        at_default = f.default is not MISSING and v == f.default
        if (
            v is None
            or isinstance(v, Node)
            or f.name == "shape"
            or (at_default and not isinstance(v, str))
        ):
            continue
        out.append(f"{f.name}={_value(v)}")
    return ", ".join(out)


def _shape(s) -> str:
    return "x".join(map(str, s))


def node_rows(graph) -> list[dict]:
    """One dict per node of ``graph`` (a :class:`~hwsim.graph.HardwareGraph`), topological
    order, with the keys of :data:`COLUMNS` (shapes as lists, ``inputs`` a list of them)."""
    md = graph.metadata
    shapes, offsets = graph.shapes(), graph.arrival_offsets()
    rows = []
    for name in graph.topological_order():
        node = graph.nodes[name]
        rows.append({
            "name": name, "kind": node.kind,
            "inputs": [list(s) for s in graph.input_shapes(name)],
            "output": list(shapes[name]), "params": node_params(node),
            "bits": _bits(node, md.format, md.widths), "offset": offsets[name],
            "settings": _settings(node, md.format),
        })  # fmt: skip
    return rows


def format_table(head: list[str], rows: list[list[str]]) -> str:
    """Plain-text columns, left-aligned, two spaces apart (numbers right-aligned)."""
    cols = list(zip(head, *rows)) if rows else [(h,) for h in head]
    widths = [max(len(str(c)) for c in col) for col in cols]
    numeric = [all(str(c).replace(",", "").isdigit() for c in col[1:]) and len(col) > 1
               for col in cols]  # fmt: skip

    def line(cells) -> str:
        parts = [str(c).rjust(w) if num else str(c).ljust(w)
                 for c, w, num in zip(cells, widths, numeric)]  # fmt: skip
        return "  ".join(parts).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def _format(graph) -> str:
    md = graph.metadata
    if md.format == "fixed" and md.widths is not None:
        return f"fixed ({md.widths.weight_bits}-bit weights)"
    return md.format


def graph_line(graph, max_names: int = 8) -> str:
    """``HardwareGraph(6 nodes, 5 edges, fixed (8-bit weights), ideal timing, T=4: input ->
    m1 -> ... -> output)``: the graph's ``repr``, whatever the size of its arrays."""
    order = graph.topological_order()
    chain = order if len(order) <= max_names else [*order[: max_names - 2], "...", order[-1]]
    md = graph.metadata
    return (
        f"HardwareGraph({len(graph.nodes)} nodes, {len(graph.edges)} edges, {_format(graph)}, "
        f"{md.timing} timing, T={md.T}: {' -> '.join(chain)})"
    )


def summary_text(graph) -> str:
    """The node table of :func:`node_rows` under a header line, with the parameter total."""
    rows = node_rows(graph)
    md = graph.metadata
    head = [
        f"HardwareGraph: {len(graph.nodes)} nodes, {len(graph.edges)} edges; {_format(graph)}, "
        f"{md.timing} timing, T={md.T}, schema {md.schema_version}"
    ]
    if md.origin:
        head.append("origin: " + ", ".join(f"{k}={v}" for k, v in md.origin.items()))
    cells = [
        [r["name"], r["kind"], ", ".join(_shape(s) for s in r["inputs"]) or "-",
         _shape(r["output"]), f"{r['params']:,}" if r["params"] else "-", r["bits"],
         str(r["offset"]), r["settings"]]
        for r in rows
    ]  # fmt: skip
    total = sum(r["params"] for r in rows)
    return "\n".join([*head, "", format_table(list(COLUMNS), cells), "",
                      f"parameters: {total:,}"])  # fmt: skip
