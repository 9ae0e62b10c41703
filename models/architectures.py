"""Network architectures built from a plain config dict, by name.

Every architecture is time-first: ``net(x)`` with ``x`` of shape ``[T, B, *in_shape]`` returns
the readout currents ``[T, B, num_classes]`` (in single-step mode ``[B, ...] -> [B, K]``).
The readout is a non-spiking linear layer; the prediction is the argmax of the mean (or sum)
over time.

``build_model({"arch": "mlp", "in_shape": [1, 8, 8], "num_classes": 10, "hidden": [128]})``
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable

from torch import nn

from models.base import StatefulModule, TimeDistributed
from models.blocks import make_lif, make_neuron, make_norm
from models.init import apply_init

__all__ = ["ARCHITECTURES", "register_architecture", "build_model", "build_mlp", "make_lif"]


def build_mlp(
    in_shape: tuple[int, ...] | list[int],
    num_classes: int,
    hidden: list[int] | tuple[int, ...] = (128,),
    neuron: dict | None = None,
    bias: bool = True,
    norm: str | None = None,
    T: int | None = None,
    init: str | None = None,
    init_params: dict | None = None,
) -> nn.Sequential:
    """``Flatten -> [Linear -> (norm) -> LIF] * len(hidden) -> Linear`` (readout).

    ``norm`` (``"none" | "bn" | "osr" | "osr_ots"``, see :mod:`models.blocks`) inserts a norm
    module after each hidden Linear (BatchNorm1d wrapped in ``TimeDistributed``; OSR as is) and
    with ``"osr_ots"`` the LIFs are :class:`models.ots.OTSLIF` over ``T`` steps. ``init`` names
    an initialisation of :mod:`models.init` applied to every Linear (``None``: torch default).
    """
    if not hidden:
        raise ValueError("mlp: 'hidden' must list at least one layer width")
    layers: list[nn.Module] = [TimeDistributed(nn.Flatten())]
    d = int(math.prod(in_shape))
    for width in hidden:
        layers.append(TimeDistributed(nn.Linear(d, int(width), bias=bias)))
        if norm not in (None, "none"):
            nm = make_norm(norm, int(width), spatial=False)
            layers.append(nm if isinstance(nm, StatefulModule) else TimeDistributed(nm))
        layers.append(make_neuron(neuron, norm, T))
        d = int(width)
    layers.append(TimeDistributed(nn.Linear(d, int(num_classes), bias=bias)))
    net = nn.Sequential(*layers)
    if init is not None:
        apply_init(net, init, **(init_params or {}))
    return net


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"mlp": build_mlp}


def register_architecture(name: str) -> Callable:
    """Decorator adding a builder ``fn(in_shape, num_classes, **options)`` under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        ARCHITECTURES[name] = fn
        return fn

    return deco


def _suggest(unknown: list[str], valid: list[str]) -> str:
    """The close valid option of each misspelt one (``hiden`` -> ``hidden``) when every one has
    one; otherwise the list of valid options."""
    close = {u: difflib.get_close_matches(u, valid, n=1, cutoff=0.75) for u in unknown}
    if all(close.values()):
        return "did you mean " + ", ".join(f"{c[0]!r}" for c in close.values()) + "?"
    return f"valid: {valid}"


def build_model(cfg: dict) -> nn.Module:
    """Build ``cfg["arch"]`` with the remaining keys as options.

    Raises ``ValueError`` naming the valid architectures for an unknown name, and the unknown
    option(s) with the architecture's valid ones for a bad option.
    """
    cfg = dict(cfg)
    name = str(cfg.pop("arch", "")).lower()
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; valid: {sorted(ARCHITECTURES)}")
    builder = ARCHITECTURES[name]
    params = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(cfg) - set(params))
        if unknown:
            # in_shape and num_classes are filled in from the dataset: not the user's to list
            valid = sorted(set(params) - {"in_shape", "num_classes"})
            raise ValueError(f"architecture {name!r}: unknown option(s) {unknown}; "
                             f"{_suggest(unknown, valid)}")  # fmt: skip
    try:
        return builder(**cfg)
    except TypeError as exc:
        raise ValueError(f"architecture {name!r}: {exc}") from exc
