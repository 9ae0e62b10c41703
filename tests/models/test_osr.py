"""OSR: eval affine, running-statistics forward, batch-renorm backward, statistics, step modes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.base import finish_sequences, reset_states, set_step_mode
from models.osr import OSR

C = 3


def _trained_osr(seed: int = 0) -> OSR:
    """An OSR with non-trivial γ, β and running statistics (one tracked sequence)."""
    g = torch.Generator().manual_seed(seed)
    osr = OSR(C)
    with torch.no_grad():
        osr.weight.copy_(torch.rand(C, generator=g) + 0.5)
        osr.bias.copy_(torch.randn(C, generator=g))
        osr.running_mean.copy_(torch.randn(C, generator=g))
        osr.running_var.copy_(torch.rand(C, generator=g) + 0.5)
        osr.num_batches_tracked.fill_(1)
    return osr


def _data(shape, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    # per-channel offsets and scales of the same order as the running statistics
    x = torch.randn(*shape, generator=g, dtype=dtype)
    return x * 1.3 + 0.4


def test_eval_is_one_fixed_affine_per_channel():
    osr = _trained_osr().eval()
    x = _data((4, 5, C, 6, 6))  # [T, B, C, H, W]
    y = osr(x)
    # independent computation from the buffers, in float64
    w, b = osr.weight.double(), osr.bias.double()
    m, v = osr.running_mean.double(), osr.running_var.double()
    scale = (w / torch.sqrt(v + osr.eps)).view(1, 1, C, 1, 1)
    shift = (b - m * w / torch.sqrt(v + osr.eps)).view(1, 1, C, 1, 1)
    torch.testing.assert_close(y.double(), x.double() * scale + shift, rtol=1e-5, atol=1e-5)
    # fixed: a sample's output does not depend on the rest of the batch or on the step
    torch.testing.assert_close(osr(x[:1, :1]), y[:1, :1])
    s, t = osr.affine()
    torch.testing.assert_close(s.double(), scale.flatten(), rtol=1e-6, atol=0)
    torch.testing.assert_close(t.double(), shift.flatten(), rtol=1e-5, atol=1e-6)
    # and eval never touches the statistics
    before = osr.running_mean.clone()
    finish_sequences(osr)
    assert torch.equal(before, osr.running_mean)


def test_train_forward_uses_running_stats():
    osr = _trained_osr().train()
    x = _data((2, 8, C, 4, 4))
    y = osr(x)
    osr.eval()
    torch.testing.assert_close(y, osr(x), rtol=1e-5, atol=1e-5)


def _renorm_reference(x, gamma, beta, rmean, rvar, eps):
    """Batch renorm (Ioffe 2017) written out: x̂_B with r, d as numpy constants, float64."""
    dims = (0, 2, 3)
    xn = x.detach().numpy()
    mu_b = xn.mean(axis=dims)
    sd_b = np.sqrt(xn.var(axis=dims) + eps)
    sd_r = np.sqrt(rvar.numpy() + eps)
    r = torch.from_numpy(sd_b / sd_r).view(1, -1, 1, 1)
    d = torch.from_numpy((mu_b - rmean.numpy()) / sd_r).view(1, -1, 1, 1)
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return gamma.view(1, -1, 1, 1) * (x_hat * r + d) + beta.view(1, -1, 1, 1)


def test_backward_equals_batch_renorm():
    osr = _trained_osr().double().train()
    set_step_mode(osr, "s")
    x = _data((6, C, 5, 5), dtype=torch.float64).requires_grad_(True)
    g_out = torch.randn(6, C, 5, 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    y = osr(x)
    (y * g_out).sum().backward()

    gamma = osr.weight.detach().clone().requires_grad_(True)
    beta = osr.bias.detach().clone().requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    y_ref = _renorm_reference(x_ref, gamma, beta, osr.running_mean, osr.running_var, osr.eps)
    (y_ref * g_out).sum().backward()
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(osr.weight.grad, gamma.grad)
    torch.testing.assert_close(osr.bias.grad, beta.grad)

    # closed form: dL/dx = γ/σ̂ (g - mean g - x̂ mean(g x̂)); differs from a plain affine's γ/σ̂ g
    dims = (0, 2, 3)
    mean, var = x.mean(dims, keepdim=True), x.var(dims, unbiased=False, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + osr.eps)
    sd_r = torch.sqrt(osr.running_var + osr.eps).view(1, -1, 1, 1)
    gam = osr.weight.view(1, -1, 1, 1)
    closed = (
        gam / sd_r * (g_out - g_out.mean(dims, True) - x_hat * (g_out * x_hat).mean(dims, True))
    )
    torch.testing.assert_close(x.grad, closed.detach())
    assert not torch.allclose(x.grad, (gam / sd_r * g_out).detach())


def test_fallback_before_first_update_is_batch_norm():
    osr = OSR(C).train()
    with torch.no_grad():
        osr.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        osr.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = _data((2, 8, C, 4, 4)) + 5.0
    y = osr(x)
    for t in range(2):
        ref = F.batch_norm(x[t], None, None, osr.weight, osr.bias, training=True, eps=osr.eps)
        torch.testing.assert_close(y[t], ref, rtol=1e-5, atol=1e-5)


def test_fallback_when_ratio_exceeds_limit():
    osr = _trained_osr().train()
    with torch.no_grad():
        osr.running_var[0] = 1e4  # σ̂/σ_B ≈ 100/1.3 > 20 in channel 0 only
    x = _data((1, 8, C, 4, 4))
    y = osr(x)
    bn = F.batch_norm(x[0], None, None, osr.weight, osr.bias, training=True, eps=osr.eps)
    torch.testing.assert_close(y[0, :, 0], bn[:, 0], rtol=1e-5, atol=1e-5)
    osr.eval()
    torch.testing.assert_close(y[0, :, 1:], osr(x)[0, :, 1:], rtol=1e-5, atol=1e-5)


def test_running_stats_are_all_time_statistics():
    osr = OSR(C, momentum=0.1).train()
    x = _data((5, 4, C, 3, 3)) * torch.tensor([1.0, 2.0, 0.5]).view(1, 1, C, 1, 1)
    osr(x)
    assert int(osr.num_batches_tracked) == 0  # only finish_sequence() updates
    finish_sequences(osr)
    pooled = x.transpose(0, 2).reshape(C, -1).double()  # every (t, b, h, w) of a channel
    torch.testing.assert_close(osr.running_mean.double(), 0.1 * pooled.mean(1), rtol=0, atol=1e-6)
    want_var = 0.9 * 1.0 + 0.1 * pooled.var(1, unbiased=False)
    torch.testing.assert_close(osr.running_var.double(), want_var, rtol=0, atol=1e-6)
    assert int(osr.num_batches_tracked) == 1


def test_reset_state_discards_partial_accumulation():
    osr = OSR(C).train()
    osr(_data((3, 4, C, 2, 2)))
    reset_states(osr)
    finish_sequences(osr)
    assert int(osr.num_batches_tracked) == 0
    assert torch.equal(osr.running_mean, torch.zeros(C))


@pytest.mark.parametrize("tracked", [0, 1])
def test_single_step_mode_matches_multi_step(tracked):
    x = _data((4, 6, C)).requires_grad_(True)  # after a Linear: [T, B, C]
    a, b = _trained_osr(), _trained_osr()
    a.num_batches_tracked.fill_(tracked)
    b.num_batches_tracked.fill_(tracked)
    ya = a(x)
    (ya**2).sum().backward()
    ga = x.grad.clone()
    x.grad = None
    set_step_mode(b, "s")
    yb = torch.stack([b(x[t]) for t in range(4)])
    (yb**2).sum().backward()
    torch.testing.assert_close(ya, yb)
    torch.testing.assert_close(ga, x.grad)
    torch.testing.assert_close(a.weight.grad, b.weight.grad)
    finish_sequences(a)
    finish_sequences(b)
    torch.testing.assert_close(a.running_var, b.running_var)


def test_shape_and_argument_errors():
    osr = OSR(C)
    with pytest.raises(ValueError, match="OSR"):
        osr(torch.zeros(2, 4, C + 1))
    with pytest.raises(ValueError):
        OSR(0)
    with pytest.raises(ValueError):
        OSR(C, momentum=0.0)
