"""The float counterparts in hwsim.arith against the training-time torch code (models).

hwsim must not import models (DESIGN.md section 1), so this test is where the two meet: the
float format is defined as the training semantics, and a drift between them is caught here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwsim import arith
from models import ei, neurons


def _randomise(layer, gen: torch.Generator) -> None:
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype))
        layer.bias_e.sub_(0.5)
        layer.initialised.fill_(True)


@pytest.mark.parametrize("form", ["dense", "conv"])
def test_ei_step_float_equals_models_ei(form):
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    if form == "dense":
        layer = ei.EILinear(12, 8, step_mode="s").double()
        x = (torch.rand(5, 12, generator=gen) < 0.3).double()
    else:
        layer = ei.EIConv2d(3, 8, kernel_size=3, padding=1, step_mode="s").double()
        x = (torch.rand(5, 3, 4, 4, generator=gen) < 0.3).double()
    _randomise(layer, gen)
    x[1] = 0.0  # an all-silent sample: D == 0 everywhere, I = b_E
    with torch.no_grad():
        ref = layer(x).numpy()
        i_ee = ei._dale_apply(layer.ee, x).numpy()
        h_i = layer.inhib(x).numpy()
    out = arith.ei_step_float(
        i_ee,
        h_i,
        w_ei=layer.weight_ei.detach().numpy(),
        g_i=layer.gain_i.detach().numpy(),
        g_e=layer.gain_e.detach().numpy(),
        b_e=layer.bias_e.detach().numpy(),
        variant="divisive",
        stabilisation="exact",
    )
    assert out.n_dead == 1
    np.testing.assert_allclose(out.current, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_lif_step_float_equals_models_neurons(reset):
    gen = torch.Generator().manual_seed(1)
    lif = neurons.LIF(tau=2.0, threshold=[1.0, 0.8, 1.2, 1.0], reset=reset, step_mode="m")
    x = torch.randn(4, 3, 16, generator=gen)
    with torch.no_grad():
        ref = lif(x).numpy().astype(bool)
    v = np.zeros((3, 16), np.float32)
    for t, th in enumerate([1.0, 0.8, 1.2, 1.0]):
        out = arith.lif_step_float(v, x[t].numpy(), decay=0.5, threshold=th, reset=reset)
        v = out.v
        assert np.array_equal(out.spikes, ref[t])
