"""AdaLiCallback: window per epoch from the schedule, compute density logged by fit()."""

import math

import pytest
import torch

from hwsim.errors import ConfigError
from models import build_model
from models.adali import adali_surrogates, adali_window
from toolchain.callbacks import AdaLiCallback
from toolchain.data import Dataset
from toolchain.train import TrainConfig, fit


def _net(surrogate="adali"):
    return build_model(
        {
            "arch": "mlp",
            "in_shape": [1, 4, 4],
            "num_classes": 3,
            "hidden": [16],
            "neuron": {"surrogate": surrogate},
        }
    )


@pytest.mark.parametrize("schedule", ["linear", "log"])
def test_sets_window_each_epoch(schedule):
    net = _net()
    cb = AdaLiCallback(num_epochs=4, schedule=schedule)
    for epoch in (1, 2, 4, 6):
        cb.on_epoch_start(epoch, net)
        want = adali_window(min(epoch, 4), 4, schedule)
        for sg in adali_surrogates(net):
            assert (float(sg.v_minus), float(sg.v_plus)) == pytest.approx(want)
        out = cb.on_epoch_end(epoch, net, {})
        assert (out["adali_v_minus"], out["adali_v_plus"]) == pytest.approx(want)
        assert math.isnan(out["adali_compute_density"])  # nothing ran this "epoch"


def test_needs_adali_surrogate_and_valid_args():
    with pytest.raises(ConfigError, match="adali"):
        AdaLiCallback(3).on_epoch_start(1, _net("sigmoid"))
    with pytest.raises(ConfigError):
        AdaLiCallback(0)
    with pytest.raises(ConfigError):
        AdaLiCallback(3, schedule="cosine")


def test_fit_logs_falling_density():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 1, 4, 4, generator=g)
    y = (x.mean((1, 2, 3)) * 3).long().clamp(max=2)
    data = Dataset("toy", x[:64], y[:64], x[64:], y[64:], (1, 4, 4), 3)
    cfg = TrainConfig(epochs=3, batch_size=32, T=2, progress=False, lr=1e-2)
    res = fit(_net(), data, cfg, callbacks=[AdaLiCallback(3)])
    dens = [h["adali_compute_density"] for h in res["history"]]
    assert all(0.0 <= d <= 1.0 for d in dens)
    assert dens[-1] < dens[0]  # the window shrinks to 20% of its width
