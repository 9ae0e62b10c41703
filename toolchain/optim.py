r"""Optimiser construction with per-parameter-group settings (``train.param_groups``).

A run config may give some parameters their own learning rate, optimiser, momentum or weight
decay, chosen by parameter name (``model.named_parameters()``)::

    train:
      optimizer: sgd
      lr: 0.05
      momentum: 0.0
      param_groups:
        - {match: "*.w_ix", lr: 0.5}               # glob (fnmatch) on the whole name
        - {regex: '[0-9]+\.b_ix', lr: 0.5}        # or a regular expression (full match)
        - {match: "*.w_ei", lr: 1.0e-3, optimizer: adam}

Every trainable parameter joins the **first** group whose pattern matches its name; the rest
keep ``train``'s own ``optimizer``, ``lr``, ``momentum`` and ``weight_decay`` (the default
group, listed first in ``optimizer.param_groups``). A key a group leaves out inherits
``train``'s value. This is how I-Norm gets the paper's separate inhibitory learning rates
(Eyono et al. section 4.4: ``η_exc``, ``η_wei``, ``η_wix``, SGD without momentum).

Groups that resolve to one optimiser kind share one torch optimiser; several kinds give an
:class:`OptimizerChain` that steps one torch optimiser per kind as a single optimiser (the
learning-rate scheduler sees every group). Errors name the key: ``train.param_groups[1].lr``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hwsim.errors import ConfigError

__all__ = [
    "OPTIMIZERS",
    "ParamGroup",
    "parse_param_groups",
    "make_optimizer",
    "OptimizerChain",
]

OPTIMIZERS = ("sgd", "adam")
_SETTINGS = ("lr", "optimizer", "momentum", "weight_decay")
_KEYS = ("match", "regex", *_SETTINGS)


@dataclass(frozen=True)
class ParamGroup:
    """One entry of ``train.param_groups``; ``None`` settings inherit ``train``'s value."""

    label: str  # "train.param_groups[i]", for error messages
    pattern: str  # the glob or regex as written
    regex: re.Pattern  # the compiled full-name pattern (a glob is translated)
    lr: float | None = None
    optimizer: str | None = None
    momentum: float | None = None
    weight_decay: float | None = None

    def matches(self, name: str) -> bool:
        return self.regex.fullmatch(name) is not None


def _number(label: str, key: str, value, minimum: float, strict: bool) -> float:
    # bool is an int subclass: `lr: true` in YAML must not read as 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{label}.{key} must be a number, got {value!r}")
    ok = value > minimum if strict else value >= minimum
    if not ok:
        raise ConfigError(f"{label}.{key} must be {'>' if strict else '>='} {minimum}, got {value}")
    return float(value)


def _parse_one(i: int, raw, default_optimizer: str) -> ParamGroup:
    label = f"train.param_groups[{i}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{label} must be a mapping like {{match: '*.w_ix', lr: 0.1}}: {raw!r}")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{label}: unknown key(s) {unknown}; valid: {list(_KEYS)}")
    if ("match" in raw) == ("regex" in raw):
        raise ConfigError(f"{label} needs exactly one of 'match' (a glob) or 'regex'")
    key = "match" if "match" in raw else "regex"
    pattern = raw[key]
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{label}.{key} must be a non-empty string, got {pattern!r}")
    try:
        regex = re.compile(fnmatch.translate(pattern) if key == "match" else pattern)
    except re.error as exc:
        raise ConfigError(f"{label}.regex {pattern!r} is not a regular expression: {exc}") from exc
    if not any(k in raw for k in _SETTINGS):
        raise ConfigError(f"{label} ({key} {pattern!r}) sets none of {list(_SETTINGS)}")
    optimizer = raw.get("optimizer")
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise ConfigError(f"{label}.optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if "momentum" in raw and (optimizer or default_optimizer) != "sgd":
        raise ConfigError(f"{label}.momentum applies to optimizer sgd only (this group uses adam)")
    return ParamGroup(
        label=label,
        pattern=pattern,
        regex=regex,
        lr=_number(label, "lr", raw["lr"], 0.0, strict=True) if "lr" in raw else None,
        optimizer=optimizer,
        momentum=_number(label, "momentum", raw["momentum"], 0.0, False)
        if "momentum" in raw
        else None,
        weight_decay=_number(label, "weight_decay", raw["weight_decay"], 0.0, False)
        if "weight_decay" in raw
        else None,
    )


def parse_param_groups(raw: Sequence, default_optimizer: str) -> tuple[ParamGroup, ...]:
    """Validate ``train.param_groups`` (a list of mappings); raises :class:`ConfigError`
    naming the group and key."""
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Sequence):
        raise ConfigError(f"train.param_groups must be a list of mappings, got {raw!r}")
    return tuple(_parse_one(i, g, default_optimizer) for i, g in enumerate(raw))


def _torch_group(params: list, g: ParamGroup | None, cfg) -> tuple[str, dict]:
    """``(optimiser kind, torch param-group dict)`` of group ``g`` (``None``: the default group),
    unset settings taken from ``cfg``."""

    def get(key: str):
        value = None if g is None else getattr(g, key)
        return getattr(cfg, key) if value is None else value

    kind = get("optimizer")
    group = {"params": params, "lr": get("lr"), "weight_decay": get("weight_decay")}
    group["name"] = "default" if g is None else g.pattern
    if kind == "sgd":
        group["momentum"] = get("momentum")
    return kind, group


def make_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    """The optimiser for ``model``'s trainable parameters under ``cfg`` (a ``TrainConfig``).

    Raises :class:`ConfigError` when a group matches no trainable parameter (a typo in a
    pattern would otherwise silently train everything at the default rate).
    """
    groups = parse_param_groups(cfg.param_groups, cfg.optimizer)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    members: list[list] = [[] for _ in range(len(groups) + 1)]  # [default, group 0, ...]
    for name, p in named:
        members[next((i + 1 for i, g in enumerate(groups) if g.matches(name)), 0)].append(p)
    for g, params in zip(groups, members[1:]):
        if not params:
            names = [n for n, _ in named]
            raise ConfigError(
                f"{g.label} ({g.pattern!r}) matches no trainable parameter (or only ones an "
                f"earlier group took); parameter names: {names[:8]}"
                + (" ..." if len(names) > 8 else "")
            )
    by_kind: dict[str, list[dict]] = {}
    for g, params in zip((None, *groups), members):
        if params:
            kind, group = _torch_group(params, g, cfg)
            by_kind.setdefault(kind, []).append(group)
    optimizers = [_OPTIMIZER_CLASSES[kind](tg) for kind, tg in by_kind.items()]
    return optimizers[0] if len(optimizers) == 1 else OptimizerChain(optimizers)


# Every group carries its own lr/momentum/weight_decay, so the constructors need no defaults
# beyond lr (SGD requires one argument even when every group sets it).
_OPTIMIZER_CLASSES = {
    "sgd": lambda groups: torch.optim.SGD(groups, lr=groups[0]["lr"]),
    "adam": lambda groups: torch.optim.Adam(groups, lr=groups[0]["lr"]),
}


class OptimizerChain(torch.optim.Optimizer):
    """Several torch optimisers (one per optimiser kind) stepped as one.

    ``param_groups`` is the concatenation of the members' own group dicts — the same objects —
    so a learning-rate scheduler writing ``group["lr"]`` reaches the optimiser that owns the
    group. ``torch.optim.Optimizer.__init__`` is deliberately not called: it would copy the
    groups into new dicts that the members never read.
    """

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        self.optimizers = list(optimizers)
        self.defaults: dict = {}
        self.param_groups = [g for opt in self.optimizers for g in opt.param_groups]

    @property
    def state(self) -> dict:
        return {k: v for opt in self.optimizers for k, v in opt.state.items()}

    def step(self, closure=None):
        if closure is not None:
            raise ValueError("OptimizerChain.step does not take a closure")
        for opt in self.optimizers:
            opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict.get("optimizers")
        if saved is None or len(saved) != len(self.optimizers):
            raise ConfigError(
                f"optimizer state holds {len(saved or [])} optimiser(s), this config builds "
                f"{len(self.optimizers)}: train.param_groups changed since the checkpoint"
            )
        for opt, sd in zip(self.optimizers, saved):
            opt.load_state_dict(sd)
        # torch's load_state_dict replaces each member's group dicts: share the new ones
        self.param_groups = [g for opt in self.optimizers for g in opt.param_groups]
