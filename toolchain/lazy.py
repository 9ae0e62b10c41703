"""The base of lazily decoded datasets: something that stands where a sample tensor would.

A subclass knows its ``shape`` (``[N, *sample]``) and how to build one sample
(:meth:`LazySamples.sample`); indexing with an int gives that sample, with a slice, a list or
a tensor of indices the stacked samples (float32), so ``x[:n]``, ``x[idx]`` and ``x.shape``
work as on a tensor and only the samples asked for are decoded.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["LazySamples"]


class LazySamples:
    """Indexing over :meth:`sample` (see the module docstring)."""

    @property
    def shape(self) -> tuple[int, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def sample(self, i: int) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, (int, np.integer)):
            return self.sample(int(index))
        if isinstance(index, slice):
            idx = range(len(self))[index]
        else:
            idx = [int(i) for i in torch.as_tensor(index).reshape(-1)]
        if len(idx) == 0:
            return torch.empty((0, *self.shape[1:]))
        return torch.stack([self.sample(i) for i in idx])
