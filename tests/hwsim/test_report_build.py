"""hwsim.report on a hand-built net priced in both timings (the ``tiny_report`` fixture of
tests/conftest.py): the stage table from verify.json entries of every kind, the lava-vs-ideal
difference, one rounding rule in every file, the drawing, and plots readable at 1280 px
(one colour per term across panels, >= 10 pt labels, magnitudes on axes from zero)."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from hwsim.report import graph_svg, render_html, render_markdown, stage_table
from hwsim.report import plots as P
from hwsim.verify import refusal_entry, write_verify_json


def test_stage_rows_from_every_kind_of_rung(tiny_report):
    rows = {r["stage"]: r for r in tiny_report["stages"]}
    assert [r["status"] for r in tiny_report["stages"]] == [
        "reference", "pass", "fail", "pass", "not run", "refused"]  # fmt: skip
    assert (rows["torch"]["accuracy"], rows["torch"]["accuracy_samples"]) == (0.5, 24)
    assert rows["float"]["samples"] == 24 and rows["float"]["values"] == 24 * 4 * (16 + 8)
    assert rows["fixed"]["mismatches"] == 5 and rows["fixed"]["ties"] == 2
    assert rows["fixed"]["accuracy"] == 0.375 and rows["float"]["accuracy"] == 0.5
    assert rows["fixed"]["first_divergence"].startswith("lif2 step 1 sample 7 neuron (3,)")
    assert rows["lava"]["samples"] == 4 and rows["lava"]["artifact"] == "model.lava.json"
    assert rows["onnx"]["command"] == "spikefold export onnx r"
    assert rows["nir"]["reason"] == "node 'lif1' (LIF): soft reset has no NIR primitive"
    verify = copy.deepcopy(tiny_report["verify"])
    verify["rungs"]["2"]["float"] = dict(verify["rungs"]["2"], passed=False)
    verify["rungs"]["S"] = dict(verify["rungs"]["0"], title="snnTorch ↔ float graph")
    more = stage_table(verify)
    assert [r["label"] for r in more][4:] == ["Lava floating_pt (float graph)",
        "ONNX IR (onnxruntime)", "NIR (Norse)", "snnTorch ↔ float graph"]  # fmt: skip
    assert more[4]["status"] == "fail" and more[-1]["rung"] == "S"


def test_a_refusal_is_not_a_failure(tmp_path):
    path = tmp_path / "verify.json"
    write_verify_json(path, {"3": {"rung": 3, "passed": True}})
    write_verify_json(path, {"4": refusal_entry(4, "NIR", "soft reset")})
    assert json.loads(path.read_text())["passed"] is True
    write_verify_json(path, {"1": {"rung": 1, "passed": False}})
    assert json.loads(path.read_text())["passed"] is False


def test_lava_timing_against_ideal(tiny_report):
    lava, ideal = tiny_report["timings"]["lava"], tiny_report["timings"]["ideal"]
    assert (lava["steps"], ideal["steps"]) == (4 + 3, 4)  # three Dense layers: 3 steps late
    diff = tiny_report["timing_difference"]
    assert diff["spikes"] == pytest.approx(lava["spikes_per_sample"] / ideal["spikes_per_sample"]
                                           - 1)  # fmt: skip
    for name, rel in diff["energy"].items():
        ratio = lava["energy"][name]["snn_pj"][0] / ideal["energy"][name]["snn_pj"][0]
        assert rel == pytest.approx(ratio - 1) and rel > 0, name
    assert tiny_report["meta"]["timing"] == "lava" and tiny_report["counts"]["steps"] == 7


def test_one_rounding_rule_in_every_file(tiny_report):
    """A total stored as exactly 1.25e6 pJ reads 1.3 µJ everywhere (it read 1.3 in one
    place and 1.2 in another, rounded twice and half-to-even)."""
    rep = copy.deepcopy(tiny_report)
    exact = [1.25e6, 1.2e6, 1.25e6]
    rep["energy"]["loihi"]["snn"].update(total_pj=exact[0], low_pj=exact[1], high_pj=exact[2])
    rep["headline"]["energy"]["loihi"]["snn_pj"] = exact
    rep["timings"]["lava"]["energy"]["loihi"]["snn_pj"] = exact
    md, page = render_markdown(rep), render_html(rep, plots={})
    for text in (md, page):
        assert text.count("1.3 µJ (1.2-1.3)") == 3 and "1.2 µJ" not in text
    assert render_markdown(json.loads(json.dumps(rep))) == md  # re-renders from report.json
    assert "accuracy | 37.50% |" in md  # run facts in percent too


def test_the_drawing(tiny_report):
    svg = graph_svg(tiny_report["network"])
    root = ET.fromstring(svg)  # well-formed
    ns = "{http://www.w3.org/2000/svg}"
    boxes = root.findall(f"{ns}g")
    assert [b.get("data-node") for b in boxes] == ["x", "fc1", "lif1", "fc2", "lif2", "fc3",
                                                   "out"]  # fmt: skip
    assert len(root.findall(f"{ns}path")) == len(tiny_report["network"]["edges"])
    assert float(root.get("width")) <= 1220  # fits the page; the 7th column wraps below
    y = {b.get("data-node"): float(b.find(f"{ns}rect").get("y")) for b in boxes}
    assert y["out"] > y["fc3"] == y["x"]
    texts = "".join(t.text or "" for t in root.iter(f"{ns}text"))
    rate = tiny_report["network"]["nodes"][2]["firing_rate"]
    assert f"rate {rate:.3g}" in texts and "float32" in texts


def _labels_fontsizes(ax):
    return [t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()]


def test_plots_readable_at_1280px(tiny_report):
    rep = tiny_report
    fig = P.energy_by_layer(rep)
    colour: dict[str, tuple] = {}
    for ax in fig.axes:
        in_panel = {}
        for c in ax.containers:
            fc = tuple(c.patches[0].get_facecolor())
            assert colour.setdefault(c.get_label(), fc) == fc, c.get_label()  # across panels
            in_panel[c.get_label()] = fc
        assert len(set(in_panel.values())) == len(in_panel)  # distinct within a panel
        assert min(_labels_fontsizes(ax)) >= 10 and ax.get_ylim()[0] == 0
        tallest = max((sum(p.get_height() for c in ax.containers for p in c.patches[i:i + 1])
                       for i in range(len(ax.containers[0].patches))), default=0)  # fmt: skip
        assert ax.get_ylim()[1] > tallest * 1.1  # headroom above the tallest bar
    assert {t.get_fontsize() for t in fig.legends[0].get_texts()} == {10}
    assert fig.get_size_inches()[0] * fig.dpi <= 1200
    wiggle = copy.deepcopy(rep)  # issue 16: 13.9..15.1 spikes drawn on an axis from 13.9
    for la in wiggle["counts"]["layers"].values():
        if "out_events" in la["per_step"]:
            la["per_step"]["out_events"] = [13.9, 15.1, 14.7, 15.0, 14.2, 14.9, 14.4]
    for fn, r in ((P.spikes_per_step, wiggle), (P.firing_rate, rep), (P.timing_difference, rep)):
        ax = fn(r).axes[0]
        assert min(_labels_fontsizes(ax)) >= 10, fn.__name__
        assert ax.get_ylim()[0] <= 0 <= ax.get_ylim()[1], fn.__name__  # from zero
    pngs = P.make_plots(rep)
    assert sorted(pngs) == sorted(P.PLOTS)
    assert all(b[:8] == b"\x89PNG\r\n\x1a\n" for b in pngs.values())


def _orthogonal_segments(d: str) -> list[tuple[float, float, float, float]]:
    """The straight segments of an SVG path of M/H/V commands (a curve: none)."""
    if "C" in d:
        return []
    toks = re.findall(r"([MHV])\s*([-0-9.]+)(?:,([-0-9.]+))?", d)
    x = y = 0.0
    segs = []
    for cmd, a, b in toks:
        if cmd == "M":
            x, y = float(a), float(b)
            continue
        nx, ny = (float(a), y) if cmd == "H" else (x, float(a))
        segs.append((x, y, nx, ny))
        x, y = nx, ny
    return segs


def test_a_residual_drawing_crosses_no_box():
    """SEW-style shortcut in lava timing (a Delay balances it), a branch of two populations in
    one column, and a wrap to a second band right there: every edge that is not a curve
    between neighbours runs in gutters and gaps only."""
    from hwsim.describe import node_rows
    from hwsim.graph import LIF, Add, Conv2d, Delay, GraphMetadata, HardwareGraph, Input, Readout

    w = np.ones((2, 2, 1, 1), np.float32)
    nodes = {"x": Input((2, 3, 3)), "c1": Conv2d(w), "l1": LIF(0.5, 1.0), "c2": Conv2d(w),
             "l2": LIF(0.5, 1.0), "c3": Conv2d(w), "l3": LIF(0.5, 1.0), "l3b": LIF(0.5, 2.0),
             "d": Delay(2),
             "add": Add(), "c4": Conv2d(w), "out": Readout()}  # fmt: skip
    edges = [("x", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l2"), ("l2", "c3"), ("c3", "l3"),
             ("c3", "l3b"), ("l1", "d"), ("d", "add"), ("l3", "add"), ("l3b", "add"),
             ("add", "c4"), ("c4", "out")]  # fmt: skip
    g = HardwareGraph(nodes, edges, GraphMetadata(T=2, timing="lava"))
    rows = [dict(r, firing_rate=None, events_per_sample=None) for r in node_rows(g)]
    root = ET.fromstring(graph_svg({"nodes": rows, "edges": [list(e) for e in edges]}))
    ns = "{http://www.w3.org/2000/svg}"
    boxes = {}
    for b in root.findall(f"{ns}g"):
        r = b.find(f"{ns}rect")
        x, y = float(r.get("x")), float(r.get("y"))
        boxes[b.get("data-node")] = (x, y, x + float(r.get("width")), y + float(r.get("height")))
    bands = {round(v[1]) for v in boxes.values()}
    assert len(bands) >= 2  # more than 6 columns: wrapped
    routed = 0
    for path in root.findall(f"{ns}path"):
        for x1, y1, x2, y2 in _orthogonal_segments(path.get("d")):
            routed += 1
            for name, (bx1, by1, bx2, by2) in boxes.items():
                inside_x = min(x1, x2) < bx2 - 0.5 and max(x1, x2) > bx1 + 0.5
                inside_y = min(y1, y2) < by2 - 0.5 and max(y1, y2) > by1 + 0.5
                assert not (inside_x and inside_y), (path.get("d"), name)
    assert routed > 0
