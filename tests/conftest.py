"""Shared test setup.

Every test starts from the same global RNG state, whatever ran before it in the same worker
(pytest-xdist distributes tests differently from run to run), so a test that builds a network
without seeding it still sees the same initial weights every time.
"""

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_global_rngs():
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds code under test that uses the legacy global RNG
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_report():
    """A report dict (``hwsim.report.build_report``) of a small hand-built rate-coded net
    (Input -> Dense -> LIF -> Dense -> LIF -> Dense -> Readout, float32, T = 4) counted and
    priced in both timings (lava: T + 3 steps), with a verify.json holding every kind of rung:
    passes, a failure with its first divergence, a refusal."""
    import dataclasses

    from hwsim.counters import count_run
    from hwsim.energy import BUILTIN_MODELS
    from hwsim.graph import LIF, Dense, GraphMetadata, HardwareGraph, Input, Readout
    from hwsim.pricing import price
    from hwsim.report import PricedRun, build_report, stage_table
    from hwsim.verify import Divergence, LayerAgreement, RungResult, refusal_entry

    rng = np.random.default_rng(3)
    w = lambda o, i: rng.normal(0.9, 0.6, (o, i)).astype(np.float32)  # noqa: E731
    nodes = {"x": Input((12,), "rate"), "fc1": Dense(w(16, 12)), "lif1": LIF(0.5, 1.0),
             "fc2": Dense(w(8, 16) / 2), "lif2": LIF(0.5, 1.0), "fc3": Dense(w(3, 8)),
             "out": Readout()}  # fmt: skip
    names = list(nodes)
    ideal = HardwareGraph(nodes, list(zip(names, names[1:])), GraphMetadata(T=4))
    lava = dataclasses.replace(ideal, metadata=dataclasses.replace(ideal.metadata, timing="lava"))
    x, y = rng.random((24, 12)), rng.integers(0, 3, 24)
    runs = []
    for g, targets in ((lava, ("lava",)), (ideal, ("hwsim", "onnx"))):
        counts, preds, _ = count_run(g, x, generator=np.random.default_rng(0), with_result=True)
        pricings = tuple(price(counts, m) for m in BUILTIN_MODELS.values())
        runs.append(PricedRun(g.metadata.timing, targets, g, counts, pricings,
                              float(np.mean(preds == y))))  # fmt: skip
    layers = {"lif1": LayerAgreement(24 * 4 * 16, 0), "lif2": LayerAgreement(24 * 4 * 8, 0)}
    bad = {"lif1": LayerAgreement(96 * 16, 0), "lif2": LayerAgreement(96 * 8, 5, 2)}
    div = Divergence("lif2", 1, 7, (3,), 1.0, 0.0, 1.5, 1.0, 1e-6)
    rungs = [
        RungResult(0, "torch eval ↔ float graph", True, layers, {"prediction_agreement": 1.0},
                   settings={"samples": 24, "tie_tol": "derived"}),
        RungResult(1, "float graph ↔ fixed graph", False, bad,
                   {"accuracy_float": 0.5, "accuracy_fixed": 0.375, "prediction_agreement": 0.75},
                   first_divergence=div, settings={"samples": 24}),
        RungResult(2, "fixed graph in hwsim vs Lava fixed_pt", True, layers,
                   {"accuracy_lava": 0.375, "samples": 4}),
    ]  # fmt: skip
    verify = {"rungs": {str(r.rung): r.to_dict() for r in rungs}}
    verify["rungs"]["4"] = refusal_entry(4, "float graph ↔ NIR in Norse", "node 'lif1' (LIF): "
                                         "soft reset has no NIR primitive")  # fmt: skip
    stages = stage_table(verify, artifacts={"lava": "model.lava.json"},
                         torch_accuracy=(0.5, 24), commands={"onnx": "spikefold export onnx r"})
    meta = {"run_dir": "runs/tiny", "run_name": "tiny", "graph": "graph.float.npz",
            "dataset": "random", "T": 4, "samples": 24, "accuracy": runs[0].accuracy}
    return build_report(runs, stages=stages, verify=verify, meta=meta)
