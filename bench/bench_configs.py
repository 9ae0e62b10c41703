"""Cost of the papers' configurations (``configs/*.yaml``): parameters, training FLOPs per sample
counted by ``torch.utils.flop_counter.FlopCounterMode`` (one forward and backward of one sample
at the config's full size and ``T``), and an **estimate** of the hours on one GPU.

The estimate is ``FLOPs x (train samples x epochs + test samples x epochs / 3)`` divided by an
assumed sustained ``ASSUMED_TFLOPS`` (10 TFLOP/s: a third to a half of an A100's float32 peak,
as convolution-heavy training reaches), plus ``STEP_OVERHEAD_S`` per time step of every
optimiser step (kernel launches of the per-step neuron updates, which bound small nets).
Spiking nets add elementwise neuron work that the FLOP count leaves out, so the real time is
likely longer. It is an estimate, not a measurement: docs/results.md records measured GPU runs
when a GPU is available.

Run: ``python -m bench bench_configs`` (no dataset files needed: shapes come from the table).
"""

from __future__ import annotations

from pathlib import Path

import torch

ASSUMED_TFLOPS = 10.0
STEP_OVERHEAD_S = 1e-3  # per time step of one optimiser step
#: dataset -> (sample shape, classes, train samples, test samples)
SHAPES = {
    "cifar10": ((3, 32, 32), 10, 50_000, 10_000),
    "mnist": ((1, 28, 28), 10, 60_000, 10_000),
    "fashion_mnist": ((1, 28, 28), 10, 60_000, 10_000),
}


def _shape(cfg) -> tuple:
    if cfg.data.dataset == "cifar10_dvs":
        side = int(127 * cfg.data.downsample) + 1
        return (2, side, side), 10, 9_000, 1_000
    return SHAPES[cfg.data.dataset]


def cost(path: Path) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from models import build_model
    from models.base import reset_states
    from toolchain.config import RunConfig, load_config

    cfg = RunConfig.from_dict(load_config(path))
    in_shape, k, n_train, n_test = _shape(cfg)
    torch.manual_seed(0)
    net = build_model({**cfg.model, "in_shape": list(in_shape), "num_classes": k})
    x = torch.rand(cfg.train.T, 2, *in_shape)  # batch 2: BatchNorm needs more than one sample
    with FlopCounterMode(display=False) as counter:
        reset_states(net)
        net(x).sum().backward()
    flops = counter.get_total_flops() / 2  # per sample
    epochs = cfg.train.epochs
    total = flops * epochs * (n_train + n_test / 3)
    steps = epochs * -(-n_train // cfg.train.batch_size) * cfg.train.T
    seconds = total / (ASSUMED_TFLOPS * 1e12) + steps * STEP_OVERHEAD_S
    return {
        "config": path.name,
        "params_M": sum(p.numel() for p in net.parameters()) / 1e6,
        "gflop_per_sample": flops / 1e9,
        "epochs": epochs,
        "gpu_hours_estimate": seconds / 3600,
    }


def main() -> None:
    torch.set_num_threads(1)
    root = Path(__file__).resolve().parent.parent / "configs"
    print(
        f"assumed: {ASSUMED_TFLOPS:g} TFLOP/s sustained on one GPU and {STEP_OVERHEAD_S * 1e3:g} ms"
        " per time step of an optimiser step (an estimate, not a measurement)"
    )
    print("| config | params (M) | train GFLOP/sample | epochs | est. hours on one GPU |")
    print("| --- | --- | --- | --- | --- |")
    for path in sorted(root.glob("*.yaml")):
        if path.name == "osr_ots_mnist5k.yaml":
            continue  # the CPU demo config, not a paper's
        c = cost(path)
        print(f"| {c['config']} | {c['params_M']:.2f} | {c['gflop_per_sample']:.2f} | "
              f"{c['epochs']} | {c['gpu_hours_estimate']:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
