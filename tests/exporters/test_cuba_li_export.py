"""CubaLIF and LI through the exporters, on the tiny graphs of ``exporters.onnx.examples``
(Input -> Dense -> CubaLIF -> Dense -> LI -> Readout, and the conv variant with soft reset,
θ[t] and a per-channel bias), quantised by ``toolchain.quantize``:

* rung 2: hwsim (lava timing) vs Lava ``fixed_pt``, bit-exact; the plain CubaLIF runs on
  Lava's stock ``LIFReset`` process with ``du < 4095`` (Lava's own
  ``PyLifResetModelBitAcc``), the LI on
  ``SpikefoldLI`` whose fixed model is Lava's ``AbstractPyLifModelFixed``; float vs
  ``floating_pt`` spike-identical but ties;
* rung 3: hwsim vs onnxruntime and onnx.reference, bit-exact;
* NIR: the float graph round trips; the conv variant is refused with NIR 1.0's reason.
"""

from __future__ import annotations

import numpy as np
import pytest

import exporters  # noqa: F401 - installs the Python 3.11 shim; must precede every lava import

# isort: split
from exporters.lava import translate
from exporters.lava.rung2 import rung2_fixed, rung2_float
from exporters.lava.translate import lava_timed
from exporters.nir_export import from_nir, read_nir, to_nir, write_nir
from exporters.onnx import rung3
from exporters.onnx.examples import cuba_li_convnet, cuba_li_net
from hwsim.errors import ExportError
from hwsim.io import graphs_equal
from toolchain.quantize import quantize

T, N = 4, 3
BUILDERS = {"dense": cuba_li_net, "conv": cuba_li_convnet}


def _inputs(graph, n: int, seed: int) -> np.ndarray:
    node = graph.nodes[graph.input_names()[0]]
    rng = np.random.default_rng(seed)
    if node.encoding == "spikes":
        return (rng.random((graph.metadata.T, n, *node.shape)) < 0.4).astype(np.float64)
    return rng.random((n, *node.shape))


@pytest.fixture(scope="module", params=list(BUILDERS))
def quantised(request):
    g = BUILDERS[request.param]("float32", "ideal", T=T)
    res = quantize(g, _inputs(g, 48, seed=5), 8, target="lava")
    return request.param, g, lava_timed(res.graph)


def test_rung2_fixed_is_bit_exact_on_lavas_own_lif(quantised):
    kind, _, fixed = quantised
    spec = translate(fixed)
    cuba, li = spec.processes["cuba"], spec.processes["li"]
    assert li.kind == "spikefold.LI" and li.params["du"] == 4095
    assert li.params["dv"] == 4096 - fixed.nodes["li"].decay
    if kind == "dense":  # hard reset, constant θ, no bias: Lava's stock LIF, du < 4095
        assert cuba.kind == "lava.LIFReset"  # u and v zeroed by itself at its arrival step
        assert cuba.params["reset_offset"] == spec.offsets["cuba"] + 1
        assert cuba.params["du"] == 4095 - fixed.nodes["cuba"].current_decay < 4095
    else:  # soft reset, θ[t]: the custom process with the current
        assert cuba.kind == "spikefold.LIF"
        assert cuba.params["current_decay"] == fixed.nodes["cuba"].current_decay > 0
    res = rung2_fixed(fixed, _inputs(fixed, N, seed=6), spec=spec)
    assert res.passed, res.summary()
    assert res.metrics["readout_mismatches"] == 0 and res.metrics["prediction_agreement"] == 1
    spikes = res.layers["cuba"]
    assert 0 < spikes.events_reference < spikes.compared  # neither silent nor saturated
    assert res.layers["li"].events_reference > 0
    models = res.settings["models"]
    assert models["li"] == "exporters.lava.procs.li.models.PySpikefoldLIModelFixed"
    if kind == "dense":
        assert models["cuba"] == "lava.proc.lif.models.PyLifResetModelBitAcc"


def test_rung2_float_spikes_match_floating_pt():
    g = lava_timed(cuba_li_net("float32", "ideal", T=T))
    res = rung2_float(g, _inputs(g, N, seed=7))
    assert res.passed, res.summary()
    assert res.settings["process_kinds"]["spikefold.LI"] == 1
    assert 0 < res.layers["cuba"].events_reference < res.layers["cuba"].compared


def test_rung3_is_bit_exact(quantised):
    _, _, fixed = quantised
    res = rung3(fixed, _inputs(fixed, 4, seed=8), batch_size=4, reference_samples=2)
    assert res.passed, res.summary()
    assert res.metrics["readout_max_abs_error"] == 0.0
    assert {"cuba", "cuba/u", "cuba/h", "li", "ro"} <= set(res.layers)


def test_nir_round_trip_and_refusal(tmp_path):
    g = cuba_li_net("float32", "ideal", T=T)
    assert graphs_equal(from_nir(to_nir(g)), g)
    assert graphs_equal(read_nir(write_nir(g, tmp_path / "m.nir", dt=1e-3)), g)
    with pytest.raises(ExportError, match="'cuba' \\(CubaLIF\\): soft reset"):
        to_nir(cuba_li_convnet("float32", "ideal", T=T))
