"""Input encoders (image -> time-first input sequence) and the brightness-shift augmentation.

An encoder is a callable ``encoder(x, T, generator=None) -> [T, *x.shape]`` (DESIGN.md section 3,
``Input(shape, encoding)``):

- ``direct``: the analog image is the input current at every step, ``X[t] = x``.
- ``rate``: rate coding, ``X[t] ~ Bernoulli(x)`` independently per pixel and step, so the
  expected spike count of a pixel over ``T`` steps is ``T x`` with variance ``T x (1 - x)``.
- ``spikes``: the samples already are spike trains ``[B, T, ...]`` (event-camera data binned
  by :mod:`toolchain.data_events`); they are only put time-first, ``X[t] = x[:, t]``.

These are also the names of the hardware graph's ``Input`` encodings (``hwsim.graph.Input``):
one name per encoding everywhere. ``poisson``, the name older configs used for ``rate``, is
still read (:data:`ALIASES`, :func:`canonical_encoding`).

Random draws take an optional ``torch.Generator``; the same seeded generator gives the same
spikes. Draws happen on the generator's device and are moved to the data's, so a CPU seed means
the same thing wherever the data lives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType

import torch

from hwsim.errors import ConfigError, DataError

__all__ = [
    "ALIASES",
    "ENCODERS",
    "Encoder",
    "canonical_encoding",
    "brightness_shift",
    "direct",
    "get_encoder",
    "rate",
    "spikes",
]

Encoder = Callable[..., torch.Tensor]


def _check_steps(T: int) -> None:
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ConfigError(f"number of time steps T must be a positive int, got {T!r}")


def _uniform(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None):
    """U[0, 1) samples of ``shape`` in ``like``'s dtype and device, drawn with ``generator``."""
    device = generator.device if generator is not None else like.device
    u = torch.rand(shape, generator=generator, device=device, dtype=like.dtype)
    return u.to(like.device)


def direct(x: torch.Tensor, T: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``X[t] = x`` for ``t = 0..T-1``: shape ``[T, *x.shape]``.

    Returned as an expanded view (no copy of the T repetitions); writing into it in place raises,
    so clone it first if a caller must modify it. ``generator`` is accepted and unused (the
    encoders share one signature).
    """
    _check_steps(T)
    return x.unsqueeze(0).expand(T, *x.shape)


def rate(x: torch.Tensor, T: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bernoulli spikes ``X[t] = 1[u_t < x]``, ``u_t ~ U[0, 1)``, so ``P(X[t] = 1) = x``.

    ``x`` must hold probabilities (finite values in [0, 1]); returns ``x.dtype`` zeros and ones
    of shape ``[T, *x.shape]``.
    """
    _check_steps(T)
    if x.numel() and not (torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
        raise DataError(
            "rate encoding needs pixel intensities in [0, 1] (spike probabilities); "
            f"got values in [{x.min().item()}, {x.max().item()}]"
        )
    u = _uniform((T, *x.shape), x, generator)
    return (u < x).to(x.dtype)


def spikes(x: torch.Tensor, T: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Spike trains ``x [B, T, ...]`` of zeros and ones, time-first: ``[T, B, ...]`` (a view).

    ``generator`` is accepted and unused. Raises :class:`DataError` for a train of another
    length than ``T`` or values other than 0 and 1.
    """
    _check_steps(T)
    if x.ndim < 2 or x.shape[1] != T:
        raise DataError(f"spikes encoding: expected samples [B, T={T}, ...], got {tuple(x.shape)}")
    if x.numel() and not bool(((x == 0) | (x == 1)).all()):
        raise DataError("spikes encoding: spike trains must hold only 0 and 1")
    return x.transpose(0, 1)


ENCODERS: MappingProxyType[str, Encoder] = MappingProxyType(
    {"direct": direct, "rate": rate, "spikes": spikes}
)
ALIASES: MappingProxyType[str, str] = MappingProxyType({"poisson": "rate"})
"""Old spellings still read: ``poisson`` (configs before the names were unified) is ``rate``."""


def canonical_encoding(name: str) -> str:
    """``name`` with an old spelling (:data:`ALIASES`) replaced; unknown names raise."""
    name = ALIASES.get(name, name)
    if name not in ENCODERS:
        raise ConfigError(f"unknown encoding {name!r}; valid encodings: {', '.join(ENCODERS)}")
    return name


def get_encoder(name: str) -> Encoder:
    """The encoder called ``name`` (one of :data:`ENCODERS`, or an old spelling)."""
    return ENCODERS[canonical_encoding(name)]


def brightness_shift(
    x: torch.Tensor, eps: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Additive brightness shift of TECHNIQUES.md section 3 (Eyono et al.'s I-Norm task).

    ``out[b] = clamp(x[b] + Δ_b, 0, 1)`` with one ``Δ_b ~ U(-eps, eps)`` per image (the first
    axis), the same for all its pixels and channels. ``eps = 0`` returns an unchanged copy and
    draws nothing from ``generator``.
    """
    if isinstance(eps, bool) or not math.isfinite(eps) or eps < 0:
        raise ConfigError(f"brightness shift eps must be a finite number >= 0, got {eps!r}")
    if eps == 0:
        return x.clone()
    if x.ndim < 1:
        raise DataError("brightness_shift needs a batch axis: x of shape [B, ...]")
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    delta = (2.0 * _uniform(shape, x, generator) - 1.0) * eps  # U[-eps, eps)
    return (x + delta).clamp_(0.0, 1.0)
