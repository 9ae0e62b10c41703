"""The networks of the data-parallel tests, and the script torchrun runs for them.

``python -m torch.distributed.run --standalone --nproc-per-node 2 ddp_cases.py OUT`` trains every
case of :data:`CASES` with :func:`toolchain.train.fit` in both processes (gloo) and the main
process saves each final state_dict and history to ``OUT/<case>.pt``;
``tests/toolchain/test_distributed.py`` trains the same cases in one process and compares.
The script also simulates the trained plain MLP's folded graph in hwsim over the test set
sharded across the processes (``OUT/sharded_sim.pt``, gathered on the main process).
Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from models import build_model
from toolchain.callbacks import AdaLiCallback
from toolchain.data import load_dataset
from toolchain.train import TrainConfig, fit

# 64 digits, global batch 16: 4 steps per epoch, 2 epochs; every process takes 8 of each batch
COMMON = {"epochs": 2, "batch_size": 16, "T": 2, "seed": 0, "progress": False}
CASES: dict[str, tuple[dict, dict]] = {
    "plain": ({"arch": "mlp", "hidden": [16]}, {"optimizer": "sgd", "lr": 0.1}),
    # E-I Init on the first global batch; Dale clamps after every step
    "ei": ({"arch": "ei_mlp", "hidden": [16]}, {"optimizer": "sgd", "lr": 0.05}),
    # OSR statistics and OTS thresholds of the global batch; one backward per step (no_sync);
    # AdaLi surrogate with its per-epoch window and the compute density reduced over processes
    "osr_ots_online": (
        {
            "arch": "mlp",
            "hidden": [16],
            "norm": "osr_ots",
            "T": 2,
            "neuron": {"online": True, "surrogate": "adali"},
        },
        # SGD, not Adam: the Linear before the OSR has a bias whose gradient is zero in exact
        # arithmetic (the normalisation removes the mean), i.e. float noise of ~1e-9 that sums
        # in another order in two processes; Adam divides it by its own magnitude and turns it
        # into full-size steps, SGD leaves it at 1e-9.
        {"optimizer": "sgd", "lr": 0.1, "mode": "online", "loss": "tet"},
    ),
}


def plain_graph_and_inputs(state: dict):
    """The plain case's float hardware graph with ``state`` loaded, and the test inputs."""
    from toolchain.fold import fold_model

    model_cfg, train_cfg = CASES["plain"]
    data = load_dataset("digits", seed=0, limit=64)
    spec = {**model_cfg, "in_shape": list(data.in_shape), "num_classes": data.num_classes}
    model = build_model(spec)
    model.load_state_dict(state)
    graph = fold_model(model.eval(), data.in_shape, COMMON["T"], "direct", "plain").graph
    return graph, data.inputs("test")


def train_case(name: str) -> tuple[dict, list]:
    model_cfg, train_cfg = CASES[name]
    data = load_dataset("digits", seed=0, limit=64)
    torch.manual_seed(0)
    spec = {**model_cfg, "in_shape": list(data.in_shape), "num_classes": data.num_classes}
    model = build_model(spec)
    callbacks = [AdaLiCallback(2)] if "adali" in str(model_cfg) else []
    out = fit(model, data, TrainConfig(**{**COMMON, **train_cfg}), callbacks=callbacks)
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, out["history"]


if __name__ == "__main__":
    from toolchain.distributed import init_context, simulate_sharded

    out_dir = Path(sys.argv[1])
    ctx = init_context("cpu")
    for case in CASES:
        state, history = train_case(case)
        if ctx.main:
            torch.save({"state": state, "history": history}, out_dir / f"{case}.pt")
        if case == "plain":
            graph, x = plain_graph_and_inputs(state)
            res = simulate_sharded(graph, x, ctx, batch_size=4)
            if ctx.main:
                counts = {k: torch.from_numpy(v) for k, v in res.counts.items()}
                torch.save({"readout": torch.from_numpy(res.readout), "counts": counts,
                            "batch": res.batch}, out_dir / "sharded_sim.pt")  # fmt: skip
