"""The input pipeline of training and evaluation: a ``torch.utils.data.DataLoader`` over batches.

Sampling is torch's :class:`~torch.utils.data.DistributedSampler` in every run, one process or
many: the epoch's order is ``torch.randperm(N)`` from a generator seeded with ``seed + epoch``,
and process ``r`` of ``W`` takes every ``W``-th index from ``r``. Batch ``k`` of process ``r``
holds ``batch/W`` of those, so **the union of the processes' ``k``-th batches is the
``k``-th batch of a one-process run with the same global batch** (the property the DDP tests
check). When ``N`` is not a multiple of ``W`` the sampler repeats the first few indices so every
process gets the same count (torch's behaviour).

Each DataLoader item is a whole batch: the sampler yields ``(epoch, indices)`` and
:class:`BatchSet` indexes the inputs once (one tensor index for in-memory data; the lazy
image/event sets decode just those samples) and augments each sample with a generator seeded by
``(seed, epoch, index)`` (:func:`toolchain.augment.sample_generator`). The epoch travels with
the indices, so worker processes need no state from the trainer. Workers decode in parallel;
pinned memory speeds the copy to a GPU.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from hwsim.errors import ConfigError
from toolchain.augment import Augment, sample_generator

__all__ = ["BatchSet", "EpochBatches", "ShardBatches", "make_loader"]


class BatchSet(torch.utils.data.Dataset):
    """Map-style dataset whose keys are ``(epoch, indices)``; an item is ``(x[indices], y)``."""

    def __init__(self, x, y: torch.Tensor, augment: Augment | None = None, seed: int = 0):
        self.x, self.y, self.augment, self.seed = x, y, augment, int(seed)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, key: tuple[int, list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, idx = key
        index = torch.as_tensor(idx, dtype=torch.int64)
        xb = torch.as_tensor(self.x[index], dtype=torch.float32)
        if self.augment is not None and self.augment.active:
            xb = torch.stack([
                self.augment(xi, sample_generator(self.seed, epoch, i))
                for xi, i in zip(xb, idx)
            ])  # fmt: skip
        return xb, self.y[index]


class EpochBatches(Sampler):
    """``(epoch, indices)`` batches of one process's shard of a shuffled epoch."""

    def __init__(self, n: int, batch: int, world: int, rank: int, seed: int) -> None:
        self.sampler = DistributedSampler(
            range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed
        )
        self.batch, self.epoch = batch, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.sampler.set_epoch(self.epoch)

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:
        idx = list(self.sampler)
        for s in range(0, len(idx), self.batch):
            yield self.epoch, idx[s : s + self.batch]

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch)


class ShardBatches(Sampler):
    """Unshuffled batches of the indices ``rank, rank + world, ...`` (evaluation: nothing
    repeated, so the processes' counts add up to ``N`` exactly)."""

    def __init__(self, n: int, batch: int, world: int = 1, rank: int = 0) -> None:
        self.idx = list(range(rank, n, world))
        self.batch = batch

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:
        for s in range(0, len(self.idx), self.batch):
            yield 0, self.idx[s : s + self.batch]

    def __len__(self) -> int:
        return -(-len(self.idx) // self.batch)


def make_loader(
    dataset: BatchSet, sampler: Sampler, workers: int = 0, pin_memory: bool = False
) -> DataLoader:
    """A DataLoader yielding ``(x, y)`` batches in ``sampler``'s order."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"train.workers must be an int >= 0, got {workers!r}")
    return DataLoader(
        dataset,
        batch_size=None,  # every key of the sampler is already a whole batch
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
    )
