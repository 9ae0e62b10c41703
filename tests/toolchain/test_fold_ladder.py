"""Rungs 0 and 1 at test size for the three networks of ``experiments.fold_ladder``
(plain LIF MLP, OSR+OTS VGG, E-I VGG): tiny nets trained for an epoch on a slice of digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from toolchain.config import RunConfig
from toolchain.fold import check_design_rules, fold_run
from toolchain.pipeline import load_trained, train_run
from toolchain.quantize import quantize
from toolchain.verify import run_rung0, run_rung1

_LIF = {"tau": 2.0, "threshold": 1.0, "reset": "soft"}
NETS = {
    "mlp": ({"arch": "mlp", "hidden": [32], "neuron": _LIF}, {}),
    "vgg_osr_ots": (
        {"arch": "vgg", "layers": [4, "M", 8, "M"], "hidden": [16], "norm": "osr_ots", "T": 3,
         "neuron": {**_LIF, "online": True}},
        {"mode": "online", "loss": "tet"},
    ),
    "ei_vgg": (
        {"arch": "ei_vgg8", "width": 0.125, "neuron": _LIF},
        {"optimizer": "sgd", "lr": 0.02, "momentum": 0.9},  # the paper's VGG-8 peak lr
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(NETS))
def test_rung0_and_rung1_on_a_tiny_trained_net(name, tmp_path):
    torch.manual_seed(0)
    model, train = NETS[name]
    cfg = RunConfig.from_dict({
        "name": name, "data": {"dataset": "digits", "limit": 400, "seed": 0}, "model": model,
        "train": {"epochs": 2, "batch_size": 32, "T": 3, "lr": 3e-3, "progress": False} | train,
    })  # fmt: skip
    train_run(cfg, runs_root=tmp_path)
    fold = fold_run(tmp_path / name)
    check_design_rules(fold.graph, "hwsim")
    net, _cfg, data = load_trained(tmp_path / name)
    x, y = data.x_test[:48], data.y_test[:48]
    r0 = run_rung0(net, fold, x)
    assert r0.passed and r0.n_errors == 0, r0.summary()
    assert r0.metrics["prediction_agreement"] == 1.0 or r0.n_ties > 0, r0.summary()
    assert sum(la.events_reference for la in r0.layers.values()) > 0  # the layers do spike
    q = quantize(fold.graph, data.x_train[:96].numpy().astype(np.float64), 8)
    assert q.overflow["static_ok"] and not q.overflow["saturation"]
    r1 = run_rung1(fold, q, x.numpy(), y.numpy())
    assert r1.metrics["readout_correlation"] > 0.98, r1.summary()
    assert r1.metrics["prediction_agreement"] >= 0.93, r1.summary()
    for n, la in r1.layers.items():
        assert la.agreement > 0.97, (n, r1.summary())
    if name == "ei_vgg":  # the hardware-friendly floor stabilisation, calibrated on training data
        floor = fold_run(tmp_path / name, ei_floor=0.0, calib_samples=96)
        info = json.loads((tmp_path / name / "fold.json").read_text())["ei_stabilisation"]
        assert info and all(v["mode"] == "floor" and v["floor"] > 0 for v in info.values())
        assert run_rung0(net, floor, x).metrics["prediction_agreement"] >= 0.95
