"""Rung 2 (hwsim vs Lava) on small hand-built graphs of every family, fixed and float.

Each Lava run builds and compiles its processes, forks one OS process per Lava process, runs
3 samples of ``T + depth`` steps and stops: about a second here. The references are hwsim's
``run_steps`` (an independent implementation of the same numeric spec, through a different
code path: batched int64 arrays instead of one Lava process per population) and, for the
plain subset, Lava's own bit-accurate models, which no spikefold code touches.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import exporters  # noqa: F401 - installs the Python 3.11 shim; must precede every lava import

# isort: split
from exporters.lava import run_lava_steps, translate
from exporters.lava.examples import FAMILIES, example_graph, example_input
from exporters.lava.rung2 import compared_layers, rung2_entry, rung2_fixed, rung2_float
from hwsim.errors import VerificationError
from hwsim.graph import LIF
from hwsim.sim import encode_inputs, run_steps
from hwsim.verify import read_verify_json, write_verify_json

N = 3


def _lif_events(result) -> dict[str, int]:
    return {k: la.events_reference for k, la in result.layers.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_fixed_graph_is_bit_exact_in_lava(family: str) -> None:
    g = example_graph(family, "fixed")
    res = rung2_fixed(g, example_input(g, N))
    assert res.passed, res.summary()
    assert res.first_divergence is None and res.metrics["readout_mismatches"] == 0
    assert set(res.layers) == set(compared_layers(g))
    # every LIF spikes, but not always: the comparison is not between two silent networks
    for name, node in g.nodes.items():
        if isinstance(node, LIF):
            la = res.layers[name]
            assert 0 < la.events_reference < la.compared, (name, la)
    assert res.metrics["prediction_agreement"] == 1.0


@pytest.mark.parametrize("family", FAMILIES)
def test_float_graph_spikes_match_floating_pt(family: str) -> None:
    g = example_graph(family, "float32")
    res = rung2_float(g, example_input(g, N))
    assert res.passed, res.summary()
    for la in res.layers.values():
        assert 0 < la.events_reference < la.compared
        assert la.errors == 0


def test_plain_subset_runs_lavas_own_lif_and_dense_models() -> None:
    g = example_graph("mlp", "fixed")
    spec = translate(g)
    assert spec.processes["l1"].kind == "lava.LIFReset"
    assert spec.processes["fc1"].kind == spec.processes["fc2"].kind == "lava.Dense"
    res = run_lava_steps(spec, encode_inputs(g, example_input(g, 2)), record=["l1"])
    # the compiler chose Lava's bit-accurate models for Lava's own Process classes
    assert res.models["l1"] == "lava.proc.lif.models.PyLifResetModelBitAcc"
    assert res.models["fc1"] == "lava.proc.dense.models.PyDenseModelBitAcc"
    from lava.proc.lif.models import PyLifResetModelBitAcc
    from lava.proc.lif.process import LIFReset

    assert PyLifResetModelBitAcc.implements_process is LIFReset
    # ... and the spikes those models produced are hwsim's, bit for bit
    ref = run_steps(g, encode_inputs(g, example_input(g, 2)), record=["l1"])
    assert np.array_equal(res.records["l1"], ref.records["l1"])
    assert res.events("l1") > 0


def test_a_one_unit_change_in_the_lava_graph_is_reported_where_it_happens() -> None:
    # The rung must be able to fail: raise one LIF threshold by one unit in the exported
    # process graph only, and the first divergence must name that layer.
    g = example_graph("osr_ots", "fixed")
    spec = translate(g)
    p = spec.processes["l2"]
    vth = p.params["vth"].copy()
    vth[6] += 1  # a step where a neuron of the 8 samples sits at the threshold
    procs = dict(spec.processes, l2=dataclasses.replace(p, params=dict(p.params, vth=vth)))
    bad = dataclasses.replace(spec, processes=procs)
    x = example_input(g, 8, seed=3)
    res = rung2_fixed(g, x, spec=bad)
    assert not res.passed
    div = res.first_divergence
    assert div is not None and div.layer == "l2" and div.step >= 6  # the first changed step
    assert {div.ours, div.reference} == {0.0, 1.0}
    assert res.layers["l1"].mismatches == 0  # upstream untouched
    assert rung2_fixed(g, x, spec=spec).passed


def test_quantized_ei_graph_is_bit_exact_and_written_to_verify_json(tmp_path) -> None:
    from toolchain.quantize import quantize

    gf = example_graph("ei_conv", "float32")
    q = quantize(gf, example_input(gf, 32, seed=1))
    x = example_input(gf, N)
    fixed = rung2_fixed(q.graph, x)
    assert fixed.passed, fixed.summary()
    assert fixed.settings["process_kinds"]["spikefold.Excitatory"] == 3
    flt = rung2_float(gf, x)
    path = write_verify_json(tmp_path / "verify.json", {"2": rung2_entry(fixed, flt)})
    data = read_verify_json(path)
    entry = data["rungs"]["2"]
    assert entry["passed"] and entry["float"]["passed"] and data["passed"]
    assert entry["layers"]["l1"]["mismatches"] == 0
    # after an E-I circuit (a current before the arrival) Lava's own LIFReset, starting from
    # rest at its arrival step, computes l2 as hwsim's gated LIF does
    assert entry["settings"]["models"]["l2"] == "lava.proc.lif.models.PyLifResetModelBitAcc"


def test_an_empty_batch_is_refused_before_lava_starts() -> None:
    g = example_graph("mlp", "fixed")
    with pytest.raises(VerificationError, match="at least one sample"):
        rung2_fixed(g, example_input(g, 0))
