"""GradNorm: identity forward; every mode's backward against the explicit formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from models.gradnorm import GRADNORM_MODES, GradNorm, grad_norm


def _explicit(delta: np.ndarray, z: np.ndarray, mode: str, w: np.ndarray | None) -> np.ndarray:
    """Row by row, unit by unit, from TECHNIQUES.md section 3 (float64)."""
    out = np.empty_like(delta)
    for r in range(delta.shape[0]):
        d, zz = delta[r], z[r]
        n = d.size
        mean_d = sum(d) / n
        mu = sum(zz) / n
        s = np.sqrt(sum((v - mu) ** 2 for v in zz) / n + 1e-5)
        dot = sum(d[k] * zz[k] for k in range(n))
        pooled = sum(w[k] * d[k] for k in range(n)) if w is not None else None
        for i in range(n):
            out[r, i] = {
                "full": (d[i] - mean_d - zz[i] * dot / n) / s,
                "center": d[i] - mean_d,
                "scale": d[i] / s,
                "decorrelate": d[i] - zz[i] * dot / n,
                "lateral": d[i] - pooled if pooled is not None else np.nan,
                "none": d[i],
            }[mode]
    return out


@pytest.mark.parametrize("mode", GRADNORM_MODES)
def test_backward_equals_explicit_formula(mode):
    torch.manual_seed(0)
    gn = GradNorm(7, mode)
    z = (torch.randn(5, 7, dtype=torch.float64) * 3 + 1).requires_grad_(True)
    delta = torch.randn(5, 7, dtype=torch.float64)
    out = gn(z)
    assert torch.equal(out, z)
    out.backward(delta)
    w = gn.lateral_weight.double().numpy() if mode == "lateral" else None
    ref = _explicit(delta.numpy(), z.detach().numpy(), mode, w)
    np.testing.assert_allclose(z.grad.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_full_mode_is_layernorm_backward_at_standardised_input():
    """At ``mean z = 0``, ``var z = 1`` the ``full`` backward is autograd's LayerNorm backward up
    to the ``1 + 1e-5`` of ``s^2`` (the reference uses raw ``z`` in the decorrelation term)."""
    torch.manual_seed(1)
    z = torch.randn(4, 32, dtype=torch.float64)
    z = (z - z.mean(-1, keepdim=True)) / z.std(-1, unbiased=False, keepdim=True)
    delta = torch.randn(4, 32, dtype=torch.float64)
    a = z.clone().requires_grad_(True)
    grad_norm(a, "full").backward(delta)
    b = z.clone().requires_grad_(True)
    F.layer_norm(b, (32,), eps=1e-5).backward(delta)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)


def test_conv_dim_normalises_over_channels_per_pixel():
    torch.manual_seed(2)
    gn = GradNorm(6, "center", dim=1)
    z = torch.randn(2, 6, 3, 3, requires_grad=True)
    delta = torch.randn(2, 6, 3, 3)
    gn(z).backward(delta)
    torch.testing.assert_close(z.grad, delta - delta.mean(1, keepdim=True))


def test_lateral_weights_are_fixed_positive_normalised_and_saved():
    gn = GradNorm(50, "lateral")
    w = gn.lateral_weight
    assert (w > 0).all() and float(w.sum()) == pytest.approx(1.0)
    other = GradNorm(50, "lateral")
    other.load_state_dict(gn.state_dict())
    assert torch.equal(other.lateral_weight, w)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**31 - 1))
def test_center_and_lateral_remove_the_pooled_error(n, seed):
    g = torch.Generator().manual_seed(seed)
    delta = torch.randn(3, n, generator=g, dtype=torch.float64)
    z = torch.randn(3, n, generator=g, dtype=torch.float64, requires_grad=True)
    grad_norm(z, "center").backward(delta)
    assert torch.allclose(z.grad.sum(-1), torch.zeros(3, dtype=torch.float64), atol=1e-10)
    u = torch.rand(n, generator=g, dtype=torch.float64)
    w = u / u.sum()
    z.grad = None
    grad_norm(z, "lateral", w).backward(delta)
    assert torch.allclose(z.grad @ w, torch.zeros(3, dtype=torch.float64), atol=1e-10)


def test_lateral_approaches_center_as_width_grows():
    """Theorem 1: ``sum_k w_k δ_k -> mean δ`` for ``w = u / sum u``; the relative distance of
    ``lateral`` to ``center`` falls like ``1/sqrt(n)``."""
    g = torch.Generator().manual_seed(0)
    errs = []
    widths = [10, 100, 1000, 10000]
    for n in widths:
        e = []
        for _ in range(20):
            delta = torch.rand(8, n, generator=g, dtype=torch.float64) + 0.5  # mean far from 0
            u = torch.rand(n, generator=g, dtype=torch.float64)
            lat = delta - delta @ (u / u.sum())[:, None]
            cen = delta - delta.mean(-1, keepdim=True)
            e.append(float((lat - cen).norm() / delta.norm()))
        errs.append(sum(e) / len(e))
    assert all(a > b for a, b in zip(errs, errs[1:]))
    for n, e in zip(widths, errs):  # ~ c / sqrt(n) within a factor 2 of the n = 100 constant
        c = errs[1] * 10
        assert c / 2 < e * np.sqrt(n) < c * 2
    assert errs[-1] < 0.01


def test_bad_arguments():
    with pytest.raises(ValueError):
        GradNorm(4, "mean")
    with pytest.raises(ValueError):
        grad_norm(torch.zeros(2, 4), "lateral")
    with pytest.raises(ValueError):
        GradNorm(4, "center")(torch.zeros(2, 5))
