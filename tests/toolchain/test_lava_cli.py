"""``spikefold export lava`` and ``spikefold run-lava`` on a briefly trained digits MLP (hard
reset, two biased hidden layers: every LIF on Lava's own ``lava.proc.lif`` process), and
``run-lava``'s Lava workers ending with it on SIGKILL, SIGTERM and SIGINT."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

import exporters  # noqa: F401 - installs the Python 3.11 shim; must precede every lava import

# isort: split
import numpy as np

from exporters.lava import load_lava
from hwsim.graph import LIF
from hwsim.io import load_graph
from toolchain.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    torch.set_num_threads(1)
    argv = ["train", "--dataset", "digits", "--arch", "mlp", "--epochs", "2", "-T", "4",
            "--name", "r", "--runs", str(root), "--no-progress", "--lr", "0.01",
            "--set", "model.hidden=[32, 16]", "--set", "model.neuron.reset=hard"]  # fmt: skip
    assert main(argv) == 0
    assert main(["fold", str(root / "r")]) == 0
    return root / "r"


def test_export_needs_the_quantised_graph(run_dir, tmp_path, capsys):
    # a copy without what the other test may have written: this one runs in any order
    run_dir = shutil.copytree(
        run_dir, tmp_path / "r", ignore=shutil.ignore_patterns("graph.fixed.npz", "*.lava.json")
    )
    assert main(["export", "lava", str(run_dir)]) == 1
    assert "spikefold quantize" in capsys.readouterr().err
    assert main(["run-lava", str(run_dir), "--n", "2"]) == 1
    assert "spikefold export lava" in capsys.readouterr().err


def test_export_verify_and_run(run_dir, capsys):
    assert main(["quantize", str(run_dir)]) == 0
    (run_dir / "verify.json").write_text(json.dumps({"rungs": {"1": {"passed": True}}}))
    capsys.readouterr()
    assert main(["export", "lava", str(run_dir), "--verify", "--n", "8"]) == 0
    out = capsys.readouterr().out
    assert "model.lava.json (7 Lava processes: 5 Lava's own, 2 spikefold; fixed_pt" in out
    assert "rung 2 PASS (fixed graph" in out and "rung 2 PASS (float graph" in out
    spec = load_lava(run_dir / "model.lava.json")
    assert spec.processes["m1"].kind == "lava.Dense" and spec.T == 4 and spec.steps == 7
    data = json.loads((run_dir / "verify.json").read_text())
    assert set(data["rungs"]) == {"1", "2"} and data["passed"]
    r2 = data["rungs"]["2"]
    assert r2["metrics"]["samples"] == 8 and r2["first_divergence"] is None
    # every LIF layer is biased, reached after its arrival offset, and runs on Lava's own LIF
    # process and bit-accurate model: rung 2 compares Lava's arithmetic with hwsim's
    graph = load_graph(run_dir / "graph.fixed.npz")
    lifs = [k for k, v in graph.nodes.items() if isinstance(v, LIF)]
    assert len(lifs) == 2
    for k in lifs:
        assert np.any(graph.nodes[k].bias) and spec.offsets[k] > 0
        assert spec.processes[k].kind == "lava.LIFReset"
        assert r2["settings"]["models"][k] == "lava.proc.lif.models.PyLifResetModelBitAcc"
        assert r2["layers"][k]["mismatches"] == 0 and r2["layers"][k]["events_reference"] > 0
    assert r2["float"]["passed"] and r2["metrics"]["readout_mismatches"] == 0
    assert main(["export", "lava", str(run_dir), "--float"]) == 0
    assert load_lava(run_dir / "model.float.lava.json").select_tag == "floating_pt"
    capsys.readouterr()
    assert main(["run-lava", str(run_dir), "--n", "8", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # the same 8 samples as the rung-2 run above: Lava's accuracy is hwsim's (bit-exact)
    assert summary["samples"] == 8
    assert summary["accuracy"] == r2["metrics"]["accuracy_hwsim"] == r2["metrics"]["accuracy_lava"]
    assert summary["spikes_per_sample"]["m2"] > 0


def test_run_lava_refuses_a_stale_export(run_dir, tmp_path, capsys):
    run_dir = shutil.copytree(run_dir, tmp_path / "stale")
    assert main(["quantize", str(run_dir)]) == 0
    assert main(["export", "lava", str(run_dir)]) == 0
    assert main(["quantize", str(run_dir), "--weight-bits", "6"]) == 0  # re-quantised later
    capsys.readouterr()
    assert main(["run-lava", str(run_dir), "--n", "2"]) == 1
    err = capsys.readouterr().err
    assert "model.lava.json is stale (made from an older graph.fixed.npz)" in err
    assert f"`spikefold export lava {run_dir}`" in err


def _tree() -> dict[int, list[int]]:
    """``{ppid: [pid, ...]}`` of the live processes (/proc)."""
    tree: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and _alive(int(d)):
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            tree.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(d))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, out, todo = _tree(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has ended


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    "sig, returncode", [(signal.SIGKILL, -9), (signal.SIGTERM, -15), (signal.SIGINT, 130)]
)
def test_lava_workers_end_with_run_lava(run_dir, tmp_path, sig, returncode):
    """kill -9, kill and Ctrl-C of ``spikefold run-lava`` in the middle of a Lava run leave no
    Lava process alive (issue 14)."""
    run_dir = shutil.copytree(run_dir, tmp_path / "r", dirs_exist_ok=True)
    if not (run_dir / "model.lava.json").exists():
        assert main(["quantize", str(run_dir)]) == 0
        assert main(["export", "lava", str(run_dir)]) == 0
    cmd = [sys.executable, "-m", "toolchain.cli", "run-lava", str(run_dir), "--n", "400",
           "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # source, 2 Dense, 2 LIF, Dense, Readout, runtime service, shared-memory manager...
        deadline = time.monotonic() + 120
        while len(_descendants(proc.pid)) < 9 and proc.poll() is None:
            assert time.monotonic() < deadline, "Lava did not start"
            time.sleep(0.1)
        time.sleep(0.5)  # running samples
        workers = _descendants(proc.pid)
        assert proc.poll() is None and len(workers) >= 9
        os.kill(proc.pid, sig)
        assert proc.wait(timeout=60) == returncode
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [p for p in workers if _alive(p)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
