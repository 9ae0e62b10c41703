"""``constant_thresholds`` (``spikefold fold --constant-thresholds``): the exact rewrite of a
threshold schedule to one threshold where its values are all equal, and one refusal listing
every layer where they are not (OTS after training)."""

import numpy as np
import pytest
import torch

from exporters.netx import netx_violations
from hwsim.errors import DesignRuleError
from hwsim.sim import simulate
from models import build_model
from toolchain.fold import constant_thresholds, fold_model

VGG = {"arch": "vgg", "layers": [4, 6], "hidden": [], "norm": "osr_ots",
       "neuron": {"reset": "hard"}}  # fmt: skip


def _ots_graph(T: int):
    torch.manual_seed(0)
    net = build_model({**VGG, "T": T, "in_shape": [1, 8, 8], "num_classes": 5})
    with torch.no_grad():
        net(torch.rand(T, 8, 1, 8, 8))  # training mode: the OTS running thresholds move
    return fold_model(net.eval(), (1, 8, 8), T).graph


def test_trained_ots_schedules_are_refused_listing_every_layer():
    g = _ots_graph(3)
    lifs = [n for n, v in g.nodes.items() if v.kind == "LIF"]
    assert all(np.ndim(g.nodes[n].threshold) == 1 for n in lifs)
    with pytest.raises(DesignRuleError) as err:
        constant_thresholds(g)
    assert sorted(v.layer for v in err.value.violations) == sorted(lifs)
    assert all(v.rule == "constant_threshold" for v in err.value.violations)
    assert "no exact rewrite" in str(err.value) and "model.norm: osr" in str(err.value)


def test_equal_schedules_become_one_threshold_exactly():
    g = _ots_graph(1)  # T = 1: one step, one threshold
    new, done = constant_thresholds(g)
    lifs = [n for n, v in g.nodes.items() if v.kind == "LIF"]
    assert sorted(done) == sorted(lifs)
    assert all(np.ndim(new.nodes[n].threshold) == 0 for n in lifs)
    assert not [v for v in netx_violations(new) if v.rule == "constant_threshold"]
    x = np.random.default_rng(0).random((6, 1, 8, 8))
    a, b = simulate(g, x, record=True), simulate(new, x, record=True)
    for n in lifs:
        assert np.array_equal(a.records[n], b.records[n])
    assert np.array_equal(a.readout, b.readout)
    # a graph without schedules is returned as it is
    again, none = constant_thresholds(new)
    assert none == [] and again.nodes.keys() == new.nodes.keys()
