"""Every config under configs/ builds its network and runs one training step, on tiny shapes:
the dataset is replaced by 4 random samples of the same kind (frames or spike trains) at a
small spatial size, and convolutional nets get ``width: 1/16``; everything else (architecture,
depth, norm, neuron, loss, mode, optimiser and parameter groups, augmentations, AdaLi schedule)
is the config's own."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from toolchain.config import RunConfig, apply_overrides, load_config
from toolchain.data import Dataset
from toolchain.pipeline import build_run_model, run_callbacks
from toolchain.train import fit

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
#: dataset -> (tiny sample shape, classes, encoding)
TINY = {
    "digits": ((1, 8, 8), 10, "frames"),
    "cifar10": ((3, 16, 16), 10, "frames"),
    "mnist": ((1, 12, 12), 10, "frames"),
    "fashion_mnist": ((1, 12, 12), 10, "frames"),
    "mnist5k": ((1, 12, 12), 10, "frames"),
    "cifar10_dvs": ((2, 8, 8), 10, "spikes"),
}


def tiny_data(cfg: RunConfig, n: int = 4) -> Dataset:
    shape, k, encoding = TINY[cfg.data.dataset]
    g = torch.Generator().manual_seed(0)
    lead = (n, cfg.train.T) if encoding == "spikes" else (n,)
    x = [torch.rand(*lead, *shape, generator=g) for _ in range(2)]
    if encoding == "spikes":
        x = [(v < 0.3).float() for v in x]
    y = [torch.arange(n) % k for _ in range(2)]
    return Dataset(cfg.data.dataset, x[0], y[0], x[1], y[1], shape, k, encoding)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds_and_trains_one_step(path):
    raw = load_config(path)
    overrides = ["train.epochs=1", "train.batch_size=4", "train.workers=0", "train.device=cpu",
                 "train.progress=false", "train.warmup_epochs=0"]  # fmt: skip
    if raw["model"]["arch"] not in ("mlp", "inorm_mlp", "ei_mlp"):
        overrides.append("model.width=0.0625")
    if raw["model"]["arch"] == "vgg":  # the DAP CNN lists its channels; shrink them instead
        overrides.append("model.layers=[4, 4, 4, 4, 4, 4]")
        overrides.remove("model.width=0.0625")
    cfg = RunConfig.from_dict(apply_overrides(raw, overrides))
    data = tiny_data(cfg)
    torch.manual_seed(0)
    model = build_run_model(cfg, data)
    before = [p.detach().clone() for p in model.parameters()]
    out = fit(model, data, cfg.train, callbacks=run_callbacks(cfg, model))
    (h,) = out["history"]
    assert math.isfinite(h["train_loss"]) and 0 <= h["test_accuracy"] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    if cfg.model.get("neuron", {}).get("surrogate") == "adali":
        assert 0 < h["adali_compute_density"] <= 1
