"""toolchain.report / spikefold report on a trained, folded, quantised digits MLP, verified by
rungs 0-1, exported to ONNX (rung 3) and Lava (rung 2) and refused by NIR (soft reset): the
stage table, the Lava export priced on lava timing (recomputed here independently), one
rounding rule across report.md, report.html and report.json, the CLI and its errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from hwsim.numfmt import fmt_energy, fmt_percent
from hwsim.report import render_markdown

N = 100  # test samples counted by the reports here


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from exporters.lava import export_lava
    from exporters.lava.rung2 import rung2_entry, rung2_fixed
    from exporters.onnx import export_onnx, rung3, save_onnx
    from hwsim.io import load_graph
    from hwsim.verify import write_verify_json
    from toolchain import quantize
    from toolchain.cli import main
    from toolchain.fold import fold_run
    from toolchain.pipeline import load_trained
    from toolchain.verify import verify_run

    root = tmp_path_factory.mktemp("runs")
    argv = ["train", "--dataset", "digits", "--arch", "mlp", "--epochs", "1", "-T", "4",
            "--name", "r", "--runs", str(root), "--no-progress",
            "--set", "model.hidden=[32]"]  # fmt: skip
    torch.set_num_threads(1)
    assert main(argv) == 0
    run = root / "r"
    fold_run(run)
    quantize.quantize_run(run)
    verify_run(run, n=60)
    _, _, data = load_trained(run)
    x, y = data.x_test.numpy()[:40], data.y_test.numpy()[:40]
    fixed = load_graph(run / "graph.fixed.npz")
    model = save_onnx(export_onnx(fixed), run / "model.fixed.onnx")
    onnx = rung3(fixed, x, labels=y, backends=("onnxruntime",), model=None)
    write_verify_json(run / "verify.json", onnx)
    export_lava(fixed, run / "model.lava.json")
    lava = rung2_fixed(fixed, x[:4], labels=y[:4])
    write_verify_json(run / "verify.json", {"2": rung2_entry(lava)})
    assert model.exists()
    return run


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory):
    from toolchain.report import make_report

    out = tmp_path_factory.mktemp("report")
    paths = make_report(run_dir, n=N, lava_samples=2, out_dir=out)
    return paths, json.loads(paths.json.read_text())


def test_the_stage_table_tells_every_stage(run_dir, report):
    from exporters.nir_export import to_nir
    from hwsim.errors import ExportError
    from hwsim.io import load_graph

    paths, rep = report
    verify = json.loads((run_dir / "verify.json").read_text())["rungs"]
    rows = {r["stage"]: r for r in rep["stages"]}
    assert [r["stage"] for r in rep["stages"]] == ["torch", "float", "fixed", "lava", "onnx",
                                                    "nir"]  # fmt: skip
    history = json.loads((run_dir / "metrics.json").read_text())
    assert rows["torch"]["accuracy"] == history[-1]["test_accuracy"]
    assert rows["torch"]["status"] == "reference" and rows["torch"]["artifact"] == "checkpoint.pt"
    for stage, rung in (("float", "0"), ("fixed", "1"), ("lava", "2"), ("onnx", "3")):
        row, entry = rows[stage], verify[rung]
        assert row["status"] == ("pass" if entry["passed"] else "fail"), stage
        assert row["values"] == sum(la["compared"] for la in entry["layers"].values()), stage
        assert row["mismatches"] == sum(la["mismatches"] for la in entry["layers"].values())
    assert [rows[s]["samples"] for s in ("float", "fixed", "lava", "onnx")] == [60, 60, 4, 40]
    assert rows["lava"]["status"] == rows["onnx"]["status"] == "pass"  # bit-exact rungs
    assert rows["fixed"]["accuracy"] == verify["1"]["metrics"]["accuracy_fixed"]
    assert rows["lava"]["accuracy"] == verify["2"]["metrics"]["accuracy_lava"]
    assert rows["onnx"]["accuracy"] == verify["3"]["metrics"]["accuracy_onnxruntime"]
    assert rows["lava"]["artifact"] == "model.lava.json"
    # NIR was never tried: the report asks the exporter, which refuses the soft-reset net
    with pytest.raises(ExportError) as refusal:
        to_nir(load_graph(run_dir / "graph.float.npz"))
    assert rows["nir"]["status"] == "refused" and rows["nir"]["reason"] == str(refusal.value)

    md, page = paths.md.read_text(), paths.html.read_text()
    assert md == render_markdown(rep)  # report.json alone renders the report
    for text in (fmt_percent(rows["fixed"]["accuracy"]) + " of 60", "REFUSED",
                 str(refusal.value).split(":")[0], "4 (T = 4)"):  # fmt: skip
        assert text in md, text
    facts = md.split("## Run facts")[1]  # accuracies read as percentages there too
    assert f"| accuracy | {fmt_percent(rep['meta']['accuracy'])} |" in facts
    # the story's order: stages, the drawn network, energy, then per-layer detail
    ids = [page.index(f"id='{i}'") for i in ("stages", "graph-drawing", "timings", "layers")]
    assert ids == sorted(ids)
    assert page.count("class='node'") == len(rep["network"]["nodes"])
    assert rep["extra"]["lava_crosscheck"]["counts_equal"], rep["extra"]["lava_crosscheck"]


def test_a_lava_export_is_priced_on_lava_timing(run_dir, report):
    """Must show (issue 16): the Lava-exported run's energy is priced on the timing Lava runs
    (T + depth steps), recomputed here from the graph, and differs from ideal timing."""
    from hwsim.counters import count_run
    from hwsim.energy import BUILTIN_MODELS
    from hwsim.io import load_graph
    from hwsim.pricing import price
    from toolchain.fold import to_lava_timing
    from toolchain.pipeline import load_trained

    paths, rep = report
    assert rep["meta"]["timing"] == "lava" and list(rep["timings"]) == ["lava", "ideal"]
    assert rep["timings"]["lava"]["targets"] == ["lava"]
    assert rep["timings"]["ideal"]["targets"] == ["hwsim", "onnx"]
    g = load_graph(run_dir / "graph.fixed.npz")
    x = load_trained(run_dir)[2].x_test[:N].numpy().astype(np.float64)
    gen = np.random.default_rng
    lava = count_run(to_lava_timing(g), x, generator=gen(0))
    ideal = count_run(g, x, generator=gen(0))
    assert lava.steps == ideal.steps + 2  # two Dense layers: two steps of synaptic delay
    for name, model in BUILTIN_MODELS.items():
        e_lava, e_ideal = price(lava, model).total()[0], price(ideal, model).total()[0]
        assert rep["timings"]["lava"]["energy"][name]["snn_pj"][0] == pytest.approx(e_lava)
        assert rep["timings"]["ideal"]["energy"][name]["snn_pj"][0] == pytest.approx(e_ideal)
        assert rep["headline"]["energy"][name]["snn_pj"][0] == pytest.approx(e_lava)
        assert e_lava > e_ideal, name  # more steps: more neuron updates at least
        assert rep["timing_difference"]["energy"][name] == pytest.approx(e_lava / e_ideal - 1)
    diff = rep["timing_difference"]["energy"]["loihi"]
    for text in (paths.md.read_text(), paths.html.read_text()):
        assert fmt_percent(diff, 1, signed=True) in text and "lava vs ideal" in text
    assert rep["counts"]["steps"] == lava.steps  # the per-layer detail is the Lava timing's


def test_without_a_lava_export_the_report_prices_ideal_and_says_so(run_dir, tmp_path):
    from toolchain.report import make_report

    run = shutil.copytree(run_dir, tmp_path / "r")
    (run / "model.lava.json").unlink()
    data = json.loads((run / "verify.json").read_text())
    del data["rungs"]["2"]
    (run / "verify.json").write_text(json.dumps(data))
    rep = json.loads(make_report(run, n=40).json.read_text())
    assert list(rep["timings"]) == ["ideal"] and rep["timing_difference"] is None
    assert rep["stages"][3]["status"] == "not run"
    assert rep["stages"][3]["command"] == f"spikefold export lava {run} --verify"
    assert "no Lava export" in (run / "report.md").read_text()
    lava_only = json.loads(make_report(run, n=40, timing="lava").json.read_text())
    assert list(lava_only["timings"]) == ["lava"]


def test_one_rounding_rule_across_files(report):
    paths, rep = report
    md, page = paths.md.read_text(), paths.html.read_text()
    for name, e in rep["energy"].items():
        tot = e["snn"]
        text = fmt_energy(tot["total_pj"], rng=(tot["low_pj"], tot["high_pj"]))
        assert rep["headline"]["energy"][name]["snn"] == text
        assert rep["timings"]["lava"]["energy"][name]["snn"] == text
        assert md.count(text) >= 3 and page.count(text) >= 3, (name, text)


def test_cli_report_with_chosen_models_and_a_user_table(run_dir, tmp_path, capsys):
    from toolchain.cli import main

    run = shutil.copytree(run_dir, tmp_path / "r")
    table = tmp_path / "chip.toml"
    table.write_text('name = "chip"\nfamily = "platform"\n[constants.synop]\nvalue = 2.0\n'
                     'grade = "measured"\nsource = "a datasheet"\nnode = "22 nm"\n')  # fmt: skip
    capsys.readouterr()
    argv = ["report", str(run), "--n", "40", "--graph", "float", "--timing", "ideal",
            "--models", "compute-int8,loihi", "--table", str(table), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "compute-int8" in out and "chip" in out and "report.html" in out
    assert "REFUSED" in out and "Lava fixed_pt" in out
    rep = json.loads((run / "report.json").read_text())
    assert list(rep["energy"]) == ["compute-int8", "loihi", "chip"]
    assert rep["meta"]["graph"] == "graph.float.npz" and rep["meta"]["samples"] == 40
    chip = rep["energy"]["chip"]
    assert chip["snn"]["total_pj"] == pytest.approx(
        2.0 * rep["counts"]["neurobench"]["Effective_ACs"], rel=1e-12)  # fmt: skip
    assert "neuron updates" in chip["unpriced"]
    assert main(["report", str(run), "--n", "20", "--no-progress", "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["meta"]["timing"] == "lava" and len(js["stages"]) == 6


def test_cli_report_errors(run_dir, tmp_path, capsys):
    from toolchain.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--no-progress"]) == 1
    assert "spikefold fold" in capsys.readouterr().err
