"""Online Threshold Stabilizer (OTS; Zhu et al., ICLR 2024, section 4.2; TECHNIQUES.md section 4).

A LIF whose threshold follows the membrane statistics, so the firing rate stays constant over
the time steps. In training, under ``no_grad``, with ``μ_t = mean(H[t])`` and
``σ_t = std(H[t])`` over the whole layer tensor (batch included; population std)::

    r    = (θ₀ - μ₀) / σ₀          at t = 0  (θ₀ = the LIF's base threshold, 1 by default)
    θ[t] = μ_t + σ_t · r           so θ[0] = θ₀

The threshold is a constant for autograd (it only moves where the surrogate is evaluated).

**[choice]** A running average of ``θ[t]`` *per time step* (a buffer ``running_threshold`` of
length ``T``, momentum 0.1, initialised to ``θ₀``) is updated at every training step and is
the threshold schedule used in eval mode ("fixed θ"); it is what the hardware gets
(``LIF(threshold=running_threshold)``). The reference code keeps a single running scalar it
never uses at test time, a defect not copied here. **[choice]** If ``σ₀ = 0`` (a constant
membrane, e.g. a silent input) ``r`` is undefined: that sequence uses ``θ₀`` at every step and
leaves the running buffer alone.

With ``stats_group`` set (:func:`models.base.set_stats_group`) ``μ_t, σ_t`` are those of the
global batch over the group's processes, so data-parallel processes share one threshold.

Works in both step modes: ``r`` is set whenever ``t = 0`` (the start of a multi-step call, or
the first single-step call after :meth:`reset_state`).
"""

from __future__ import annotations

import torch

from models.base import batch_moments
from models.neurons import LIF

__all__ = ["OTSLIF"]


class OTSLIF(LIF):
    """LIF with Online Threshold Stabilizer thresholds.

    Args:
        T: number of time steps (length of the per-step running-threshold buffer).
        threshold: the base threshold ``θ₀`` (a scalar).
        momentum: momentum of the per-step running threshold.
        **lif_kwargs: the remaining :class:`models.neurons.LIF` arguments.
    """

    def __init__(self, T: int, threshold: float = 1.0, momentum: float = 0.1, **lif_kwargs) -> None:
        super().__init__(threshold=threshold, **lif_kwargs)
        if self.threshold.ndim != 0:
            raise ValueError("OTSLIF: the base threshold must be a scalar")
        if int(T) < 1:
            raise ValueError(f"OTSLIF: T must be >= 1, got {T}")
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"OTSLIF: momentum must be in (0, 1], got {momentum}")
        self.T = int(T)
        self.momentum = float(momentum)
        self.register_buffer("running_threshold", torch.full((self.T,), float(self.threshold)))
        self._r: float | None = None
        self.stats_group = None  # a process group: statistics of the global batch (DDP)

    def _check_t(self, t: int) -> None:
        if t >= self.T:
            raise ValueError(
                f"OTSLIF: step {t} is past the running-threshold buffer of length T={self.T} "
                "(build the network with the T it runs at)"
            )

    @torch.no_grad()
    def threshold_at(self, t: int, h: torch.Tensor) -> torch.Tensor:
        self._check_t(t)
        if not self.training:
            return self.running_threshold[t]
        theta0 = self.threshold
        if self.stats_group is None:
            mu, sigma = h.mean(), h.std(unbiased=False)
        else:
            mu, var = batch_moments(h, list(range(h.ndim)), self.stats_group)
            sigma = var.sqrt()
        if t == 0:
            s0 = float(sigma)
            self._r = (float(theta0) - float(mu)) / s0 if s0 > 0.0 else None
        if self._r is None:
            return theta0
        theta = mu + sigma * self._r
        rt = self.running_threshold
        rt[t] = (1.0 - self.momentum) * rt[t] + self.momentum * theta
        return theta

    def reset_state(self) -> None:
        super().reset_state()
        self._r = None

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, ots_T={self.T}, ots_momentum={self.momentum}"
