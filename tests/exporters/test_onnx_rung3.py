"""Rung 3: hwsim ↔ the ONNX step model in onnxruntime and onnx.reference (function bodies and
op classes): bit-exact for fixed graphs, spike-identical for float graphs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

from exporters.onnx import export_onnx, run_onnx, rung3
from exporters.onnx.examples import EXAMPLES, mlp
from hwsim.errors import VerificationError
from hwsim.graph import (
    LIF,
    SPIKING_KINDS,
    Dense,
    GraphMetadata,
    HardwareGraph,
    Input,
)
from hwsim.sim import simulate
from hwsim.verify import write_verify_json


def _inputs(graph, n: int, seed: int = 3) -> np.ndarray:
    node = graph.nodes[graph.input_names()[0]]
    rng = np.random.default_rng(seed)
    if node.encoding == "spikes":
        return (rng.random((graph.metadata.T, n, *node.shape)) < 0.5).astype(np.float64)
    return rng.random((n, *node.shape))


@pytest.mark.parametrize("timing", ["ideal", "lava"])
@pytest.mark.parametrize("fmt", ["fixed", "float32"])
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rung3_on_the_examples(name, fmt, timing):
    """(a) mlp, convnet; (b) osr_ots_convnet (soft reset, θ[t], rate input); (c) ei_convnet;
    and sew_net (Add, Delay, FastInhibitory, spike input); cuba_li_net, cuba_li_convnet
    (CubaLIF, LI). Every layer must be active, so an
    agreement is not an agreement of silent layers."""
    graph = EXAMPLES[name](fmt, timing)
    x = _inputs(graph, 6)
    res = rung3(graph, x, batch_size=3, reference_samples=3)
    assert res.passed, res.summary()
    lifs = [n for n, v in graph.nodes.items() if isinstance(v, SPIKING_KINDS)]
    for n in lifs:
        rate = res.layers[n].events_reference / res.layers[n].compared
        assert 0.05 < rate < 0.8, (n, rate)
    assert res.metrics["prediction_agreement"] == 1.0
    assert res.metrics["reference.samples"] == 3 and res.metrics["onnxruntime.samples"] == 6
    if fmt == "fixed":  # bit-exact: every node, currents and membranes included
        assert res.metrics["readout_max_abs_error"] == 0.0
        probes = {f"{n}/h" for n in lifs} | {f"{n}/u" for n in lifs if graph.nodes[n].kind != "LIF"}
        assert set(res.layers) >= set(graph.nodes) | probes
    else:  # spike-identical; currents agree to float64 rounding
        assert set(res.layers) == set(lifs)
        assert res.metrics["onnxruntime.current_max_abs_diff"] < 1e-9


def test_rung3_detects_a_changed_weight():
    """One weight of the ONNX model changed by one grid step: rung 3 fails at that layer, at
    the first step it matters (the comparison can fail)."""
    graph = mlp("fixed")
    model = export_onnx(graph)
    init = [i for i in model.graph.initializer if i.name == "fc2/weight"][0]
    w = numpy_helper.to_array(init).copy()
    w[0, 0] += 2  # stays on the mixed 8-bit grid, so the graph is still valid
    init.CopyFrom(numpy_helper.from_array(w, "fc2/weight"))
    res = rung3(graph, _inputs(graph, 8), model=model, backends=["onnxruntime"])
    assert not res.passed
    d = res.first_divergence
    assert d.layer == "onnxruntime:fc2" and d.neuron == (0,)
    assert abs(d.ours - d.reference) == 2  # one input spike times the change


def test_rung3_refuses_an_empty_batch():
    graph = mlp("fixed")
    with pytest.raises(VerificationError, match="at least one sample"):
        rung3(graph, _inputs(graph, 0), backends=["onnxruntime"])


def test_rung3_writes_verify_json(tmp_path):
    graph = mlp("fixed", "lava")
    res = rung3(graph, _inputs(graph, 4), backends=["onnxruntime", "reference-ops"])
    path = write_verify_json(tmp_path / "verify.json", res)
    import json

    data = json.loads(path.read_text())
    assert data["rungs"]["3"]["passed"] is True
    assert data["rungs"]["3"]["settings"]["comparison"] == "bit-exact, every node"


def _one_lif(weight: int, T: int, reset: str = "hard") -> HardwareGraph:
    from hwsim import arith

    return HardwareGraph(
        {
            "x": Input((1,), "spikes"),
            "fc": Dense(np.array([[weight]])),
            "lif": LIF(2048, 1000, reset),
            "out": Dense(np.array([[1]])),
        },
        [("x", "fc"), ("fc", "lif"), ("lif", "out")],
        GraphMetadata(T=T, format="fixed", widths=arith.FixedWidths()),
    )


@pytest.mark.parametrize("backend", ["onnxruntime", "reference", "reference-ops"])
def test_golden_decay_truncates_toward_zero(backend):
    """One spike into a weight of -3 at step 0, then a leak of 1/2 (decay 2048): u = -3 << 6
    = -192, then trunc(v/2): -96, -48, -24, -12, -6, -3, -1 (floor would give -2), 0, 0."""
    graph = _one_lif(-3, T=10)
    spikes = np.zeros((10, 1, 1))
    spikes[0] = 1
    run = run_onnx(export_onnx(graph), spikes, backend=backend, record=["lif/h"])
    want = [-192, -96, -48, -24, -12, -6, -3, -1, 0, 0]
    assert run.records["lif/h"][:, 0, 0].tolist() == want
    assert run.records["lif/h"].dtype == np.int64


def test_golden_strict_threshold_and_soft_reset():
    """vth = 1000 -> spike when v > 64000. a = 250 per step (u = 250 << 6 = 16000) with a
    leak of 1/2: 16000, 8000 + 16000 = 24000, 12000 + 16000 = 28000 (-> 32000): silent.
    a = 250 << 2 = 1000 (u = 64000): v = 64000 is not > 64000 (strict), then 32000 + 64000 =
    96000 spikes and the soft reset leaves 32000, then 16000 + 64000 = 80000 spikes."""
    graph = _one_lif(250, T=3)
    run = run_onnx(export_onnx(graph), np.ones((3, 1, 1)), record=["lif", "lif/h"])
    assert run.records["lif/h"][:, 0, 0].tolist() == [16000, 24000, 28000]
    assert not run.records["lif"].any()
    soft = _one_lif(250, T=3, reset="soft")
    w4 = HardwareGraph(
        {**soft.nodes, "fc": Dense(np.array([[250]]), weight_exp=2)}, soft.edges, soft.metadata
    )
    run = run_onnx(export_onnx(w4), np.ones((3, 1, 1)), record=["lif", "lif/h"])
    assert run.records["lif/h"][:, 0, 0].tolist() == [64000, 96000, 80000]
    assert run.records["lif"][:, 0, 0].tolist() == [0, 1, 1]
    sim = simulate(w4, np.ones((3, 1, 1)), record=True)
    assert np.array_equal(sim.records["lif/h"], run.records["lif/h"])
