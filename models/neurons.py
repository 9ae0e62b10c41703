"""Leaky integrate-and-fire neurons (TECHNIQUES.md section 1).

Discrete-time LIF with ``decay_input=False``::

    H[t] = a V[t-1] + I[t]            a = 1 - 1/tau
    S[t] = Θ(H[t] - θ[t])             Θ(0) = 1: a neuron spikes when H >= θ
    V[t] = H[t] - θ[t] sg(S[t])       soft reset (default)
    V[t] = H[t] (1 - sg(S[t]))        hard reset

with ``V[-1] = 0``. ``θ`` is a scalar or a per-step schedule ``θ[t]`` (what OTS folds to).
``sg`` (detach) on the reset path is the common choice (``detach_reset=True``); with
``online=True`` the membrane is detached between steps, ``H[t] = a sg(V[t-1]) + I[t]``, so no
gradient flows through time (OSR/OTS online training, TECHNIQUES.md section 4).

The arithmetic is a set of pure functions (:func:`lif_charge`, :func:`lif_fire`,
:func:`lif_reset`, composed in :func:`lif_step`); :class:`LIF` is a thin module around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from models.base import StatefulModule
from models.surrogates import SurrogateSpike, get_surrogate

__all__ = [
    "RESETS",
    "LIFParameters",
    "LIFStep",
    "lif_charge",
    "lif_fire",
    "lif_reset",
    "lif_step",
    "LIF",
]

RESETS = ("soft", "hard")


@dataclass(frozen=True)
class LIFParameters:
    """Parameters of the LIF step. ``tau > 1`` gives a decay ``a = 1 - 1/tau`` in (0, 1);
    ``tau = inf`` (``a = 1``) is a non-leaky integrate-and-fire neuron."""

    tau: float = 2.0
    reset: str = "soft"
    detach_reset: bool = True

    def __post_init__(self) -> None:
        if not self.tau >= 1.0:
            raise ValueError(f"LIF: tau must be >= 1 (decay 1 - 1/tau in [0, 1]), got {self.tau}")
        if self.reset not in RESETS:
            raise ValueError(f"LIF: reset must be one of {RESETS}, got {self.reset!r}")

    @property
    def decay(self) -> float:
        return 1.0 - 1.0 / self.tau


class LIFStep(NamedTuple):
    spike: torch.Tensor
    v: torch.Tensor
    h: torch.Tensor


def lif_charge(current: torch.Tensor, v: torch.Tensor, decay: float) -> torch.Tensor:
    """``H = a V + I``."""
    return decay * v + current


def lif_fire(h: torch.Tensor, threshold, spike_fn: SurrogateSpike) -> torch.Tensor:
    """``S = Θ(H - θ)`` with the surrogate's backward."""
    return spike_fn(h - threshold)


def lif_reset(
    h: torch.Tensor, spike: torch.Tensor, threshold, reset: str, detach: bool = True
) -> torch.Tensor:
    """Soft (``V = H - θ S``) or hard (``V = H (1 - S)``) reset."""
    s = spike.detach() if detach else spike
    if reset == "soft":
        return h - threshold * s
    if reset == "hard":
        return h * (1.0 - s)
    raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")


def lif_step(
    current: torch.Tensor,
    v: torch.Tensor,
    threshold,
    params: LIFParameters,
    spike_fn: SurrogateSpike,
) -> LIFStep:
    """One LIF step: ``(I[t], V[t-1]) -> (S[t], V[t], H[t])``."""
    h = lif_charge(current, v, params.decay)
    s = lif_fire(h, threshold, spike_fn)
    v_next = lif_reset(h, s, threshold, params.reset, params.detach_reset)
    return LIFStep(s, v_next, h)


class LIF(StatefulModule):
    """A population of LIF neurons, multi-step (``[T, B, ...]``) or single-step (``[B, ...]``).

    Args:
        tau: membrane time constant; decay ``a = 1 - 1/tau``.
        threshold: a scalar, or a sequence of per-step thresholds ``θ[t]`` (length ``T``).
        reset: ``"soft"`` (subtract θ) or ``"hard"`` (to zero).
        surrogate: a surrogate name (see :data:`models.surrogates.SURROGATES`) or instance.
        surrogate_params: keyword parameters for a named surrogate.
        detach_reset: detach the spike on the reset path.
        online: detach the membrane between steps (no gradient through time).
        step_mode: ``"m"`` or ``"s"``.

    Subclasses change the threshold (OTS) by overriding :meth:`threshold_at`, and may observe
    the membrane before firing by overriding :meth:`observe`.
    """

    def __init__(
        self,
        tau: float = 2.0,
        threshold: float | list[float] | torch.Tensor = 1.0,
        reset: str = "soft",
        surrogate: str | SurrogateSpike = "sigmoid",
        surrogate_params: dict | None = None,
        detach_reset: bool = True,
        online: bool = False,
        step_mode: str = "m",
    ) -> None:
        super().__init__(step_mode)
        self.params = LIFParameters(tau=float(tau), reset=reset, detach_reset=detach_reset)
        theta = torch.as_tensor(threshold, dtype=torch.float32)
        if theta.ndim > 1 or not bool(torch.isfinite(theta).all()):
            raise ValueError(f"LIF: threshold must be a finite scalar or 1-D schedule, got {theta}")
        if not bool((theta > 0).all()):
            raise ValueError(
                f"LIF: threshold must be > 0 (a spike needs a positive potential), "
                f"got {theta.tolist()}"
            )
        self.register_buffer("threshold", theta)
        self.spike_fn = get_surrogate(surrogate, **(surrogate_params or {}))
        self.online = bool(online)
        self.v: torch.Tensor | None = None
        self.t = 0

    # -- hooks for subclasses -------------------------------------------------------------
    def threshold_at(self, t: int, h: torch.Tensor) -> torch.Tensor:
        """Threshold used at step ``t`` (a scalar tensor broadcast over the population)."""
        if self.threshold.ndim == 0:
            return self.threshold
        if t >= self.threshold.numel():
            raise ValueError(
                f"LIF: step {t} is past the threshold schedule of length {self.threshold.numel()}"
            )
        return self.threshold[t]

    def observe(self, t: int, h: torch.Tensor, threshold: torch.Tensor) -> None:
        """Called with the membrane ``H[t]`` before firing (no-op here)."""

    # -- dynamics ---------------------------------------------------------------------------
    def _step(self, current: torch.Tensor, v: torch.Tensor, t: int) -> torch.Tensor:
        if self.online:
            v = v.detach()
        h = lif_charge(current, v, self.params.decay)
        theta = self.threshold_at(t, h)
        self.observe(t, h, theta)
        s = lif_fire(h, theta, self.spike_fn)
        self.v = lif_reset(h, s, theta, self.params.reset, self.params.detach_reset)
        return s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            v = self.v if self.v is not None else torch.zeros_like(x)
            s = self._step(x, v, self.t)
            self.t += 1
            return s
        v = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            out.append(self._step(x[t], v, t))
            v = self.v
        self.v = None  # multi-step calls never leak state into the next call
        return torch.stack(out)

    def reset_state(self) -> None:
        self.v = None
        self.t = 0

    def extra_repr(self) -> str:
        th = self.threshold
        th_s = f"{th.item():g}" if th.ndim == 0 else f"schedule[{th.numel()}]"
        return (
            f"tau={self.params.tau:g}, threshold={th_s}, reset={self.params.reset}, "
            f"online={self.online}, step_mode={self.step_mode}"
        )
