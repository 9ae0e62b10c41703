"""The network drawn as inline SVG: one box per node, arrows along the edges.

Layout: a node's column is its depth (the longest path from an input, a shortcut's nodes
pulled next to the node they feed), so data flows left to right; nodes of one column stack
downwards; past :data:`PER_ROW` columns the drawing continues on a new band below (a deep
network wraps rather than running off a 1280 px page). An edge between neighbouring columns is
a curve; any other (a residual shortcut, an edge to the next band) runs in the free lanes —
the gutter right of its source, the gap under the source's band, the gutter left of its
destination — so no edge crosses a box. A box shows the node's name, kind, output shape, bit widths
and, for a spiking population, its firing rate (text and a bar). The input is the report's
``network`` section (:func:`hwsim.report.build_report`), so a report re-renders from its JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from hwsim.numfmt import fmt_count, fmt_sig

__all__ = ["graph_svg", "ROLE_FILL"]

BOX_W, BOX_H = 168, 84
GAP_X, GAP_Y, BAND_GAP, PAD = 34, 16, 34, 18  # PAD >= GAP_X / 2: a gutter left of column 0
PER_ROW = 6  # 6 columns of 168 + 34 px fit a 1200 px page

ROLE_FILL = {
    "Input": "#E8E8E8", "Dense": "#DBE9F6", "Conv2d": "#DBE9F6", "EICircuit": "#D5E4F0",
    "LIF": "#FDE5CC", "CubaLIF": "#FDE5CC", "LI": "#E2F0D9", "FastInhibitory": "#F8D9D9",
    "Readout": "#E2F0D9",
}  # fmt: skip
OTHER_FILL = "#F4F4F4"
RATE_COLOUR = "#DD8452"


def _columns(nodes: list[dict], edges: list[list[str]]) -> dict[str, int]:
    """Each node's column: its depth (longest path from an input; nodes come in topological
    order), then pulled right to just before its first successor, so a node on a shortcut
    (a Delay balancing a residual path) sits beside the node it feeds, not beside its source."""
    preds: dict[str, list[str]] = {n["name"]: [] for n in nodes}
    succs: dict[str, list[str]] = {n["name"]: [] for n in nodes}
    for s, d in edges:
        preds[d].append(s)
        succs[s].append(d)
    col: dict[str, int] = {}
    for n in nodes:
        col[n["name"]] = 1 + max((col[p] for p in preds[n["name"]]), default=-1)
    for n in reversed(nodes):
        name = n["name"]
        if preds[name] and succs[name]:
            col[name] = max(col[name], min(col[d] for d in succs[name]) - 1)
    return col


@dataclass(frozen=True)
class _Layout:
    pos: dict[str, tuple[float, float]]  # top-left corner of each box
    col: dict[str, int]
    gap_below: dict[str, float]  # y of the free lane under each node's band
    width: float
    height: float


def _layout(nodes, edges) -> _Layout:
    col = _columns(nodes, edges)
    stack: dict[int, list[str]] = {}
    for n in nodes:
        stack.setdefault(col[n["name"]], []).append(n["name"])
    n_cols = max(stack, default=0) + 1
    bands = -(-n_cols // PER_ROW)
    band_h = [0] * bands
    for c, names in stack.items():
        b = c // PER_ROW
        band_h[b] = max(band_h[b], len(names) * (BOX_H + GAP_Y) - GAP_Y)
    top = [PAD + sum(band_h[:b]) + b * BAND_GAP for b in range(bands)]
    pos, gap_below = {}, {}
    for c, names in stack.items():
        b, x = divmod(c, PER_ROW)
        for i, name in enumerate(names):
            pos[name] = (PAD + x * (BOX_W + GAP_X), top[b] + i * (BOX_H + GAP_Y))
            gap_below[name] = top[b] + band_h[b] + BAND_GAP / 2
    width = PAD * 2 + min(n_cols, PER_ROW) * (BOX_W + GAP_X) - GAP_X
    height = (top[-1] + band_h[-1] + BAND_GAP) if bands else 2 * PAD
    return _Layout(pos, col, gap_below, width, height)


def _shape(s) -> str:
    return "x".join(map(str, s))


def _box(node: dict, x: float, y: float, max_rate: float) -> str:
    name, kind = escape(node["name"]), escape(node["kind"])
    fill = ROLE_FILL.get(node["kind"], OTHER_FILL)
    rate = node.get("firing_rate")
    lines = [
        f"{kind} · {_shape(node['output'])}",
        escape(node["bits"])
        if node["bits"] != "-"
        else f"{fmt_count(node['params'])} params"
        if node["params"]
        else "no parameters",
    ]
    if rate is not None:
        lines.append(f"rate {fmt_sig(rate, 3)} spikes/step")
    elif node.get("events_per_sample") is not None:
        lines.append(f"{fmt_count(node['events_per_sample'])} events/sample")
    tip = escape(f"{node['name']} ({node['kind']}): output {_shape(node['output'])}, "
                 f"{node['params']:,} parameters, {node['bits']}, offset {node['offset']}; "
                 f"{node['settings']}")  # fmt: skip
    out = [f"<g class='node' data-node='{name}' data-kind='{kind}'><title>{tip}</title>",
           f"<rect x='{x}' y='{y}' width='{BOX_W}' height='{BOX_H}' rx='6' fill='{fill}' "
           "stroke='#555'/>",
           f"<text x='{x + 8}' y='{y + 18}' class='name'>{name}</text>"]  # fmt: skip
    for i, line in enumerate(lines):
        out.append(f"<text x='{x + 8}' y='{y + 36 + 15 * i}'>{line}</text>")
    if rate is not None and max_rate > 0:
        w = (BOX_W - 16) * rate / max_rate
        out.append(f"<rect x='{x + 8}' y='{y + BOX_H - 9}' width='{w:.1f}' height='4' "
                   f"fill='{RATE_COLOUR}' class='rate'/>")  # fmt: skip
    out.append("</g>")
    return "".join(out)


def _edge(lay: _Layout, src: str, dst: str) -> str:
    (xs, ys), (xd, yd) = lay.pos[src], lay.pos[dst]
    y1, y2 = ys + BOX_H / 2, yd + BOX_H / 2
    if lay.col[dst] == lay.col[src] + 1 and xd > xs:  # neighbours: a curve between the sides
        x1, dx = xs + BOX_W, (xd - xs - BOX_W) / 2
        d = f"M{x1},{y1} C{x1 + dx},{y1} {xd - dx},{y2} {xd - 2},{y2}"
    else:  # anything else runs in the free lanes: the gutters beside and the gap under a band
        right, left, lane = xs + BOX_W + GAP_X / 2, xd - GAP_X / 2, lay.gap_below[src]
        d = f"M{xs + BOX_W},{y1} H{right} V{lane} H{left} V{y2} H{xd - 2}"
    return f"<path d='{d}' class='edge' marker-end='url(#arrow)'/>"


def graph_svg(network: dict) -> str:
    """The ``network`` section of a report as an ``<svg id='graph-drawing'>`` element."""
    nodes, edges = network["nodes"], network["edges"]
    lay = _layout(nodes, edges)
    width, height = lay.width, lay.height
    rates = [n["firing_rate"] for n in nodes if n.get("firing_rate") is not None]
    max_rate = max(rates, default=0.0)
    parts = [
        f"<svg id='graph-drawing' xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' "
        f"height='{height:.0f}' viewBox='0 0 {width:.0f} {height:.0f}' role='img' "
        f"aria-label='the network: {len(nodes)} nodes, {len(edges)} edges'>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#555'/></marker></defs>",
        "<style>text{font:12px system-ui,sans-serif;fill:#222}text.name{font-weight:bold;"
        "font-size:13px}.edge{fill:none;stroke:#555;stroke-width:1.4}</style>",
    ]
    parts += [_edge(lay, s, d) for s, d in edges]
    parts += [_box(n, *lay.pos[n["name"]], max_rate) for n in nodes]
    parts.append("</svg>")
    return "\n".join(parts)
