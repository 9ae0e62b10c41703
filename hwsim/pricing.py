"""Pricing: the terms of each model family applied to exact counts (DESIGN.md section 7).

:func:`price` charges a :class:`~hwsim.counters.Counts` under a
:class:`~hwsim.energy.PriceModel` (the types and the cited constants live in
:mod:`hwsim.energy`; this module only uses them): every term is ``count per sample x
(nominal, low, high) pJ``, summed per term, per layer (SNN) and for the ANN-equivalent;
totals carry the range (the sum of the terms' lows and highs). Values are kept exact here and
in :meth:`Pricing.to_dict`; :mod:`hwsim.numfmt` rounds them once, where they are shown.

Families of models (each a list of terms ``E = Σ count × price``; ``docs/energy.md``):

``compute`` — operations only (Horowitz 2014, 45 nm)::

    E_SNN = E_AC·ACs + E_MAC·(MACs_graded + MACs_enc) + E_upd·updates + E_div·divisions
    E_ANN = E_MAC·Σ_layers Dense_1-step + E_div·divisions_1-step      (same precision)

``memory`` — memory-aware, in the style of Lemaire et al. 2022 (every synaptic event reads
its weight and reads and writes its target's membrane; every neuron update reads and writes
its membrane; spike addresses are read and written through a FIFO)::

    E_SNN = Σ_syn [ E_add·ACs + (E_mul+E_add)·MACs + SOPs·(E_rd(W) + 2 E_rd(V)) + ev_in·E_rd(F)
                    + E_div·divisions ]
          + Σ_LIF [ (E_mul + 2 E_add)·updates + E_add·spikes + 2 updates·E_rd(V) + spikes·E_rd(F)
                    (+ updates·E_rd(B), 13-bit biases, for a LIF with a bias)
                    (+ (E_mul + E_add)·updates + 2 updates·E_rd(U), a CubaLIF's current) ]
          (an LI as a LIF without resets; its graded output takes the spike's place)
          + Σ_Readout [ E_add·updates + 2 updates·E_rd(32-bit accumulators) ]
    E_ANN = Σ_syn [ (E_mul+E_add)·MACs + MACs·E_rd(W) + reads_in·E_rd(X) + outputs·E_rd(Y)
                    + E_div·divisions_1-step ]

where ``E_rd(M)`` is one access to an SRAM holding ``M`` (:func:`sram_access`).

``platform`` — per-event platform tables (Loihi: Davies et al. 2018, Table 2)::

    E = E_syn·ACs + E_graded·MACs + E_upd·updates + (E_spike + h·E_hop)·spikes

A term whose constant a model lacks (e.g. E-I divisions on Loihi) is *unpriced*: its count is
listed and it is left out of the total, never silently priced at zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hwsim.counters import Counts
from hwsim.energy import PriceModel

__all__ = ["TermPrice", "Pricing", "price", "sram_access"]

Unit = tuple[float, float, float]  # (nominal, low, high) pJ per event


@dataclass
class TermPrice:
    """One term: ``count`` per sample, ``energy`` (nominal) and ``low``/``high`` in pJ per
    sample, the ``formula`` in words and the ``constants`` it used."""

    count: float = 0.0
    energy: float = 0.0
    low: float = 0.0
    high: float = 0.0
    formula: str = ""
    constants: tuple[str, ...] = ()

    def add(self, count: float, e: float, lo: float, hi: float) -> None:
        self.count += count
        self.energy += e
        self.low += lo
        self.high += hi

    def to_dict(self) -> dict:
        return {
            "count": self.count, "energy_pj": self.energy, "low_pj": self.low,
            "high_pj": self.high, "formula": self.formula,
            "constants": list(self.constants),
        }  # fmt: skip


@dataclass
class Pricing:
    """``snn`` and ``ann`` (ANN-equivalent; empty when the model has none) terms per sample,
    ``by_layer[node][term]`` for the SNN, and ``unpriced`` terms ``{term: count per
    sample}`` left out of the totals."""

    model: PriceModel
    snn: dict[str, TermPrice] = field(default_factory=dict)
    ann: dict[str, TermPrice] = field(default_factory=dict)
    by_layer: dict[str, dict[str, TermPrice]] = field(default_factory=dict)
    unpriced: dict[str, float] = field(default_factory=dict)

    def total(self, side: str = "snn") -> Unit:
        """``(nominal, low, high)`` pJ per sample of the SNN or the ANN-equivalent."""
        terms = self.snn if side == "snn" else self.ann
        return (
            sum(t.energy for t in terms.values()),
            sum(t.low for t in terms.values()),
            sum(t.high for t in terms.values()),
        )

    def ratio(self) -> Unit | None:
        """ANN-equivalent / SNN energy ``(nominal, low, high)``. Both sides use the same
        constants, so the range compares like with like: the ratio with every constant at its
        low end and with every constant at its high end (the smaller first)."""
        if not self.ann:
            return None
        s, a = self.total("snn"), self.total("ann")
        if min(s) <= 0:
            return None
        nominal = a[0] / s[0]
        ends = (a[1] / s[1], a[2] / s[2])
        return nominal, min(*ends, nominal), max(*ends, nominal)

    def to_dict(self) -> dict:
        s = self.total("snn")
        out = {
            "model": self.model.to_dict(),
            "snn": {"total_pj": s[0], "low_pj": s[1], "high_pj": s[2],
                    "terms": {k: v.to_dict() for k, v in self.snn.items()}},
            "by_layer": {n: {k: v.energy for k, v in t.items()}
                         for n, t in self.by_layer.items()},
            "unpriced": self.unpriced,
            "significant_figures": 2,
        }  # fmt: skip
        if self.ann:
            a, r = self.total("ann"), self.ratio()
            out["ann"] = {
                "total_pj": a[0], "low_pj": a[1], "high_pj": a[2],
                "terms": {k: v.to_dict() for k, v in self.ann.items()},
            }  # fmt: skip
            out["ann_over_snn"] = None if r is None else list(r)
        return out


def sram_access(model: PriceModel, size_bits: float, word_bits: float) -> Unit:
    """Energy ``(nominal, low, high)`` pJ of one access to an SRAM of ``size_bits``, reading a
    ``word_bits`` word (memory family).

    nominal ``E_8KiB · (S / 8 KiB)**sram_exponent`` (the power law through Horowitz's SRAM
    points); high the larger of it and the linear fit ``base + slope · S`` (which floors at
    ~13 pJ for small memories); low the smaller of the two scaled by ``word/access_bits`` (a
    narrow word costing its share of Horowitz's 64-bit access)."""
    c, prm = model.constants, model.params
    kib = max(size_bits, 1.0) / 8 / 1024
    pw = c["sram_8kib"].value * (kib / 8) ** prm["sram_exponent"]
    lin = c["sram_lin_base"].value + c["sram_lin_per_kib"].value * kib
    share = min(word_bits, prm["access_bits"]) / prm["access_bits"]
    return pw, min(pw, lin) * share, max(pw, lin)


class _Bill:
    """Accumulates the terms of one pricing."""

    def __init__(self, counts: Counts, model: PriceModel) -> None:
        self.n = max(counts.samples, 1)
        self.model = model
        self.p = Pricing(model)

    def const(self, key: str) -> Unit | None:
        c = self.model.constants.get(key)
        return None if c is None else (c.value, c.low, c.high)

    def charge(self, side, layer, term, count, unit, formula, consts) -> None:
        """``count`` (per sample) times ``unit`` ``(nominal, low, high)`` pJ; a term without
        a price (``unit`` None) is recorded as unpriced, never as zero."""
        if count == 0:
            return
        if unit is None:
            if side == "snn":
                self.p.unpriced[term] = self.p.unpriced.get(term, 0.0) + count
            return
        terms = self.p.snn if side == "snn" else self.p.ann
        t = terms.setdefault(term, TermPrice(formula=formula, constants=tuple(consts)))
        e, lo, hi = (count * u for u in unit)
        t.add(count, e, lo, hi)
        if side == "snn":
            lt = self.p.by_layer.setdefault(layer, {})
            lt.setdefault(term, TermPrice(formula=formula, constants=tuple(consts)))
            lt[term].add(count, e, lo, hi)


_SRAM = ("sram_8kib", "sram_lin_base", "sram_lin_per_kib")


def _sum(*units: Unit | None) -> Unit | None:
    if any(u is None for u in units):
        return None
    return tuple(sum(v) for v in zip(*units))


def price(counts: Counts, model: PriceModel) -> Pricing:
    """Price ``counts`` under ``model``: terms per sample (nominal, low, high) for the SNN, the
    ANN-equivalent where the family has one, per layer, and the unpriced terms."""
    bill = _Bill(counts, model)
    {"compute": _compute, "memory": _memory, "platform": _platform}[model.family](counts, bill)
    return bill.p


def _ps(la, metric: str, n: int) -> float:
    return la.total(metric) / n


def _compute(counts: Counts, b: _Bill) -> None:
    n = b.n
    mac, ac, upd, div = b.const("mac"), b.const("ac"), b.const("update"), b.const("division")
    for name, la in counts.layers.items():
        if la.role == "synapse":
            b.charge("snn", name, "synaptic ACs", _ps(la, "acs", n), ac,
                     "E_AC x Effective_ACs", ["ac"])  # fmt: skip
            graded = _ps(la, "macs", n) - _ps(la, "enc_macs", n)
            b.charge("snn", name, "graded MACs", graded, mac,
                     "E_MAC x (Effective_MACs - encoding MACs)", ["mac"])  # fmt: skip
            b.charge("snn", name, "encoding MACs", _ps(la, "enc_macs", n), mac,
                     "E_MAC x MACs of the layer fed analog frames", ["mac"])  # fmt: skip
            b.charge("snn", name, "divisions", _ps(la, "divisions", n), div,
                     "E_div x E-I divisions", ["division"])  # fmt: skip
            b.charge("ann", name, "MACs", la.static.get("ann_macs", 0), mac,
                     "E_MAC x Dense MACs of one pass", ["mac"])  # fmt: skip
            b.charge("ann", name, "divisions", la.static.get("ann_divisions", 0), div,
                     "E_div x E-I divisions of one pass", ["division"])  # fmt: skip
        elif la.role == "neuron":
            b.charge("snn", name, "neuron updates", _ps(la, "updates", n), upd,
                     "E_update x neurons x steps", ["update"])  # fmt: skip


def _memory(counts: Counts, b: _Bill) -> None:
    n, m = b.n, b.model
    add, mul, div = b.const("add"), b.const("mul"), b.const("division")
    macu = _sum(add, mul)
    vw = 24 if counts.format == "fixed" else 32  # membrane word: 24-bit v, or float32
    fifo_rd = sram_access(m, m.params["fifo_bits"], 16)
    for name, la in counts.layers.items():
        st = la.static
        if la.role == "synapse":
            acs, macs = _ps(la, "acs", n), _ps(la, "macs", n)
            sops = acs + macs
            ww = st.get("weight_bits", 32)
            w_rd = sram_access(m, st.get("weights", 0) * ww, ww)
            v_rd = sram_access(m, st.get("outputs", 0) * vw, vw)
            # one term, two charges: the formula and constants are the term's, whichever
            # charge creates it (a term keeps those of its first non-zero charge)
            sop = "E_add x ACs + (E_mul + E_add) x MACs"
            b.charge("snn", name, "synaptic ops", acs, add, sop, ["add", "mul"])
            b.charge("snn", name, "synaptic ops", macs, macu, sop, ["add", "mul"])
            b.charge("snn", name, "weight reads", sops, w_rd,
                     "SOPs x E_rd(weight SRAM)", _SRAM)  # fmt: skip
            b.charge("snn", name, "membrane read/write", 2 * sops, v_rd,
                     "2 x SOPs x E_rd(membrane SRAM)", _SRAM)  # fmt: skip
            b.charge("snn", name, "spike addressing", _ps(la, "in_events", n), fifo_rd,
                     "input events x E_rd(spike FIFO)", _SRAM)  # fmt: skip
            b.charge("snn", name, "divisions", _ps(la, "divisions", n), div,
                     "E_div x E-I divisions", ["division"])  # fmt: skip
            # ANN-equivalent (Lemaire et al.'s formal network, activations at the weights'
            # precision): every MAC reads its weight; a conv reads an input per MAC, a dense
            # layer each input once; every output is written once
            ann = st.get("ann_macs", 0)
            ins = ann if la.kind != "Dense" else st.get("inputs", 0)
            x_rd = sram_access(m, st.get("inputs", 0) * ww, ww)
            y_rd = sram_access(m, st.get("outputs", 0) * ww, ww)
            b.charge("ann", name, "MACs", ann, macu, "(E_mul + E_add) x Dense MACs",
                     ["add", "mul"])  # fmt: skip
            b.charge("ann", name, "weight reads", ann, w_rd, "Dense MACs x E_rd(weight SRAM)",
                     _SRAM)  # fmt: skip
            b.charge("ann", name, "activation reads/writes", ins, x_rd,
                     "input reads x E_rd(input SRAM)", _SRAM)  # fmt: skip
            b.charge("ann", name, "activation reads/writes", st.get("outputs", 0), y_rd,
                     "outputs x E_rd(output SRAM)", _SRAM)  # fmt: skip
            b.charge("ann", name, "divisions", st.get("ann_divisions", 0), div,
                     "E_div x E-I divisions of one pass", ["division"])  # fmt: skip
        elif la.role == "neuron":
            upd, spikes = _ps(la, "updates", n), _ps(la, "out_events", n)
            size = st["neurons"]
            if la.kind == "Readout":
                r_rd = sram_access(m, size * 32, 32)
                b.charge("snn", name, "neuron updates", upd, add, "E_add x accumulations",
                         ["add"])  # fmt: skip
                b.charge("snn", name, "membrane read/write", 2 * upd, r_rd,
                         "2 x updates x E_rd(readout SRAM)", _SRAM)  # fmt: skip
                continue
            v_rd = sram_access(m, size * vw, vw)
            b.charge("snn", name, "neuron updates", upd, _sum(mul, add, add),
                     "(E_mul + 2 E_add) x updates (leak, input, threshold)",
                     ["add", "mul"])  # fmt: skip
            if la.kind != "LI":  # an LI never resets
                b.charge("snn", name, "resets", spikes, add, "E_add x spikes (soft reset)",
                         ["add"])  # fmt: skip
            b.charge("snn", name, "membrane read/write", 2 * upd, v_rd,
                     "2 x updates x E_rd(membrane SRAM)", _SRAM)  # fmt: skip
            if st.get("state_words", 1) > 1:  # CubaLIF: the synaptic current, a second state
                b.charge("snn", name, "current updates", upd, macu,
                         "(E_mul + E_add) x updates (current decay, input)",
                         ["add", "mul"])  # fmt: skip
                b.charge("snn", name, "current read/write", 2 * upd, v_rd,
                         "2 x updates x E_rd(current SRAM)", _SRAM)  # fmt: skip
            if st.get("bias"):
                b.charge("snn", name, "bias reads", upd, sram_access(m, size * 13, 13),
                         "updates x E_rd(bias SRAM)", _SRAM)  # fmt: skip
            b.charge("snn", name, "spike addressing", spikes, fifo_rd,
                     "spikes x E_rd(spike FIFO)", _SRAM)  # fmt: skip


def _platform(counts: Counts, b: _Bill) -> None:
    n, hops = b.n, b.model.params["mean_hops"]
    syn, gsyn, upd = b.const("synop"), b.const("graded_synop"), b.const("update")
    spike, hop, div = b.const("spike"), b.const("hop"), b.const("division")
    for name, la in counts.layers.items():
        if la.role == "synapse":
            b.charge("snn", name, "synaptic ops", _ps(la, "acs", n), syn,
                     "E_synop x Effective_ACs", ["synop"])  # fmt: skip
            b.charge("snn", name, "graded synaptic ops", _ps(la, "macs", n), gsyn,
                     "E_graded x Effective_MACs", ["graded_synop"])  # fmt: skip
            b.charge("snn", name, "divisions", _ps(la, "divisions", n), div,
                     "E_div x E-I divisions", ["division"])  # fmt: skip
        elif la.role == "neuron":
            b.charge("snn", name, "neuron updates", _ps(la, "updates", n), upd,
                     "E_update x neurons x steps", ["update"])  # fmt: skip
            ev = _ps(la, "out_events", n)
            b.charge("snn", name, "spikes", ev, spike, "E_spike x spikes", ["spike"])
            b.charge("snn", name, "spike hops", ev * hops, hop,
                     f"E_hop x {hops:g} hops x spikes", ["hop"])  # fmt: skip
        elif la.role == "input":
            b.charge("snn", name, "input injection", _ps(la, "out_events", n),
                     b.const("input_spike"), "E_in x input events", ["input_spike"])  # fmt: skip
