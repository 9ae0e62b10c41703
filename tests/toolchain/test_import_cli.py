"""``spikefold import nir`` on a network trained in snnTorch and exported with snnTorch's own
``export_to_nir``, then every later stage from the CLI with no checkpoint (issue 11)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

T = 4


def _untrained_snntorch_mlp():
    import snntorch as snn

    from toolchain.data import load_dataset

    def leaky(n, **kw):  # per-neuron tensors and ignore_dims=[0]: snnTorch issue #410
        return snn.Leaky(beta=torch.full((n,), 0.8), threshold=torch.ones(n), init_hidden=True,
                         reset_mechanism="zero", **kw)  # fmt: skip

    net = torch.nn.Sequential(torch.nn.Linear(64, 32), leaky(32), torch.nn.Linear(32, 10),
                              leaky(10, output=True))  # fmt: skip
    return net, load_dataset("digits")


def _trained_snntorch_mlp():
    from snntorch import utils

    net, data = _untrained_snntorch_mlp()
    opt = torch.optim.Adam(net.parameters(), 5e-3)
    x, y = data.x_train.reshape(-1, 64), data.y_train
    for i in range(0, 64 * 20, 64):  # 20 steps: enough to learn digits well above chance
        utils.reset(net)
        count = sum(net(x[i : i + 64])[0] for _ in range(T))
        loss = torch.nn.functional.cross_entropy(count, y[i : i + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net, data


def _reference(net, frames) -> dict[str, np.ndarray]:
    """snnTorch's own run: the input sequence and every Leaky's spikes, by NIR node name."""
    from snntorch import utils

    seq = frames.reshape(len(frames), 64)[None].expand(T, -1, -1)
    rec = {"1": [], "3": []}
    hooks = [
        net[1].register_forward_hook(lambda m, i, o: rec["1"].append(o.detach())),
        net[3].register_forward_hook(lambda m, i, o: rec["3"].append(o[0].detach())),
    ]
    with torch.no_grad():
        utils.reset(net)
        for t in range(T):
            net(seq[t])
    for h in hooks:
        h.remove()
    return {"input": seq.numpy(), **{k: torch.stack(v).numpy() for k, v in rec.items()}}


def test_import_snntorch_file_then_every_stage_without_checkpoint(tmp_path, capsys):
    pytest.importorskip("snntorch")
    import nir
    from snntorch.export_nir import export_to_nir

    from toolchain.cli import main

    torch.manual_seed(0)
    net, data = _trained_snntorch_mlp()
    model = tmp_path / "snn_mlp.nir"
    nir.write(model, export_to_nir(net, torch.zeros(1, 64), ignore_dims=[0]))
    ref = tmp_path / "snntorch_spikes.npz"
    np.savez(ref, **_reference(net, data.x_test[:100]))
    runs = tmp_path / "runs"
    run = str(runs / "snn")

    with pytest.warns(UserWarning, match="assumed 'zero'"):
        assert main(["import", "nir", str(model), "--dataset", "digits", "-T", str(T),
                     "--runs", str(runs), "--name", "snn"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "source: snntorch (detected" in out and "dt = 0.0001" in out and "ASSUMED" in out
    record = json.loads((runs / "snn" / "import.json").read_text())
    assert record["names"]["n1"] == "1" and record["source"] == "snntorch"
    assert "n3.readout" in record["inserted"]
    assert main(["quantize", run]) == 0
    assert main(["verify", run, "--rungs", "0,1,S", "--reference", str(ref)]) == 0
    out = capsys.readouterr().out
    assert "rung 0 skipped: no checkpoint.pt" in out and "rung S PASS" in out
    assert "0/16800 spikes differ" in out  # rung S: 100 samples x 4 steps x (32 + 10) neurons
    assert main(["verify", run, "--rungs", "4", "--n", "16"]) == 0  # export nir --verify's
    assert "rung 4 PASS" in capsys.readouterr().out and (runs / "snn" / "model.nir").exists()
    assert main(["export", "lava", run, "--verify", "--n", "4"]) == 0
    assert main(["export", "onnx", run, "--verify", "--n", "32", "--reference-samples", "2"]) == 0
    assert main(["run-lava", run, "--n", "2"]) == 0
    assert main(["simulate", f"{run}/graph.fixed.npz", "--dataset", "digits", "--n", "50"]) == 0
    assert main(["report", run, "--n", "50", "--no-progress"]) == 0
    verify = json.loads((runs / "snn" / "verify.json").read_text())
    assert verify["passed"] and set(verify["rungs"]) == {"0", "1", "S", "2", "3", "4"}
    assert verify["rungs"]["0"]["skipped"] and verify["rungs"]["S"]["passed"]
    assert not (runs / "snn" / "checkpoint.pt").exists()
    assert (runs / "snn" / "report.html").exists()
    capsys.readouterr()

    # the whole chain on the imported run: nothing to train or fold, every target verified
    assert main(["run", run, "--n", "32", "--lava-n", "4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    stages = summary["stages"]
    assert stages["train"]["status"] == "skipped" and "graph-only" in stages["train"]["message"]
    assert "fold" not in stages and summary["passed"]
    assert {k: stages[k]["passed"] for k in ("verify", "lava", "onnx", "nir")} == dict.fromkeys(
        ("verify", "lava", "onnx", "nir"), True
    )
    verify = json.loads((runs / "snn" / "verify.json").read_text())
    assert set(verify["rungs"]) == {"0", "1", "S", "2", "3", "4"} and verify["passed"]


def test_import_refuses_an_existing_run_and_names_bad_flags(tmp_path, capsys):
    """The CLI convention: a bad value is refused by argparse naming the flag (exit 2); an
    existing run directory needs --overwrite; --json prints the import record."""
    pytest.importorskip("snntorch")
    import nir
    from snntorch.export_nir import export_to_nir

    from toolchain.cli import main

    net, _data = _untrained_snntorch_mlp()
    model = tmp_path / "m.nir"
    nir.write(model, export_to_nir(net, torch.zeros(1, 64), ignore_dims=[0]))
    args = ["import", "nir", str(model), "--dataset", "digits", "--runs", str(tmp_path)]
    assert main([*args, "-T", "0"]) == 2
    assert "argument -T/--T" in capsys.readouterr().err
    assert main([*args, "--dt", "-1"]) == 2
    assert "argument --dt" in capsys.readouterr().err
    with pytest.warns(UserWarning):
        assert main([*args, "-T", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["record"]["source"] == "snntorch" and out["run_dir"] == str(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "provenance.json").read_text())
    assert {"graph.float.npz", "config.yaml", "source.nir", "import.json"} <= set(
        manifest["artifacts"]
    )
    with pytest.warns(UserWarning):
        assert main([*args, "-T", "3"]) == 1
    assert "pass --overwrite" in capsys.readouterr().err
    with pytest.warns(UserWarning):
        assert main([*args, "-T", "3", "--overwrite"]) == 0


def test_cli_lists_match_the_library_ones():
    """The CLI keeps its choices as plain strings so --help imports nothing heavy."""
    from exporters.nir_export import SOURCES
    from toolchain.commands import import_nir, verify
    from toolchain.verify import RUNGS

    assert import_nir.SOURCES == SOURCES and verify.RUNGS == RUNGS
