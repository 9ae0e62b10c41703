"""DAP / Kaiming / Xavier initialisation: golden values and empirical statistics."""

import math

import pytest
import torch
from torch import nn

from models.init import INITS, apply_init, dap_std, fan_in_out, spike_probability


def test_spike_probability_golden():
    assert spike_probability(0.0) == pytest.approx(0.5, abs=1e-15)
    # 1 - Φ(1) from the normal table
    assert spike_probability(1.0) == pytest.approx(0.15865525393145707, rel=1e-12)
    assert spike_probability(-1.0) == pytest.approx(1 - 0.15865525393145707, rel=1e-12)


def test_dap_std_golden():
    # θ = 1: std = 1/sqrt(n · 0.158655) ≈ 2.5106 / sqrt(n)
    assert dap_std(1, 1.0) == pytest.approx(2.510574, rel=1e-6)
    assert dap_std(1000, 1.0) == pytest.approx(2.510574 / math.sqrt(1000), rel=1e-6)
    # θ = 0: P = 1/2, std = sqrt(2/n), Kaiming's value
    assert dap_std(50, 0.0) == pytest.approx(math.sqrt(2 / 50), rel=1e-12)
    with pytest.raises(ValueError):
        dap_std(0)


def test_fan_in_out_conv_and_linear():
    assert fan_in_out(torch.empty(7, 5)) == (5, 7)
    assert fan_in_out(torch.empty(16, 4, 3, 3)) == (36, 144)  # groups: weight is [out, in/g, k, k]
    with pytest.raises(ValueError):
        fan_in_out(torch.empty(3))


@pytest.mark.parametrize(
    "name, expected_std",
    [
        ("dap", lambda fi, fo: 1 / math.sqrt(fi * 0.15865525393145707)),
        ("kaiming", lambda fi, fo: math.sqrt(2 / fi)),
        ("xavier", lambda fi, fo: math.sqrt(2 / (fi + fo))),
    ],
)
def test_apply_init_statistics(name, expected_std):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(8, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(600, 400))
    apply_init(net, name)
    for layer in (net[0], net[3]):
        fi, fo = fan_in_out(layer.weight)
        w = layer.weight.detach()
        # n >= 4608 samples: the sample std is within 5% with overwhelming probability
        assert float(w.std()) == pytest.approx(expected_std(fi, fo), rel=0.05)
        assert abs(float(w.mean())) < 0.1 * expected_std(fi, fo)
        assert torch.count_nonzero(layer.bias) == 0


def test_apply_init_unknown_name_lists_valid():
    with pytest.raises(ValueError) as exc:
        apply_init(nn.Linear(3, 3), "he_uniform")
    for name in INITS:
        assert name in str(exc.value)


def test_apply_init_bad_parameter():
    with pytest.raises(ValueError, match="dap"):
        apply_init(nn.Linear(3, 3), "dap", thetta=1.0)


def test_apply_init_theta_and_keep_bias():
    lin = nn.Linear(2000, 300)
    bias = lin.bias.detach().clone()
    apply_init(lin, "DAP", zero_bias=False, theta=0.5)
    assert torch.equal(lin.bias, bias)
    assert float(lin.weight.detach().std()) == pytest.approx(dap_std(2000, 0.5), rel=0.05)
