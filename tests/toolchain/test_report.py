"""toolchain.report / spikefold report: the report of a trained, folded, quantised and verified
digits MLP run: files, headline numbers, formulas and constants, the HTML's inline plots
(parsed with html.parser), verification results, a Lava cross-check, CLI and errors."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import pytest
import torch

from hwsim.energy import fmt_energy
from hwsim.report import render_markdown


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from toolchain import quantize
    from toolchain.cli import main
    from toolchain.fold import fold_run
    from toolchain.verify import verify_run

    root = tmp_path_factory.mktemp("runs")
    argv = ["train", "--dataset", "digits", "--arch", "mlp", "--epochs", "1", "-T", "4",
            "--name", "r", "--runs", str(root), "--no-progress",
            "--set", "model.hidden=[32]"]  # fmt: skip
    torch.set_num_threads(1)
    assert main(argv) == 0
    fold_run(root / "r")
    quantize.quantize_run(root / "r")
    verify_run(root / "r", n=60)
    return root / "r"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.text: list[str] = []
        self.ids: dict[str, str] = {}
        self._id = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        self._id = a.get("id")

    def handle_data(self, data):
        self.text.append(data)
        if self._id:
            self.ids[self._id] = data
            self._id = None


def test_make_report_writes_a_complete_report(run_dir, tmp_path):
    from toolchain.report import make_report

    try:  # the Lava exporter is optional here: without it, no cross-check
        import exporters.lava  # noqa: F401

        lava = True
    except ImportError:
        lava = False
    paths = make_report(run_dir, n=100, lava_samples=2 if lava else 0, out_dir=tmp_path)
    assert {p.name for p in (paths.json, paths.md, paths.html)} == {
        "report.json", "report.md", "report.html"}  # fmt: skip
    rep = json.loads(paths.json.read_text())
    m, h = rep["meta"], rep["headline"]
    assert m["graph"] == "graph.fixed.npz" and m["samples"] == 100 and 0 <= m["accuracy"] <= 1
    assert set(rep["energy"]) == {"compute-fp32", "compute-int8", "memory", "loihi"}
    nb = rep["counts"]["neurobench"]
    assert nb["Effective_MACs"] > 0 and nb["Effective_ACs"] > 0 and nb["Footprint"] > 0
    assert h["synaptic_ops_per_sample"] == pytest.approx(nb["Effective_ACs"] + nb["Effective_MACs"])
    # every model: a total with its range, the ANN-equivalent for the op/memory models
    for name, e in rep["energy"].items():
        assert e["snn"]["low_pj"] <= e["snn"]["total_pj"] <= e["snn"]["high_pj"], name
        assert ("ann" in e) == (name != "loihi")
    assert rep["energy"]["loihi"]["unpriced"] == {"input injection": pytest.approx(
        rep["counts"]["layers"]["input"]["per_sample"]["out_events"])}  # fmt: skip
    # verification results from verify.json
    assert set(rep["verify"]["rungs"]) == {"0", "1"}
    if lava:
        assert rep["extra"]["lava_crosscheck"]["counts_equal"], rep["extra"]["lava_crosscheck"]

    md = paths.md.read_text()
    assert md == render_markdown(rep)  # report.json alone renders the report
    for text in ("E_AC x Effective_ACs", "E_synop x Effective_ACs", "SOPs x E_rd(weight SRAM)",
                 "23.6", "52-81", "horowitz2014", "davies2018", "simulated", "derived",
                 "ActivationSparsity", "rung"):  # fmt: skip
        assert text in md, text

    page = _Page()
    page.feed(paths.html.read_text())
    pngs = [s for s in page.images if s.startswith("data:image/png;base64,")]
    assert len(pngs) == len(page.images) == 4
    for src in pngs:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    text = " ".join(page.text)
    assert page.ids["spikes"] == f"{h['spikes_per_sample']:,.1f}"
    for name, e in rep["energy"].items():
        tot = e["snn"]
        assert fmt_energy(tot["total_pj"], rng=(tot["low_pj"], tot["high_pj"])) in text, name
    for rung in rep["verify"]["rungs"].values():
        assert rung["summary"] in text
    assert "PASS" in text and "E_MAC x MACs of the layer fed analog frames" in text


def test_cli_report_with_chosen_models_and_a_user_table(run_dir, tmp_path, capsys):
    import shutil

    from toolchain.cli import main

    run = shutil.copytree(run_dir, tmp_path / "r")
    table = tmp_path / "chip.toml"
    table.write_text('name = "chip"\nfamily = "platform"\n[constants.synop]\nvalue = 2.0\n'
                     'grade = "measured"\nsource = "a datasheet"\nnode = "22 nm"\n')  # fmt: skip
    capsys.readouterr()
    argv = ["report", str(run), "--n", "40", "--graph", "float", "--models",
            "compute-int8,loihi", "--table", str(table), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "compute-int8" in out and "chip" in out and "report.html" in out
    rep = json.loads((run / "report.json").read_text())
    assert list(rep["energy"]) == ["compute-int8", "loihi", "chip"]
    assert rep["meta"]["graph"] == "graph.float.npz" and rep["meta"]["samples"] == 40
    chip = rep["energy"]["chip"]
    assert chip["snn"]["total_pj"] == pytest.approx(
        2.0 * rep["counts"]["neurobench"]["Effective_ACs"], rel=1e-2)  # fmt: skip
    assert "neuron updates" in chip["unpriced"]


def test_cli_report_errors(tmp_path, capsys):
    from toolchain.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--no-progress"]) == 1
    assert "spikefold fold" in capsys.readouterr().err
