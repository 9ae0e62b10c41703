"""Surrogate gradients for the Heaviside spike function, selected by name.

Every surrogate runs one ``torch.autograd.Function`` (:func:`spike`) whose forward is the exact
Heaviside step ``S = Θ(x)`` with ``Θ(0) = 1`` (a neuron spikes when ``H >= θ``; ``x = H - θ``) and
whose backward replaces ``dΘ/dx`` by the surrogate's pseudo-derivative: ``vjp(grad, x, *consts)``
returns ``grad · dΘ/dx``.
A thin ``nn.Module`` per surrogate holds the constants, so that the choice (and any state, such as
AdaLi's window) appears in the model's ``repr`` and ``state_dict``.

Pseudo-derivatives (``x = H - θ``):

- ``sigmoid``  (alpha = 4):   ``α σ(αx) (1 - σ(αx))``
- ``atan``     (alpha = 2):   ``(α/2) / (1 + (π α x / 2)^2)``
- ``triangle`` (width = 1):   ``max(0, 1 - |x|/w) / w``            (unit area)
- ``boxcar``   (width = 0.5): ``1/(2w)`` for ``-w <= x < w``, else 0 (unit area)
- ``softsign`` (alpha = 2):   ``α / (2 (1 + α|x|)^2)``            (unit area; the derivative of
  ``(αx/(1 + α|x|) + 1)/2``, SuperSpike's fast sigmoid as SpikingJelly's ``SoftSign`` writes
  it; the AdaLi paper's baseline at α = 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "heaviside",
    "spike",
    "SurrogateSpike",
    "SigmoidSpike",
    "ATanSpike",
    "TriangleSpike",
    "BoxcarSpike",
    "SoftSignSpike",
    "SURROGATES",
    "register_surrogate",
    "get_surrogate",
]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """``Θ(x)`` with ``Θ(0) = 1``, in the dtype of ``x``."""
    return (x >= 0).to(x.dtype)


class _SpikeFn(torch.autograd.Function):
    """``Θ(x)`` forward; backward ``vjp(grad, x, *consts)`` = ``grad`` times the pseudo-derivative.

    The constants are fixed at forward time, so a window or slope changed between forward and
    backward (e.g. AdaLi's per-epoch schedule) cannot leak into a pending backward.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, vjp, *consts: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.vjp, ctx.consts = vjp, consts
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        # One gradient per forward input: x, then None for vjp and each constant.
        return (ctx.vjp(grad, x, *ctx.consts), None, *(None for _ in ctx.consts))


def spike(x: torch.Tensor, vjp: Callable[..., torch.Tensor], *consts: float) -> torch.Tensor:
    """``Θ(x)`` whose backward is ``vjp(grad, x, *consts)`` (``grad`` times the surrogate's
    pseudo-derivative at ``x``)."""
    return _SpikeFn.apply(x, vjp, *consts)


# Each vjp multiplies ``grad`` in, in this operation order, so that gradients (and so trained
# weights and the accuracies in docs/results.md) stay bit-identical to the per-surrogate
# Functions these replaced.
def _sigmoid_vjp(grad: torch.Tensor, x: torch.Tensor, alpha: float) -> torch.Tensor:
    sig = torch.sigmoid(alpha * x)
    return grad * alpha * sig * (1.0 - sig)


def _atan_vjp(grad: torch.Tensor, x: torch.Tensor, alpha: float) -> torch.Tensor:
    return grad * (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * x) ** 2)


def _triangle_vjp(grad: torch.Tensor, x: torch.Tensor, width: float) -> torch.Tensor:
    return grad * torch.clamp(1.0 - x.abs() / width, min=0.0) / width


def _boxcar_vjp(grad: torch.Tensor, x: torch.Tensor, width: float) -> torch.Tensor:
    inside = ((x >= -width) & (x < width)).to(grad.dtype)
    return grad * inside / (2.0 * width)


def _softsign_vjp(grad: torch.Tensor, x: torch.Tensor, alpha: float) -> torch.Tensor:
    return grad * alpha / (2.0 * (1.0 + alpha * x.abs()) ** 2)


class SurrogateSpike(nn.Module):
    """Base class: ``forward(x)`` returns ``Θ(x)`` with a surrogate backward.

    Subclasses may override :meth:`window` to report the interval of ``x = H - θ`` where the
    pseudo-derivative is non-zero (used by compute-density meters); ``None`` means unbounded.
    """

    name = "base"

    def window(self) -> tuple[float, float] | None:
        return None


class SigmoidSpike(SurrogateSpike):
    name = "sigmoid"

    def __init__(self, alpha: float = 4.0) -> None:
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"sigmoid surrogate: alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, _sigmoid_vjp, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class ATanSpike(SurrogateSpike):
    name = "atan"

    def __init__(self, alpha: float = 2.0) -> None:
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"atan surrogate: alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, _atan_vjp, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class TriangleSpike(SurrogateSpike):
    name = "triangle"

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        if not width > 0:
            raise ValueError(f"triangle surrogate: width must be > 0, got {width}")
        self.width = float(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, _triangle_vjp, self.width)

    def window(self) -> tuple[float, float]:
        return (-self.width, self.width)

    def extra_repr(self) -> str:
        return f"width={self.width}"


class BoxcarSpike(SurrogateSpike):
    name = "boxcar"

    def __init__(self, width: float = 0.5) -> None:
        super().__init__()
        if not width > 0:
            raise ValueError(f"boxcar surrogate: width must be > 0, got {width}")
        self.width = float(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, _boxcar_vjp, self.width)

    def window(self) -> tuple[float, float]:
        return (-self.width, self.width)

    def extra_repr(self) -> str:
        return f"width={self.width}"


class SoftSignSpike(SurrogateSpike):
    name = "softsign"

    def __init__(self, alpha: float = 2.0) -> None:
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"softsign surrogate: alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, _softsign_vjp, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


#: Name -> surrogate class. Extended by :func:`register_surrogate` at import time of the module
#: that defines a surrogate (e.g. ``models.adali``), never at run time by user code paths.
SURROGATES: dict[str, type[SurrogateSpike]] = {
    "sigmoid": SigmoidSpike,
    "atan": ATanSpike,
    "triangle": TriangleSpike,
    "boxcar": BoxcarSpike,
    "softsign": SoftSignSpike,
}


def register_surrogate(cls: type[SurrogateSpike]) -> type[SurrogateSpike]:
    """Class decorator adding a surrogate to :data:`SURROGATES` under ``cls.name``."""
    SURROGATES[cls.name] = cls
    return cls


def get_surrogate(name: str | SurrogateSpike, **params) -> SurrogateSpike:
    """Build the surrogate called ``name`` with keyword ``params``.

    An instance is returned unchanged (``params`` must then be empty). An unknown name raises
    ``ValueError`` listing the valid names.
    """
    if isinstance(name, SurrogateSpike):
        if params:
            raise ValueError("get_surrogate: parameters given together with a surrogate instance")
        return name
    key = str(name).lower()
    if key not in SURROGATES:
        valid = ", ".join(sorted(SURROGATES))
        raise ValueError(f"unknown surrogate {name!r}; valid names: {valid}")
    return SURROGATES[key](**params)
