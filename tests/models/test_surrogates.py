"""Surrogate gradients: exact Heaviside forward, analytic pseudo-derivatives backward."""

import math

import pytest
import torch

from models.surrogates import SURROGATES, get_surrogate

X = torch.linspace(-2.0, 2.0, 81, dtype=torch.float64)


def analytic(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "sigmoid":  # alpha = 4
        s = 1.0 / (1.0 + torch.exp(-4.0 * x))
        return 4.0 * s * (1.0 - s)
    if name == "atan":  # alpha = 2
        return 1.0 / (1.0 + (math.pi * x) ** 2)
    if name == "triangle":  # width = 1
        return torch.clamp(1.0 - x.abs(), min=0.0)
    if name == "boxcar":  # width = 0.5: 1 on [-0.5, 0.5)
        return ((x >= -0.5) & (x < 0.5)).to(x.dtype)
    if name == "softsign":  # alpha = 2: 2 / (2 (1 + 2|x|)^2)
        return 1.0 / (1.0 + 2.0 * x.abs()) ** 2
    raise KeyError(name)


@pytest.mark.parametrize("name", ["sigmoid", "atan", "triangle", "boxcar", "softsign"])
def test_forward_is_heaviside_and_backward_is_analytic(name):
    x = X.clone().requires_grad_()
    s = get_surrogate(name)(x)
    assert torch.equal(s, (X >= 0).to(X.dtype))  # Theta(0) = 1
    (g,) = torch.autograd.grad(s.sum(), x)
    assert torch.allclose(g, analytic(name, X), atol=1e-12)


@pytest.mark.parametrize("name", ["triangle", "boxcar"])
def test_piecewise_surrogates_have_unit_area(name):
    x = torch.linspace(-3, 3, 600001, dtype=torch.float64).requires_grad_()
    (g,) = torch.autograd.grad(get_surrogate(name)(x).sum(), x)
    assert abs(float(g.sum() * (6 / 600000)) - 1.0) < 1e-3


@pytest.mark.parametrize("alpha", [0.5, 2.0, 5.0])
def test_softsign_is_the_derivative_of_its_primitive(alpha):
    """SoftSign's pseudo-derivative is autograd's derivative of ``(αx/(1+α|x|) + 1)/2`` (away
    from the kink at 0), so its area over the real line is 1."""
    x = X[X != 0].clone().requires_grad_()
    primitive = 0.5 * (alpha * x / (1.0 + alpha * x.abs()) + 1.0)
    (expected,) = torch.autograd.grad(primitive.sum(), x)
    x2 = X[X != 0].clone().requires_grad_()
    (g,) = torch.autograd.grad(get_surrogate("softsign", alpha=alpha)(x2).sum(), x2)
    torch.testing.assert_close(g, expected, rtol=1e-12, atol=1e-12)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as err:
        get_surrogate("relu")
    for name in SURROGATES:
        assert name in str(err.value)


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="alpha"):
        get_surrogate("sigmoid", alpha=0.0)
    with pytest.raises(TypeError):
        get_surrogate("sigmoid", width=1.0)
