"""Tensor layouts between the hardware graph and Lava.

The hardware graph stores a population as ``(C, H, W)`` (torch) or ``(n,)``; Lava's ``Conv``
works in ``(X, Y, Z) = (W, H, C)`` (``lava.proc.conv``, "XY" order), so every conv-shaped
population of the exported process graph uses Lava's ``(W, H, C)``. Reversing the three axes
is its own inverse, so one function serves both directions. Dense populations ``(n,)`` are
the same in both.

The custom process models call :mod:`hwsim.arith`, whose functions take a batch ``[B, C, H,
W]`` / ``[B, n]``; :func:`to_batch` and :func:`from_batch` convert one Lava sample to a batch
of one and back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["lava_shape", "swap_layout", "to_batch", "from_batch"]


def lava_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The Lava shape of a graph shape: ``(C, H, W) -> (W, H, C)``; ``(n,)`` unchanged."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        return shape[::-1]
    if len(shape) == 1:
        return shape
    raise ValueError(f"a Lava population is (n,) or (C, H, W), got {shape}")


def swap_layout(a: np.ndarray, sample_ndim: int) -> np.ndarray:
    """Reverse the last three axes of ``a`` when a sample has 3 dimensions (graph ``(C, H,
    W)`` <-> Lava ``(W, H, C)``; an involution); leading axes (steps, samples) are kept."""
    a = np.asarray(a)
    if sample_ndim != 3:
        return a
    n = a.ndim
    return a.transpose(*range(n - 3), n - 1, n - 2, n - 3)


def to_batch(x: np.ndarray) -> np.ndarray:
    """One Lava sample ``(W, H, C)`` or ``(n,)`` as a graph-layout batch ``[1, C, H, W]`` /
    ``[1, n]`` (what :mod:`hwsim.arith` takes)."""
    x = np.asarray(x)
    return swap_layout(x, x.ndim)[None]


def from_batch(y: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_batch`: ``[1, C, H, W] -> (W, H, C)``, ``[1, n] -> (n,)``."""
    y = np.asarray(y)[0]
    return np.ascontiguousarray(swap_layout(y, y.ndim))
