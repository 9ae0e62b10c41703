"""Weight initialisations by name: DAP, Kaiming, Xavier (TECHNIQUES.md section 5).

DAP (Micheli et al., "Deep activity propagation via weight initialization in spiking neural
networks", Eq. 10) keeps the membrane variance of a spiking layer at 1. With binary inputs
``x`` that spike with probability ``P = P(u > θ)`` and zero-mean weights,
``Var[u] = n Var[w] E[x²] = n Var[w] P``; asking ``Var[u] = 1`` gives::

    W ~ N(0, 1 / (n P(u > θ))),     P(u > θ) = 1 - Φ(θ)  for u ~ N(0, 1),   n = fan-in

(``n = C_in/groups * k_h * k_w`` for a convolution). For ``θ = 1``, ``P = 0.1587`` and the
standard deviation is ``≈ 2.51/sqrt(n)``, against Kaiming's ``sqrt(2/n)`` (He et al. 2015,
normal, fan-in, ReLU gain) and Xavier's ``sqrt(2/(n_in + n_out))`` (Glorot & Bengio 2010,
normal).

:func:`apply_init` applies one of them by name to every ``Linear``/``Conv`` layer of a network
and zeroes their biases (the variance analysis assumes no bias).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "INITS",
    "fan_in_out",
    "spike_probability",
    "dap_std",
    "dap_",
    "kaiming_",
    "xavier_",
    "apply_init",
]


def fan_in_out(weight: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a ``Linear`` (``[out, in]``) or ``Conv`` (``[out, in/g, *k]``)
    weight: ``fan_in = in/g * prod(k)``, ``fan_out = out * prod(k)``."""
    if weight.ndim < 2:
        raise ValueError(f"init: weight must have >= 2 dimensions, got shape {tuple(weight.shape)}")
    receptive = math.prod(weight.shape[2:])
    return int(weight.shape[1] * receptive), int(weight.shape[0] * receptive)


def spike_probability(theta: float) -> float:
    """``P(u > θ) = 1 - Φ(θ) = erfc(θ/√2)/2`` for ``u ~ N(0, 1)``."""
    return 0.5 * math.erfc(float(theta) / math.sqrt(2.0))


def dap_std(fan_in: int, theta: float = 1.0) -> float:
    """DAP standard deviation ``1 / sqrt(n (1 - Φ(θ)))``."""
    if fan_in < 1:
        raise ValueError(f"dap: fan-in must be >= 1, got {fan_in}")
    p = spike_probability(theta)
    if p <= 0.0:
        raise ValueError(f"dap: threshold {theta} gives spike probability 0")
    return 1.0 / math.sqrt(fan_in * p)


@torch.no_grad()
def dap_(weight: torch.Tensor, theta: float = 1.0, generator=None) -> torch.Tensor:
    """Fill ``weight`` in place from ``N(0, 1/(n P(u>θ)))``."""
    fan_in, _ = fan_in_out(weight)
    return weight.normal_(0.0, dap_std(fan_in, theta), generator=generator)


@torch.no_grad()
def kaiming_(weight: torch.Tensor, gain: float = math.sqrt(2.0), generator=None) -> torch.Tensor:
    """Fill ``weight`` in place from ``N(0, gain²/n)`` (default ReLU gain √2: ``sqrt(2/n)``)."""
    fan_in, _ = fan_in_out(weight)
    return weight.normal_(0.0, gain / math.sqrt(fan_in), generator=generator)


@torch.no_grad()
def xavier_(weight: torch.Tensor, gain: float = 1.0, generator=None) -> torch.Tensor:
    """Fill ``weight`` in place from ``N(0, gain² 2/(n_in + n_out))``."""
    fan_in, fan_out = fan_in_out(weight)
    return weight.normal_(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)


#: Name -> in-place initialiser ``fn(weight, **params)``.
INITS: dict[str, Callable[..., torch.Tensor]] = {
    "dap": dap_,
    "kaiming": kaiming_,
    "xavier": xavier_,
}

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def apply_init(net: nn.Module, name: str, zero_bias: bool = True, **params) -> nn.Module:
    """Initialise the weight of every ``Linear``/``Conv`` of ``net`` with the initialiser
    ``name`` (see :data:`INITS`) and keyword ``params`` (e.g. ``theta`` for DAP, ``generator``);
    biases are zeroed unless ``zero_bias=False``. Returns ``net``.

    An unknown name raises ``ValueError`` listing the valid names; a bad parameter raises
    ``ValueError`` naming the initialiser.
    """
    key = str(name).lower()
    if key not in INITS:
        valid = ", ".join(sorted(INITS))
        raise ValueError(f"unknown initialisation {name!r}; valid names: {valid}")
    fn = INITS[key]
    for m in net.modules():
        if isinstance(m, _LAYERS):
            try:
                fn(m.weight, **params)
            except TypeError as exc:
                msg = f"initialisation {key!r}: bad parameters {sorted(params)}"
                raise ValueError(msg) from exc
            if zero_bias and m.bias is not None:
                with torch.no_grad():
                    m.bias.zero_()
    return net
