"""Several processes on torch.distributed: the process context, reductions, the launcher,
thread counts, and hwsim over a dataset sharded across the processes.

A run with ``WORLD_SIZE > 1`` in its environment was started by torch's launcher
(``torchrun --nproc-per-node N -m toolchain.cli ...``, or ``spikefold ... --nproc N``, which
calls the same launcher, :func:`launch`): :func:`init_context` joins the process group the
launcher set up (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT`` are the
launcher's contract) with NCCL on GPUs and gloo on CPUs. Without it the run is one process and
nothing here talks to anyone, so the same code serves both.

What is reduced where (the trainer's side of it, :mod:`toolchain.train`):

- gradients: DistributedDataParallel averages them over the processes; with equal local
  batches (the global batch divides evenly) the average equals the global batch's mean loss;
- metrics: sums (loss x samples, correct, samples, spikes, neurons) are all-reduced, so every
  logged number is the whole dataset's;
- batch statistics of OSR and OTS: all-reduced inside the modules
  (:func:`models.base.set_stats_group`), so every process normalises with the global batch's
  statistics and keeps identical running statistics and thresholds;
- E-I Init: run once, before DDP wraps the model, on the epoch's first *global* batch, which
  every process can read (the sampler is deterministic), so every process computes the same
  initial weights from the same statistics as a one-process run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "DistContext",
    "is_main_process",
    "all_reduce_sums",
    "choose_threads",
    "init_context",
    "launch",
    "simulate_sharded",
]


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run: ``rank`` of ``world`` (``local_rank`` on its node)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        """The one process that writes checkpoints, metrics and output."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def is_main_process() -> bool:
    """Whether this is process 0 of a launcher's run (or no launcher), before any process group
    exists: for the one-writer rule of files written outside the training loop."""
    return int(os.environ.get("RANK", "0")) == 0


def init_context(device_type: str = "cpu") -> DistContext:
    """The launcher's context, joining its process group (NCCL for ``device_type="cuda"``,
    gloo otherwise) if it is not joined yet; a one-process context without a launcher."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    ctx = DistContext(
        rank=int(os.environ["RANK"]),
        world=world,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_world=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))),
    )
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(ctx.local_rank)
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return ctx


def all_reduce_sums(values: Sequence[float], ctx: DistContext, device=None) -> list[float]:
    """``values`` summed over the processes (returned as is for one process). float64, so
    counts up to 2^53 stay exact."""
    if not ctx.active:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def choose_threads(requested: int, ctx: DistContext) -> tuple[int, str]:
    """The torch thread count for one process, and why.

    ``requested > 0`` is used as is. Otherwise the CPU cores this process may run on are
    shared among the node's processes; **[choice]** with two cores or fewer each, one thread:
    the small matrix products of spiking nets gain nothing from a second thread and lose to
    its synchronisation (``python -m bench bench_threads``: one thread trained the digits demo
    faster than two on a 2-core machine).
    """
    if requested > 0:
        return requested, "train.threads"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = max(1, (cores or 1) // ctx.local_world)
    n = 1 if share <= 2 else share
    who = f"{ctx.local_world} processes" if ctx.local_world > 1 else "1 process"
    return n, f"{cores} CPU cores, {who}; set train.threads to override"


def _without_nproc(argv: Sequence[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(nproc: int, cli_args: Sequence[str]) -> int:
    """Run ``python -m toolchain.cli <cli_args>`` (less its ``--nproc``) in ``nproc`` processes
    on this machine with torch's elastic launcher (what ``torchrun --standalone
    --nproc-per-node N`` does); returns 0, or raises torch's ``ChildFailedError`` naming the
    process that failed."""
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={int(nproc)}", "-m", "toolchain.cli",
         *_without_nproc(cli_args)]
    )  # fmt: skip
    run(args)
    return 0


def simulate_sharded(graph, x, ctx: DistContext, batch_size: int = 256, seed: int = 0, **kw):
    """:func:`hwsim.sim.simulate_dataset` over ``x`` split across the processes: process ``r``
    simulates the ``r``-th contiguous block of samples; the results are gathered on the main
    process and concatenated in sample order there (``None`` on the others). Rate-encoded
    inputs draw from a generator seeded ``seed + rank``.

    ``x`` is as :func:`hwsim.sim.simulate_dataset` takes it (samples on axis 0, or axis 1 of a
    ``spikes`` train)."""
    import numpy as np

    from hwsim.sim import _concat, simulate_dataset

    spikes = graph.nodes[graph.input_names()[0]].encoding == "spikes"
    axis = 1 if spikes else 0
    n = np.asarray(x).shape[axis]
    bounds = np.linspace(0, n, ctx.world + 1).astype(int)
    part = np.take(x, range(bounds[ctx.rank], bounds[ctx.rank + 1]), axis=axis)
    gen = np.random.default_rng(seed + ctx.rank)
    local = simulate_dataset(graph, part, batch_size, generator=gen, **kw) if part.size else None
    if not ctx.active:
        return local
    parts = [None] * ctx.world if ctx.main else None
    dist.gather_object(local, parts, dst=0)
    if not ctx.main:
        return None
    return _concat([p for p in parts if p is not None])
