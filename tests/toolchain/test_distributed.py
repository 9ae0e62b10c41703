"""Data-parallel training with torchrun (gloo, 2 CPU processes) against one process.

With the global batch fixed, two processes taking half of every batch must end with the weights
of one process taking all of it (float tolerance: the all-reduced gradient average and the
all-reduced OSR/OTS statistics sum in another order). The cases (``ddp_cases.py``): a plain
MLP, an E-I MLP (E-I Init and Dale clamps) and an OSR+OTS online MLP with the AdaLi surrogate
(per-step backwards under no_sync, synced statistics, reduced compute density).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from toolchain.cli import main

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def _cases():
    spec = importlib.util.spec_from_file_location("ddp_cases", HERE / "ddp_cases.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    proc = subprocess.run([*cmd, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    _torchrun(str(HERE / "ddp_cases.py"), str(out))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", ["plain", "ei", "osr_ots_online"])
def test_two_processes_equal_one(two_process_results, case):
    cases = _cases()
    state, history = cases.train_case(case)
    ddp = torch.load(two_process_results / f"{case}.pt", weights_only=True)
    assert state.keys() == ddp["state"].keys()
    for key, value in state.items():
        other = ddp["state"][key]
        if value.is_floating_point():
            assert torch.allclose(value, other, rtol=1e-4, atol=1e-5), (key, value, other)
        else:
            assert torch.equal(value, other), key
    # the logged numbers are the whole dataset's, reduced over both processes
    for one, two in zip(history, ddp["history"], strict=True):
        for k in ("train_loss", "train_accuracy", "test_accuracy", "train_spike_rate"):
            assert one[k] == pytest.approx(two[k], rel=1e-4, abs=1e-6), k
    if case == "osr_ots_online":
        assert history[-1]["adali_compute_density"] == pytest.approx(
            ddp["history"][-1]["adali_compute_density"], rel=1e-4
        )
        moved = [k for k in state if k.endswith("running_threshold")]
        assert moved and all(not torch.all(state[k] == 1.0) for k in moved)


@pytest.mark.slow
def test_sharded_hwsim_gathers_the_whole_test_set(two_process_results):
    from hwsim.sim import simulate_dataset

    cases = _cases()
    ddp = torch.load(two_process_results / "plain.pt", weights_only=True)
    graph, x = cases.plain_graph_and_inputs(ddp["state"])
    whole = simulate_dataset(graph, x, batch_size=4)
    got = torch.load(two_process_results / "sharded_sim.pt", weights_only=True)
    assert got["batch"] == len(x) and len(x) > 8
    assert np.array_equal(got["readout"].numpy(), whole.readout)  # sample order kept
    for node, c in whole.counts.items():
        assert np.array_equal(got["counts"][node].numpy(), c), node


@pytest.mark.slow
def test_interrupted_two_process_run_resumes_on_one(tmp_path):
    # 2 processes stop after epoch 1 (the time budget runs out), 1 process finishes epoch 2:
    # the weights equal an uninterrupted one-process run
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "name: r\ndata: {dataset: digits, limit: 64}\nmodel: {arch: ei_mlp, hidden: [16]}\n"
        "train: {epochs: 2, batch_size: 16, optimizer: sgd, lr: 0.05, T: 2, progress: false}\n"
    )
    runs = tmp_path / "runs"
    stop = "train.time_limit_s=0.001"  # any epoch takes longer
    _torchrun("-m", "toolchain.cli", "train", "--config", str(cfg), "--runs", str(runs),
              "--set", stop)  # fmt: skip
    ckpt = torch.load(runs / "r" / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["world"] == 2
    assert main(["train", "--config", str(cfg), "--runs", str(runs), "--resume"]) == 0
    resumed = torch.load(runs / "r" / "checkpoint.pt", weights_only=True)
    assert resumed["epoch"] == 2 and resumed["world"] == 1
    assert main(["train", "--config", str(cfg), "--runs", str(tmp_path / "one")]) == 0
    whole = torch.load(tmp_path / "one" / "r" / "checkpoint.pt", weights_only=True)
    for key, value in whole["model"].items():
        assert torch.allclose(value.float(), resumed["model"][key].float(), atol=1e-5), key
    metrics = json.loads((runs / "r" / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics] == [1, 2]
