"""OTS: training thresholds θ[t] = μ_t + σ_t r, the per-step running buffer, eval schedule."""

import numpy as np
import pytest
import torch

from models.base import reset_states, set_step_mode
from models.ots import OTSLIF


class Recording(OTSLIF):
    def observe(self, t, h, threshold):
        self.seen.append((h.detach().clone(), float(threshold)))


def _reference(currents: np.ndarray, theta0: float, decay: float, thresholds=None):
    """Soft-reset LIF in numpy; thresholds None → OTS training rule (population std)."""
    v = np.zeros_like(currents[0])
    out, used = [], []
    r = None
    for t, i_t in enumerate(currents):
        h = decay * v + i_t
        if thresholds is None:
            mu, sd = h.mean(), h.std()
            if t == 0:
                r = (theta0 - mu) / sd
            th = mu + sd * r
        else:
            th = thresholds[t]
        s = (h >= th).astype(h.dtype)
        v = h - th * s
        out.append(s)
        used.append(th)
    return np.stack(out), np.array(used)


def _currents(T=4, shape=(8, 5), seed=0):
    g = np.random.default_rng(seed)
    # a drifting mean and growing spread over time, as after a normalisation layer
    return np.stack([g.normal(0.3 * t, 1.0 + 0.5 * t, size=shape) for t in range(T)]).astype(
        np.float64
    )


def test_training_thresholds_follow_mu_plus_sigma_r():
    cur = _currents()
    lif = Recording(T=4, threshold=1.0).double().train()
    lif.seen = []
    s = lif(torch.from_numpy(cur))
    ref_s, ref_th = _reference(cur, 1.0, 0.5)
    got_th = np.array([th for _, th in lif.seen])
    np.testing.assert_allclose(got_th, ref_th, rtol=1e-10)
    assert got_th[0] == pytest.approx(1.0)  # θ[0] = θ₀
    np.testing.assert_array_equal(s.numpy(), ref_s)
    # the running buffer moved 10% of the way from θ₀ = 1 towards each θ[t]
    np.testing.assert_allclose(lif.running_threshold.numpy(), 0.9 + 0.1 * ref_th, rtol=1e-10)


def test_eval_uses_stored_per_step_buffer():
    cur = _currents(T=3, seed=1)
    lif = OTSLIF(T=3, threshold=1.0).double().eval()
    with torch.no_grad():
        lif.running_threshold.copy_(torch.tensor([0.5, 2.0, 1.5]))
    s = lif(torch.from_numpy(cur))
    ref_s, _ = _reference(cur, 1.0, 0.5, thresholds=[0.5, 2.0, 1.5])
    np.testing.assert_array_equal(s.numpy(), ref_s)
    before = lif.running_threshold.clone()
    lif(torch.from_numpy(cur))
    assert torch.equal(before, lif.running_threshold)  # eval never updates it
    assert "running_threshold" in lif.state_dict()


def test_threshold_is_constant_for_autograd():
    cur = torch.from_numpy(_currents()).requires_grad_(True)
    lif = OTSLIF(T=4, surrogate="triangle").double().train()
    lif(cur).sum().backward()
    # gradient = surrogate at (H - θ[t]) only (no path through μ_t, σ_t): it is non-negative
    assert (cur.grad >= 0).all() and cur.grad.abs().sum() > 0


def test_single_step_mode_matches_multi_step():
    cur = torch.from_numpy(_currents(seed=3))
    a = OTSLIF(T=4).double().train()
    b = OTSLIF(T=4).double().train()
    sa = a(cur)
    set_step_mode(b, "s")
    reset_states(b)
    sb = torch.stack([b(cur[t]) for t in range(4)])
    assert torch.equal(sa, sb)
    torch.testing.assert_close(a.running_threshold, b.running_threshold)


def test_zero_spread_at_first_step_uses_base_threshold():
    cur = torch.zeros(2, 3, 4, dtype=torch.float64)
    cur[1] = torch.linspace(-1, 3, 12, dtype=torch.float64).view(3, 4)
    lif = Recording(T=2, threshold=0.75).double().train()
    lif.seen = []
    lif(cur)
    assert [th for _, th in lif.seen] == [0.75, 0.75]
    assert torch.equal(lif.running_threshold, torch.full((2,), 0.75, dtype=torch.float64))


def test_errors():
    lif = OTSLIF(T=2)
    with pytest.raises(ValueError, match="T=2"):
        lif(torch.rand(3, 4, 5))
    with pytest.raises(ValueError):
        OTSLIF(T=0)
    with pytest.raises(ValueError):
        OTSLIF(T=2, threshold=[1.0, 1.0])
