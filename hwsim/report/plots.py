"""The report's plots (matplotlib, Agg, without pyplot), sized to be read on a 1280 px page.

Each plot is a function of the report dict returning a :class:`matplotlib.figure.Figure`
(:data:`PLOTS`); :func:`make_plots` renders the ones that apply as PNG bytes. Conventions:
one colour per energy term in every panel (:data:`TERM_COLOURS`), labels of at least 10 pt,
bars and lines of magnitudes on axes from zero with headroom above the tallest, a log axis only
where models differ by orders of magnitude (and then said on the axis). Figures are built
without pyplot, so the caller's backend and open figures are left alone (``Figure.savefig``
renders with Agg whatever the backend).
"""

from __future__ import annotations

import io
from collections.abc import Callable

__all__ = ["TERM_COLOURS", "PLOTS", "term_colour", "make_plots", "png"]

# One colour per term, whichever model and panel it appears in; two names of one quantity in
# two families (synaptic ACs / synaptic ops) share it. No panel holds two terms of one colour.
TERM_COLOURS = {
    "synaptic ACs": "#4C72B0",
    "synaptic ops": "#4C72B0",
    "graded MACs": "#8172B3",
    "graded synaptic ops": "#8172B3",
    "encoding MACs": "#937860",
    "neuron updates": "#DD8452",
    "weight reads": "#55A868",
    "membrane read/write": "#C44E52",
    "spike addressing": "#64B5CD",
    "resets": "#DA8BC3",
    "bias reads": "#CCB974",
    "spikes": "#17BECF",
    "spike hops": "#2F4B7C",
    "divisions": "#E5AE38",
    "input injection": "#4D4D4D",
}
FALLBACK_COLOUR = "#B0B0B0"
SNN_COLOUR, ANN_COLOUR = "#4C72B0", "#DD8452"
FONT = 10  # pt, ticks and legends; titles 12 pt
HEADROOM = 1.18  # the tallest bar ends below the frame, its label above it


def term_colour(term: str) -> str:
    return TERM_COLOURS.get(term, FALLBACK_COLOUR)


def _figure(w: float, h: float, rows: int = 1, cols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _style(ax, title: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=12)
    ax.set_ylabel(ylabel, fontsize=FONT + 1)
    ax.tick_params(labelsize=FONT)
    ax.spines[["top", "right"]].set_visible(False)


def _xticks(ax, labels: list[str]) -> None:
    long = len(labels) > 6 or max((len(s) for s in labels), default=0) > 10
    ax.set_xticks(range(len(labels)), labels, fontsize=FONT, rotation=30 if long else 0,
                  ha="right" if long else "center")  # fmt: skip


def _lif_layers(rep: dict) -> list[str]:
    return [n for n, la in rep["counts"]["layers"].items() if la.get("firing_rate") is not None]


def _timing_note(rep: dict) -> str:
    t = rep["timings"][rep["meta"]["timing"]]
    return f"{t['timing']} timing, {t['steps']} steps per sample"


def firing_rate(rep: dict):
    lif = _lif_layers(rep)
    rates = [rep["counts"]["layers"][n]["firing_rate"] for n in lif]
    fig, ax = _figure(5.8, 3.6)
    ax = ax[0][0]
    ax.bar(range(len(lif)), rates, color=SNN_COLOUR, width=0.6)
    for i, r in enumerate(rates):
        ax.text(i, r, f" {r:.3g}", ha="center", va="bottom", fontsize=FONT)
    ax.set_ylim(0, max(rates, default=0) * HEADROOM or 1)
    _xticks(ax, lif)
    _style(ax, f"firing rate per layer ({_timing_note(rep)})", "spikes / neuron / step")
    fig.tight_layout()
    return fig


def spikes_per_step(rep: dict):
    fig, ax = _figure(5.8, 3.6)
    ax = ax[0][0]
    top = 0.0
    for n in _lif_layers(rep):
        ys = rep["counts"]["layers"][n]["per_step"]["out_events"]
        ax.plot(range(len(ys)), ys, marker="o", label=n)
        top = max(top, max(ys, default=0))
    ax.set_ylim(0, top * HEADROOM or 1)  # from zero: a small wiggle stays small
    ax.set_xlabel("step", fontsize=FONT + 1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=FONT, loc="lower right")
    _style(ax, f"spikes per step ({_timing_note(rep)})", "spikes per sample")
    fig.tight_layout()
    return fig


def _unit(values: list[float]) -> tuple[float, str]:
    top = max(values, default=0.0)
    for div, unit in ((1e6, "µJ"), (1e3, "nJ")):
        if top >= div:
            return div, unit
    return 1.0, "pJ"


def energy_by_layer(rep: dict):
    models = list(rep["energy"])
    cols = 2 if len(models) > 1 else 1
    rows = -(-len(models) // cols)
    fig, axes = _figure(11.5, 3.4 * rows + 0.9, rows, cols)
    seen: dict[str, dict[str, object]] = {}  # colour -> {term: its bars}
    for i, ax in enumerate(axes.flat):
        if i >= len(models):
            ax.set_visible(False)
            continue
        by_layer = rep["energy"][models[i]]["by_layer"]
        nodes = [n for n, terms in by_layer.items() if sum(terms.values()) > 0]
        totals = [sum(by_layer[n].values()) for n in nodes]
        div, unit = _unit(totals)
        bottom = [0.0] * len(nodes)
        terms = list(dict.fromkeys(t for n in nodes for t in by_layer[n]))
        for t in terms:
            vals = [by_layer[n].get(t, 0.0) / div for n in nodes]
            bars = ax.bar(range(len(nodes)), vals, bottom=bottom, color=term_colour(t), width=0.6,
                          label=t)  # fmt: skip
            seen.setdefault(term_colour(t), {})[t] = bars
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_ylim(0, max(bottom, default=0) * HEADROOM or 1)
        _xticks(ax, nodes)
        _style(ax, models[i], f"{unit} per sample")
    fig.suptitle(f"SNN energy by layer and term ({_timing_note(rep)})", fontsize=12)
    # one legend entry per colour: two names of one quantity read "synaptic ACs / synaptic ops"
    handles = [next(iter(by_term.values())) for by_term in seen.values()]
    labels = [" / ".join(by_term) for by_term in seen.values()]
    fig.legend(handles, labels, loc="lower center", ncol=min(len(seen), 4), fontsize=FONT,
               frameon=False)  # fmt: skip
    legend_rows = -(-len(seen) // 4)
    fig.tight_layout(rect=(0, 0.045 * legend_rows * 7 / (3.4 * rows + 0.9), 1, 1))
    return fig


def snn_vs_ann(rep: dict):
    fig, ax = _figure(5.8, 3.6)
    ax = ax[0][0]
    models = list(rep["headline"]["energy"])
    for i, name in enumerate(models):
        e = rep["headline"]["energy"][name]
        for key, dx, colour, label in (("snn_pj", -0.12, SNN_COLOUR, "SNN"),
                                       ("ann_pj", 0.12, ANN_COLOUR, "ANN-equivalent")):  # fmt: skip
            if key not in e:
                continue
            v, lo, hi = (x / 1e3 for x in e[key])
            ax.errorbar(i + dx, v, yerr=[[v - lo], [hi - v]], fmt="o", color=colour,
                        capsize=4, markersize=7, label=label if i == 0 else None)  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlim(-0.5, len(models) - 0.5)
    _xticks(ax, models)
    ax.legend(fontsize=FONT)
    _style(ax, "SNN vs ANN-equivalent (dot: nominal, whiskers: range)", "nJ per sample (log scale)")
    fig.tight_layout()
    return fig


def timing_difference(rep: dict):
    diff = rep["timing_difference"]
    items = [("spikes", diff["spikes"]), ("synaptic ops", diff["synaptic_ops"])]
    items += [(f"energy {k}", v) for k, v in diff["energy"].items()]
    items = [(k, 100 * v) for k, v in items if v is not None]
    fig, ax = _figure(5.8, 3.6)
    ax = ax[0][0]
    vals = [v for _, v in items]
    ax.bar(range(len(items)), vals, color=["#8C8C8C"] * 2 + [SNN_COLOUR] * (len(items) - 2),
           width=0.6)  # fmt: skip
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:+.0f}%", ha="center", va="bottom" if v >= 0 else "top",
                fontsize=FONT)  # fmt: skip
    lo, hi = min(vals + [0]), max(vals + [0])
    ax.set_ylim(lo * HEADROOM, hi * HEADROOM or 1)
    ax.axhline(0, color="black", linewidth=0.8)
    _xticks(ax, [k for k, _ in items])
    _style(ax, f"{diff['other']} timing relative to {diff['base']}", "difference (%)")
    fig.tight_layout()
    return fig


PLOTS: dict[str, tuple[Callable, str, Callable[[dict], bool]]] = {
    "timing_difference": (timing_difference, "energy and activity: lava timing vs ideal timing",
                          lambda rep: bool(rep.get("timing_difference"))),
    "snn_vs_ann": (snn_vs_ann, "SNN vs ANN-equivalent", lambda rep: bool(rep["energy"])),
    "firing_rate": (firing_rate, "firing rate per layer", lambda rep: bool(_lif_layers(rep))),
    "spikes_per_step": (spikes_per_step, "spikes per step", lambda rep: bool(_lif_layers(rep))),
    "energy_by_layer": (energy_by_layer, "energy by layer and term",
                        lambda rep: bool(rep["energy"])),
}  # fmt: skip
"""name -> (figure function, caption, whether it applies to a report)."""


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def make_plots(rep: dict) -> dict[str, bytes]:
    """PNG images by name (:data:`PLOTS`), those that apply to ``rep``."""
    return {name: png(fn(rep)) for name, (fn, _, applies) in PLOTS.items() if applies(rep)}
