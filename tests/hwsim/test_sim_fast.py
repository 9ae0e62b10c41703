"""hwsim.sim's block engine and fast paths against the per-step reference (bench/stepref.py),
bit for bit: records, counts, overflow counters and readout, on random small graphs of every
node kind, both formats and timings, any block size, with and without teacher forcing, and
across the bounds that switch a path (float32 / float64 / int64 sums, wraps and folds skipped
or acting)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.stepref import reference_run
from hwsim import arith
from hwsim.graph import (
    LI,
    LIF,
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
from hwsim.sim import encode_inputs, run_steps, simulate
from hwsim.simops import EXACT_FLOAT32, ConvWeights, ExactWeights, absmax, conv_sum, dense_sum


def assert_same(fast, ref) -> None:
    """Every number of two SimResults equal (dtypes may differ: fast records are compact)."""
    assert set(fast.records) == set(ref.records)
    for k, a in ref.records.items():
        np.testing.assert_array_equal(fast.records[k], a, err_msg=k)
    for k, a in ref.counts.items():
        np.testing.assert_array_equal(fast.counts[k], a, err_msg=f"counts {k}")
    assert fast.overflow == ref.overflow
    if ref.readout is None:
        assert fast.readout is None
    else:
        np.testing.assert_array_equal(fast.readout, ref.readout)
        np.testing.assert_array_equal(fast.predictions, ref.predictions)
    assert (fast.steps, fast.offsets) == (ref.steps, ref.offsets)


# ---------------------------------------------------------------------------------------------
# random graphs


def _w(rng, shape, fixed, sign="mixed"):
    """Weights on Lava's 8-bit grid (fixed) or floats, of a sign mode."""
    if fixed:
        w = {"mixed": 2 * rng.integers(-128, 128, shape), "exc": rng.integers(0, 256, shape)}
        return w[sign]
    w = rng.normal(0, 0.5, shape)
    return (np.abs(w) if sign == "exc" else w).astype(np.float32)


def _lif(rng, n_shape, fixed, T):
    sched = rng.random() < 0.5
    bias = None
    if rng.random() < 0.5:
        shape = n_shape if rng.random() < 0.5 else (n_shape[0],)
        bias = rng.integers(-400, 400, shape) if fixed else rng.normal(0, 0.2, shape)
        bias = bias if fixed else bias.astype(np.float32)
    reset = "soft" if rng.random() < 0.5 else "hard"
    if fixed:
        th = rng.integers(1, 300, T) if sched else int(rng.integers(1, 300))
        # 4096 and 2048/3072/1024 (few odd bits): the float32 state; any other: float64
        decay = int(rng.choice([4096, 2048, 3072, 1024, int(rng.integers(1, 4096))]))
        return LIF(decay, th, reset, bias, bias_exp=int(rng.integers(0, 8)))
    th = rng.uniform(0.2, 1.5, T).astype(np.float32) if sched else float(rng.uniform(0.2, 1.5))
    return LIF(float(rng.uniform(0, 1)), th, reset, bias)


def _cuba(rng, n_shape, fixed, T):
    """A CubaLIF with the parameters of :func:`_lif` and a random current decay."""
    p = _lif(rng, n_shape, fixed, T)
    cd = int(rng.choice([0, 4095, int(rng.integers(1, 4095))])) if fixed else float(rng.random())
    return CubaLIF(p.decay, cd, p.threshold, p.reset, p.bias, bias_exp=p.bias_exp)


def _li(rng, n_shape, fixed):
    bias = None
    if rng.random() < 0.5:
        bias = rng.integers(-400, 400, n_shape) if fixed else rng.normal(0, 0.2, n_shape)
        bias = bias if fixed else bias.astype(np.float32)
    if fixed:
        decay = int(rng.choice([4096, int(rng.integers(1, 4096))]))
        return LI(decay, bias, bias_exp=int(rng.integers(0, 4)))
    return LI(float(rng.uniform(0, 1)), bias)


def _ei(rng, fan, n_e, n_i, fixed, conv, variant):
    shape_e = (n_e, fan, 3, 3) if conv else (n_e, fan)
    shape_i = (n_i, fan, 3, 3) if conv else (n_i, fan)
    kw = dict(stride=1, padding=1) if conv else {}
    div = variant == "divisive"
    if fixed:
        gains = dict(g_i=rng.integers(0, 2**16, n_i), g_e=rng.integers(0, 2**16, n_e),
                     b_e=rng.integers(-999, 999, n_e)) if div else {}  # fmt: skip
        exps = dict(w_ee_exp=int(rng.integers(-2, 2)), w_ie_exp=int(rng.integers(-2, 2)),
                    w_ei_exp=int(rng.integers(-4, 1)), g_i_exp=-16, g_e_exp=-8)  # fmt: skip
        inh = FastInhibitory(payload_exp=int(rng.integers(-6, 1)))
        stab = {}
        if rng.random() < 0.5:
            stab = dict(stabilisation="floor", floor=int(rng.integers(1, 50)))
    else:
        gains = dict(g_i=rng.random(n_i).astype(np.float32), g_e=rng.random(n_e).astype(np.float32),
                     b_e=rng.normal(0, .1, n_e).astype(np.float32)) if div else {}  # fmt: skip
        exps, inh, stab = {}, FastInhibitory(), {}
    return EICircuit(
        _w(rng, shape_e, fixed, "exc"), _w(rng, shape_i, fixed, "exc"),
        _w(rng, (n_e, n_i), fixed, "exc"), inh, variant=variant, **gains, **exps, **stab, **kw,
    )  # fmt: skip


def random_graph(rng, arch: str, fmt: str, timing: str, encoding: str, big: bool, T: int):
    """A small valid graph of ``arch``; ``big`` widens the direct input to 16 bits so sums
    pass 24 bits (wraps, folds and ``acc``/``act`` events) and the float64 sum path."""
    fixed = fmt == "fixed"
    lava = timing == "lava"
    nodes, edges = {}, []

    def add(name, node, *src):
        nodes[name] = node
        edges.extend((s, name) for s in src)
        return name

    scale = 1 / 127 if fixed else 1.0
    width = {"mlp": 4, "residual": 5, "conv": 2, "ei": 5, "ei_conv": 4, "cuba": 4}[arch]
    if arch in ("mlp", "residual", "ei", "cuba"):
        x = add("x", Input((6,), encoding, scale=scale))
        h = x
    else:
        x = add("x", Input((2, 6, 6), encoding, scale=scale))
    if arch == "mlp":
        a = add("fc1", Dense(_w(rng, (5, 6), fixed), _bias(rng, 5, fixed),
                             weight_exp=int(rng.integers(-2, 3)) if fixed else 0), x)  # fmt: skip
        h = add("l1", _lif(rng, (5,), fixed, T), a)
        a = add("fc2", Dense(_w(rng, (4, 5), fixed), weight_exp=0), h)
        h = add("l2", _lif(rng, (4,), fixed, T), a)
    elif arch == "cuba":  # CubaLIF hidden layer, LI readout (Norse/snnTorch classifiers)
        a = add("fc1", Dense(_w(rng, (5, 6), fixed), _bias(rng, 5, fixed),
                             weight_exp=int(rng.integers(-2, 3)) if fixed else 0), x)  # fmt: skip
        h = add("l1", _cuba(rng, (5,), fixed, T), a)
        a = add("fc2", Dense(_w(rng, (4, 5), fixed)), h)
        h = add("l2", _cuba(rng, (4,), fixed, T), a)
        a = add("fc3", Dense(_w(rng, (3, 4), fixed)), h)
        h = add("li", _li(rng, (3,), fixed), a)
        return _graph(nodes, edges, fixed, timing, T, big, add("ro", Readout(), h))
    elif arch == "residual":
        a = add("fc1", Dense(_w(rng, (5, 6), fixed)), x)
        h1 = add("l1", _lif(rng, (5,), fixed, T), a)
        a = add("fc2", Dense(_w(rng, (5, 5), fixed)), h1)
        h2 = add("l2", _lif(rng, (5,), fixed, T), a)
        if lava:  # balance the skip path (fc2 takes one step)
            h1 = add("d1", Delay(1), h1)
        h = add("sum", Add(), h1, h2)
    elif arch == "conv":
        a = add("c1", Conv2d(_w(rng, (3, 2, 3, 3), fixed), _bias(rng, 3, fixed), stride=1,
                             padding=1), x)  # fmt: skip
        h = add("l1", _lif(rng, (3, 6, 6), fixed, T), a)
        pool = SumPool2d(2) if fixed else AvgPool2d(2)
        h = add("p", pool, h)
        h = add("c2", Conv2d(_w(rng, (2, 3, 2, 2), fixed), None, stride=2, groups=1), h)
        h = add("l2", _lif(rng, (2, 1, 1), fixed, T), h)
        h = add("f", Flatten(), h)
    elif arch == "ei":
        variant = "divisive" if rng.random() < 0.7 else "subtractive"
        a = add("ei1", _ei(rng, 6, 5, 3, fixed, False, "divisive"), x)
        h = add("l1", _lif(rng, (5,), fixed, T), a)
        if variant == "subtractive":
            a = add("ei2", _ei(rng, 5, 3, 2, fixed, False, "subtractive"), h)
            return _graph(nodes, edges, fixed, timing, T, big, add("ro", Readout(), a))
    else:  # ei_conv, with a stand-alone inhibitory population beside it
        a = add("ei1", _ei(rng, 2, 3, 2, fixed, True, "divisive"), x)
        h = add("l1", _lif(rng, (3, 6, 6), fixed, T), a)
        h = add("p", SumPool2d(3) if fixed else AvgPool2d(3), h)
        h = add("f", Flatten(), h)
        a = add("fi_in", Dense(_w(rng, (4, 12), fixed, "exc")), h)
        h = add("fi", FastInhibitory(payload_exp=-1 if fixed else 0), a)
    a = add("ro_fc", Dense(_w(rng, (3, width), fixed)), h)
    return _graph(nodes, edges, fixed, timing, T, big, add("ro", Readout(), a))


def _bias(rng, n, fixed):
    if rng.random() < 0.5:
        return None
    return rng.integers(-999, 999, n) if fixed else rng.normal(0, 0.2, n).astype(np.float32)


def _graph(nodes, edges, fixed, timing, T, big, _ro):
    widths = arith.FixedWidths(input_bits=16 if big else 8) if fixed else None
    md = GraphMetadata(T=T, format="fixed" if fixed else "float32", timing=timing, widths=widths)
    return HardwareGraph(nodes, edges, md)


def _inputs(rng, g, batch, big, arch):
    node = g.nodes["x"]
    shape = (batch, *node.shape)
    if node.encoding == "spikes":
        return rng.integers(0, 2, (g.metadata.T, *shape))
    if node.encoding == "rate":
        return rng.random(shape)
    low = 0 if arch.startswith("ei") else -1  # Dale's law: E-I inputs are non-negative
    return rng.uniform(low, 1, shape) * (200 if big else 1)  # big: 16-bit direct inputs


def _force(rng, g, steps, batch, fixed):
    """Teacher-forced spikes for the first LIF and a forced current for its synapse."""
    shapes = g.shapes()
    first = next(n for n in g.topological_order() if isinstance(g.nodes[n], (LIF, CubaLIF)))
    out = {first: rng.integers(0, 2, (steps, batch, *shapes[first])).astype(np.float64)}
    syn = g.predecessors(first)[0]
    scale = 5000 if fixed else 1.0
    val = rng.integers(-scale, scale, (steps, batch, *shapes[syn])) if fixed else (
        rng.normal(0, 1, (steps, batch, *shapes[syn])))  # fmt: skip
    out[syn] = val
    return out


ARCHS = ["mlp", "residual", "conv", "ei", "ei_conv", "cuba"]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    arch=st.sampled_from(ARCHS),
    fmt=st.sampled_from(["fixed", "float32"]),
    timing=st.sampled_from(["ideal", "lava"]),
    encoding=st.sampled_from(["direct", "spikes", "rate"]),
    big=st.booleans(),
    T=st.integers(1, 5),
    batch=st.integers(1, 4),
    block=st.sampled_from([None, 1, 2, 3]),
    forced=st.booleans(),
)
def test_fast_engine_equals_per_step_reference(
    seed, arch, fmt, timing, encoding, big, T, batch, block, forced
):
    rng = np.random.default_rng(seed)
    g = random_graph(rng, arch, fmt, timing, encoding, big and encoding == "direct", T)
    x = _inputs(rng, g, batch, big, arch)
    enc = encode_inputs(g, x, np.random.default_rng(seed))
    steps = T + max(g.arrival_offsets().values())
    force = _force(rng, g, steps, batch, fmt == "fixed") if forced else None
    ref = reference_run(g, enc, record=True, force=force)
    fast = run_steps(g, enc, record=True, force=force, block_steps=block)
    assert_same(fast, ref)
    unrecorded = run_steps(g, enc, force=force, block_steps=block)  # records change nothing
    np.testing.assert_array_equal(unrecorded.readout, ref.readout)
    assert unrecorded.overflow == ref.overflow


# ---------------------------------------------------------------------------------------------
# the bounds that switch a path


def test_sum_paths_switch_by_bound():
    ew = ExactWeights(np.array([[255, 0, 0], [0, 255, -256]]))
    assert ew.row_sum == 511
    assert ew.sum_dtype(EXACT_FLOAT32 // 511) == np.float32  # 511 · 32832 < 2**24
    assert ew.sum_dtype(EXACT_FLOAT32 // 511 + 1) == np.float64
    assert ew.sum_dtype(2**44) == np.float64
    assert ew.sum_dtype(2**45) == np.int64  # 511 · 2**45 > 2**53


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bits=st.integers(1, 52), fan=st.integers(1, 40))
def test_exact_sums_equal_int64_on_every_path(seed, bits, fan):
    # inputs up to 2**52: the float32 (< 2**24), float64 (< 2**53) and int64 paths
    rng = np.random.default_rng(seed)
    w = 2 * rng.integers(-128, 128, (5, fan))
    x = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (3, fan), dtype=np.int64)
    np.testing.assert_array_equal(dense_sum(x, w), x @ w.T)
    cw = 2 * rng.integers(-128, 128, (2, 3, 3, 3))
    cx = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (2, 3, 5, 5), dtype=np.int64)
    np.testing.assert_array_equal(conv_sum(cx, cw, 1, 1, 1), arith.conv2d(cx, cw, 1, 1, 1))


def _one_dense(w) -> HardwareGraph:
    return HardwareGraph(
        {"x": Input((3,), "spikes"), "fc": Dense(np.array(w)), "ro": Readout()},
        [("x", "fc"), ("fc", "ro")],
        GraphMetadata(T=2, format="fixed", widths=arith.FixedWidths()),
    )


def test_engine_takes_the_int64_path_and_wraps_sums_beyond_32_bits():
    # an encoded input may carry any integer: max|x| · Σ|w| passes 2**53, so the exact int64
    # product is taken; where the weights of the huge entries are 0 the sums stay small
    x = np.array([[[2**52, 5, 2**52]], [[2**51, 3, 0]]])  # [T, B, 3]
    g = _one_dense([[0, 2, 0], [0, 4, 0]])
    r = run_steps(g, {"x": x}, record=True)
    assert_same(r, reference_run(g, {"x": x}, record=True))
    np.testing.assert_array_equal(r.readout, [[16, 32]])
    g = _one_dense([[0, 2, 0], [4, 0, 0]])  # 4 · 2**52: dense_reduce's wrap32 acts
    r = run_steps(g, {"x": x}, record=True)
    assert_same(r, reference_run(g, {"x": x}, record=True))
    gold = arith.dense_accumulate(g.nodes["fc"].weight, x[:, 0])
    np.testing.assert_array_equal(r.records["fc"][:, 0], gold)


def test_wraps_folds_and_clips_are_counted_when_they_act():
    # 16-bit direct input, large weights: Conv sums pass 24 bits (wrap, acc), Dense currents
    # pass 16 and 17 bits (act, fold), and an IF neuron's voltage reaches the 24-bit clip
    rng = np.random.default_rng(3)
    nodes = {
        "x": Input((1, 4, 4), "direct", scale=1 / 30000),
        "c": Conv2d(np.full((2, 1, 3, 3), 254), None, padding=1),
        "l": LIF(4096, 2**17 - 1, "soft"),
        "f": Flatten(),
        "fc": Dense(np.full((3, 32), -255)),
        "l2": LIF(4096, 7, "hard"),
        "fc2": Dense(2 * rng.integers(-128, 128, (2, 3))),
        "ro": Readout(),
    }
    names = list(nodes)
    md = GraphMetadata(T=6, format="fixed", widths=arith.FixedWidths(input_bits=16))
    g = HardwareGraph(nodes, list(zip(names[:-1], names[1:])), md)
    x = np.full((2, 1, 4, 4), 0.99)
    enc = encode_inputs(g, x)
    ref = reference_run(g, enc, record=True)
    for key in ("acc",):
        assert ref.overflow["c"][key] > 0
    assert ref.overflow["l"]["clip"] > 0 and ref.overflow["l"]["fold"] > 0
    for block in (None, 1, 4):
        assert_same(run_steps(g, enc, record=True, block_steps=block), ref)


def test_step_only_op_runs_in_the_block_engine(monkeypatch):
    # a node kind that implements only the per-step API still works (base class's run)
    from hwsim import simops

    class StepOnlyLIF(simops.Op):
        traces = ("h",)

        def reset(self, batch):
            self.v = np.zeros((batch, *self.shape_out), self.dtype)

        def step(self, x, t, forced=None):
            assert x.dtype == self.dtype  # the per-step API's dtype
            out = arith.lif_step_fixed(self.v, x, decay=self.node.decay, vth=self.node.threshold,
                                       reset=self.node.reset)  # fmt: skip
            self.v, self.h = out.v, out.v_charged
            return out.spikes.astype(self.dtype)

    monkeypatch.setitem(simops.OPS, LIF, StepOnlyLIF)
    rng = np.random.default_rng(0)
    g = random_graph(rng, "mlp", "fixed", "ideal", "spikes", False, 4)
    g = HardwareGraph(
        {n: (LIF(v.decay, 60, v.reset) if isinstance(v, LIF) else v) for n, v in g.nodes.items()},
        g.edges, g.metadata,
    )  # fmt: skip
    enc = encode_inputs(g, rng.integers(0, 2, (4, 3, 6)))
    got = run_steps(g, enc, record=True, block_steps=3)
    monkeypatch.undo()
    assert_same(got, reference_run(g, enc, record=True))


def test_records_are_compact_and_a_direct_input_is_not_copied():
    rng = np.random.default_rng(1)
    g = random_graph(rng, "conv", "fixed", "ideal", "direct", False, 3)
    enc = encode_inputs(g, rng.uniform(-1, 1, (2, 2, 6, 6)))
    assert enc["x"].strides[0] == 0  # T views of one frame
    r = simulate(g, rng.uniform(-1, 1, (2, 2, 6, 6)), record=True)
    assert r.records["l1"].dtype == np.uint8 and r.records["l2"].dtype == np.uint8
    assert r.records["l1/h"].dtype == np.int32  # 24-bit state
    assert r.records["c1"].dtype == np.int32
    assert r.records["p"].dtype == np.uint8  # 2x2 spike counts, bounded by 4


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    hw=st.sampled_from([(1, 1), (2, 2), (1, 3), (2, 3)]),
    k=st.sampled_from([(3, 3), (2, 3), (3, 2)]),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from([0, 1, 2]),
    groups=st.sampled_from([1, 2]),
)
def test_small_image_conv_as_toeplitz_equals_conv2d(seed, hw, k, stride, padding, groups):
    # an image smaller than its kernel is summed by the Toeplitz matrix (padding taps skipped)
    rng = np.random.default_rng(seed)
    c, o = 2 * groups, 2 * groups
    (h, w), (kh, kw) = hw, k
    if (h + 2 * padding - kh) < 0 or (w + 2 * padding - kw) < 0:
        return
    weight = 2 * rng.integers(-128, 128, (o, c // groups, kh, kw))
    conv = dict(stride=stride, padding=padding, groups=groups)
    cw = ConvWeights(weight, conv, (c, h, w))
    assert (cw.toeplitz is not None) == (h * w < kh * kw)
    x = rng.integers(-(2**15), 2**15, (3, c, h, w))
    got = cw.sum(x, absmax(x)).astype(np.int64)
    np.testing.assert_array_equal(got, arith.conv2d(x, weight, stride, padding, groups))
