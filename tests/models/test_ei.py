"""E-I circuit layers: forward against a NumPy reference, E-I Prop, Dale's law, E-I Init."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.ei import (
    EIConfig,
    EIConv2d,
    EIInitStats,
    EILinear,
    adaptive_stabilize,
    input_stats,
    scale_grad,
)


def _randomise(layer, seed: int = 0) -> None:
    """Positive random weights, random gains, biases of both signs (keeps ``initialised``)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            vals = torch.rand(p.shape, generator=g) * 0.5 + 0.05
            if name == "bias_e":
                vals = torch.randn(p.shape, generator=g)
            p.copy_(vals)
    layer.initialised.fill_(True)


# -- reference (NumPy, float64, written from TECHNIQUES.md section 2) --------------------------


def _np_stab(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample (row): zeros -> smallest positive value of the row; all-zero rows flagged
    (and set to 1)."""
    out = d.copy()
    valid = np.ones(d.shape[0], dtype=bool)
    for n in range(d.shape[0]):
        row = out[n]
        pos = row[row > 0]
        if pos.size == 0:
            valid[n] = False
            row[:] = 1.0  # any finite placeholder: the sample's current is b_E
            continue
        row[row == 0] = pos.min()
    return out, valid


def _np_circuit(x, w_ee, w_ie, w_ei, g_i, g_e, b_e, eps=None):
    """Dense E-I circuit; ``x`` [N, d]."""
    i_ee = x @ w_ee.T
    h_i = x @ w_ie.T
    i_sub = h_i @ w_ei.T
    d = (h_i * g_i) @ w_ei.T
    if eps is not None:
        return g_e * (i_ee - i_sub) / (d + eps) + b_e
    d_s, valid = _np_stab(d)
    out = g_e * (i_ee - i_sub) / d_s + b_e
    out[~valid] = np.broadcast_to(b_e, out.shape)[~valid]
    return out


def _np_conv(x, w):
    """Plain loops: stride 1, padding 1, 3x3; x [N, C, H, W], w [O, C, 3, 3]."""
    n, c, h, wd = x.shape
    xp = np.zeros((n, c, h + 2, wd + 2))
    xp[:, :, 1:-1, 1:-1] = x
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(h):
        for j in range(wd):
            patch = xp[:, :, i : i + 3, j : j + 3].reshape(n, -1)
            out[:, :, i, j] = patch @ w.reshape(w.shape[0], -1).T
    return out


def _params(layer):
    return {k: v.detach().double().numpy() for k, v in layer.named_parameters()}


# -- forward ---------------------------------------------------------------------------------


def test_linear_forward_matches_reference_including_zero_denominators():
    layer = EILinear(6, 8)
    _randomise(layer)
    x = (torch.rand(5, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    x[0] = 0.0  # all-zero sample: D == 0 everywhere -> I = b_E
    with torch.no_grad():
        layer.inhib.ie.weight[:, :3] = 0.0  # inputs 0..2 reach no inhibitory unit
        layer.weight_ei[:2] = 0.0  # units 0, 1 get no inhibition: D == 0 in every sample
    x[1] = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # D == 0 for the whole sample
    p = _params(layer)
    ref = _np_circuit(
        x.double().numpy(),
        p["ee.weight"],
        p["inhib.ie.weight"],
        p["weight_ei"],
        p["gain_i"],
        p["gain_e"],
        p["bias_e"],
    )
    out = layer(x.unsqueeze(0))[0]
    np.testing.assert_allclose(out.detach().double().numpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0].detach().numpy(), p["bias_e"], rtol=1e-6)
    assert torch.isfinite(out).all()


def test_adaptive_stabilisation_replaces_zeros_with_per_sample_minimum_per_channel_and_pixel():
    d = torch.tensor(
        [
            [[[0.0, 2.0], [3.0, 0.0]], [[5.0, 0.5], [0.0, 4.0]]],  # min positive 0.5
            [[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]],  # all zero
            [[[1.5, 7.0], [0.25, 9.0]], [[2.0, 3.0], [1.0, 1.0]]],  # no zero
        ],
        requires_grad=True,
    )
    d_s, valid = adaptive_stabilize(d)
    expected = d.detach().clone()
    expected[0][expected[0] == 0] = 0.5
    expected[1] = 1.0  # finite placeholder of an all-zero sample
    assert torch.equal(d_s.detach(), expected)
    assert valid.flatten().tolist() == [True, False, True]
    # backward: identity (straight-through), also at the replaced positions
    c = torch.randn(d.shape)
    (d_s * c).sum().backward()
    assert torch.equal(d.grad, c)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (4, 3, 2), elements=st.sampled_from([0.0, 0.0, 0.1, 1.0, 2.5, 1e-3, 7.0]))
)
def test_adaptive_stabilisation_property(d_np):
    d = torch.from_numpy(d_np)
    d_s, valid = adaptive_stabilize(d)
    ref, ref_valid = _np_stab(d_np.reshape(4, -1))
    assert valid.flatten().numpy().tolist() == ref_valid.tolist()
    got = d_s.reshape(4, -1).numpy()
    assert np.array_equal(got, ref)
    assert (got > 0).all()


def test_conv_forward_matches_reference():
    layer = EIConv2d(2, 8, 3, 1, 1)
    _randomise(layer, seed=3)
    x = (torch.rand(3, 2, 4, 5, generator=torch.Generator().manual_seed(4)) < 0.3).float()
    p = _params(layer)
    xn = x.double().numpy()
    i_ee = _np_conv(xn, p["ee.weight"])
    h_i = _np_conv(xn, p["inhib.ie.weight"])
    i_sub = np.einsum("nihw,ei->nehw", h_i, p["weight_ei"])
    d = np.einsum("nihw,ei->nehw", h_i * p["gain_i"][None, :, None, None], p["weight_ei"])
    d_s, valid = _np_stab(d.reshape(3, -1))
    ref = p["gain_e"][None, :, None, None] * (i_ee - i_sub) / d_s.reshape(d.shape)
    ref = ref + p["bias_e"][None, :, None, None]
    ref[~valid] = (np.zeros_like(ref) + p["bias_e"][None, :, None, None])[~valid]
    out = layer(x.unsqueeze(0))[0].detach().double().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_readout_has_no_division_and_no_gains():
    layer = EILinear(5, 3, readout=True)
    _randomise(layer)
    assert not hasattr(layer, "gain_i") and not hasattr(layer, "bias_e")
    x = torch.rand(4, 5)
    p = _params(layer)
    xn = x.double().numpy()
    ref = xn @ p["ee.weight"].T - (xn @ p["inhib.ie.weight"].T) @ p["weight_ei"].T
    out = layer(x.unsqueeze(0))[0].detach().double().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


def test_fixed_eps_stabilisation():
    eps = 0.3
    layer = EILinear(6, 4, config={"stabilization": ("fixed", eps)})
    assert layer.config.stabilization == "fixed" and layer.config.eps == eps
    _randomise(layer)
    x = torch.rand(3, 6)
    x[0] = 0.0
    p = _params(layer)
    ref = _np_circuit(
        x.double().numpy(),
        p["ee.weight"],
        p["inhib.ie.weight"],
        p["weight_ei"],
        p["gain_i"],
        p["gain_e"],
        p["bias_e"],
        eps=eps,
    )
    out = layer(x.unsqueeze(0))[0].detach().double().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_step_modes_agree():
    layer = EIConv2d(1, 4, 3, 1, 1)
    x = torch.rand(3, 2, 1, 5, 5)
    m = layer(x)
    layer.step_mode = "s"
    s = torch.stack([layer(x[t]) for t in range(3)])
    torch.testing.assert_close(m, s)


# -- E-I Prop gradients --------------------------------------------------------------------------


def _grads(layer, x, c):
    layer.zero_grad()
    (layer(x) * c).sum().backward()
    return {k: v.grad.clone() for k, v in layer.named_parameters()}


@pytest.mark.parametrize("cls", ["linear", "conv"])
def test_weight_ei_gradient_is_autograd_divided_by_d_prev(cls):
    torch.manual_seed(0)
    if cls == "linear":
        make = lambda gs: EILinear(12, 8, config={"grad_scaling": gs})
        x = (torch.rand(2, 5, 12) < 0.4).float()
    else:
        make = lambda gs: EIConv2d(3, 8, 3, 1, 1, config={"grad_scaling": gs})
        x = (torch.rand(2, 5, 3, 4, 4) < 0.4).float()
    scaled, plain = make(True), make(False)
    _randomise(scaled)
    plain.load_state_dict(scaled.state_dict())
    c = torch.randn(scaled(x).shape)
    g_s, g_p = _grads(scaled, x, c), _grads(plain, x, c)
    d_prev = 12 if cls == "linear" else 3 * 9
    assert int(scaled.grad_fan_in) == d_prev
    torch.testing.assert_close(g_s["weight_ei"], g_p["weight_ei"] / d_prev)
    for k in g_s:
        if k != "weight_ei":
            torch.testing.assert_close(g_s[k], g_p[k])


def test_gradient_matches_independent_autograd_with_ste():
    """Autograd through a plain re-implementation where D's stabilisation enters as a constant
    offset (``D + sg(D_fwd - D)``): the STE's gradient; W_EI's divided by d."""
    layer = EILinear(6, 8)
    _randomise(layer, seed=5)
    x = (torch.rand(7, 6, generator=torch.Generator().manual_seed(6)) < 0.5).float()
    with torch.no_grad():
        layer.inhib.ie.weight[:, :2] = 0.0
        layer.weight_ei[:3] = 0.0
    x[2] = torch.tensor([1.0, 1.0, 0, 0, 0, 0])  # all-zero D
    x[3] = torch.tensor([1.0, 0, 1.0, 0, 0, 0])
    c = torch.randn(7, 8, dtype=torch.float64)
    ps = {k: v.detach().double().clone().requires_grad_(True) for k, v in layer.named_parameters()}
    xd = x.double()
    h_i = xd @ ps["inhib.ie.weight"].T
    i_sub = h_i @ ps["weight_ei"].T
    d = (h_i * ps["gain_i"]) @ ps["weight_ei"].T
    d_fwd, valid = _np_stab(d.detach().numpy())
    d_t = d + (torch.from_numpy(d_fwd) - d.detach())
    cur = ps["gain_e"] * (xd @ ps["ee.weight"].T - i_sub) / d_t
    cur = torch.where(torch.from_numpy(valid)[:, None], cur, torch.zeros_like(cur)) + ps["bias_e"]
    (cur * c).sum().backward()
    g = _grads(layer, x.unsqueeze(0), c.float().unsqueeze(0))
    for k, p in ps.items():
        ref = p.grad / 6 if k == "weight_ei" else p.grad
        torch.testing.assert_close(g[k].double(), ref, rtol=1e-4, atol=1e-5)


def test_scale_grad():
    x = torch.randn(5, requires_grad=True)
    y = scale_grad(x, 0.25)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.equal(x.grad, torch.full((5,), 0.25))


# -- Dale's law ------------------------------------------------------------------------------


def test_dale_law_holds_after_every_step_with_huge_lr():
    from models.base import apply_constraints
    from models.ei_arch import build_ei_mlp

    torch.manual_seed(0)
    net = build_ei_mlp([1, 4, 4], 3, hidden=[8, 8])
    opt = torch.optim.SGD(net.parameters(), lr=1e4)
    x = torch.rand(2, 6, 1, 4, 4)
    y = torch.randint(0, 3, (6,))
    saw_negative_bias = False
    for _ in range(5):
        opt.zero_grad()
        out = net(x)
        torch.nn.functional.cross_entropy(out.mean(0), y).backward()
        opt.step()
        apply_constraints(net)
        for m in net.modules():
            if hasattr(m, "dale_parameters"):
                for p in m.dale_parameters():
                    assert (p >= 0).all()
                saw_negative_bias |= (not m.readout) and bool((m.bias_e < 0).any())
    assert saw_negative_bias  # b_E is free


def test_forward_enforces_dale_law_on_negative_stored_weights():
    layer = EILinear(5, 4)
    _randomise(layer)
    x = torch.rand(1, 3, 5)
    ref = layer(x)
    with torch.no_grad():
        for p in layer.dale_parameters():
            p.sub_(10.0 * (torch.rand(p.shape) < 0.3))  # some entries far below zero
        clamped = EILinear(5, 4)
        clamped.load_state_dict(layer.state_dict())
        clamped.apply_constraints()
    torch.testing.assert_close(layer(x), clamped(x))
    assert not torch.equal(layer(x), ref)


# -- E-I Init ----------------------------------------------------------------------------------


def test_ei_init_bernoulli_golden_values():
    """For Bernoulli(p) spikes: λ = sqrt(d(2-p)/(1-p)), g_I = sqrt((2-p)/(d p)) (TECHNIQUES.md)."""
    p, d = 0.2, 400
    s = EIInitStats.bernoulli(p)
    assert 1.0 / s.exp_scale(d) == pytest.approx(math.sqrt(d * (2 - p) / (1 - p)))
    assert s.gain_i(d) == pytest.approx(math.sqrt((2 - p) / (d * p)))
    torch.manual_seed(0)
    layer = EILinear(d, 256)
    x = (torch.rand(4, 512, d) < p).float()
    layer(x)
    assert bool(layer.initialised)
    lam = math.sqrt(d * (2 - p) / (1 - p))
    w = layer.ee.weight.detach()
    assert float(w.mean()) == pytest.approx(1 / lam, rel=0.02)  # exponential: mean = std
    assert float(w.std()) == pytest.approx(1 / lam, rel=0.03)
    assert float(layer.inhib.ie.weight.detach().mean()) == pytest.approx(1 / lam, rel=0.05)
    torch.testing.assert_close(layer.weight_ei, torch.full((256, 64), 1 / 64))
    g = math.sqrt((2 - p) / (d * p))
    torch.testing.assert_close(layer.gain_i, torch.full((64,), g), rtol=0.02, atol=0.0)
    assert torch.equal(layer.gain_e, torch.ones(256)) and torch.equal(
        layer.bias_e, torch.zeros(256)
    )


def test_conv_init_stats_count_padding():
    x = torch.rand(64, 3, 1, 1)  # 1x1 maps: a 3x3 kernel with padding 1 sees 8/9 zeros
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    s, plain = input_stats(x, conv), input_stats(x)
    assert s.mean == pytest.approx(plain.mean / 9)
    assert s.mean_sq == pytest.approx(plain.mean_sq / 9)
    assert s.var == pytest.approx(plain.var / 9)
    one = torch.nn.Conv2d(3, 4, 1)
    x = torch.rand(16, 3, 5, 5)
    s1, flat = input_stats(x, one), input_stats(x.permute(0, 2, 3, 1).reshape(16, 25, 3))
    assert s1.mean == pytest.approx(flat.mean) and s1.mean_sq == pytest.approx(flat.mean_sq)
    # 1x1 conv: per-(channel, pixel) variance over samples, averaged
    assert s1.var == pytest.approx(float(x.double().var(0).mean()))


def test_initialised_flag_survives_checkpoint_and_prevents_reinit():
    torch.manual_seed(0)
    a = EILinear(10, 8)
    x = (torch.rand(1, 32, 10) < 0.3).float()
    a(x)
    state = a.state_dict()
    assert "initialised" in state and bool(state["initialised"])
    b = EILinear(10, 8)
    b.load_state_dict(state)
    before = {k: v.clone() for k, v in b.state_dict().items()}
    b((torch.rand(1, 32, 10) < 0.9).float())  # very different statistics
    for k, v in b.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_kaiming_ablations():
    torch.manual_seed(0)
    x = (torch.rand(1, 64, 50) < 0.3).float()
    kc = EILinear(50, 40, config={"init": "kaiming_clamped"})
    kc(x)
    assert (kc.ee.weight == 0).float().mean() > 0.3  # clamped half-normal
    torch.testing.assert_close(kc.weight_ei, torch.full((40, 10), 0.1))
    k = EILinear(50, 40, config={"init": "kaiming"})
    k(x)
    assert (k.weight_ei == 0).any() and k.weight_ei.std() > 0
    assert all((p >= 0).all() for p in k.dale_parameters())


def test_config_validation():
    for bad in (
        {"init": "xavier"},
        {"stabilization": "eps"},
        {"stabilization": ("fixed", 0.0)},
        {"stabilization": ("fixed",)},
        {"error_centring": "middle"},
        {"ei_ratio": 0},
        {"unknown": 1},
    ):
        with pytest.raises(ValueError):
            EIConfig.from_dict(bad)
    assert EIConfig.from_dict({"stabilization": ["fixed", 1e-3]}).eps == 1e-3


def _centred_and_plain(layer_cls, args, mode, x):
    """A layer with error centring and a plain copy of its (E-I initialised) state, both
    backpropagated from the same random upstream error; returns (centred, plain, r)."""
    layer = layer_cls(*args, config={"error_centring": mode})
    out = layer(x)
    plain = layer_cls(*args)
    plain.load_state_dict(layer.state_dict(), strict=False)
    out_plain = plain(x)
    torch.testing.assert_close(out, out_plain)  # identity forward
    r = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * r).sum().backward()
    (out_plain * r).sum().backward()
    return layer, plain, r


def _param_grads(m):
    return {n: p.grad for n, p in m.named_parameters()}


@pytest.mark.parametrize("mode", ["center", "lateral"])
def test_error_centring_reaches_the_excitatory_weights_only(mode):
    """Dense, derived by hand: W_EE's gradient is Σ_n centre(γ_n) x_n^T with γ = δ g_E / D the
    error at I_EE; every other parameter (inhibitory pathway, g_E, b_E) gets the plain error."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 12) + 0.05  # [T, B, d], positive: D > 0 in every sample
    layer, plain, r = _centred_and_plain(EILinear, (12, 8), mode, x)
    centred, reference = _param_grads(layer), _param_grads(plain)
    for name in reference:
        if name != "ee.weight":
            torch.testing.assert_close(centred[name], reference[name], msg=name)
    xm = x.reshape(-1, 12).double()
    h_i = xm @ layer.inhib.ie.weight.double().T
    d = (layer.gain_i.double() * h_i) @ layer.weight_ei.double().T
    gamma = r.reshape(-1, 8).double() * layer.gain_e.double() / d
    w = torch.full((8,), 1 / 8) if mode == "center" else layer.centring.lateral_weight
    gamma_hat = gamma - (gamma * w.double()).sum(-1, keepdim=True)
    expected = gamma_hat.T @ xm
    torch.testing.assert_close(centred["ee.weight"].double(), expected, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(reference["ee.weight"].double(), expected)  # centring changed it


@pytest.mark.parametrize("mode", ["center", "lateral"])
def test_error_centring_inside_ei_conv_layer(mode):
    torch.manual_seed(0)
    x = (torch.rand(2, 3, 2, 4, 4) < 0.5).float()
    layer, plain, _ = _centred_and_plain(EIConv2d, (2, 8, 3, 1, 1), mode, x)
    centred, reference = _param_grads(layer), _param_grads(plain)
    for name in ("inhib.ie.weight", "weight_ei", "gain_i", "gain_e", "bias_e"):
        torch.testing.assert_close(centred[name], reference[name], msg=name)
    assert not torch.allclose(centred["ee.weight"], reference["ee.weight"])
    assert "centring.lateral_weight" in layer.state_dict() or mode == "center"
