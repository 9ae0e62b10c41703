"""Torch threads for training small spiking nets on a small CPU: one thread against all cores.

Trains the ``make demo`` network (E-I MLP, 128 hidden, digits, T = 4) for one epoch with
``train.threads = 1`` and with ``train.threads = os.cpu_count()``, alternating the two
``ROUNDS`` times in one run (the machine is shared, so each pair is measured side by side), and
prints the wall time of each and the ratio. :func:`toolchain.distributed.choose_threads` picks
one thread per process when a process has two cores or fewer, from this measurement.

Run: ``python -m bench bench_threads``
"""

from __future__ import annotations

import os
import statistics
import time

import torch

ROUNDS = 3


def _epoch_seconds(threads: int, data) -> float:
    from experiments.demo import demo_config
    from models import build_model
    from toolchain.train import TrainConfig, fit

    DEMO_CONFIG = demo_config()

    spec = {**DEMO_CONFIG["model"], "in_shape": list(data.in_shape), "num_classes": 10}
    train = {**DEMO_CONFIG["train"], "epochs": 1, "progress": False, "threads": threads}
    torch.manual_seed(0)
    model = build_model(spec)
    t0 = time.perf_counter()
    fit(model, data, TrainConfig(**train))
    return time.perf_counter() - t0


def main() -> None:
    from toolchain.data import load_dataset

    cores = os.cpu_count() or 1
    data = load_dataset("digits", seed=0)
    times: dict[int, list[float]] = {1: [], cores: []}
    for _ in range(ROUNDS):
        for n in times:
            times[n].append(_epoch_seconds(n, data))
    one, many = statistics.median(times[1]), statistics.median(times[cores])
    print(f"demo net, one epoch of digits, median of {ROUNDS} alternating rounds:")
    print(f"  1 thread:  {one:.2f} s   {[round(t, 2) for t in times[1]]}")
    print(f"  {cores} threads: {many:.2f} s   {[round(t, 2) for t in times[cores]]}")
    print(f"  {cores} threads / 1 thread = {many / one:.2f}")


if __name__ == "__main__":
    main()
