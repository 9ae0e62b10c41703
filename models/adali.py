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
whose surrogate gradient is non-zero, i.e. the surrogate work actually needed (the paper's
saving: "only about 20 % of the [membrane potential] gradients are computed"). :class:`AdaLiSpike`
counts it in training mode; :func:`adali_density` reads and :func:`reset_adali_meters` clears
the counters of every AdaLi surrogate of a network (``toolchain.callbacks.AdaLiCallback`` does
both once per epoch).

Two backwards, the same numbers (bit for bit: an in-window element's factor is one of the two
slopes either way):

- ``"dense"``: saves the membrane ``x`` (4 bytes per element) and evaluates the window test
  and the slope on every element in the backward, as the other surrogates do;
- ``"masked"`` (default): the forward, which tests the window anyway for the density meter,
  saves only the flat ``int32`` indices of the in-window elements and one bit of side per
  index; the backward gathers the upstream gradient at those indices, scales it and scatters
  it into zeros — work and saved memory proportional to the compute density instead of the
  layer size. ``python -m bench adali`` measures both against the dense sigmoid.

What does not shrink: the surrogate gradient is only the elementwise factor ``dS/dU``; the
weight-gradient matrix products around it stay dense (a zero in ``dL/dU`` does not remove a
row or column of ``W``'s gradient unless a whole unit or sample is outside the window), and
with BPTT ``dL/dU`` also receives the membrane's own path through time, which is not masked.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.surrogates import SurrogateSpike, heaviside, register_surrogate, spike

__all__ = [
    "AdaLiSpike",
    "BACKWARDS",
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
BACKWARDS = ("masked", "dense")


def _adali_vjp(
    grad: torch.Tensor, x: torch.Tensor, lo: float, hi: float, alpha: float, beta: float
) -> torch.Tensor:
    # lo = V⁻ - θ < 0 <= hi = V⁺ - θ (window offsets in x = U - θ)
    below = ((x >= lo) & (x < 0)).to(grad.dtype) * (alpha / -lo)
    above = ((x >= 0) & (x <= hi)).to(grad.dtype) * (beta / hi)
    return grad * (below + above)


class _MaskedAdaLiFn(torch.autograd.Function):
    """``Θ(x)`` forward; the backward touches only the in-window elements.

    ``inside`` (the window test, computed once by the caller) selects the elements; the forward
    saves their flat indices (``int32``: fewer than 2^31 elements per tensor, checked) and
    whether each lies above the threshold. The backward is ``grad * slope`` at those indices
    and exactly 0 elsewhere — the dense vjp's values, bit for bit.
    """

    @staticmethod
    def forward(ctx, x, inside, lo: float, hi: float, alpha: float, beta: float):
        if x.numel() >= 2**31:
            raise ValueError("adali masked backward: tensor too large for int32 indices")
        idx = inside.reshape(-1).nonzero().squeeze(1).to(torch.int32)
        above = x.detach().reshape(-1).index_select(0, idx) >= 0
        ctx.save_for_backward(idx, above)
        ctx.shape = x.shape
        ctx.slopes = (alpha / -lo, beta / hi)  # lo = V⁻ - θ < 0 <= hi = V⁺ - θ
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        idx32, above = ctx.saved_tensors
        idx = idx32.long()  # stored as int32 (half the memory); index_copy_ wants int64
        below_slope, above_slope = ctx.slopes
        g = grad.reshape(-1)
        slope = torch.where(above, above_slope, below_slope).to(grad.dtype)
        out = torch.zeros_like(g).index_copy_(0, idx, g.index_select(0, idx) * slope)
        return out.view(ctx.shape), None, None, None, None, None


@register_surrogate
class AdaLiSpike(SurrogateSpike):
    """AdaLi surrogate with window ``[v_minus, v_plus]`` around the nominal threshold ``theta``.

    Args:
        alpha: area of the pseudo-derivative below the threshold (``α``).
        beta: area above the threshold (``β``).
        theta: the nominal threshold the boundaries refer to.
        v_minus, v_plus: the current window boundaries, ``v_minus < theta < v_plus``.
        backward: ``"masked"`` (work and memory proportional to the compute density) or
            ``"dense"``; the same gradients either way (module docstring).
    """

    name = "adali"

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        theta: float = 1.0,
        v_minus: float = -0.5,
        v_plus: float = 2.5,
        backward: str = "masked",
    ) -> None:
        super().__init__()
        if backward not in BACKWARDS:
            raise ValueError(f"adali surrogate: backward must be one of {BACKWARDS}: {backward!r}")
        self.backward_mode = backward
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
        masked = self.backward_mode == "masked" and x.requires_grad
        inside = None
        if self.training or masked:
            with torch.no_grad():
                inside = (x >= lo) & (x <= hi)
        if self.training:
            self.inside += int(inside.sum())
            self.total += x.numel()
        if masked:
            return _MaskedAdaLiFn.apply(x, inside, lo, hi, self.alpha, self.beta)
        return spike(x, _adali_vjp, lo, hi, self.alpha, self.beta)

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, beta={self.beta}, theta={self.theta}, "
            f"window=[{float(self.v_minus):g}, {float(self.v_plus):g}], "
            f"backward={self.backward_mode}"
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
