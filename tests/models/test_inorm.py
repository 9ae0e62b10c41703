"""I-Norm layers: init (SVD divisive path), stop-gradients, local loss, variants."""

from __future__ import annotations

import math

import pytest
import torch

from models.architectures import build_model
from models.base import apply_constraints, collect_extra_losses
from models.inorm import DANNDense, INormDense, inorm_local_loss


def test_init_structure():
    torch.manual_seed(0)
    layer = INormDense(60, 40)
    assert layer.n_i == 4
    w_ex, w_ix, w_ei = layer.w_ex.detach(), layer.w_ix.detach(), layer.w_ei
    torch.testing.assert_close(w_ix, w_ex.mean(0, keepdim=True).expand(4, 60))
    torch.testing.assert_close(w_ei.sum(1), torch.ones(40))
    assert (w_ex > 0).all() and (w_ei > 0).all()
    torch.testing.assert_close(layer.b_ei, torch.full((40, 40), 1 / 40))
    # B_IX = diag(S) V^T of W = W_EX - W_EI W_IX  =>  B_IX^T B_IX = W^T W (d >= n_E)
    w = (w_ex - w_ei @ w_ix).double()
    b = layer.b_ix.detach().double()
    torch.testing.assert_close(b.T @ b, w.T @ w, rtol=1e-4, atol=1e-6)
    # so the divisive population is the RMS of W x over the units
    x = torch.rand(5, 60)
    _, _, z_d = layer.populations(x)
    ref = torch.sqrt((x.double() @ w.T).square().mean(-1) + 1e-5)
    torch.testing.assert_close(z_d[:, 0].double(), ref, rtol=1e-4, atol=1e-6)


def test_lognormal_init_moments():
    torch.manual_seed(0)
    d, n_e = 400, 300
    layer = DANNDense(d, n_e)
    s_w = math.sqrt(2 * n_e / (d * (n_e - 1)))
    w = layer.w_ex.detach()
    assert float(w.mean()) == pytest.approx(s_w, rel=0.02)
    assert float(w.std()) == pytest.approx(s_w, rel=0.05)


def test_svd_init_when_fan_in_below_width():
    torch.manual_seed(0)
    layer = INormDense(8, 20)
    assert layer.b_ix.shape == (20, 8) and torch.equal(layer.b_ix[8:], torch.zeros(12, 8))


def test_stop_gradients_and_local_loss():
    torch.manual_seed(0)
    layer = INormDense(30, 20, grad_norm="center")
    x = torch.rand(6, 30, requires_grad=True)
    out = layer(x)
    local = layer.extra_loss()
    assert layer.extra_loss() is None  # cleared
    # the local loss reaches only W_IX and B_IX, never the input
    grads = torch.autograd.grad(
        local, [layer.w_ix, layer.b_ix, layer.w_ex, layer.bias, x], allow_unused=True
    )
    assert grads[0] is not None and grads[1] is not None
    assert all(g is None for g in grads[2:])
    # the task loss never reaches the inhibitory weights
    task = (out * torch.randn(out.shape)).sum()
    grads = torch.autograd.grad(
        task, [layer.w_ix, layer.b_ix, layer.w_ex, layer.bias, x], allow_unused=True
    )
    assert grads[0] is None and grads[1] is None
    assert all(g is not None for g in grads[2:])
    # value: independent computation
    with torch.no_grad():
        h_e, i_sub, z_d = layer.populations(x)
        v = (h_e - i_sub) / z_d
        ref = 100.0 * ((v.mean(-1) ** 2) + (v.var(-1, unbiased=False) - 1) ** 2).mean()
    torch.testing.assert_close(local, ref)


def test_forward_value():
    torch.manual_seed(0)
    layer = INormDense(12, 10)
    x = torch.rand(4, 12)
    with torch.no_grad():
        h_e = x @ layer.w_ex.T + layer.bias
        i_sub = (x @ layer.w_ix.T) @ layer.w_ei.T
        z_d = torch.sqrt(((x @ layer.b_ix.T) ** 2) @ layer.b_ei.T + 1e-5)
        ref = torch.relu((h_e - i_sub) / z_d)
    torch.testing.assert_close(layer(x), ref)


def test_local_loss_is_silent_in_eval_and_no_grad():
    layer = INormDense(12, 10)
    layer.eval()
    layer(torch.rand(3, 12))
    assert layer.extra_loss() is None
    layer.train()
    with torch.no_grad():
        layer(torch.rand(3, 12))
    assert layer.extra_loss() is None


def test_local_loss_training_normalises_pre_activations():
    """A few SGD steps on the local loss alone bring (mean, var) of v towards (0, 1)."""
    torch.manual_seed(0)
    layer = INormDense(50, 40)
    x = torch.rand(256, 50) + 0.5  # a brightness shift the init did not see
    opt = torch.optim.SGD([layer.w_ix, layer.b_ix], lr=1e-3)
    first = None
    for _ in range(200):
        opt.zero_grad()
        layer(x)
        loss = layer.extra_loss()
        first = float(loss.detach()) if first is None else first
        loss.backward()
        opt.step()
        layer.apply_constraints()
    assert float(loss.detach()) < 0.1 * first
    assert (layer.w_ix >= 0).all()


@pytest.mark.parametrize(
    "opts",
    [
        {"variant": "inorm"},
        {"variant": "inorm", "grad_norm": "lateral"},
        {"variant": "ln"},
        {"variant": "dann"},
    ],
)
def test_inorm_mlp_variants(opts):
    torch.manual_seed(0)
    net = build_model(
        {"arch": "inorm_mlp", "in_shape": [1, 6, 6], "num_classes": 10, "hidden": [24, 24], **opts}
    )
    x = torch.rand(1, 5, 1, 6, 6)
    out = net(x)
    assert out.shape == (1, 5, 10)
    extra = collect_extra_losses(net)
    assert (extra is not None) == (opts["variant"] == "inorm")
    loss = out.sum() + (extra if extra is not None else 0)
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p.sub_(100.0)
    apply_constraints(net)
    for name, p in net.named_parameters():
        if "w_" in name:
            assert (p >= 0).all(), name


def test_ln_variant_normalises():
    net = build_model(
        {"arch": "inorm_mlp", "in_shape": [10], "num_classes": 3, "hidden": [16], "variant": "ln"}
    )
    h = net[:3](torch.rand(1, 8, 10) * 5)  # Flatten, DANNDense, LayerNorm
    torch.testing.assert_close(h.mean(-1), torch.zeros(1, 8), atol=1e-5, rtol=0)


def test_bad_options():
    with pytest.raises(ValueError):
        build_model({"arch": "inorm_mlp", "in_shape": [4], "num_classes": 2, "variant": "bn"})
    with pytest.raises(ValueError):
        build_model(
            {
                "arch": "inorm_mlp",
                "in_shape": [4],
                "num_classes": 2,
                "variant": "ln",
                "grad_norm": "center",
            }
        )
    assert float(inorm_local_loss(torch.tensor([[1.0, -1.0]]), 1.0)) == pytest.approx(0.0)
