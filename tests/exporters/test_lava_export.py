"""The Lava exporter's translation choices, its JSON file, rebuilding, and the runner's
lifecycle (the runtime is stopped on success, on a worker's exception and on Ctrl-C)."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exporters  # noqa: F401 - installs the Python 3.11 shim; must precede every lava import

# isort: split
from exporters.lava import (
    export_lava,
    load_lava,
    run_lava,
    run_lava_steps,
    spec_from_json,
    spec_to_json,
    translate,
)
from exporters.lava.examples import example_graph, example_input
from exporters.lava.layout import from_batch, lava_shape, swap_layout, to_batch
from exporters.lava.rung2 import rung2_fixed
from exporters.lava.translate import stock_lif_bias, threshold_schedule
from hwsim import arith
from hwsim.errors import ExportError
from hwsim.graph import (
    LIF,
    Add,
    Delay,
    Dense,
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
)
from hwsim.sim import encode_inputs, run_steps

conv_models = pytest.importorskip("lava.proc.conv.models")


def _kinds(graph) -> dict[str, str]:
    return {name: p.kind for name, p in translate(graph).processes.items()}


def _replace_node(graph, name, **changes):
    nodes = dict(graph.nodes)
    nodes[name] = dataclasses.replace(nodes[name], **changes)
    return dataclasses.replace(graph, nodes=nodes)


def _no_lava_workers_left() -> bool:
    return [p for p in multiprocessing.active_children() if p.is_alive()] == []


# -- translation ----------------------------------------------------------------------------


def test_stock_processes_only_for_the_plain_subset() -> None:
    mlp = example_graph("mlp", "fixed")
    assert _kinds(mlp)["l1"] == "lava.LIFReset"
    # a constant schedule is still a constant threshold
    assert _kinds(_replace_node(mlp, "l1", threshold=np.full(6, 40)))["l1"] == "lava.LIFReset"
    assert _kinds(_replace_node(mlp, "l1", reset="soft"))["l1"] == "spikefold.LIF"
    sched = np.array([40, 41, 40, 40, 40, 40])
    assert _kinds(_replace_node(mlp, "l1", threshold=sched))["l1"] == "spikefold.LIF"
    # 4095 + (1 << 6), odd and beyond Lava's 13-bit mantissa, has no (bias_mant, bias_exp)
    # form: the synapse keeps its bias, the LIF is stock
    odd = _replace_node(mlp, "l1", bias=np.full(16, 4095), bias_exp=0)
    odd = _replace_node(odd, "fc1", bias=np.full(16, 1))
    assert _kinds(odd)["l1"] == "lava.LIFReset" and _kinds(odd)["fc1"] == "spikefold.Synapse"
    # a bias reached late (offset 1) stays on the stock LIF: it resets at its arrival step
    own = _replace_node(mlp, "l1", bias=np.full(16, 8), bias_exp=0)
    assert _kinds(own)["l1"] == "lava.LIFReset"
    spec = translate(own)
    assert spec.processes["l1"].params["reset_offset"] == spec.offsets["l1"] + 1 == 2
    assert spec.processes["l1"].params["reset_interval"] == spec.steps
    # a synapse bias moves into a stock LIF while |activation| + |bias| < 2**17 is proven ...
    fc1_biased = _replace_node(mlp, "fc1", bias=np.full(16, 1))
    kinds = _kinds(fc1_biased)
    assert kinds["l1"] == "lava.LIFReset" and kinds["fc1"] == "lava.Dense"
    assert translate(fc1_biased).processes["l1"].params["bias_mant"].max() > 0
    # ... and not beyond: fc1's activations reach max_i Σ_j |w_ij| · 128 = 24,064 · 2**exp
    assert np.abs(mlp.nodes["fc1"].weight).sum(axis=1).max() * 128 == 24_064
    assert _kinds(_replace_node(fc1_biased, "fc1", weight_exp=2))["fc1"] == "lava.Dense"
    big = _replace_node(fc1_biased, "fc1", weight_exp=3)  # 192,512 + 1 >= 2**17
    # there the synapse keeps its bias (hwsim's arithmetic) and the LIF stays Lava's own
    assert _kinds(big)["l1"] == "lava.LIFReset" and _kinds(big)["fc1"] == "spikefold.Synapse"
    assert _kinds(_replace_node(big, "fc1", bias=None))["fc1"] == "lava.Dense"
    res = rung2_fixed(big, example_input(big, 2))
    assert res.passed, res.summary()
    osr = _kinds(example_graph("osr_ots", "fixed"))
    assert osr["l1"] == osr["l2"] == "spikefold.LIF"
    conv = example_graph("conv", "fixed")
    assert _kinds(conv)["c1"] == "lava.Conv"
    # Lava's Conv ignores weight_exp: such a layer goes to the custom synapse
    assert _kinds(_replace_node(conv, "c1", weight_exp=-1))["c1"] == "spikefold.Synapse"
    assert _kinds(example_graph("conv", "float32"))["c1"] == "lava.Conv"
    assert _kinds(example_graph("mlp", "float32"))["l1"] == "lava.LIFReset"


def test_lava_conv_sums_24_bit_payloads_exactly() -> None:
    # Lava 0.10's fixed-point Conv convolves with scipy and accumulates the channels in a
    # float64 array (its torch path, which would sum in float32, is switched off in that
    # release): a sum beyond float32's 24-bit mantissa still comes out exact, and the 24-bit
    # wrap of the accumulator matches hwsim.arith.conv_accumulate.
    cls = conv_models.PyConvModelFixed
    m = cls.__new__(cls)
    cls.__init__(m, {})
    m.kernel_size, m.stride = np.array([1, 1]), np.array([1, 1])
    m.padding, m.dilation = np.array([0, 0]), np.array([1, 1])
    m.groups, m.num_message_bits = np.array([1]), np.array([24])
    m.weight = np.array([[[[3, 5]]]])  # [O, kw, kh, I]: one output, 1x1 kernel, 2 inputs
    x = np.array([[[2**23 - 1, 2**23 - 3]]])  # Lava [W, H, C]
    sent = []

    class _Port:
        shape = (1,)

        def send(self, d):
            sent.append(np.asarray(d).copy())

        def recv(self):
            return x

    m.a_buf, m.s_in, m.a_out = None, _Port(), _Port()
    m.run_spk()
    m.run_spk()  # one step late
    w_torch = np.array([[[[3]], [[5]]]])  # [O, I, kh, kw]
    exact = arith.conv_accumulate(w_torch, x.transpose(2, 1, 0)[None])[0, 0, 0, 0]
    total = 3 * (2**23 - 1) + 5 * (2**23 - 3)  # 67108848 > 2**24: not a float32 integer
    assert np.float32(total) != total
    assert exact == arith.wrap_signed(total, 24).item()
    assert int(sent[1].reshape(-1)[0]) == exact


def test_biased_synapse_feeding_a_non_neuron_keeps_its_bias() -> None:
    md = GraphMetadata(T=3, format="fixed", timing="lava", widths=arith.FixedWidths())
    nodes = {
        "x": Input((3,), "spikes"),
        "fc": Dense(np.array([[2, 4, 6], [8, 10, 12]]), np.array([5, -7])),
        "d": Delay(1),
        "fc3": Dense(np.array([[2, -2, 0], [4, 6, 8]])),
        "skip": Delay(1),
        "add": Add(),
        "ro": Readout(),
    }
    edges = [("x", "fc"), ("fc", "d"), ("d", "add"), ("x", "fc3"), ("fc3", "skip"),
             ("skip", "add"), ("add", "ro")]  # fmt: skip
    g = HardwareGraph(nodes, edges, md)
    spec = translate(g)
    assert spec.processes["fc"].kind == "spikefold.Synapse"  # feeds a Delay: keeps its bias
    assert spec.processes["fc3"].kind == "lava.Dense"
    x = (np.random.default_rng(0).random((3, 2, 3)) < 0.5).astype(float)
    res = rung2_fixed(g, x)
    assert res.passed, res.summary()
    assert res.layers["d"].events_reference > 0
    # where every consumer is a neuron the bias moves there (here into the Readout)
    mlp = translate(example_graph("mlp", "fixed"))
    assert mlp.processes["fc2"].kind == "lava.Dense"
    assert np.array_equal(
        mlp.processes["ro"].params["a_bias"], example_graph("mlp").nodes["fc2"].bias
    )


def test_ideal_graph_needs_delays_for_lava() -> None:
    md = GraphMetadata(T=3)
    nodes = {"x": Input((2,), "spikes"), "fc": Dense(np.ones((2, 2))), "l": LIF(0.5, 1.0),
             "add": Add(), "ro": Readout()}  # fmt: skip
    edges = [("x", "fc"), ("fc", "l"), ("l", "add"), ("x", "add"), ("add", "ro")]
    with pytest.raises(ExportError, match="to_lava_timing"):
        translate(HardwareGraph(nodes, edges, md))
    plain = example_graph("mlp", "float32")
    ideal = dataclasses.replace(plain, metadata=dataclasses.replace(plain.metadata, timing="ideal"))
    assert translate(ideal).steps == translate(plain).steps == 6 + 2


def test_stock_lif_bias_golden_values() -> None:
    # the smallest exponent whose mantissa fits 13 bits signed [-4096, 4095]
    m, e = stock_lif_bias(np.array([320, 2**18, -4096, -8192, 4 * 4095, 0]))
    assert m.tolist() == [320, 2048, -4096, -4096, 4095, 0]
    assert e.tolist() == [0, 7, 0, 1, 2, 0]
    assert stock_lif_bias(np.array([-4097 * 2])) is None  # -4097 does not fit, -8194 % 4 != 0
    assert stock_lif_bias(np.array([4097])) is None  # odd and beyond 13 bits
    assert stock_lif_bias(np.array([4095 << 8])) is None  # needs bias_exp 8 > 7


@settings(max_examples=200, deadline=None)
@given(st.integers(-4096, 4095), st.integers(0, 7))
def test_stock_lif_bias_reproduces_every_lava_bias(mant: int, exp: int) -> None:
    total = np.array([mant << exp])
    fit = stock_lif_bias(total)
    assert fit is not None
    assert np.array_equal(arith.bias_effective(*fit), total)


def test_threshold_schedule_follows_the_layer_offset() -> None:
    lif = LIF(0.5, np.array([1.0, 2.0, 3.0]))
    assert threshold_schedule(lif, 1, 3, 6).tolist() == [1, 1, 2, 3, 3, 3]
    assert threshold_schedule(LIF(0.5, 7.0), 2, 3, 4).tolist() == [7, 7, 7, 7]


@settings(max_examples=50, deadline=None)
@given(st.sampled_from([(5,), (2, 3, 4), (1, 1, 7)]))
def test_layouts_round_trip(shape) -> None:
    a = np.arange(int(np.prod(shape))).reshape(shape)
    lava = from_batch(a[None])
    assert lava.shape == lava_shape(shape)
    assert np.array_equal(to_batch(lava)[0], a)
    assert np.array_equal(swap_layout(swap_layout(a, len(shape)), len(shape)), a)


# -- the JSON file ---------------------------------------------------------------------------


def test_exported_file_rebuilds_and_runs_without_the_graph(tmp_path) -> None:
    g = example_graph("ei_conv", "fixed")
    path = tmp_path / "model.lava.json"
    spec = export_lava(g, path)
    text = json.loads(path.read_text())
    assert text["select_tag"] == "fixed_pt"
    # the E-I circuit feeding l2 emits a current before l2's arrival (its stabilisation terms
    # on a zero input): Lava's LIFReset starts l2 from rest at its arrival step all the same
    assert text["processes"]["l2"]["kind"] == "lava.LIFReset"
    assert text["processes"]["l2"]["vars"]["v"] == [8]
    assert {"src", "dst", "transform"} <= set(text["connections"][0])
    loaded = load_lava(path)
    assert spec_to_json(loaded) == spec_to_json(spec)
    x = example_input(g, 3)
    res = rung2_fixed(g, x, spec=loaded)
    assert res.passed, res.summary()
    # the same samples one run() call each give the same records
    inputs = encode_inputs(g, x)
    whole = run_lava_steps(loaded, inputs, record=["l1", "ei2"])
    parts = run_lava_steps(loaded, inputs, record=["l1", "ei2"], chunk=1)
    for k in ("l1", "ei2"):
        assert np.array_equal(whole.records[k], parts.records[k])
    assert np.array_equal(whole.readout, parts.readout)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(magic="nope"), "magic"),
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d["processes"]["l1"].update(kind="os.system"), "unknown Lava process kind"),
        (lambda d: d["processes"]["l1"]["vars"].update(v=[3]), "rebuilt Vars"),
        (
            lambda d: d["connections"].append({"src": ["zz", "s_out"], "dst": ["l1", "a_in"]}),
            "names no process",
        ),
        (lambda d: d.pop("taps"), "malformed"),
    ],
)
def test_tampered_files_are_refused(tmp_path, mutate, message) -> None:
    g = example_graph("mlp", "fixed")
    path = tmp_path / "m.lava.json"
    export_lava(g, path)
    d = json.loads(path.read_text())
    mutate(d)
    path.write_text(json.dumps(d))
    with pytest.raises(ExportError, match=message):
        spec = load_lava(path)
        from exporters.lava.build import build

        build(spec, encode_inputs(g, example_input(g, 1))["x"], tmp_path)


def test_unreadable_file_names_itself(tmp_path) -> None:
    path = tmp_path / "broken.lava.json"
    path.write_text('{"magic": "spikefold-lava-process-graph", ')
    with pytest.raises(ExportError, match="broken.lava.json"):
        load_lava(path)
    with pytest.raises(ExportError, match="no such"):
        load_lava(tmp_path / "missing.json")
    with pytest.raises(ExportError, match="magic"):
        spec_from_json({"magic": 1})


# -- the runner's lifecycle ------------------------------------------------------------------


def test_runtime_is_stopped_when_a_lava_worker_fails() -> None:
    g = example_graph("mlp", "fixed")
    spec = translate(g)
    ro = spec.processes["ro"]
    broken = dataclasses.replace(ro, params=dict(ro.params, T="six"))  # fails in the worker
    spec = dataclasses.replace(spec, processes=dict(spec.processes, ro=broken))
    with pytest.raises(ExportError, match="a Lava process failed") as info:
        run_lava(spec, example_input(g, 2))
    assert "TypeError" in str(info.value)  # the worker's own traceback is shown
    assert _no_lava_workers_left()


def test_runtime_is_stopped_on_keyboard_interrupt() -> None:
    g = example_graph("mlp", "fixed")
    seen = []

    def interrupt(i: int) -> None:
        seen.append(i)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_lava(g, example_input(g, 3), on_sample=interrupt)
    assert seen == [0]
    assert _no_lava_workers_left()


def test_runner_matches_hwsim_records_and_readout_layout() -> None:
    g = example_graph("conv", "fixed")
    x = example_input(g, 2)
    res = run_lava(g, x, record=True)
    ref = run_steps(g, encode_inputs(g, x), record=True)
    assert res.records["l1"].shape == ref.records["l1"].shape == (res.steps, 2, 4, 8, 8)
    for k in ("c1", "l1", "pool", "l2", "fc", "ro"):
        off = res.offsets[k]
        assert np.array_equal(res.records[k][off:], ref.records[k][off:]), k
        # before its arrival a node has not started the sample: zeros (hwsim's Dense emits
        # its bias there, which no live step reads)
        assert not res.records[k][:off].any(), k
    assert ref.records["fc"][: res.offsets["fc"]].any()
    assert np.array_equal(res.aligned("l2"), ref.aligned("l2"))
    assert np.array_equal(res.readout, ref.readout)
    assert res.counts["l1"].tolist() == ref.counts["l1"].tolist()
