"""Network architectures built from a plain config dict, by name.

Every architecture is time-first: ``net(x)`` with ``x`` of shape ``[T, B, *in_shape]`` returns
the readout currents ``[T, B, num_classes]`` (in single-step mode ``[B, ...] -> [B, K]``).
The readout is a non-spiking linear layer; the prediction is the argmax of the mean (or sum)
over time.

``build_model({"arch": "mlp", "in_shape": [1, 8, 8], "num_classes": 10, "hidden": [128]})``
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from models.base import TimeDistributed
from models.neurons import LIF

__all__ = ["ARCHITECTURES", "register_architecture", "build_model", "build_mlp", "make_lif"]

#: Keys of a ``neuron`` config section, passed to :class:`models.neurons.LIF`.
NEURON_KEYS = ("tau", "threshold", "reset", "surrogate", "surrogate_params", "detach_reset")


def make_lif(neuron: dict | None = None, **overrides) -> LIF:
    """A :class:`LIF` from a ``neuron`` config section; unknown keys raise ``ValueError``."""
    cfg = dict(neuron or {})
    cfg.update(overrides)
    unknown = set(cfg) - set(NEURON_KEYS) - {"online"}
    if unknown:
        raise ValueError(f"unknown neuron option(s) {sorted(unknown)}; valid: {list(NEURON_KEYS)}")
    return LIF(**cfg)


def build_mlp(
    in_shape: tuple[int, ...] | list[int],
    num_classes: int,
    hidden: list[int] | tuple[int, ...] = (128,),
    neuron: dict | None = None,
    bias: bool = True,
) -> nn.Sequential:
    """``Flatten -> [Linear -> LIF] * len(hidden) -> Linear`` (readout)."""
    if not hidden:
        raise ValueError("mlp: 'hidden' must list at least one layer width")
    layers: list[nn.Module] = [TimeDistributed(nn.Flatten())]
    d = int(math.prod(in_shape))
    for width in hidden:
        layers += [TimeDistributed(nn.Linear(d, int(width), bias=bias)), make_lif(neuron)]
        d = int(width)
    layers.append(TimeDistributed(nn.Linear(d, int(num_classes), bias=bias)))
    return nn.Sequential(*layers)


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"mlp": build_mlp}


def register_architecture(name: str) -> Callable:
    """Decorator adding a builder ``fn(in_shape, num_classes, **options)`` under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        ARCHITECTURES[name] = fn
        return fn

    return deco


def build_model(cfg: dict) -> nn.Module:
    """Build ``cfg["arch"]`` with the remaining keys as options.

    Raises ``ValueError`` naming the valid architectures for an unknown name, and naming the
    architecture for a bad option.
    """
    cfg = dict(cfg)
    name = str(cfg.pop("arch", "")).lower()
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; valid: {sorted(ARCHITECTURES)}")
    try:
        return ARCHITECTURES[name](**cfg)
    except TypeError as exc:
        raise ValueError(f"architecture {name!r}: bad options {sorted(cfg)}: {exc}") from exc
