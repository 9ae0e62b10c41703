"""AdaLi surrogate: hand-computed pseudo-derivatives, schedules, window buffers, density meter."""

import math

import pytest
import torch

from models.adali import (
    AdaLiSpike,
    adali_density,
    adali_final_window,
    adali_schedule,
    adali_window,
    reset_adali_meters,
    set_adali_window,
)
from models.neurons import LIF
from models.surrogates import SURROGATES, get_surrogate


def _grad(sg, x):
    x = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    s = sg(x)
    s.sum().backward()
    return s.detach(), x.grad


def test_registered_by_name():
    assert SURROGATES["adali"] is AdaLiSpike
    assert isinstance(get_surrogate("adali", v_minus=0.0), AdaLiSpike)
    assert isinstance(LIF(surrogate="adali").spike_fn, AdaLiSpike)


def test_values_hand_computed():
    # θ = 1, V⁻ = 0, V⁺ = 1.5 → x-window [-1, 0.5]; slopes α/(θ-V⁻) = 0.5/1, β/(V⁺-θ) = 0.5/0.5
    sg = AdaLiSpike(alpha=0.5, beta=0.5, theta=1.0, v_minus=0.0, v_plus=1.5)
    x = [-1.25, -1.0, -0.25, -1e-3, 0.0, 0.25, 0.5, 0.625]
    s, g = _grad(sg, x)
    assert s.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]  # Θ(0) = 1
    assert g.tolist() == [0.0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 0.0]
    assert sg.window() == (-1.0, 0.5)


def test_asymmetric_alpha_beta():
    sg = AdaLiSpike(alpha=0.25, beta=0.75, theta=1.0, v_minus=0.5, v_plus=4.0)
    _, g = _grad(sg, [-0.25, 2.0])
    assert g.tolist() == pytest.approx([0.25 / 0.5, 0.75 / 3.0])


def test_unit_area_with_defaults():
    sg = AdaLiSpike()
    x = torch.linspace(-3, 3, 600_001, dtype=torch.float64, requires_grad=True)
    sg(x).sum().backward()
    assert float(x.grad.sum() * 1e-5) == pytest.approx(1.0, abs=1e-4)


def test_window_is_buffer_in_state_dict():
    sg = AdaLiSpike(v_minus=-0.5, v_plus=2.5)
    sd = sg.state_dict()
    assert float(sd["v_minus"]) == -0.5 and float(sd["v_plus"]) == 2.5
    other = AdaLiSpike(v_minus=0.9, v_plus=1.1)
    other.load_state_dict(sd)
    assert other.window() == (-1.5, 1.5)
    lif = LIF(surrogate="adali")
    assert "spike_fn.v_minus" in lif.state_dict()


def test_invalid_window():
    with pytest.raises(ValueError):
        AdaLiSpike(v_minus=1.0, v_plus=2.0)  # V⁻ must be below θ
    sg = AdaLiSpike()
    with pytest.raises(ValueError):
        sg.set_window(0.0, 0.5)
    with pytest.raises(ValueError):
        AdaLiSpike(alpha=0.0)


def test_final_window_golden():
    # θ - p(θ - V⁻₁) = 1 - 0.2·1.5 = 0.7 ; θ + p(V⁺₁ - θ) = 1 + 0.2·1.5 = 1.3
    assert adali_final_window() == pytest.approx((0.7, 1.3))


def test_linear_schedule_golden():
    # N = 5: V⁻ from -0.5 to 0.7 in steps of 0.3; V⁺ from 2.5 to 1.3 in steps of -0.3
    got = [adali_window(k, 5, "linear") for k in range(1, 6)]
    want = [(-0.5, 2.5), (-0.2, 2.2), (0.1, 1.9), (0.4, 1.6), (0.7, 1.3)]
    for g, w in zip(got, want):
        assert g == pytest.approx(w, abs=1e-12)


def test_log_schedule_golden():
    # k = 3, N = 5: fraction ln 3 / ln 5 = 0.6826061944859854
    frac = 0.6826061944859854
    vm, vp = adali_window(3, 5, "log")
    assert vm == pytest.approx(-0.5 + 1.2 * frac, abs=1e-12)
    assert vp == pytest.approx(2.5 - 1.2 * frac, abs=1e-12)
    assert adali_window(1, 5, "log") == pytest.approx((-0.5, 2.5))
    assert adali_window(5, 5, "log") == pytest.approx((0.7, 1.3))
    # the log schedule shrinks faster early on
    assert adali_window(2, 5, "log")[0] > adali_window(2, 5, "linear")[0]


def test_schedule_edges():
    assert adali_schedule("linear", 1, 1, -0.5, 0.7) == -0.5
    with pytest.raises(ValueError):
        adali_schedule("cosine", 1, 3, 0, 1)
    with pytest.raises(ValueError):
        adali_schedule("linear", 4, 3, 0, 1)


def test_density_meter_counts_training_only():
    lif = LIF(surrogate="adali", surrogate_params={"v_minus": 0.0, "v_plus": 1.5})
    net = torch.nn.Sequential(lif)
    # H = I at t = 0 (V = 0): x = I - 1 in [-1, 0.5] for I in [0, 1.5]
    current = torch.tensor([[[-0.5, 0.0, 0.75, 1.5, 2.0, 3.0]]])  # [T=1, B=1, 6]
    net.train()
    net(current)
    assert adali_density(net) == pytest.approx(3 / 6)
    net.eval()
    net(current)
    assert adali_density(net) == pytest.approx(3 / 6)  # eval passes are not counted
    reset_adali_meters(net)
    assert math.isnan(adali_density(net))
    assert set_adali_window(net, 0.5, 4.0) == 1  # x-window [-0.5, 3]
    net.train()
    net(current)
    assert adali_density(net) == pytest.approx(4 / 6)


@pytest.mark.parametrize("window", [(-0.5, 2.5), (0.1, 1.6), (0.7, 1.3)])
def test_masked_backward_equals_dense_bit_for_bit(window):
    """Differential check over a wide spread of membranes, window boundaries and θ
    included: the masked backward's gradient is the dense vjp's, exactly."""
    gen = torch.Generator().manual_seed(0)
    u = 1.0 + 1.5 * torch.randn(3, 5, 257, generator=gen)
    u.view(-1)[:4] = torch.tensor([window[0], window[1], 1.0, 1.0 - 1e-7])  # edges, θ
    grad = torch.randn(u.shape, generator=gen)
    out = {}
    for mode in ("dense", "masked"):
        x = (u - 1.0).requires_grad_()
        sg = AdaLiSpike(v_minus=window[0], v_plus=window[1], backward=mode)
        s = sg(x)
        s.backward(grad)
        out[mode] = (s.detach(), x.grad)
    assert torch.equal(out["dense"][0], out["masked"][0])
    assert torch.equal(out["dense"][1], out["masked"][1])


def test_masked_backward_saves_indices_only_for_the_window():
    """What autograd keeps for the backward: the dense vjp keeps the membrane (4 bytes per
    element); the masked one keeps an int32 index and a bool per in-window element."""
    x = torch.linspace(-3, 3, 6001).requires_grad_()  # x = U - θ; window [-0.3, 0.3]
    sizes = {}
    for mode in ("dense", "masked"):
        saved: list[int] = []

        def pack(t, saved=saved):
            saved.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            AdaLiSpike(v_minus=0.7, v_plus=1.3, backward=mode)(x)
        sizes[mode] = sum(saved)
    inside = int(((x >= -0.3) & (x <= 0.3)).sum())
    assert sizes["dense"] == 4 * x.numel()
    assert sizes["masked"] == 5 * inside


def test_backward_mode_is_validated_and_shown():
    with pytest.raises(ValueError, match="backward"):
        AdaLiSpike(backward="sparse")
    assert "backward=masked" in repr(AdaLiSpike())
