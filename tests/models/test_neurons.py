"""LIF dynamics: golden values derived by hand, a differential test against Norse's LIF, and
the step-mode / online contracts."""

import math

import pytest
import torch
from norse.torch.functional.lif_box import (
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    lif_box_feed_forward_step,
)
from norse.torch.functional.reset import reset_subtract, reset_value

from models import LIF, reset_states, set_step_mode


def test_golden_soft_reset_constant_input():
    # tau = 2 -> a = 0.5; I = 0.6 every step, theta = 1:
    # H0 = 0.6 (V0 = 0.6); H1 = 0.3 + 0.6 = 0.9 (V1 = 0.9); H2 = 0.45 + 0.6 = 1.05 -> spike,
    # V2 = 0.05; H3 = 0.025 + 0.6 = 0.625; H4 = 0.3125 + 0.6 = 0.9125; H5 = 1.05625 -> spike.
    lif = LIF(tau=2.0, threshold=1.0, reset="soft")
    s = lif(torch.full((6, 1), 0.6, dtype=torch.float64)).squeeze(1).tolist()
    assert s == [0, 0, 1, 0, 0, 1]


def test_golden_hard_reset_and_tie_spikes():
    # Hard reset: H2 = 1.05 spikes, V2 = 0, then H3 = 0.6, H4 = 0.9, H5 = 1.05 -> spike.
    lif = LIF(tau=2.0, threshold=1.0, reset="hard")
    s = lif(torch.full((6, 1), 0.6, dtype=torch.float64)).squeeze(1).tolist()
    assert s == [0, 0, 1, 0, 0, 1]
    # Theta(0) = 1: H == theta spikes.
    tie = LIF(tau=2.0, threshold=1.0)(torch.ones(1, 1))
    assert tie.item() == 1.0


def test_per_step_threshold_schedule():
    # I = 1 each step, tau = 2, soft reset, theta = [2, 0.5, 3]:
    # H0 = 1 < 2 (V0 = 1); H1 = 0.5 + 1 = 1.5 >= 0.5 spike, V1 = 1.0; H2 = 0.5 + 1 = 1.5 < 3.
    lif = LIF(tau=2.0, threshold=[2.0, 0.5, 3.0], reset="soft")
    s = lif(torch.ones(3, 1, dtype=torch.float64)).squeeze(1).tolist()
    assert s == [0, 1, 0]
    with pytest.raises(ValueError, match="past the threshold schedule"):
        lif(torch.ones(4, 1))


@pytest.mark.parametrize("reset", ["soft", "hard"])
@pytest.mark.parametrize("tau", [2.0, 5.0])
def test_matches_norse_lif_box(reset, tau):
    # Norse's box LIF: v' = v + dt/tau_m (I_n - v) -> v' = (1 - 1/tau) v + I_n / tau with
    # dt/tau_m = 1/tau. Ours: H = (1 - 1/tau) V + I, so I = I_n / tau. Norse spikes on v > th,
    # ours on H >= th: ties have probability zero on random float64 inputs.
    torch.manual_seed(0)
    T, B, N = 25, 8, 50
    x_n = torch.rand(T, B, N, dtype=torch.float64) * 3.0
    p = LIFBoxParameters(
        tau_mem_inv=torch.as_tensor(1.0 / tau, dtype=torch.float64),
        v_th=torch.as_tensor(1.0, dtype=torch.float64),
        method="heaviside",
        reset_method=reset_subtract if reset == "soft" else reset_value,
    )
    state = LIFBoxFeedForwardState(v=torch.zeros(B, N, dtype=torch.float64))
    ref = []
    for t in range(T):
        z, state = lif_box_feed_forward_step(x_n[t], state, p, dt=1.0)
        ref.append(z)
    ref = torch.stack(ref)
    ours = LIF(tau=tau, threshold=1.0, reset=reset)(x_n / tau)
    assert ref.sum() > 0
    assert torch.equal(ours, ref)


def test_single_step_mode_equals_multi_step():
    torch.manual_seed(1)
    x = torch.randn(7, 3, 11)
    lif = LIF(threshold=0.5)
    multi = lif(x)
    set_step_mode(lif, "s")
    reset_states(lif)
    single = torch.stack([lif(x[t]) for t in range(7)])
    assert torch.equal(multi, single)
    reset_states(lif)
    assert lif.v is None and lif.t == 0


def test_online_lif_has_no_gradient_through_time():
    x = (torch.ones(2, 1, 4) * 0.7).requires_grad_()
    for online, expect_zero in ((True, True), (False, False)):
        lif = LIF(online=online, surrogate="atan")
        s = lif(x)
        (g,) = torch.autograd.grad(s[1].sum(), x)
        assert torch.all(g[0] == 0) == expect_zero
        assert torch.all(g[1] != 0)


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="reset"):
        LIF(reset="zero")
    with pytest.raises(ValueError, match="tau"):
        LIF(tau=0.5)
    with pytest.raises(ValueError, match="threshold"):
        LIF(threshold=math.nan)
