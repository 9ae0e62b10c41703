"""OSR + OTS nets under fit(mode="online"): the trainer's per-step protocol drives them."""

import torch

from models import build_model
from toolchain.data import Dataset
from toolchain.train import TrainConfig, fit


def test_online_fit_updates_osr_and_ots_buffers():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(48, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()  # top half brighter?
    data = Dataset("toy", x[:32], y[:32], x[32:], y[32:], (1, 8, 8), 2)
    net = build_model(
        {
            "arch": "vgg",
            "in_shape": [1, 8, 8],
            "num_classes": 2,
            "layers": [4, "M"],
            "norm": "osr_ots",
            "T": 3,
            "neuron": {"online": True},
        }
    )
    cfg = TrainConfig(epochs=2, batch_size=16, T=3, mode="online", loss="tet", progress=False)
    res = fit(net, data, cfg)
    assert len(res["history"]) == 2
    osr, lif = net.block1.norm, net.block1.lif
    assert int(osr.num_batches_tracked) == 4  # one finish_sequence per batch: 2 epochs × 2
    assert not torch.equal(osr.running_var, torch.ones_like(osr.running_var))
    assert abs(float(lif.running_threshold[0]) - 1.0) < 1e-5  # θ[0] = θ₀ always
    assert not torch.equal(lif.running_threshold[1:], torch.ones(2))
