"""AdaLi: an adaptive, piecewise-constant surrogate gradient (TECHNIQUES.md section 6).

Hou, Wu, Zhou, "Adaptive and lightweight surrogate gradients". The paper's formulas were lost
and no code is public; this is the project's **[choice]** reconstruction from its text. With
window boundaries ``V⁻ < θ < V⁺`` on the membrane potential ``U``::

    dS/dU = α / (θ - V⁻)    for V⁻ <= U < θ
            β / (V⁺ - θ)    for θ <= U <= V⁺
            0               elsewhere

(``α = β = 0.5``: unit area). The window narrows over training, from ``V⁻₁ = -0.5``,
``V⁺₁ = 2.5`` to ``V⁻_N = θ - p(θ - V⁻₁)``, ``V⁺_N = θ + p(V⁺₁ - θ)`` (``p = 0.2``), with a
linear or a logarithmic schedule over the epochs ``k = 1..N``::

    linear:       V_k = V₁ + (V_N - V₁) (k - 1)/(N - 1)
    logarithmic:  V_k = V₁ + (V_N - V₁) ln k / ln N

(both give ``V₁`` when ``N = 1``).

The surrogate sees ``x = U - θ`` (the LIF passes ``H - θ[t]``), so the window is stored as the
boundaries ``V⁻, V⁺`` together with the nominal threshold ``θ`` they refer to, and acts on ``x``
as the offsets ``[V⁻ - θ, V⁺ - θ]``. **[choice]** With a per-step threshold (OTS) the window
therefore moves with ``θ[t]``: it is a window around the threshold, which is what the paper
describes. The boundaries are buffers (in the ``state_dict``), so a checkpoint restores them.

"Compute density" is the fraction of membrane potentials inside ``[V⁻, V⁺]`` — the elements
whose backward is non-zero, i.e. the gradient work actually needed. :class:`AdaLiSpike` counts
it in training mode; :func:`adali_density` reads and :func:`reset_adali_meters` clears the
counters of every AdaLi surrogate of a network (``toolchain.callbacks.AdaLiCallback`` does both
once per epoch).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.surrogates import SurrogateSpike, register_surrogate, spike

__all__ = [
    "AdaLiSpike",
    "SCHEDULES",
    "adali_final_window",
    "adali_schedule",
    "adali_window",
    "adali_surrogates",
    "set_adali_window",
    "adali_counts",
    "adali_density",
    "reset_adali_meters",
]

SCHEDULES = ("linear", "log")


def _adali_vjp(
    grad: torch.Tensor, x: torch.Tensor, lo: float, hi: float, alpha: float, beta: float
) -> torch.Tensor:
    # lo = V⁻ - θ < 0 <= hi = V⁺ - θ (window offsets in x = U - θ)
    below = ((x >= lo) & (x < 0)).to(grad.dtype) * (alpha / -lo)
    above = ((x >= 0) & (x <= hi)).to(grad.dtype) * (beta / hi)
    return grad * (below + above)


@register_surrogate
class AdaLiSpike(SurrogateSpike):
    """AdaLi surrogate with window ``[v_minus, v_plus]`` around the nominal threshold ``theta``.

    Args:
        alpha: area of the pseudo-derivative below the threshold (``α``).
        beta: area above the threshold (``β``).
        theta: the nominal threshold the boundaries refer to.
        v_minus, v_plus: the current window boundaries, ``v_minus < theta < v_plus``.
    """

    name = "adali"

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        theta: float = 1.0,
        v_minus: float = -0.5,
        v_plus: float = 2.5,
    ) -> None:
        super().__init__()
        if not (alpha > 0 and beta > 0):
            raise ValueError(f"adali surrogate: alpha and beta must be > 0, got {alpha}, {beta}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.theta = float(theta)
        self.register_buffer("v_minus", torch.tensor(0.0))
        self.register_buffer("v_plus", torch.tensor(0.0))
        self.set_window(v_minus, v_plus)
        self.reset_meter()

    def set_window(self, v_minus: float, v_plus: float) -> None:
        """Set the boundaries; ``ValueError`` unless ``v_minus < theta < v_plus``."""
        if not (math.isfinite(v_minus) and math.isfinite(v_plus)):
            raise ValueError(f"adali surrogate: window must be finite, got [{v_minus}, {v_plus}]")
        if not v_minus < self.theta < v_plus:
            raise ValueError(
                f"adali surrogate: need v_minus < theta < v_plus, got "
                f"{v_minus} < {self.theta} < {v_plus}"
            )
        self.v_minus.fill_(float(v_minus))
        self.v_plus.fill_(float(v_plus))

    def window(self) -> tuple[float, float]:
        """The window in ``x = U - θ``: ``(V⁻ - θ, V⁺ - θ)``."""
        return (float(self.v_minus) - self.theta, float(self.v_plus) - self.theta)

    # -- compute-density meter --------------------------------------------------------------
    def reset_meter(self) -> None:
        self.inside = 0
        self.total = 0

    @property
    def density(self) -> float:
        """Fraction of the membrane potentials seen in training inside the window."""
        return self.inside / self.total if self.total else float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.window()
        if self.training:
            with torch.no_grad():
                self.inside += int(((x >= lo) & (x <= hi)).sum())
                self.total += x.numel()
        return spike(x, _adali_vjp, lo, hi, self.alpha, self.beta)

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, beta={self.beta}, theta={self.theta}, "
            f"window=[{float(self.v_minus):g}, {float(self.v_plus):g}]"
        )


def adali_final_window(
    theta: float = 1.0, v_minus_1: float = -0.5, v_plus_1: float = 2.5, p: float = 0.2
) -> tuple[float, float]:
    """``(V⁻_N, V⁺_N) = (θ - p(θ - V⁻₁), θ + p(V⁺₁ - θ))``."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"adali: shrink factor p must be in (0, 1], got {p}")
    return theta - p * (theta - v_minus_1), theta + p * (v_plus_1 - theta)


def adali_schedule(kind: str, epoch: int, num_epochs: int, v_1: float, v_n: float) -> float:
    """``V_k`` of the linear or logarithmic schedule at epoch ``k = epoch`` of ``N``."""
    if kind not in SCHEDULES:
        raise ValueError(f"adali: schedule must be one of {SCHEDULES}, got {kind!r}")
    if not 1 <= epoch <= num_epochs:
        raise ValueError(f"adali: epoch must be in [1, {num_epochs}], got {epoch}")
    if num_epochs == 1:
        return float(v_1)
    if kind == "linear":
        frac = (epoch - 1) / (num_epochs - 1)
    else:
        frac = math.log(epoch) / math.log(num_epochs)
    return v_1 + (v_n - v_1) * frac


def adali_window(
    epoch: int,
    num_epochs: int,
    schedule: str = "linear",
    theta: float = 1.0,
    v_minus_1: float = -0.5,
    v_plus_1: float = 2.5,
    p: float = 0.2,
) -> tuple[float, float]:
    """The window ``(V⁻_k, V⁺_k)`` at epoch ``k`` of ``N``."""
    vm_n, vp_n = adali_final_window(theta, v_minus_1, v_plus_1, p)
    return (
        adali_schedule(schedule, epoch, num_epochs, v_minus_1, vm_n),
        adali_schedule(schedule, epoch, num_epochs, v_plus_1, vp_n),
    )


def adali_surrogates(net: nn.Module) -> list[AdaLiSpike]:
    """Every :class:`AdaLiSpike` in ``net``."""
    return [m for m in net.modules() if isinstance(m, AdaLiSpike)]


def set_adali_window(net: nn.Module, v_minus: float, v_plus: float) -> int:
    """Set the window of every AdaLi surrogate of ``net``; returns how many were set."""
    mods = adali_surrogates(net)
    for m in mods:
        m.set_window(v_minus, v_plus)
    return len(mods)


def adali_counts(net: nn.Module) -> tuple[int, int]:
    """``(inside, total)``: membrane potentials inside the window and all of them, pooled over
    every AdaLi surrogate of ``net`` since the last reset (sums, so processes can add theirs)."""
    mods = adali_surrogates(net)
    return sum(m.inside for m in mods), sum(m.total for m in mods)


def adali_density(net: nn.Module) -> float:
    """Compute density pooled over every AdaLi surrogate of ``net`` since the last reset
    (NaN if nothing was counted)."""
    inside, total = adali_counts(net)
    return inside / total if total else float("nan")


def reset_adali_meters(net: nn.Module) -> None:
    for m in adali_surrogates(net):
        m.reset_meter()
