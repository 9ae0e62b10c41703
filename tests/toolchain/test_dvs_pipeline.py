"""A DVS net end to end: N-MNIST-format recordings binned by tonic into spike trains, trained,
folded, quantised, and checked on rungs 0-3 (torch <-> float graph, float <-> fixed, hwsim <->
Lava bit-exact, hwsim <-> onnxruntime bit-exact), then reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hwsim.io import load_graph
from toolchain.config import RunConfig
from toolchain.fold import fold_run
from toolchain.pipeline import train_run
from toolchain.quantize import quantize_run
from toolchain.rundir import GRAPH_FIXED
from toolchain.verify import verify_run

from .test_data_scale import write_nmnist_bin


def write_tiny_nmnist(root, n_per_class=6, seed=0):
    """Two classes with different moving bars, so a tiny net can tell them apart."""
    rng = np.random.default_rng(seed)
    for split in ("Train", "Test"):
        for digit in (0, 1):
            for i in range(n_per_class):
                n = 60
                t = np.sort(rng.integers(0, 20_000, n))
                lane = rng.integers(0, 34, n)
                pos = (t * 34 // 20_000).clip(0, 33)
                x, y = (pos, lane) if digit == 0 else (lane, pos)  # sweep along x or y
                p = rng.integers(0, 2, n)
                write_nmnist_bin(root / split / str(digit) / f"{i:05d}.bin", x, y, p, t)


@pytest.mark.slow
def test_dvs_net_through_fold_quantize_rungs_0_to_3_and_report(tmp_path):
    from exporters.lava.rung2 import rung2_fixed
    from exporters.onnx import export_onnx, rung3
    from toolchain.report import make_report

    write_tiny_nmnist(tmp_path / "nmnist")
    torch.manual_seed(0)
    cfg = RunConfig.from_dict({
        "name": "dvs",
        "data": {"dataset": "nmnist", "root": str(tmp_path / "nmnist"), "downsample": 0.25},
        "model": {"arch": "vgg", "layers": [4, "M"], "hidden": [8],
                  "neuron": {"tau": 2.0, "threshold": 1.0, "reset": "soft"}},
        "train": {"epochs": 2, "batch_size": 4, "T": 3, "lr": 0.01, "encoding": "spikes",
                  "progress": False},
    })  # fmt: skip
    trained = train_run(cfg, runs_root=tmp_path / "runs")
    run = tmp_path / "runs" / "dvs"
    data = trained.data
    assert data.encoding == "spikes" and data.in_shape == (2, 9, 9)
    fold = fold_run(run)
    inp = fold.graph.nodes[fold.graph.input_names()[0]]
    assert inp.encoding == "spikes" and tuple(inp.shape) == (2, 9, 9)
    quantize_run(run, weight_bits=8, calib_samples=8)
    r0, r1 = verify_run(run)
    assert r0.passed and r0.n_errors == 0, r0.summary()
    assert sum(la.events_reference for la in r0.layers.values()) > 0
    assert r1.metrics["prediction_agreement"] >= 0.9, r1.summary()
    graph = load_graph(run / GRAPH_FIXED)
    x, y = data.inputs("test", 4), data.y_test[:4].numpy()
    assert x.shape == (3, 4, 2, 9, 9) and set(np.unique(x)) <= {0.0, 1.0}
    r2 = rung2_fixed(graph, x, labels=y)
    assert r2.passed, r2.summary()
    r3 = rung3(graph, x, labels=y, model=export_onnx(graph), reference_samples=2)
    assert r3.passed, r3.summary()
    paths = make_report(run)
    rep = json.loads(
        paths.json.read_text() if hasattr(paths.json, "read_text") else open(paths.json).read()
    )
    assert rep["headline"]["spikes_per_sample"] > 0
