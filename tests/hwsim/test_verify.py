"""hwsim.verify: rung 0 (ties vs bugs, against a float32 reference written here), rung 1 on a
toy pair of graphs whose numbers are known, compare_exact, verify.json."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hwsim import arith
from hwsim.errors import VerificationError
from hwsim.graph import LIF, Dense, GraphMetadata, HardwareGraph, Input, Readout
from hwsim.sim import simulate
from hwsim.verify import (
    LayerAgreement,
    RungResult,
    compare_exact,
    read_verify_json,
    rung0,
    rung1,
    write_verify_json,
)

T = 3
F32 = np.float32
TINY = 2.0**-25  # 1 + 2**-25 rounds to 1 in float32 (half-way, to even)
THETA = float(F32(1 + 2.0**-23))  # the float32 right after 1


def _graph(w, r, theta=THETA, timing="ideal") -> HardwareGraph:
    names = ["x", "fc", "lif", "ro_fc", "ro"]
    nodes = [Input((6,), "spikes"), Dense(w), LIF(0.5, theta, "soft"), Dense(r), Readout()]
    return HardwareGraph(
        dict(zip(names, nodes)),
        list(zip(names[:-1], names[1:])),
        GraphMetadata(T=T, timing=timing),
    )


W = np.array(
    [[1.0, TINY, TINY, TINY, TINY, TINY], [0.3, 0.3, 0.3, 0.0, 0.0, 0.0]], dtype=np.float32
)
R = np.array([[1.0, -1.0], [0.5, 0.5]], dtype=np.float32)


def float32_reference(w, r, theta, s):
    """The 'torch network' in float32, summing the fan-in sequentially left to right."""
    w, r, theta = w.astype(F32), r.astype(F32), F32(theta)

    def dense(weight, x):  # x [B, d] -> [B, n], one float32 rounding per addition
        acc = np.zeros((x.shape[0], weight.shape[0]), F32)
        for j in range(weight.shape[1]):
            acc = (acc + x[:, j : j + 1].astype(F32) * weight[:, j]).astype(F32)
        return acc

    v = np.zeros((s.shape[1], w.shape[0]), F32)
    spikes, currents = [], []
    for t in range(s.shape[0]):
        h = (F32(0.5) * v + dense(w, s[t])).astype(F32)
        sp = (h >= theta).astype(F32)
        v = (h - theta * sp).astype(F32)
        spikes.append(sp)
        currents.append(dense(r, sp))
    return {"lif": np.stack(spikes), "ro": np.stack(currents)}


def _spikes(batch=4, seed=0):
    s = (np.random.default_rng(seed).random((T, batch, 6)) < 0.5).astype(F32)
    s[0, 0] = 1.0  # sample 0 at step 0: every input fires
    return s


def test_rung0_passes_and_classifies_the_tie():
    # neuron 0, sample 0, step 0: exact H = 1 + 5·2**-25 > θ = 1 + 2**-23 (spike) while the
    # float32 sum is 1.0 < θ (no spike): a tie, |H - θ| = 2**-25, far inside the bound
    s = _spikes()
    ref = float32_reference(W, R, THETA, s)
    assert ref["lif"][0, 0, 0] == 0
    res = rung0(_graph(W, R), s, ref)
    assert res.passed, res.summary()
    assert res.layers["lif"].ties >= 1 and res.layers["lif"].errors == 0
    tie = res.ties[0]
    assert (tie.layer, tie.step, tie.sample, tie.neuron) == ("lif", 0, 0, (0,))
    assert (tie.ours, tie.reference) == (1.0, 0.0)
    assert tie.h - tie.threshold == pytest.approx(TINY, abs=1e-12)
    assert 0 < TINY < tie.tolerance < 1e-5
    assert res.metrics["readout_error_over_bound"] <= 1.0
    # a zero tolerance turns the same mismatch into an error
    strict = rung0(_graph(W, R), s, ref, tie_tol=0.0)
    assert not strict.passed and strict.first_divergence.neuron == (0,)
    d = res.to_dict()
    assert d["passed"] and d["n_ties"] == res.n_ties and json.dumps(d)


def test_rung0_reports_first_divergence_of_an_injected_bug():
    s = _spikes(batch=6, seed=1)
    ref = float32_reference(W, R, THETA, s)
    bad = W.copy()
    bad[1, 2] += 0.3  # neuron 1: I = 0.9 -> 1.2 when inputs 0..2 fire
    res = rung0(_graph(bad, R), s, ref)
    assert not res.passed
    assert res.layers["lif"].errors > 0
    div = res.first_divergence
    assert (div.layer, div.neuron, div.ours, div.reference) == ("lif", (1,), 1.0, 0.0)
    # the earliest step at which neuron 1 of some sample got inputs 0..2 (and fired wrongly)
    t_first = min(t for t in range(T) for b in range(6) if s[t, b, :3].all())
    assert div.step == t_first
    assert div.h - div.threshold > div.tolerance
    assert "first divergence: lif step" in res.summary()


def test_rung0_checks_the_readout_currents():
    s = _spikes()
    ref = float32_reference(W, R, THETA, s)
    res = rung0(_graph(W, R * F32(1.001)), s, ref)
    assert res.n_errors == 0 and not res.passed
    assert res.metrics["readout_error_over_bound"] > 1.0


def test_rung0_refuses_bad_arguments():
    s = _spikes()
    ref = float32_reference(W, R, THETA, s)
    with pytest.raises(VerificationError, match="ideal timing"):
        rung0(_graph(W, R, timing="lava"), s, ref)
    with pytest.raises(VerificationError, match="not LIF/Readout"):
        rung0(_graph(W, R), s, {**ref, "fc": ref["lif"]})
    with pytest.raises(VerificationError, match="shape"):
        rung0(_graph(W, R), s, {"lif": ref["lif"][:, :2]})


# ---------------------------------------------------------------------------------------------
# rung 1: a float graph and a fixed graph whose spikes agree by construction


def _pair(wq, rq, vth=100):
    """float W = Wq/128, θ = (vth + 1/2)/128, no leak, hard reset: H >= θ  <=>  Σ Wq s > vth,
    exactly the fixed neuron's v > vth << 6 with v = (Σ Wq s) << 6 — identical spikes."""
    meta_f = GraphMetadata(T=8)
    meta_q = GraphMetadata(T=8, format="fixed", widths=arith.FixedWidths())
    names = ["x", "fc", "lif", "ro_fc", "ro"]

    def g(nodes, meta):
        return HardwareGraph(dict(zip(names, nodes)), list(zip(names[:-1], names[1:])), meta)

    gf = g([Input((4,), "spikes"), Dense(wq / 128.0), LIF(1.0, (vth + 0.5) / 128, "hard"),
            Dense(rq / 128.0), Readout()], meta_f)  # fmt: skip
    gq = g([Input((4,), "spikes"), Dense(wq), LIF(4096, vth, "hard"), Dense(rq), Readout()],
           meta_q)  # fmt: skip
    return gf, gq


def test_rung1_numbers_on_a_toy_pair():
    rng = np.random.default_rng(3)
    wq = 2 * rng.integers(-20, 60, (5, 4))
    rq = 2 * rng.integers(-128, 128, (3, 5))
    s = (rng.random((8, 40, 4)) < 0.5).astype(float)
    gf, gq = _pair(wq, rq)
    pf = simulate(gf, s).predictions
    labels = np.where(np.arange(40) < 30, pf, (pf + 1) % 3)  # float accuracy 75% by design
    res = rung1(gf, gq, s, labels, batch_size=16)
    assert res.passed and res.first_divergence is None
    assert res.metrics["spike_agreement/lif"] == 1.0
    assert res.metrics["prediction_agreement"] == 1.0
    assert res.metrics["readout_correlation"] == pytest.approx(1.0, abs=1e-12)
    assert res.metrics["accuracy_float"] == res.metrics["accuracy_fixed"] == 0.75
    # a different fixed weight matrix: every number against an independent computation
    wq2 = wq.copy()
    wq2[:, 0] += 40
    _, gq2 = _pair(wq2, rq)
    res2 = rung1(gf, gq2, s, labels, batch_size=16, max_accuracy_drop=0.0)
    a, b = simulate(gf, s, record=["lif"]), simulate(gq2, s, record=["lif"])
    agree = np.mean(a.records["lif"] == b.records["lif"])
    assert agree < 1.0
    assert res2.metrics["spike_agreement/lif"] == pytest.approx(agree)
    assert res2.metrics["prediction_agreement"] == pytest.approx(
        np.mean(a.predictions == b.predictions)
    )
    acc_q = np.mean(b.predictions == labels)
    assert res2.metrics["accuracy_fixed"] == pytest.approx(acc_q)
    assert res2.metrics["accuracy_delta"] == pytest.approx(acc_q - 0.75)
    corr = np.corrcoef(a.readout.reshape(-1), b.readout.reshape(-1))[0, 1]
    assert res2.metrics["readout_correlation"] == pytest.approx(corr)
    assert res2.passed == (acc_q >= 0.75)
    assert res2.first_divergence is not None and res2.first_divergence.layer == "lif"


# ---------------------------------------------------------------------------------------------
# compare_exact and verify.json


def test_compare_exact_finds_the_earliest_step_across_layers():
    a = {"l1": np.zeros((4, 2, 3)), "l2": np.zeros((4, 2, 5))}
    b = {k: v.copy() for k, v in a.items()}
    b["l1"][2, 1, 0] = 1  # later step, earlier layer
    b["l2"][1, 0, 4] = 1
    b["l2"][1, 1, 2] = 1
    layers, first = compare_exact(a, b, ["l1", "l2"], sample_offset=10)
    assert layers["l1"].mismatches == 1 and layers["l2"].mismatches == 2
    assert (first.layer, first.step, first.sample, first.neuron) == ("l2", 1, 10, (4,))
    assert (first.ours, first.reference) == (0.0, 1.0)
    with pytest.raises(VerificationError, match="missing"):
        compare_exact({}, b)


def _result(rung, passed=True):
    return RungResult(rung, f"rung {rung}", passed, {"l": LayerAgreement(10, 0)}, {"m": 1.0})


def test_write_verify_json_merges_atomically(tmp_path, monkeypatch):
    p = tmp_path / "verify.json"
    write_verify_json(p, _result(0))
    write_verify_json(p, [_result(1, passed=False)])
    write_verify_json(p, {"2": {"passed": True, "by": "lava engineer"}})
    data = read_verify_json(p)
    assert set(data["rungs"]) == {"0", "1", "2"} and data["passed"] is False
    assert data["rungs"]["0"]["layers"]["l"]["agreement"] == 1.0
    write_verify_json(p, _result(1))  # the same rung is replaced
    assert read_verify_json(p)["passed"] is True

    before = p.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(os, "fsync", boom)  # fails after the temporary file is written
    with pytest.raises(RuntimeError):
        write_verify_json(p, _result(3))
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["verify.json"]  # no temp file left
    monkeypatch.undo()
    p.write_text("{not json")
    with pytest.raises(VerificationError, match="verify.json"):
        write_verify_json(p, _result(0))
