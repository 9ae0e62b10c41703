"""Tests of toolchain.encoding: direct and Poisson encoders, brightness-shift augmentation.

Statistical bounds are derived from the binomial (or uniform) standard deviation of the
estimate, at 5 sigma; the generators are seeded, so each check is deterministic and a failure
means a wrong rate, not bad luck (P(|z| > 5) ~ 6e-7 for any seed).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.errors import ConfigError, DataError
from toolchain.encoding import ENCODERS, brightness_shift, direct, get_encoder, rate


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_direct_repeats_the_image():
    x = torch.rand(3, 1, 4, 4, generator=_gen(0))
    out = direct(x, 5)
    assert out.shape == (5, 3, 1, 4, 4)
    for t in range(5):
        assert torch.equal(out[t], x)


def test_rate_values_shape_and_extremes():
    x = torch.tensor([[0.0, 1.0, 0.3]])
    out = rate(x, 50, generator=_gen(0))
    assert out.shape == (50, 1, 3) and out.dtype == x.dtype
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    # u ~ U[0, 1): u < 0 never holds and u < 1 always does, so the rates are exact.
    assert out[:, 0, 0].sum() == 0 and out[:, 0, 1].sum() == 50


def test_rate_matches_intensity():
    """Mean over n = T*pixels Bernoulli(p) draws: |mean - p| <= 5 sqrt(p (1-p) / n)."""
    p = torch.linspace(0.0, 1.0, 11)
    pixels, T = 1000, 20
    x = p[:, None].expand(11, pixels).contiguous()
    out = rate(x, T, generator=_gen(1))
    mean = out.mean(dim=(0, 2))
    n = T * pixels
    bound = 5 * torch.sqrt(p * (1 - p) / n)
    assert torch.all((mean - p).abs() <= bound + 1e-7), (mean, p)
    # Steps are independent draws: for p = 1/2, P(X[t] == X[t+1]) = 1/2.
    half = out[:, 5]
    agree = (half[1:] == half[:-1]).float().mean().item()
    m = (T - 1) * pixels
    assert abs(agree - 0.5) <= 5 * math.sqrt(0.25 / m)


def test_rate_reproducible_with_generator():
    x = torch.full((4, 1, 8, 8), 0.4)
    assert torch.equal(rate(x, 7, _gen(3)), rate(x, 7, _gen(3)))
    assert not torch.equal(rate(x, 7, _gen(3)), rate(x, 7, _gen(4)))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_rate_rejects_non_probabilities(bad):
    x = torch.tensor([0.2, bad])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        rate(x, 3)


def test_get_encoder_and_bad_steps():
    assert get_encoder("direct") is direct and get_encoder("rate") is rate
    assert get_encoder("poisson") is rate  # the old spelling of rate coding is still read
    with pytest.raises(ConfigError) as exc:
        get_encoder("latency")
    assert all(name in str(exc.value) for name in ENCODERS)
    for enc in (direct, rate):
        for bad in (0, -1, 2.0, True):
            with pytest.raises(ConfigError, match="T"):
                enc(torch.zeros(2), bad)


def test_brightness_zero_is_identity():
    x = torch.rand(5, 1, 3, 3, generator=_gen(0))
    out = brightness_shift(x, 0.0, generator=_gen(1))
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


def test_brightness_one_shift_per_image_and_distribution():
    """Mid-grey images (0.5) with eps = 0.25 never clamp, so out - 0.5 is Δ itself."""
    n, eps = 4000, 0.25
    x = torch.full((n, 2, 3, 3), 0.5)
    out = brightness_shift(x, eps, generator=_gen(2))
    delta = out - 0.5
    per_image = delta.reshape(n, -1)
    assert torch.equal(per_image, per_image[:, :1].expand_as(per_image))  # one Δ per image
    d = per_image[:, 0]
    assert d.min() >= -eps and d.max() <= eps
    # U(-eps, eps): mean 0, variance eps^2/3; the sample mean's std is eps/sqrt(3n).
    assert abs(d.mean().item()) <= 5 * eps / math.sqrt(3 * n)
    var_std = math.sqrt((eps**4 / 5 - eps**4 / 9) / n)  # std of the sample variance estimate
    assert abs(d.var().item() - eps**2 / 3) <= 5 * var_std
    assert d.min() < -0.9 * eps and d.max() > 0.9 * eps  # the whole range is used


def test_brightness_clamps_and_matches_reference():
    # Image b holds 0, 1 and 0.5: the mid pixel reveals Δ_b (|Δ| <= 0.45 cannot clamp 0.5 +
    # Δ), and the extremes must equal the independently clamped clamp(x + Δ_b, 0, 1).
    eps = 0.45
    x = torch.tensor([0.0, 1.0, 0.5]).repeat(500, 1)
    out = brightness_shift(x, eps, generator=_gen(5))
    delta = out[:, 2:3] - 0.5
    assert torch.allclose(out, (x + delta).clamp(0, 1), atol=1e-6)
    assert (out[:, 0] == 0).any() and (out[:, 1] == 1).any() and (out[:, 0] > 0).any()
    assert torch.equal(out, brightness_shift(x, eps, generator=_gen(5)))


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(0, 1), min_size=2, max_size=40),
    eps=st.floats(0, 2),
    seed=st.integers(0, 2**31),
)
def test_brightness_property_bounds(values, eps, seed):
    x = torch.tensor(values, dtype=torch.float32).reshape(-1, 1)  # one pixel per image
    out = brightness_shift(x, eps, generator=_gen(seed))
    assert out.min() >= 0 and out.max() <= 1
    assert ((out - x).abs() <= eps + 1e-6).all()


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan")])
def test_brightness_bad_eps(bad):
    with pytest.raises(ConfigError, match="eps"):
        brightness_shift(torch.zeros(2, 3), bad)
