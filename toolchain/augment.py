"""Training augmentations of one sample: random crop with padding, horizontal flip, cutout.

The standard CIFAR/ImageNet recipe (He et al. 2016 for crop + flip; DeVries & Taylor 2017 for
cutout), on the last two axes of a sample, so an image ``[C, H, W]`` and a spike train
``[T, C, H, W]`` are handled alike (every step of a train gets the same crop, flip and hole):

- ``crop = p``: zero-pad ``p`` pixels on every side, then cut a random ``H x W`` window
  (offsets uniform in ``0..2p``);
- ``flip``: mirror left-right with probability 1/2;
- ``cutout = s``: zero an ``s x s`` square centred on a uniformly drawn pixel (clipped at the
  border, so a hole near the edge is smaller).

Zero is the padding and hole value; with ``data.normalize`` the inputs are normalised first,
so zero is the training mean (the usual choice). Normalisation itself is a property of the
dataset (:func:`toolchain.data.load_dataset`), not an augmentation: evaluation, folding and the
hardware must see the same inputs as training.

Every draw comes from a ``torch.Generator`` that the caller seeds per sample
(:func:`sample_generator`), so an augmented epoch is the same whatever the number of processes
or DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hwsim.errors import ConfigError

__all__ = ["Augment", "sample_generator", "seeded_generator"]


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded from non-negative ``keys`` by ``numpy.random.SeedSequence``, which
    mixes them (no two key tuples collide the way ``seed + epoch * k + index`` can)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1)
    return torch.Generator().manual_seed(int(state[0]))


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The generator of sample ``index``'s augmentation in ``epoch``."""
    return seeded_generator(seed, epoch, index)


def _randint(high: int, gen: torch.Generator) -> int:
    """Uniform in ``0..high - 1``."""
    return int(torch.randint(high, (), generator=gen))


@dataclass(frozen=True)
class Augment:
    """Random crop (padding ``crop``), horizontal flip, cutout (side ``cutout``); 0 = off."""

    crop: int = 0
    flip: bool = False
    cutout: int = 0

    def __post_init__(self) -> None:
        for key in ("crop", "cutout"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"train.augment_{key} must be an int >= 0, got {value!r}")

    @property
    def active(self) -> bool:
        return bool(self.crop or self.flip or self.cutout)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One augmented copy of sample ``x [..., H, W]`` (draws in a fixed order)."""
        h, w = x.shape[-2:]
        if self.crop:
            p = self.crop
            padded = F.pad(x, (p, p, p, p))
            top, left = _randint(2 * p + 1, gen), _randint(2 * p + 1, gen)
            x = padded[..., top : top + h, left : left + w]
        if self.flip and _randint(2, gen):
            x = x.flip(-1)
        if self.cutout:
            cy, cx = _randint(h, gen), _randint(w, gen)
            half = self.cutout // 2
            x = x.clone()
            x[..., max(0, cy - half) : cy - half + self.cutout,
              max(0, cx - half) : cx - half + self.cutout] = 0  # fmt: skip
        return x.contiguous()
