"""DAP keeps activity alive through depth where Kaiming loses it (reduced-size Micheli et al.)."""

import pytest
import torch

from experiments.dap_depth import RESETS, _first_below, propagate


def _membranes(reset, current, steps, leak=0.5, theta=1.0):
    step, initial = RESETS[reset]
    state, out = initial(torch.zeros(1)), []
    for _ in range(steps):
        _, state, u = step(torch.tensor([current]), state, leak, theta)
        out.append(round(float(u), 6))
    return out


def test_reset_conventions_by_hand():
    """Constant input 1.5, β = 0.5, θ = 1. Eq. 13: u = βu + I - θx (the reset is not leaked):
    1.5, 0.75 + 1.5 - 1 = 1.25, 0.625 + 1.5 - 1 = 1.125. spikefold: u = β(u - θx) + I:
    1.5, 0.25 + 1.5 = 1.75, 0.375 + 1.5 = 1.875."""
    assert _membranes("eq13", 1.5, 3) == [1.5, 1.25, 1.125]
    assert _membranes("spikefold", 1.5, 3) == [1.5, 1.75, 1.875]
    # below threshold no reset acts: both are the same leaky integrator
    assert _membranes("eq13", 0.4, 3) == _membranes("spikefold", 0.4, 3) == [0.4, 0.6, 0.7]


DEPTH, WIDTH = 30, 1000


@pytest.mark.parametrize("seed", [0, 1])
def test_first_step_dap_keeps_variance_kaiming_collapses(seed):
    dap = propagate("dap", DEPTH, WIDTH, T=1, batch=2, seed=seed)
    assert float(dap.var_first.min()) >= 0.5 and float(dap.var_first.max()) <= 2.0
    assert dap.last_active_layer() == DEPTH
    kai = propagate("kaiming", DEPTH, WIDTH, T=1, batch=2, seed=seed)
    assert 0 < _first_below(kai.var_first, 1e-2) <= 20
    assert kai.last_active_layer() < 20


@pytest.mark.parametrize("reset", list(RESETS))
def test_multi_step_dap_propagates_kaiming_dies(reset):
    dap = propagate("dap", DEPTH, WIDTH, T=10, batch=2, seed=0, reset=reset)
    assert dap.last_active_layer() == DEPTH
    assert bool((dap.spikes_total > 0).all())
    kai = propagate("kaiming", DEPTH, WIDTH, T=10, batch=2, seed=0, reset=reset)
    assert kai.last_active_layer() < 20
    assert float(kai.spikes_total[-1]) == 0.0


def test_eq13_fires_less_than_the_leaked_reset():
    """An Eq. 13 reset removes θ, the leaked one βθ: with the same weights and inputs, Eq. 13
    spikes less in every layer after the first step, and its membrane variance is lower."""
    eq13 = propagate("dap", 10, 500, T=10, batch=2, seed=0, reset="eq13")
    leaked = propagate("dap", 10, 500, T=10, batch=2, seed=0, reset="spikefold")
    torch.testing.assert_close(eq13.var[0], leaked.var[0])  # step 0: no reset has acted
    assert bool((eq13.spikes_total < leaked.spikes_total).all())
    assert float(eq13.var_mean.mean()) < float(leaked.var_mean.mean())


def test_rejects_unknown_init_and_reset():
    with pytest.raises(ValueError):
        propagate("xavier", 2, 4)
    with pytest.raises(ValueError, match="reset"):
        propagate("dap", 2, 4, reset="hard")
