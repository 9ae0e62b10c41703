"""hwsim.counters: hand-computed counts on tiny graphs (dense, conv borders/padding/stride,
graded and analog inputs, E-I), a brute-force fan-out reference, batching, records from
other runners, and an independent count with torch forward hooks on a trained digits MLP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import arith
from hwsim.counters import (
    conv_fanout,
    count_records,
    count_result,
    count_run,
    footprint_bits,
    needed_records,
)
from hwsim.errors import GraphError
from hwsim.graph import (
    LIF,
    AvgPool2d,
    Conv2d,
    Dense,
    EICircuit,
    Flatten,
    GraphMetadata,
    HardwareGraph,
    Input,
    Readout,
    SumPool2d,
)
from hwsim.sim import simulate


def _chain(nodes: dict, T: int, **meta) -> HardwareGraph:
    names = list(nodes)
    return HardwareGraph(nodes, list(zip(names[:-1], names[1:])), GraphMetadata(T=T, **meta))


# ---------------------------------------------------------------------------------------------
# dense: hand-computed


def test_dense_spike_input_hand_counts():
    # fan-out of input j = non-zero weights in column j: [2, 1, 1]
    w = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 0.0]], np.float32)
    g = _chain({"x": Input((3,), "spikes"), "fc": Dense(w), "lif": LIF(1.0, 10.0),
                "out": Dense(np.ones((1, 2), np.float32)), "ro": Readout()}, T=2)  # fmt: skip
    x = np.array([[[1, 0, 1]], [[0, 1, 1]]])  # [T=2, B=1, 3]
    c = count_run(g, x)
    fc = c.layers["fc"]
    assert fc.steps["in_events"].tolist() == [2, 2]
    assert fc.steps["acs"].tolist() == [2 + 1, 1 + 1]
    assert fc.total("macs") == 0 and fc.total("enc_macs") == 0
    assert fc.steps["dense"].tolist() == [6, 6]  # every weight, zeros too (NeuroBench Dense)
    assert fc.static["nonzero_weights"] == 4 and fc.static["weights"] == 6
    assert fc.static["ann_macs"] == 6
    # the LIF never fires (threshold 10): no spikes, updates = 2 neurons x 2 steps
    assert c.layers["lif"].steps["updates"].tolist() == [2, 2]
    assert c.layers["lif"].total("out_events") == 0
    assert c.layers["ro"].steps["updates"].tolist() == [1, 1]
    nb = c.neurobench()
    assert nb["Effective_ACs"] == 5 and nb["Effective_MACs"] == 0 and nb["Dense"] == 6 + 6 + 2 + 2
    assert nb["ActivationSparsity"] == 1.0
    assert nb["ConnectionSparsity"] == pytest.approx(2 / 8)


def test_direct_input_is_analog_and_graded_counts_are_macs():
    """A direct-encoded frame's events are MACs, even a pixel that is exactly 1.0."""
    w = np.array([[1.0, 1.0, 0.0, 1.0]], np.float32)
    g = _chain({"x": Input((4,), "direct"), "fc": Dense(w), "ro": Readout()}, T=3)
    x = np.array([[1.0, 0.5, 0.25, 0.0]])  # non-zero: 3 pixels; fan-outs 1, 1, 0
    c = count_run(g, x)
    fc = c.layers["fc"]
    assert fc.static["analog_input"] == 1
    assert fc.steps["in_events"].tolist() == [3, 3, 3]
    assert fc.steps["macs"].tolist() == [2, 2, 2] and fc.steps["enc_macs"].tolist() == [2, 2, 2]
    assert fc.total("acs") == 0
    assert fc.steps["in_graded"].tolist() == [3, 3, 3]


def test_pooled_counts_sum_pool_vs_avg_pool_agree():
    """Pooled spike counts: 1 is a binary event (AC), 2 a graded one (MAC); a float AvgPool's
    0.25 is one spike too, so float and fixed graphs count alike."""
    x = np.zeros((1, 1, 1, 2, 4), np.int64)  # [T, B, C, H, W]
    x[0, 0, 0, :, 0:2] = [[1, 0], [0, 0]]  # window 0: one spike
    x[0, 0, 0, :, 2:4] = [[1, 1], [0, 0]]  # window 1: two spikes
    counts = {}
    for pool in (SumPool2d(2), AvgPool2d(2)):
        g = _chain({"x": Input((1, 2, 4), "spikes"), "pool": pool, "flat": Flatten(),
                    "fc": Dense(np.array([[1.0, 1.0], [1.0, 0.0]], np.float32)),
                    "ro": Readout()}, T=1)  # fmt: skip
        counts[pool.kind] = count_run(g, x).layers["fc"]
    for la in counts.values():
        assert la.total("in_events") == 2 and la.total("in_graded") == 1
        assert la.total("acs") == 2  # window 0 reaches both outputs
        assert la.total("macs") == 1  # window 1 (count 2) reaches one
    for k in ("acs", "macs", "in_events", "in_graded"):
        np.testing.assert_array_equal(counts["SumPool2d"].steps[k], counts["AvgPool2d"].steps[k])


# ---------------------------------------------------------------------------------------------
# convolution: borders, padding, stride


def _fanout_loops(w: np.ndarray, in_shape, stride, padding, groups) -> np.ndarray:
    """Brute force: every output position and tap, the input element it reads (if inside)."""
    c_in, h, wd = in_shape
    o, cg, kh, kw = w.shape
    sh, sw = stride
    ph, pw = padding
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros(in_shape, np.int64)
    per_group = o // groups
    for oc in range(o):
        g = oc // per_group
        for y in range(ho):
            for x in range(wo):
                for ci in range(cg):
                    for i in range(kh):
                        for j in range(kw):
                            r, s = y * sh - ph + i, x * sw - pw + j
                            if 0 <= r < h and 0 <= s < wd and w[oc, ci, i, j] != 0:
                                out[g * cg + ci, r, s] += 1
    return out


def test_conv_fanout_hand_values():
    ones = np.ones((1, 1, 3, 3))
    # padding 1, stride 1 on 3x3: centre 9, edge 6, corner 4
    f = conv_fanout(ones, (1, 3, 3), (1, 1), (1, 1), 1)
    np.testing.assert_array_equal(f[0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    # stride 2, padding 1: outputs centred on the corners; centre 4, edge 2, corner 1
    f = conv_fanout(ones, (1, 3, 3), (2, 2), (1, 1), 1)
    np.testing.assert_array_equal(f[0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # no padding: one output, every input reached once; a zero tap reaches nothing
    w = ones.copy()
    w[0, 0, 1, 1] = 0
    f = conv_fanout(w, (1, 3, 3), (1, 1), (0, 0), 1)
    np.testing.assert_array_equal(f[0], [[1, 1, 1], [1, 0, 1], [1, 1, 1]])


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 2), st.integers(1, 2), st.integers(3, 6), st.integers(3, 6),
    st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
    st.integers(0, 2**31 - 1),
)  # fmt: skip
def test_conv_fanout_matches_brute_force(groups, cg, h, wd, k, s, p, per_group, seed):
    rng = np.random.default_rng(seed)
    k = min(k, h + 2 * p, wd + 2 * p)
    w = rng.integers(-2, 3, (groups * per_group, cg, k, k))
    in_shape = (groups * cg, h, wd)
    got = conv_fanout(w, in_shape, (s, s), (p, p), groups)
    np.testing.assert_array_equal(got, _fanout_loops(w, in_shape, (s, s), (p, p), groups))


def test_conv_counts_hand_computed_with_borders():
    """Two spikes, one at a corner (reaches 4 outputs) and one at the centre (9), through a
    3x3 all-ones kernel with padding 1: 13 ACs; Dense = 81 per step (9 outputs x 9 taps minus
    the padded taps = sum of the reach map)."""
    w = np.ones((1, 1, 3, 3), np.float32)
    g = _chain({"x": Input((1, 3, 3), "spikes"), "conv": Conv2d(w, padding=1), "lif": LIF(0.5, 1.0),
                "flat": Flatten(), "fc": Dense(np.ones((2, 9), np.float32)), "ro": Readout()},
               T=1)  # fmt: skip
    x = np.zeros((1, 1, 1, 3, 3), np.int64)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 1, 1] = 1
    c = count_run(g, x)
    conv = c.layers["conv"]
    assert conv.total("acs") == 4 + 9 and conv.total("in_events") == 2
    assert conv.total("dense") == 4 * 4 + 4 * 6 + 9  # sum of the reach map
    assert conv.static["ann_macs"] == 49
    # the LIF spikes where the two spikes' windows overlap (current >= 1): every output sees
    # at least one, and fc counts exactly those spikes x its 2 outputs
    spikes = c.layers["lif"].total("out_events")
    assert c.layers["fc"].total("acs") == 2 * spikes and spikes == 9


# ---------------------------------------------------------------------------------------------
# E-I circuit: inhibitory payloads and divisions


def test_ei_circuit_counts_hand_computed():
    w_ee = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], np.float32)  # fan-outs 2, 2
    w_ie = np.array([[1.0, 0.0]], np.float32)  # one I unit reading input 0 (fan-outs 1, 0)
    w_ei = np.array([[1.0], [0.0], [2.0]], np.float32)  # I unit -> 2 E units
    ei = EICircuit(w_ee, w_ie, w_ei, g_i=np.array([1.0], np.float32),
                   g_e=np.ones(3, np.float32), b_e=np.zeros(3, np.float32))  # fmt: skip
    g = _chain({"x": Input((2,), "spikes"), "ei": ei, "lif": LIF(0.5, 10.0), "ro": Readout()}, T=2)
    x = np.array([[[1, 1]], [[0, 1]]])  # step 0: both inputs, step 1: input 1 only
    la = count_run(g, x).layers["ei"]
    assert la.steps["acs"].tolist() == [(2 + 1) + (2 + 0), 2 + 0]
    # h_I = x_0: payload non-zero at step 0 only; p and q = g_I p each reach 2 E units
    assert la.steps["inh_events"].tolist() == [1, 0]
    assert la.steps["inh_macs"].tolist() == [4, 0]
    assert la.steps["macs"].tolist() == [4, 0]
    assert la.steps["divisions"].tolist() == [3, 3]
    assert la.static["ann_macs"] == 6 + 2 + 2 * 3 and la.static["ann_divisions"] == 3


# ---------------------------------------------------------------------------------------------
# membrane updates, footprint, batching, records


def test_membrane_updates_count_changed_states():
    """No leak (decay 1): a step without input leaves v unchanged (not an update), except at
    step 0 where NeuroBench counts every neuron."""
    g = _chain({"x": Input((2,), "spikes"), "fc": Dense(np.eye(2, dtype=np.float32) * 0.4),
                "lif": LIF(1.0, 1.0), "ro": Readout()}, T=4)  # fmt: skip
    x = np.array([[[1, 0]], [[0, 0]], [[1, 1]], [[1, 0]]])
    la = count_run(g, x).layers["lif"]
    # v0: 0.4 | unchanged | 0.8, 0.4 | 1.2 -> spike, soft reset 0.2 (changed), 0.4 unchanged
    assert la.steps["membrane_updates"].tolist() == [2, 0, 2, 1]
    assert la.steps["out_events"].tolist() == [0, 0, 0, 1]


def test_footprint_fixed_widths():
    w = arith.FixedWidths(weight_bits=6)
    g = HardwareGraph(
        {"x": Input((3,), "spikes"), "fc": Dense(np.array([[8, -16, 0], [24, 0, 8]]),
                                                 np.array([5, 6])),
         "lif": LIF(4096, np.array([64, 70]), "hard"), "ro": Readout()},
        [("x", "fc"), ("fc", "lif"), ("lif", "ro")],
        GraphMetadata(T=2, format="fixed", widths=w),
    )  # fmt: skip
    assert footprint_bits(g, "fc") == (6 * 6 + 2 * 24 + 4, 0, 6)
    assert footprint_bits(g, "lif")[:2] == (2 * 17 + 12, 2 * 24)  # vth[T], dv; v
    assert footprint_bits(g, "ro")[1] == 2 * 32


def _mlp(seed=0, encoding="direct") -> HardwareGraph:
    rng = np.random.default_rng(seed)
    return _chain({"x": Input((1, 4, 4), encoding), "flat": Flatten(),
                   "fc1": Dense(rng.normal(0, 0.6, (12, 16)).astype(np.float32)),
                   "lif1": LIF(0.5, 0.5),
                   "fc2": Dense(rng.normal(0, 0.6, (5, 12)).astype(np.float32)),
                   "ro": Readout()}, T=5)  # fmt: skip


def test_batches_merge_exactly_and_events_match_the_simulator():
    g = _mlp()
    x = np.random.default_rng(1).random((23, 1, 4, 4))
    one = count_run(g, x, batch_size=23)
    many = count_run(g, x, batch_size=4)
    assert one.samples == many.samples == 23
    for name, la in one.layers.items():
        for k, v in la.steps.items():
            np.testing.assert_array_equal(v, many.layers[name].steps[k], err_msg=f"{name}/{k}")
    res = simulate(g, x)
    np.testing.assert_array_equal(one.layers["lif1"].steps["out_events"], res.counts["lif1"])
    np.testing.assert_array_equal(one.layers["x"].steps["out_events"], res.counts["x"])
    assert one.firing_rate("lif1") == pytest.approx(res.events("lif1") / (23 * 12 * 5))


def test_rate_input_events_are_binary_acs():
    g = _mlp(encoding="rate")
    x = np.full((6, 1, 4, 4), 0.5)
    c = count_run(g, x, generator=np.random.default_rng(0))
    fc1 = c.layers["fc1"]
    assert fc1.total("macs") == 0 and fc1.total("acs") > 0
    assert fc1.total("in_events") == c.layers["x"].total("out_events")


def test_count_records_recomputes_pass_through_nodes_and_names_missing_ones():
    """A runner that probed only neurons and inputs (as a Lava run may) counts the same: the
    Flatten is recomputed; a missing neuron raises a GraphError naming it."""
    g = _mlp()
    x = np.random.default_rng(2).random((7, 1, 4, 4))
    res = simulate(g, x, record=True)
    full = count_result(g, res)
    partial = count_records(g, {k: res.records[k] for k in ("x", "lif1")})
    for name in ("fc1", "fc2", "lif1"):
        for k in ("acs", "macs", "in_events", "out_events"):
            if k in full.layers[name].steps:
                np.testing.assert_array_equal(full.layers[name].steps[k],
                                              partial.layers[name].steps[k])  # fmt: skip
    assert "membrane_updates" in full.layers["lif1"].steps  # hwsim records H
    assert "membrane_updates" not in partial.layers["lif1"].steps
    assert partial.neurobench()["MembraneUpdates"] is None
    with pytest.raises(GraphError, match="lif1"):
        count_records(g, {"x": res.records["x"]})
    assert set(needed_records(g)) == {"x", "flat", "lif1"}


def test_lava_probe_records_count_like_hwsim():
    """The same counting code on Lava's probes and on hwsim (lava timing, same inputs)."""
    pytest.importorskip("exporters.lava")
    from exporters.lava import run_lava_steps
    from hwsim.sim import encode_inputs, run_steps
    from toolchain.fold import to_lava_timing

    rng = np.random.default_rng(0)
    w1 = (rng.integers(-60, 60, (6, 8)) // 2 * 2).astype(np.int64)
    w2 = (rng.integers(-60, 60, (3, 6)) // 2 * 2).astype(np.int64)
    g = _chain({"x": Input((8,), "spikes"), "d1": Dense(w1), "l1": LIF(2048, 40, "hard"),
                "d2": Dense(w2), "ro": Readout()}, T=5, format="fixed",
               widths=arith.FixedWidths())  # fmt: skip
    g = to_lava_timing(g)
    inputs = encode_inputs(g, (rng.random((5, 4, 8)) < 0.5).astype(np.int64))
    rec = needed_records(g)
    lava = count_result(g, run_lava_steps(g, inputs, record=rec))
    ours = count_result(g, run_steps(g, inputs, record=rec))
    assert lava.source == "lava" and ours.source == "hwsim"
    assert lava.layers["l1"].total("out_events") > 0
    for name, la in ours.layers.items():
        for k, v in lava.layers[name].steps.items():
            np.testing.assert_array_equal(v, la.steps[k], err_msg=f"{name}/{k}")


# ---------------------------------------------------------------------------------------------
# independent count: torch forward hooks on a trained digits MLP


def _torch_counts(model, seq):
    """NeuroBench-style counts from forward hooks: each Linear's input (binarised) through a
    binary copy of the layer ([W != 0]); AC where the input entry is +-1, MAC otherwise (the
    first layer, fed analog frames: all MAC); spikes from the LIF outputs."""
    import torch

    from models.base import reset_states, set_step_mode
    from models.neurons import LIF as TorchLIF

    rec: dict[str, list] = {}
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, (torch.nn.Linear, TorchLIF)):

            def hook(m, inp, out, name=name):
                rec.setdefault(name, []).append((inp[0].detach(), out.detach()))

            hooks.append(mod.register_forward_hook(hook))
    try:
        model.eval()
        set_step_mode(model, "m")
        reset_states(model)
        with torch.no_grad():
            model(seq)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    first = True
    for name, calls in rec.items():
        ((x, y),) = calls
        mod = dict(model.named_modules())[name]
        if isinstance(mod, torch.nn.Linear):
            mask = (mod.weight != 0).double()
            nz = (x != 0).double()
            binary = torch.zeros_like(nz) if first else (x.abs() == 1).double()
            acs = float(torch.nn.functional.linear(binary, mask).sum())
            macs = float(torch.nn.functional.linear(nz - binary, mask).sum())
            dense = x.shape[0] * mask.numel()
            out[name] = {"acs": acs, "macs": macs, "dense": dense, "in_events": float(nz.sum())}
            first = False
        else:
            out[name] = {"out_events": float((y != 0).sum()), "size": y.numel()}
    return out


def test_counts_equal_torch_hook_counts_on_trained_mlp():
    import torch

    from models import build_model
    from toolchain.data import load_dataset
    from toolchain.fold import fold_model
    from toolchain.train import TrainConfig, fit
    from toolchain.verify import encode_sequence, record_torch

    torch.set_num_threads(1)
    data = load_dataset("digits", limit=400)
    model = build_model({"arch": "mlp", "hidden": [32], "in_shape": [1, 8, 8],
                         "num_classes": 10})  # fmt: skip
    fit(model, data, TrainConfig(epochs=1, T=4, progress=False, device="cpu"))
    model.eval()
    fold = fold_model(model, data.in_shape, 4, "direct", "count_test")
    g = fold.graph
    x = data.x_test[:80]
    seq = encode_sequence(x, g)
    ref = _torch_counts(model, seq)
    c = count_run(g, x.numpy().astype(np.float64), batch_size=32)

    lin = {"m1": "1.module", "m3": "3.module"}
    for node, mod in lin.items():
        la = c.layers[node]
        assert la.total("acs") == ref[mod]["acs"], node
        assert la.total("macs") == ref[mod]["macs"], node
        assert la.total("dense") == ref[mod]["dense"], node
        assert la.total("in_events") == ref[mod]["in_events"], node
    assert c.layers["m1"].total("enc_macs") == ref["1.module"]["macs"] > 0
    assert c.layers["m3"].total("acs") > 0
    assert c.layers["m2"].total("out_events") == ref["2"]["out_events"] > 0
    nb = c.neurobench()
    assert nb["ActivationSparsity"] == pytest.approx(1 - ref["2"]["out_events"] / ref["2"]["size"])
    # the counting code on the torch network's own recordings gives the same numbers
    rec = record_torch(model, seq, fold.probes)
    records = {"input": seq.numpy().astype(np.float64), "m2": rec["m2"].astype(np.float64)}
    c_ref = count_records(g, records)
    for node in ("m1", "m3"):
        assert c_ref.layers[node].total("acs") == c.layers[node].total("acs")
        assert c_ref.layers[node].total("macs") == c.layers[node].total("macs")
