"""NIR graphs executed by Norse (exporters.nir_export.norse_runner) and rung 4: hand-derived
spike trains, the restored NIR semantics (R, dt, V[-1] = 0, float64), teacher forcing, and
hwsim float vs Norse on hand-built and trained graphs, with sensitivity checks."""

from __future__ import annotations

import dataclasses
import json

import nir
import numpy as np
import pytest
import torch

from exporters.nir_export import run_nir_norse, rung4, to_nir
from hwsim.errors import ExportError, VerificationError
from hwsim.graph import (
    LIF,
    AvgPool2d,
    Conv2d,
    Delay,
    Dense,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
)
from hwsim.sim import simulate
from hwsim.verify import write_verify_json

torch.set_num_threads(1)
T = 6


def one_neuron(decay: float, weight: float, bias=None, T: int = T) -> HardwareGraph:
    nodes = {
        "x": Input((1,), "direct"),
        "f": Dense(np.array([[weight]])),
        "l": LIF(decay, 1.0, "hard", bias=None if bias is None else np.array(bias)),
        "o": Dense(np.array([[1.0]])),
        "out": Readout(),
    }
    return HardwareGraph(nodes, [("x", "f"), ("f", "l"), ("l", "o"), ("o", "out")],
                         GraphMetadata(T=T))  # fmt: skip


ONES = np.ones((T, 1, 1))


@pytest.mark.parametrize("dt", [1.0, 1e-3, 4.0])
def test_golden_lif_spike_train(dt):
    """a = 1/2, θ = 1, I = 0.6: H = 0.6, 0.9, 1.05 (spike, reset to 0), 0.6, 0.9, 1.05."""
    run = run_nir_norse(to_nir(one_neuron(0.5, 0.6), dt=dt), ONES)
    assert run.outputs["l"][:, 0, 0].tolist() == [0, 0, 1, 0, 0, 1]
    np.testing.assert_allclose(run.membrane["l"][:, 0, 0], [0.6, 0.9, 1.05] * 2, rtol=1e-15)
    np.testing.assert_allclose(run.currents["l"][:, 0, 0], 0.6)
    assert run.readout.tolist() == [[2.0]] and run.predictions.tolist() == [0]


def test_golden_bias_starts_from_zero_not_v_leak():
    """I + b = 0.4 + 0.2 = 0.6 gives the same train; Norse alone would start at v_leak = 0.4."""
    run = run_nir_norse(to_nir(one_neuron(0.5, 0.4, bias=0.2)), ONES)
    assert run.outputs["l"][:, 0, 0].tolist() == [0, 0, 1, 0, 0, 1]
    np.testing.assert_allclose(run.membrane["l"][:3, 0, 0], [0.6, 0.9, 1.05], rtol=1e-15)


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_golden_if_neuron(dt):
    """a = 1 (nir.IF, R = 1/dt), I = 0.4: H = 0.4, 0.8, 1.2 (spike), 0.4, 0.8, 1.2."""
    ng = to_nir(one_neuron(1.0, 0.4), dt=dt)
    assert isinstance(ng.nodes["l"], nir.IF)
    run = run_nir_norse(ng, ONES)
    assert run.outputs["l"][:, 0, 0].tolist() == [0, 0, 1, 0, 0, 1]


def test_norse_spikes_on_strictly_greater():
    """H == θ exactly: hwsim spikes (H >= θ), Norse does not (v > θ): the definition of a tie."""
    g = one_neuron(0.0, 1.0)
    assert simulate(g, np.ones((1, 1)), record=["l"]).records["l"][:, 0, 0].tolist() == [1] * T
    assert run_nir_norse(to_nir(g), ONES).outputs["l"].sum() == 0


def test_float64_parameters_are_restored():
    """A weight 1 + 2**-40 over θ = 1 spikes in float64; Norse's own float32 cast loses it."""
    ng = to_nir(one_neuron(0.0, 1.0 + 2.0**-40))
    assert run_nir_norse(ng, ONES).outputs["l"].sum() == T
    assert run_nir_norse(ng, ONES, dtype=torch.float32).outputs["l"].sum() == 0


def test_teacher_forcing_replaces_output_and_reset():
    ng = to_nir(one_neuron(0.5, 0.6))
    forced = np.array([1, 0, 0, 0, 0, 0], float).reshape(T, 1, 1)
    run = run_nir_norse(ng, ONES, force={"l": forced})
    # H = 0.6 (reset by the forced spike), 0.6, 0.9, 1.05 (own spike, but no forced reset),
    # 0.525 + 0.6, 0.5625 + 0.6
    h = [0.6, 0.6, 0.9, 1.05, 1.125, 1.1625]
    np.testing.assert_allclose(run.membrane["l"][:, 0, 0], h, rtol=1e-15)
    assert run.outputs["l"][:, 0, 0].tolist() == [0, 0, 0, 1, 1, 1]
    assert run.readout.tolist() == [[1.0]]  # the forced spikes went downstream


def test_runner_errors():
    g = one_neuron(0.5, 0.6)
    with pytest.raises(ExportError, match="force names no neuron node"):
        run_nir_norse(to_nir(g), ONES, force={"nope": ONES})
    with pytest.raises(ExportError, match="only neuron nodes"):
        run_nir_norse(to_nir(g), ONES, force={"f": ONES})
    nodes = dict(g.nodes, d=Delay(1))
    edges = [("x", "f"), ("f", "l"), ("l", "d"), ("d", "o"), ("o", "out")]
    delayed = to_nir(HardwareGraph(nodes, edges, GraphMetadata(T=T)))
    with pytest.raises(ExportError, match="node 'd' \\(Delay\\): Norse 1.1.0's from_nir has no"):
        run_nir_norse(delayed, ONES)
    ng = to_nir(g)
    ng.metadata.pop("dt")
    with pytest.raises(ExportError, match="pass dt"):
        run_nir_norse(ng, ONES)


def test_a_changed_norse_update_fails_loudly(monkeypatch):
    import norse.torch.module.lif_box as lif_box

    real = lif_box.lif_box_feed_forward_step

    def skewed(x, state, p, dt):
        z, s = real(x, state, p, dt)
        return z, type(s)(v=s.v + 1e-12)

    monkeypatch.setattr(lif_box, "lif_box_feed_forward_step", skewed)
    with pytest.raises(VerificationError, match="no longer matches"):
        run_nir_norse(to_nir(one_neuron(0.5, 0.6)), ONES)


# ---------------------------------------------------------------------------------------------
# rung 4


def mlp_graph(decays=(0.5, 0.9)) -> HardwareGraph:
    rng = np.random.default_rng(3)
    d = [20, 32, 16, 4]
    nodes = {"x": Input((d[0],), "direct")}
    edges, prev = [], "x"
    for i, a in enumerate(decays):
        nodes[f"fc{i}"] = Dense((rng.normal(size=(d[i + 1], d[i])) * 1.5 / np.sqrt(d[i])),
                                rng.normal(size=d[i + 1]) * 0.1)  # fmt: skip
        nodes[f"lif{i}"] = LIF(a, 1.0, "hard", bias=np.array(0.05) if i else None)
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        prev = f"lif{i}"
    nodes["fo"] = Dense(rng.normal(size=(d[-1], d[-2])).astype(np.float32), np.zeros(d[-1]))
    nodes["out"] = Readout()
    edges += [(prev, "fo"), ("fo", "out")]
    return HardwareGraph(nodes, edges, GraphMetadata(T=T))


def conv_graph() -> HardwareGraph:
    rng = np.random.default_rng(4)
    nodes = {
        "x": Input((1, 8, 8), "direct"),
        "c1": Conv2d(rng.normal(size=(4, 1, 3, 3)) * 0.8, rng.normal(size=4) * 0.1, padding=1),
        "l1": LIF(0.75, 1.0, "hard"),
        "p1": AvgPool2d(2),
        "c2": Conv2d(rng.normal(size=(6, 4, 3, 3)) * 0.6, None, stride=2, padding=1),
        "l2": LIF(0.5, 0.5, "hard", bias=rng.normal(size=6) * 0.05),
        "p2": SumPool2d(2),
        "flat": Flatten(),
        "fo": Dense(rng.normal(size=(3, 6)), rng.normal(size=3)),
        "out": Readout(),
    }
    chain = list(nodes)
    return HardwareGraph(nodes, list(zip(chain, chain[1:])), GraphMetadata(T=T))


@pytest.mark.parametrize("make", [mlp_graph, conv_graph])
def test_rung4_passes_on_hand_built_graphs(make):
    g = make()
    x = np.random.default_rng(5).random((40, *g.nodes["x"].shape))
    res = rung4(g, x)
    assert res.passed, res.summary()
    assert res.n_errors == 0 and res.rung == 4 and res.first_divergence is None
    spikes = [la.events_reference for la in res.layers.values()]
    assert min(spikes) > 50  # the comparison is not vacuous
    assert res.metrics["prediction_agreement"] == 1.0
    assert res.metrics["readout_error_over_bound"] <= 1.0


def test_rung4_counts_exact_ties_and_still_passes():
    """Dyadic weights on binary spikes land exactly on θ: every mismatch is an H == θ tie."""
    nodes = {"x": Input((8,), "spikes"), "fc": Dense(np.full((4, 8), 0.25)),
             "l": LIF(0.5, 1.0, "hard"), "fo": Dense(np.eye(2, 4)), "out": Readout()}  # fmt: skip
    chain = list(nodes)
    g = HardwareGraph(nodes, list(zip(chain, chain[1:])), GraphMetadata(T=T))
    x = (np.random.default_rng(6).random((T, 30, 8)) < 0.5).astype(float)
    res = rung4(g, x)
    assert res.passed and res.n_ties > 0 and res.n_errors == 0
    assert res.metrics["ties_exact_equality"] == res.n_ties
    assert all(t.h == t.threshold == 1.0 for t in res.ties)


def _perturbed(ng: nir.NIRGraph, name: str, **fields) -> nir.NIRGraph:
    nodes = dict(ng.nodes)
    nodes[name] = dataclasses.replace(nodes[name], **fields)
    return nir.NIRGraph(nodes, list(ng.edges), metadata=dict(ng.metadata), type_check=False)


def test_rung4_detects_a_wrong_time_constant():
    g = mlp_graph()
    x = np.random.default_rng(5).random((40, 20))
    ng = to_nir(g)
    bad = _perturbed(ng, "lif1", tau=ng.nodes["lif1"].tau * 1.02)
    res = rung4(g, x, nir_graph=bad)
    assert not res.passed and res.n_errors > 0
    assert res.first_divergence.layer == "lif1" and res.layers["lif0"].errors == 0


def test_rung4_detects_a_readout_weight_off_by_one_float32_ulp():
    g = mlp_graph()
    x = np.random.default_rng(5).random((40, 20))
    ng = to_nir(g)
    w = ng.nodes["fo"].weight.copy()
    w[0, 0] = np.nextafter(w[0, 0], np.float32(np.inf))
    res = rung4(g, x, nir_graph=_perturbed(ng, "fo", weight=w))
    assert not res.passed and res.n_errors == 0
    assert res.metrics["readout_error_over_bound"] > 1e3


def test_rung4_goes_into_verify_json(tmp_path):
    path = tmp_path / "verify.json"
    path.write_text(json.dumps({"rungs": {"0": {"rung": 0, "passed": True}}}))
    g = conv_graph()
    res = rung4(g, np.random.default_rng(0).random((8, 1, 8, 8)))
    write_verify_json(path, res)
    data = json.loads(path.read_text())
    assert set(data["rungs"]) == {"0", "4"} and data["passed"] is True
    assert data["rungs"]["4"]["settings"]["dt"] == 1.0


def test_rung4_refuses_graphs_outside_nir():
    g = mlp_graph()
    soft = dataclasses.replace(g, nodes=dict(g.nodes, lif0=LIF(0.5, 1.0, "soft")))
    with pytest.raises(ExportError, match="node 'lif0' .*soft reset"):
        rung4(soft, np.zeros((2, 20)))
    with pytest.raises(VerificationError, match="at least one sample"):
        rung4(g, np.zeros((0, 20)))


def test_rung4_on_a_foreign_graph_with_folded_input_gain():
    """A Norse-style NIR graph (R = 1, dt = 1 ms, τ = 4 ms) imported into hwsim and run
    against itself in Norse: the folded gain reproduces Norse's spikes."""
    from exporters.nir_export import from_nir

    rng = np.random.default_rng(8)
    one = np.ones(16)
    ng = nir.NIRGraph(
        {"in": nir.Input(np.array([10])),
         "aff": nir.Affine(rng.normal(size=(16, 10)) * 2, rng.normal(size=16)),
         "lif": nir.LIF(tau=0.004 * one, r=one, v_leak=0 * one, v_threshold=0.5 * one),
         "lin": nir.Linear(rng.normal(size=(3, 16))),
         "out": nir.Output(np.array([3]))},
        [("in", "aff"), ("aff", "lif"), ("lif", "lin"), ("lin", "out")],
        metadata={"dt": 1e-3},
    )  # fmt: skip
    g = from_nir(ng, T=T, encoding="direct")
    res = rung4(g, rng.random((30, 10)), nir_graph=ng)
    assert res.passed, res.summary()
    assert res.layers["lif"].events_reference > 50


def test_rung4_on_a_folded_trained_digits_mlp():
    """Train a tiny hard-reset MLP on digits (1 epoch, ~3 s), fold it, export it: Norse
    agrees with hwsim on every spike of 100 test samples."""
    from models.architectures import build_mlp
    from toolchain.data import load_dataset
    from toolchain.fold.trace import fold_model
    from toolchain.train import TrainConfig, fit

    data = load_dataset("digits")
    torch.manual_seed(0)  # the initial weights, so the spike count below is reproducible
    net = build_mlp(data.in_shape, data.num_classes, hidden=(32,), neuron={"reset": "hard"})
    fit(net, data, TrainConfig(epochs=1, T=4, progress=False, device="cpu"))
    graph = fold_model(net, data.in_shape, 4, "direct").graph
    res = rung4(graph, data.x_test[:100].numpy())
    assert res.passed, res.summary()
    assert res.metrics["prediction_agreement"] == 1.0
    assert sum(la.events_reference for la in res.layers.values()) > 100
