"""CubaLIF and LI exported to NIR and run by Norse (exporters.nir_export.norse_runner, points
7 and 8): hand-derived spike trains and membranes, and rung 4 on the CubaLIF -> LI readout
graph with its sensitivity to a wrong time constant."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from exporters.nir_export import run_nir_norse, rung4, to_nir
from exporters.onnx.examples import cuba_li_net
from hwsim.graph import LI, CubaLIF, Dense, GraphMetadata, HardwareGraph, Input, Readout
from hwsim.sim import simulate

torch.set_num_threads(1)
T = 6
ONES = np.ones((T, 1, 1))


def _one(neuron, T: int = T) -> HardwareGraph:
    nodes = {"x": Input((1,), "direct"), "f": Dense(np.array([[1.0]])), "n": neuron,
             "o": Dense(np.array([[1.0]])), "out": Readout()}  # fmt: skip
    if isinstance(neuron, LI):  # the LI is the readout's input itself
        del nodes["o"]
    chain = list(nodes)
    return HardwareGraph(nodes, list(zip(chain, chain[1:])), GraphMetadata(T=T))


@pytest.mark.parametrize("dt", [1.0, 1e-3])
def test_golden_cubalif_in_norse(dt):
    """c = a = 1/2, θ = 1, I = 0.4, bias 0.1: u = 0.4, 0.6, 0.7, 0.75, 0.775, 0.7875;
    H = 0.5, 0.95, 1.275 (spike, v = 0), 0.85, 1.3 (spike), 0.8875. The bias is a v_leak
    of the membrane only (Norse alone would also leak the current toward it)."""
    g = _one(CubaLIF(0.5, 0.5, 1.0, "hard", bias=np.array(0.1)))
    ng = to_nir(g, dt=dt)
    assert isinstance(ng.nodes["n"], nir.CubaLIF)
    run = run_nir_norse(ng, 0.4 * ONES)
    assert run.outputs["n"][:, 0, 0].tolist() == [0, 0, 1, 0, 1, 0]
    np.testing.assert_allclose(run.currents["n"][:, 0, 0],
                               [0.4, 0.6, 0.7, 0.75, 0.775, 0.7875], rtol=1e-14)  # fmt: skip
    np.testing.assert_allclose(run.membrane["n"][:, 0, 0],
                               [0.5, 0.95, 1.275, 0.85, 1.3, 0.8875], rtol=1e-14)  # fmt: skip
    np.testing.assert_allclose(run.synaptic["n"][:, 0, 0], 0.4)
    hw = simulate(g, 0.4 * np.ones((1, 1)), record=["n"])
    np.testing.assert_array_equal(hw.records["n"], run.outputs["n"])


def test_golden_li_in_norse():
    """a = 1/2, b = 0.25, I = 1: v = 1.25, 1.875, 2.1875, 2.34375, ...; the readout sums v."""
    g = _one(LI(0.5, np.array(0.25)))
    run = run_nir_norse(to_nir(g), ONES)
    v = [1.25, 1.875, 2.1875, 2.34375, 2.421875, 2.4609375]
    np.testing.assert_allclose(run.outputs["n"][:, 0, 0], v, rtol=1e-15)
    np.testing.assert_allclose(run.readout[0, 0], sum(v), rtol=1e-15)
    np.testing.assert_allclose(simulate(g, np.ones((1, 1))).readout[0, 0], sum(v), rtol=1e-15)


def test_integrator_and_forcing_an_li_are_refused():
    from hwsim.errors import ExportError

    with pytest.raises(ExportError, match="Norse 1.1.0's from_nir has no import"):
        run_nir_norse(to_nir(_one(LI(1.0))), ONES)  # nir.I
    with pytest.raises(ExportError, match="only neuron nodes"):
        run_nir_norse(to_nir(_one(LI(0.5))), ONES, force={"n": ONES})


def test_rung4_passes_and_detects_wrong_time_constants():
    g = cuba_li_net("float32", T=4)
    x = np.random.default_rng(1).random((8, 16))
    res = rung4(g, x)
    assert res.passed, res.summary()
    la = res.layers["cuba"]
    assert 0 < la.events_reference < la.compared and la.errors == 0
    assert res.metrics["li_error_over_bound/li"] <= 1.0
    assert res.metrics["prediction_agreement"] == 1.0
    # the current's time constant 2 % off: spikes of the CubaLIF change beyond any tie
    ng = to_nir(g)
    ng.nodes["cuba"].tau_syn = ng.nodes["cuba"].tau_syn * 1.02
    wrong = rung4(g, x, nir_graph=ng)
    assert not wrong.passed and wrong.layers["cuba"].errors > 0
    # the LI's time constant off by 1e-9: its membrane leaves its float64 error bound
    ng = to_nir(g)
    ng.nodes["li"].tau = ng.nodes["li"].tau * (1 + 1e-9)
    wrong = rung4(g, x, nir_graph=ng)
    assert not wrong.passed and wrong.metrics["li_error_over_bound/li"] > 100
