"""DAP keeps activity alive through depth where Kaiming loses it (reduced-size Micheli et al.)."""

import pytest

from experiments.dap_depth import _first_below, propagate

DEPTH, WIDTH = 30, 1000


@pytest.mark.parametrize("seed", [0, 1])
def test_first_step_dap_keeps_variance_kaiming_collapses(seed):
    dap = propagate("dap", DEPTH, WIDTH, T=1, batch=2, seed=seed)
    assert float(dap.var_first.min()) >= 0.5 and float(dap.var_first.max()) <= 2.0
    assert dap.last_active_layer() == DEPTH
    kai = propagate("kaiming", DEPTH, WIDTH, T=1, batch=2, seed=seed)
    assert 0 < _first_below(kai.var_first, 1e-2) <= 20
    assert kai.last_active_layer() < 20


def test_multi_step_dap_propagates_kaiming_dies():
    dap = propagate("dap", DEPTH, WIDTH, T=10, batch=2, seed=0)
    assert dap.last_active_layer() == DEPTH
    assert bool((dap.spikes_total > 0).all())
    ratio = float(dap.var_mean[-1] / dap.var_mean[9])
    assert 0.5 <= ratio <= 2.0
    kai = propagate("kaiming", DEPTH, WIDTH, T=10, batch=2, seed=0)
    assert kai.last_active_layer() < 20
    assert float(kai.spikes_total[-1]) == 0.0


def test_rejects_unknown_init():
    with pytest.raises(ValueError):
        propagate("xavier", 2, 4)
