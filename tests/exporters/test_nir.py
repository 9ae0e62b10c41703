"""exporters.nir_export: hardware graph <-> NIR round trips, files, the LIF parameter
derivation, and the errors for what NIR 1.0 cannot express (Norse runs: test_nir_norse.py)."""

from __future__ import annotations

import dataclasses
import json

import h5py
import nir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.nir_export import (
    from_nir,
    lif_to_nir_params,
    load_nir_graph,
    read_nir,
    save_nir_graph,
    to_nir,
    write_nir,
)
from hwsim import arith
from hwsim.errors import ExportError
from hwsim.graph import (
    LI,
    LIF,
    NODE_KINDS,
    Add,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    EICircuit,
    FastInhibitory,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
)
from hwsim.io import graphs_equal

T = 5
NOT_EXPRESSIBLE = {"FastInhibitory", "EICircuit"}


def conv_graph() -> HardwareGraph:
    """Conv/pool/flatten stack: per-channel and scalar LIF biases, decays 0.9 (not dyadic), 0
    and 1 (IF), AvgPool and SumPool with stride != kernel, a conv without bias."""
    rng = np.random.default_rng(1)
    nodes = {
        "x": Input((2, 8, 8), "direct"),
        "c1": Conv2d(
            rng.normal(size=(4, 2, 3, 3)).astype(np.float32), rng.normal(size=4) * 0.1, padding=1
        ),  # fmt: skip
        "l1": LIF(0.9, 1.0, "hard", bias=np.array([0.1, -0.2, 0.0, 0.05])),
        "p1": AvgPool2d(2),
        "c2": Conv2d(rng.normal(size=(4, 4, 3, 3)), None, stride=2, padding=1),
        "l2": LIF(0.0, 0.5, "hard", bias=np.array(0.125)),
        "p2": SumPool2d(2, stride=1),
        "flat": Flatten(),
        "fc": Dense(rng.normal(size=(6, 4)), rng.normal(size=6)),
        "l3": LIF(1.0, 1.0, "hard"),
        "fo": Dense(rng.normal(size=(3, 6))),
        "out": Readout(),
    }
    chain = list(nodes)
    return HardwareGraph(nodes, list(zip(chain, chain[1:])), GraphMetadata(T=T))


def residual_graph() -> HardwareGraph:
    """Rate input, a SEW-style Add of spikes (two sources, two successors), per-neuron bias,
    a Delay, origin metadata."""
    rng = np.random.default_rng(2)
    nodes = {
        "x": Input((8,), "rate"),
        "fa": Dense(rng.normal(size=(8, 8)), None),
        "la": LIF(0.75, 1.0, "hard", bias=rng.normal(size=8) * 0.1),
        "add": Add(),
        "fb": Dense(rng.normal(size=(5, 8)), rng.normal(size=5)),
        "fc": Dense(rng.normal(size=(5, 8)), None),
        "lb": LIF(0.5, 0.75, "hard"),
        "dly": Delay(2),
        "fo": Dense(rng.normal(size=(3, 5)), None),
        "out": Readout(),
    }
    edges = [("x", "fa"), ("fa", "la"), ("la", "add"), ("x", "add"), ("add", "fb"),
             ("add", "fc"), ("fb", "lb"), ("fc", "lb"), ("lb", "dly"), ("dly", "fo"),
             ("fo", "out")]  # fmt: skip
    meta = GraphMetadata(T=T, origin={"model": "test", "config_hash": "abc"})
    return HardwareGraph(nodes, edges, meta)


def cuba_graph(li_decay: float = 0.8) -> HardwareGraph:
    """A current-based layer (decays 0.9 and 0.3, not dyadic; per-neuron bias) and an LI
    readout (``li_decay = 1``: NIR's integrator ``I``, without bias)."""
    rng = np.random.default_rng(3)
    nodes = {
        "x": Input((6,), "rate"),
        "fa": Dense(rng.normal(size=(7, 6)), rng.normal(size=7)),
        "cu": CubaLIF(0.9, 0.3, 1.0, "hard", bias=rng.normal(size=7) * 0.1),
        "fb": Dense(rng.normal(size=(3, 7)), None),
        "li": LI(li_decay, None if li_decay == 1 else np.array(0.25)),
        "out": Readout(),
    }
    chain = list(nodes)
    return HardwareGraph(nodes, list(zip(chain, chain[1:])), GraphMetadata(T=T))


GRAPHS = {"conv": conv_graph, "residual": residual_graph, "cuba": cuba_graph}


def test_the_round_trip_graphs_cover_every_expressible_kind():
    kinds = {n.kind for make in GRAPHS.values() for n in make().nodes.values()}
    assert kinds == set(NODE_KINDS) - NOT_EXPRESSIBLE


@pytest.mark.parametrize("name", GRAPHS)
@pytest.mark.parametrize("dt", [1.0, 1e-3])
def test_round_trip_graph_nir_graph_is_identical(name, dt):
    g = GRAPHS[name]()
    assert graphs_equal(from_nir(to_nir(g, dt=dt)), g)


@pytest.mark.parametrize("name", GRAPHS)
def test_file_round_trip(name, tmp_path):
    g = GRAPHS[name]()
    path = write_nir(g, tmp_path / "model.nir", dt=0.5)
    assert path == tmp_path / "model.nir" and list(tmp_path.iterdir()) == [path]
    assert graphs_equal(read_nir(path), g)
    with h5py.File(path) as f:  # a plain NIR file: version and node group
        assert "version" in f and "node" in f


def test_nir_node_kinds_and_parameters():
    ng = to_nir(conv_graph())
    kinds = {k: type(v).__name__ for k, v in ng.nodes.items()}
    assert kinds == {
        "x": "Input", "c1": "Conv2d", "l1": "LIF", "p1": "AvgPool2d", "c2": "Conv2d",
        "l2": "LIF", "p2": "SumPool2d", "flat": "Flatten", "fc": "Affine", "l3": "IF",
        "fo": "Linear", "out": "Output",
    }  # fmt: skip
    l1 = ng.nodes["l1"]
    assert l1.tau.shape == (4, 8, 8)
    np.testing.assert_allclose(l1.tau, 10.0, rtol=1e-14)  # dt/(1-0.9)
    np.testing.assert_allclose(l1.r, 10.0, rtol=1e-14)
    np.testing.assert_allclose(l1.v_leak[:, 0, 0], [1.0, -2.0, 0.0, 0.5], rtol=1e-14)  # b·R
    assert np.all(l1.v_threshold == 1.0) and np.all(l1.v_reset == 0)
    assert np.all(ng.nodes["l2"].tau == 1.0) and np.all(ng.nodes["l2"].r == 1.0)  # a = 0
    assert np.all(ng.nodes["l3"].r == 1.0)  # IF: R = 1/dt
    assert ng.nodes["flat"].start_dim == -3 and list(ng.nodes["flat"].output_type["output"]) == [4]
    assert list(ng.nodes["c2"].output_type["output"]) == [4, 2, 2]
    assert ng.metadata["dt"] == 1.0 and ng.metadata["spikefold_T"] == T


def test_cubalif_and_li_parameters():
    ng = to_nir(cuba_graph(), dt=0.5)
    cu, li = ng.nodes["cu"], ng.nodes["li"]
    assert isinstance(cu, nir.CubaLIF) and isinstance(li, nir.LI)
    # u = 0.3 u + x: tau_syn = dt/(1 - 0.3), w_in = 1/(1 - 0.3); membrane as the LIF's
    np.testing.assert_allclose(cu.tau_syn, 0.5 / 0.7, rtol=1e-14)
    np.testing.assert_allclose(cu.w_in, 1 / 0.7, rtol=1e-14)
    np.testing.assert_allclose(cu.tau_mem, 5.0, rtol=1e-14)  # dt/(1 - 0.9)
    np.testing.assert_allclose(cu.r, 10.0, rtol=1e-14)
    assert np.all(cu.v_threshold == 1.0) and np.all(cu.v_reset == 0)
    np.testing.assert_allclose(li.tau, 2.5, rtol=1e-14)  # dt/(1 - 0.8)
    np.testing.assert_allclose(li.v_leak, 0.25 * 5.0, rtol=1e-14)  # b·R
    # the Euler steps of the NIR equations reproduce u = c·u + x, H = a·v + u + b
    x, b = 0.8, float(cuba_graph().nodes["cu"].bias[0])
    d_s, d_m = 0.5 / cu.tau_syn[0], 0.5 / cu.tau_mem[0]
    i1 = (1 - d_s) * 0.0 + d_s * cu.w_in[0] * x
    v1 = (1 - d_m) * 0.0 + d_m * (cu.r[0] * i1 + cu.v_leak[0])
    assert abs(d_m * cu.r[0] * i1 - x) < 1e-14 and abs(v1 - (x + b)) < 1e-14
    integ = to_nir(cuba_graph(li_decay=1.0), dt=0.5).nodes["li"]
    assert isinstance(integ, nir.I) and np.all(integ.r == 2.0)  # R = 1/dt
    assert graphs_equal(from_nir(to_nir(cuba_graph(li_decay=1.0), dt=0.5)), cuba_graph(1.0))


def test_cubalif_soft_reset_and_leakless_current_are_refused():
    g = cuba_graph()
    for node, msg in [
        (CubaLIF(0.9, 0.3, 1.0, "soft"), "soft reset"),
        (CubaLIF(0.9, 1.0, 1.0, "hard"), "no finite tau_syn"),
        (CubaLIF(0.9, 0.3, np.linspace(1, 2, T), "hard"), "per-step threshold"),
    ]:
        bad = dataclasses.replace(g, nodes={**g.nodes, "cu": node})
        with pytest.raises(ExportError, match=msg):
            to_nir(bad)
    li_bias = dataclasses.replace(g, nodes={**g.nodes, "li": LI(1.0, np.array(0.5))})
    with pytest.raises(ExportError, match="NIR I, which has no constant"):
        to_nir(li_bias)


def test_add_is_dissolved_into_summing_edges():
    ng = to_nir(residual_graph())
    assert "add" not in ng.nodes
    assert {("la", "fb"), ("x", "fb"), ("la", "fc"), ("x", "fc")} <= set(ng.edges)
    assert ng.nodes["fb"].metadata["spikefold_add"] == "add"
    np.testing.assert_array_equal(ng.nodes["dly"].delay, np.full(5, 2.0))


def test_lif_parameters_golden():
    assert lif_to_nir_params(0.5, 1.0) == {"tau": 2.0, "r": 2.0, "v_leak_gain": 2.0}
    assert lif_to_nir_params(0.5, 1e-3) == {"tau": 2e-3, "r": 2.0, "v_leak_gain": 2.0}
    assert lif_to_nir_params(0.0, 0.25) == {"tau": 0.25, "r": 1.0, "v_leak_gain": 1.0}
    assert lif_to_nir_params(1.0, 0.5) == {"r": 2.0}
    with pytest.raises(ExportError, match="dt"):
        lif_to_nir_params(0.5, 0.0)


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(0.0, 0.999),
    b=st.floats(-2, 2),
    dt=st.sampled_from([1.0, 1e-3, 0.25, 7.0]),
    v=st.floats(-3, 3),
    i=st.floats(-3, 3),
)
def test_nir_lif_euler_step_is_the_training_update(a, b, dt, v, i):
    """NIR's ODE, one Euler step of dt with the derived constants, is H = a·V + I + b."""
    p = lif_to_nir_params(a, dt)
    v_leak = p["v_leak_gain"] * b
    euler = v + (dt / p["tau"]) * ((v_leak - v) + p["r"] * i)
    assert euler == pytest.approx(a * v + i + b, rel=1e-12, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(a=st.floats(0.0, 1.0), dt=st.sampled_from([1.0, 1e-3, 3.0]))
def test_decay_round_trips_exactly(a, dt):
    g = HardwareGraph(
        {"x": Input((3,), "spikes"), "f": Dense(np.eye(3)), "l": LIF(a, 1.0, "hard"),
         "o": Readout()},
        [("x", "f"), ("f", "l"), ("l", "o")],
        GraphMetadata(T=2),
    )  # fmt: skip
    assert from_nir(to_nir(g, dt=dt)).nodes["l"].decay == a


def test_constant_threshold_schedule_is_exported_as_a_scalar():
    g = conv_graph()
    nodes = dict(g.nodes, l3=LIF(1.0, np.full(T, 1.25), "hard"))
    back = from_nir(to_nir(dataclasses.replace(g, nodes=nodes)))
    assert back.nodes["l3"].threshold == 1.25


# ---------------------------------------------------------------------------------------------
# what NIR 1.0 cannot express


def _with(g: HardwareGraph, **nodes) -> HardwareGraph:
    return dataclasses.replace(g, nodes=dict(g.nodes, **nodes))


@pytest.mark.parametrize(
    ("change", "node", "match"),
    [
        (dict(l1=LIF(0.9, 1.0, "soft")), "l1", "soft reset"),
        (dict(l2=LIF(0.5, np.linspace(1, 2, T), "hard")), "l2", "per-step threshold"),
        (dict(l3=LIF(1.0, 1.0, "hard", bias=np.array(0.5))), "l3", "IF, which has no constant"),
        (dict(c2=Conv2d(np.ones((4, 2, 3, 3)), None, stride=2, padding=1, groups=2)), "c2",
         "groups=2"),
    ],
)  # fmt: skip
def test_not_expressible_node_raises_naming_it(change, node, match):
    g = _with(conv_graph(), **change)
    with pytest.raises(ExportError, match=match) as info:
        to_nir(g)
    assert f"node {node!r}" in str(info.value)


def test_ei_circuit_and_graded_payloads_raise():
    rng = np.random.default_rng(0)
    w = lambda *s: np.abs(rng.normal(size=s))  # noqa: E731
    nodes = {
        "x": Input((6,), "direct"),
        "eic": EICircuit(w(4, 6), w(1, 6), w(4, 1), g_i=w(1), g_e=w(4), b_e=rng.normal(size=4)),
        "l": LIF(0.5, 1.0, "hard"),
        "ie": Dense(w(2, 4)),
        "inh": FastInhibitory(),
        "ei": Dense(w(3, 2)),
        "o": Readout(),
    }
    edges = [("x", "eic"), ("eic", "l"), ("l", "ie"), ("ie", "inh"), ("inh", "ei"), ("ei", "o")]
    g = HardwareGraph(nodes, edges, GraphMetadata(T=T))
    with pytest.raises(ExportError, match="node 'eic' .*divisive inhibition.*division"):
        to_nir(g)
    g2 = dataclasses.replace(
        g, nodes=dict(nodes, eic=Dense(w(4, 6))), edges=edges
    )  # only the graded population left
    with pytest.raises(ExportError, match="node 'inh' .*graded inhibitory payload"):
        to_nir(g2)


def test_fixed_graphs_and_lava_timing_raise():
    g = conv_graph()
    lava = dataclasses.replace(g, metadata=GraphMetadata(T=T, timing="lava"))
    with pytest.raises(ExportError, match="'ideal'-timing"):
        to_nir(lava)
    fixed = HardwareGraph(
        {"x": Input((2,), "spikes"), "f": Dense(np.array([[2, 4]])), "l": LIF(2048, 64, "hard"),
         "o": Readout()},
        [("x", "f"), ("f", "l"), ("l", "o")],
        GraphMetadata(T=2, format="fixed", widths=arith.FixedWidths()),
    )  # fmt: skip
    with pytest.raises(ExportError, match="float graph"):
        to_nir(fixed)


def test_a_source_reaching_a_node_twice_through_adds_raises():
    nodes = {"x": Input((3,), "spikes"), "a1": Add(), "a2": Add(), "f": Dense(np.eye(3)),
             "o": Readout()}  # fmt: skip
    edges = [("x", "a1"), ("x", "a2"), ("a1", "a2"), ("a2", "f"), ("f", "o")]
    nodes["y"] = Input((3,), "spikes")
    edges.append(("y", "a1"))
    with pytest.raises(ExportError, match="node 'f' \\(Dense\\): one source reaches it twice"):
        to_nir(HardwareGraph(nodes, edges, GraphMetadata(T=2)))


# ---------------------------------------------------------------------------------------------
# NIR graphs from elsewhere


def _foreign(lif: nir.NIRNode, metadata: dict | None = None) -> nir.NIRGraph:
    """Input -> Affine -> neuron -> Linear -> Output, as other tools write it (no hints)."""
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    nodes = {
        "in": nir.Input(np.array([3])),
        "aff": nir.Affine(w, np.ones(4, np.float32)),
        "lif": lif,
        "lin": nir.Linear(np.ones((2, 4), np.float32)),
        "out": nir.Output(np.array([2])),
    }
    edges = [("in", "aff"), ("aff", "lif"), ("lif", "lin"), ("lin", "out")]
    return nir.NIRGraph(nodes, edges, metadata=metadata or {})


def test_foreign_lif_input_gain_is_folded_into_its_synapse():
    """Norse/snnTorch style: R = 1, dt/τ = 1/4 -> a = 3/4, gain 1/4 moved into the Affine."""
    one = np.ones(4)
    lif = nir.LIF(tau=0.004 * one, r=one, v_leak=0.4 * one, v_threshold=0.5 * one)
    g = from_nir(_foreign(lif), T=3, dt=1e-3)
    assert g.nodes["lif"].decay == 0.75 and g.nodes["lif"].threshold == 0.5
    np.testing.assert_allclose(g.nodes["aff"].weight, np.arange(12).reshape(4, 3) / 40, rtol=1e-7)
    np.testing.assert_allclose(g.nodes["aff"].bias, 0.25)
    assert g.nodes["lif"].bias.shape == () and g.nodes["lif"].bias == pytest.approx(0.1)
    assert g.nodes["in"].encoding == "spikes" and g.metadata.T == 3


def test_foreign_cubalif_gains_are_folded_into_its_synapse():
    """R = 1, w_in = 1 (snnTorch/Norse style), dt/τ_syn = 1/2, dt/τ_mem = 1/4: c = 1/2, a = 3/4,
    and the input gain d_s·w_in·d_m·R = 1/8 moves into the Affine (weights and bias)."""
    one = np.ones(4)
    cu = nir.CubaLIF(tau_syn=2 * one, tau_mem=4 * one, r=one, v_leak=0.4 * one,
                     v_threshold=0.5 * one)  # fmt: skip
    g = from_nir(_foreign(cu), T=3, dt=1.0)
    node = g.nodes["lif"]
    assert isinstance(node, CubaLIF) and node.reset == "hard"
    assert (node.decay, node.current_decay, node.threshold) == (0.75, 0.5, 0.5)
    assert node.bias == pytest.approx(0.1)  # d_m·v_leak
    np.testing.assert_allclose(g.nodes["aff"].weight, np.arange(12).reshape(4, 3) / 80, rtol=1e-7)
    np.testing.assert_allclose(g.nodes["aff"].bias, 0.125)


@pytest.mark.parametrize(
    ("lif", "match"),
    [
        (nir.LIF(tau=np.array([2.0, 2, 2, 3]), r=np.full(4, 2.0), v_leak=np.zeros(4),
                 v_threshold=np.ones(4)), "tau varies across neurons"),
        (nir.LIF(tau=np.full(4, 2.0), r=np.full(4, 2.0), v_leak=np.zeros(4),
                 v_threshold=np.array([1.0, 1, 1, 2]), v_reset=np.full(4, -0.5)),
         "v_threshold varies"),
        (nir.LIF(tau=np.full(4, 0.5), r=np.full(4, 1.0), v_leak=np.zeros(4),
                 v_threshold=np.ones(4)), r"the decay of tau is -1, outside \[0, 1\)"),
        (nir.CubaLIF(tau_syn=np.full(4, 0.5), tau_mem=np.full(4, 2.0), r=np.ones(4),
                     v_leak=np.zeros(4), v_threshold=np.ones(4)), "decay of tau_syn is -1"),
    ],
)  # fmt: skip
def test_foreign_nodes_without_hwsim_meaning_raise(lif, match):
    with pytest.raises(ExportError, match=f"node 'lif' .*{match}"):
        from_nir(_foreign(lif), T=3, dt=1.0)


def test_gain_that_cannot_be_folded_raises():
    one = np.ones(3)
    g = nir.NIRGraph(
        {"in": nir.Input(np.array([3])),
         "lif": nir.LIF(tau=4 * one, r=one, v_leak=0 * one, v_threshold=one),
         "out": nir.Output(np.array([3]))},
        [("in", "lif"), ("lif", "out")],
    )  # fmt: skip
    with pytest.raises(ExportError, match="node 'lif': its input gain"):
        from_nir(g, T=2, dt=1.0)


def test_missing_T_or_dt_raises():
    """R = 1 and no metadata: the file does not say its time step (Norse, Sinabs)."""
    lif = nir.LIF(tau=np.full(4, 2.0), r=np.full(4, 1.0), v_leak=np.zeros(4),
                  v_threshold=np.ones(4))  # fmt: skip
    with pytest.raises(ExportError, match="pass dt"):
        from_nir(_foreign(lif), T=3)
    with pytest.raises(ExportError, match="pass T"):
        from_nir(_foreign(lif, {"dt": 1.0}))


def test_partial_flatten_raises():
    g = nir.NIRGraph(
        {"in": nir.Input(np.array([2, 3, 3])),
         "fl": nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=1),
         "out": nir.Output(np.array([2, 9]))},
        [("in", "fl"), ("fl", "out")],
    )  # fmt: skip
    with pytest.raises(ExportError, match="node 'fl' .*not a full flatten"):
        from_nir(g, T=2, dt=1.0)


# ---------------------------------------------------------------------------------------------
# files


def test_reading_a_bad_file_names_it(tmp_path):
    with pytest.raises(ExportError, match="no such NIR file"):
        read_nir(tmp_path / "missing.nir")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ExportError, match=f"{bad}: not a readable NIR file"):
        load_nir_graph(bad)
    good = write_nir(conv_graph(), tmp_path / "good.nir")
    cut = tmp_path / "cut.nir"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ExportError, match=str(cut)):
        read_nir(cut)


def test_write_is_atomic(tmp_path, monkeypatch):
    path = write_nir(residual_graph(), tmp_path / "m.nir")
    before = path.read_bytes()

    def broken_write(filename, graph, **kw):
        with open(filename, "wb") as f:
            f.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(nir, "write", broken_write)
    with pytest.raises(KeyboardInterrupt):
        save_nir_graph(to_nir(conv_graph()), path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_origin_travels_as_json():
    ng = to_nir(residual_graph())
    assert json.loads(ng.metadata["spikefold_origin"]) == {"config_hash": "abc", "model": "test"}
