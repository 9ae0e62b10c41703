"""Spiking building blocks shared by the architectures: ``weight layer -> norm -> LIF [-> pool]``.

Layout (what a folding pass walks; every part is a plain attribute):

- :class:`ConvBlock`: ``conv`` (``nn.Conv2d``), ``norm``, ``lif``, ``pool``;
- :class:`DenseBlock`: ``fc`` (``nn.Linear``), ``norm``, ``lif``;

with ``norm`` one of ``nn.Identity`` (``"none"``), ``nn.BatchNorm1d/2d`` (``"bn"``) or
:class:`models.osr.OSR` (``"osr"``, ``"osr_ots"``), ``lif`` a :class:`models.neurons.LIF` or,
for ``"osr_ots"``, a :class:`models.ots.OTSLIF`, and ``pool`` ``nn.Identity`` or
``nn.AvgPool2d(2)`` (on spikes; hardware: a 2×2 sum pool and a scale of 1/4 folded into the next
layer's weights). The weight layer has no bias when a norm follows it.

Time handling (:func:`apply_step`): a stateless torch module (conv, linear, BatchNorm, pool) is
applied once to the merged ``[T*B, ...]`` batch in step mode ``"m"``; a
:class:`models.base.StatefulModule` (OSR, LIF) gets the time-first ``[T, B, ...]`` tensor and
loops over ``t`` itself. In step mode ``"s"`` everything sees ``[B, ...]``. So BatchNorm
normalises over time and batch together, OSR per step (TECHNIQUES.md section 4).
"""

from __future__ import annotations

import torch
from torch import nn

from models.base import StatefulModule, merged_time
from models.neurons import LIF
from models.osr import OSR
from models.ots import OTSLIF

__all__ = [
    "NORMS",
    "apply_step",
    "check_image_shape",
    "scaled_width",
    "NEURON_KEYS",
    "make_lif",
    "make_norm",
    "make_neuron",
    "ConvBlock",
    "DenseBlock",
]

NORMS = ("none", "bn", "osr", "osr_ots")


def _norm_key(norm: str | None) -> str:
    key = "none" if norm is None else str(norm).lower()
    if key not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {list(NORMS)}")
    return key


def scaled_width(c: int, width: float) -> int:
    """A channel count under the width multiplier: ``max(1, round(c · width))``."""
    return max(1, int(round(c * width)))


def check_image_shape(in_shape, arch: str) -> tuple[int, int, int]:
    """``(C, H, W)`` as ints; ``ValueError`` naming ``arch`` otherwise."""
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{arch}: in_shape must be (C, H, W), got {in_shape}")
    return shape


def apply_step(module: nn.Module, x: torch.Tensor, step_mode: str) -> torch.Tensor:
    """Apply ``module`` to ``x`` in ``step_mode`` (see the module docstring)."""
    if isinstance(module, StatefulModule):
        return module(x)
    return merged_time(module, x, step_mode)


def make_norm(norm: str | None, channels: int, spatial: bool) -> nn.Module:
    """The normalisation module for ``norm`` over ``channels`` (``spatial``: after a conv)."""
    key = _norm_key(norm)
    if key == "none":
        return nn.Identity()
    if key == "bn":
        return nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)
    return OSR(channels)


#: Keys of a ``neuron`` config section, passed to :class:`models.neurons.LIF`.
NEURON_KEYS = (
    "tau",
    "threshold",
    "reset",
    "surrogate",
    "surrogate_params",
    "detach_reset",
    "online",
)


def make_lif(neuron: dict | None = None, **overrides) -> LIF:
    """A :class:`LIF` from a ``neuron`` config section; unknown keys raise ``ValueError``."""
    cfg = dict(neuron or {})
    cfg.update(overrides)
    unknown = set(cfg) - set(NEURON_KEYS)
    if unknown:
        raise ValueError(f"unknown neuron option(s) {sorted(unknown)}; valid: {list(NEURON_KEYS)}")
    return LIF(**cfg)


def make_neuron(neuron: dict | None, norm: str | None = None, T: int | None = None) -> LIF:
    """A LIF from a ``neuron`` config section (keys :data:`NEURON_KEYS`); an :class:`OTSLIF`
    over ``T`` steps when ``norm == "osr_ots"`` (``T`` then required)."""
    lif = make_lif(neuron)  # validates the keys
    if _norm_key(norm) != "osr_ots":
        return lif
    if T is None:
        raise ValueError("norm 'osr_ots' needs the number of time steps T (OTS buffer length)")
    cfg = dict(neuron or {})
    if "threshold" in cfg and torch.as_tensor(cfg["threshold"]).ndim != 0:
        raise ValueError("norm 'osr_ots': the neuron threshold must be a scalar")
    return OTSLIF(T=int(T), **cfg)


def _needs_bias(norm: str | None) -> bool:
    return _norm_key(norm) == "none"


class _Block(StatefulModule):
    _parts: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self._parts:
            x = apply_step(getattr(self, name), x, self.step_mode)
        return x


class ConvBlock(_Block):
    """``conv3x3 (or k×k) -> norm -> LIF -> pool`` on time-first spikes or images."""

    _parts = ("conv", "norm", "lif", "pool")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        norm: str | None = None,
        neuron: dict | None = None,
        T: int | None = None,
        pool: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=_needs_bias(norm),
        )
        self.norm = make_norm(norm, out_channels, spatial=True)
        self.lif = make_neuron(neuron, norm, T)
        self.pool = nn.AvgPool2d(2) if pool else nn.Identity()


class DenseBlock(_Block):
    """``linear -> norm -> LIF``."""

    _parts = ("fc", "norm", "lif")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        norm: str | None = None,
        neuron: dict | None = None,
        T: int | None = None,
    ) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=_needs_bias(norm))
        self.norm = make_norm(norm, out_features, spatial=False)
        self.lif = make_neuron(neuron, norm, T)
