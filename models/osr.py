"""Online Spiking Renormalization (OSR; Zhu et al., ICLR 2024; TECHNIQUES.md section 4).

A per-channel normalisation placed after a conv/linear layer and before the LIF. Input is
time-first ``[T, B, C, *spatial]`` in step mode ``"m"`` (looped over ``t``) or ``[B, C, *spatial]``
in step mode ``"s"``. Per step ``t`` the batch statistics of channel ``c`` are taken over
``(B, *spatial)`` (biased variance)::

    μ_t = mean(x_t),  σ²_t = mean((x_t - μ_t)²),   x̂_t = (x_t - μ_t) / sqrt(σ²_t + ε)

**Forward** (training and eval alike) uses the running statistics ``μ̂, σ̂²``::

    y = γ (x - μ̂) / sqrt(σ̂² + ε) + β

**Backward** is batch renormalisation (Ioffe 2017; the paper's Eqs. 9-12): the same value is
written as ``y = γ (x̂_t · sg(r) + sg(d)) + β`` with ``r = sqrt(σ²_t + ε)/sqrt(σ̂² + ε)`` and
``d = (μ_t - μ̂)/sqrt(σ̂² + ε)`` held constant, so the gradient flows through the
batch-normalised ``x̂_t`` (the gradient of a real normalisation), while the forward value is the
fixed running-statistics affine.

**Fallback**: in a channel where ``max(σ_t/σ̂, σ̂/σ_t) > max_ratio`` (20), ``r = 1, d = 0``, i.e.
plain batch normalisation ``y = γ x̂_t + β``. **[choice]** Until the running statistics have
been updated once (``num_batches_tracked == 0``) every channel falls back, because the initial
``μ̂ = 0, σ̂² = 1`` describe no data (the σ-ratio test alone would miss a mean far from 0).

**Data parallel**: with ``stats_group`` set (:func:`models.base.set_stats_group`) ``μ_t, σ²_t``
are those of the global batch over the group's processes (gradient included), so the running
statistics stay identical on every process.

**Statistics** are accumulated over the sequence (``S1 += μ_t``, ``S2 += σ²_t + μ_t²``,
``n += 1``) and only :meth:`finish_sequence` (called by the trainer after each sequence)
turns them into the all-time statistics ``μ = S1/n``, ``σ² = S2/n - μ²`` and updates
``μ̂ ← (1-m) μ̂ + m μ``, ``σ̂² ← (1-m) σ̂² + m σ²`` (``m = 0.1``). :meth:`reset_state` discards a
partial accumulation.

**Eval**: ``y = x · scale + shift`` per channel with ``(scale, shift) =`` :meth:`affine`
``= (γ/sqrt(σ̂² + ε), β - μ̂ γ/sqrt(σ̂² + ε))`` — one fixed affine map, which folds exactly into
the preceding layer's weights and bias (``W' = scale ⊙ W``, ``b' = scale ⊙ b + shift``).

Parameters and buffers use ``BatchNorm``'s names (``weight`` = γ, ``bias`` = β,
``running_mean``, ``running_var``, ``num_batches_tracked``, ``eps``) so a folding pass can
treat both alike.
"""

from __future__ import annotations

import torch
from torch import nn

from models.base import StatefulModule, batch_moments

__all__ = ["OSR"]


class OSR(StatefulModule):
    """Online Spiking Renormalization over ``num_features`` channels (dimension 1 of a step).

    Args:
        num_features: channels ``C``.
        eps: ``ε`` of the normalisation.
        momentum: running-statistics momentum ``m`` (per sequence).
        max_ratio: fallback to batch statistics where ``max(σ_t/σ̂, σ̂/σ_t)`` exceeds it.
        step_mode: ``"m"`` or ``"s"``.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        max_ratio: float = 20.0,
        step_mode: str = "m",
    ) -> None:
        super().__init__(step_mode)
        if num_features < 1:
            raise ValueError(f"OSR: num_features must be >= 1, got {num_features}")
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"OSR: momentum must be in (0, 1], got {momentum}")
        if not max_ratio > 1.0:
            raise ValueError(f"OSR: max_ratio must be > 1, got {max_ratio}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.max_ratio = float(max_ratio)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        self.stats_group = None  # a process group: statistics of the global batch (DDP)
        self._clear_accumulators()

    # -- statistics ---------------------------------------------------------------------------
    def _clear_accumulators(self) -> None:
        self._s1: torch.Tensor | None = None
        self._s2: torch.Tensor | None = None
        self._n = 0

    def reset_state(self) -> None:
        self._clear_accumulators()

    @torch.no_grad()
    def finish_sequence(self) -> None:
        """Fold the accumulated per-step statistics into the running statistics."""
        if self._n == 0:
            return
        mean = self._s1 / self._n
        var = (self._s2 / self._n - mean * mean).clamp_min(0.0)  # rounding can make it < 0
        m = self.momentum
        self.running_mean.mul_(1.0 - m).add_(m * mean)
        self.running_var.mul_(1.0 - m).add_(m * var)
        self.num_batches_tracked += 1
        self._clear_accumulators()

    def affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The eval map per channel: ``(scale, shift)`` with ``y = x · scale + shift``."""
        scale = self.weight / torch.sqrt(self.running_var + self.eps)
        return scale, self.bias - self.running_mean * scale

    # -- forward --------------------------------------------------------------------------------
    def _view(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Broadcast a per-channel vector against one step ``x`` of shape ``[B, C, *spatial]``."""
        return v.reshape(1, -1, *([1] * (x.ndim - 2)))

    def _check(self, x: torch.Tensor, step_ndim: int) -> None:
        if step_ndim < 2 or x.shape[x.ndim - step_ndim + 1] != self.num_features:
            raise ValueError(
                f"OSR({self.num_features}): expected a step of shape [B, {self.num_features}, ...] "
                f"(step mode {self.step_mode!r}), got input of shape {tuple(x.shape)}"
            )

    def _train_step(self, x: torch.Tensor) -> torch.Tensor:
        dims = [0, *range(2, x.ndim)]
        mean_b, var_b = batch_moments(x, dims, self.stats_group)
        with torch.no_grad():  # accumulate S1, S2 for finish_sequence()
            s2 = var_b + mean_b * mean_b
            self._s1 = mean_b.detach().clone() if self._s1 is None else self._s1 + mean_b
            self._s2 = s2.clone() if self._s2 is None else self._s2 + s2
            self._n += 1
            std_b = torch.sqrt(var_b + self.eps)
            std_r = torch.sqrt(self.running_var + self.eps)
            r = std_b / std_r
            d = (mean_b - self.running_mean) / std_r
            fallback = torch.maximum(r, 1.0 / r) > self.max_ratio
            if int(self.num_batches_tracked) == 0:
                fallback = torch.ones_like(fallback)
            r = torch.where(fallback, torch.ones_like(r), r)
            d = torch.where(fallback, torch.zeros_like(d), d)
        x_hat = (x - self._view(mean_b, x)) / self._view(torch.sqrt(var_b + self.eps), x)
        # r and d are constants (computed under no_grad): the backward is batch-renorm's.
        y = x_hat * self._view(r, x) + self._view(d, x)
        return y * self._view(self.weight, x) + self._view(self.bias, x)

    def _eval_step(self, x: torch.Tensor) -> torch.Tensor:
        scale, shift = self.affine()
        return x * self._view(scale, x) + self._view(shift, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            self._check(x, x.ndim)
            return self._train_step(x) if self.training else self._eval_step(x)
        self._check(x, x.ndim - 1)
        if not self.training:  # the same affine at every step: one call on [T*B, C, ...]
            return self._eval_step(x.flatten(0, 1)).reshape(x.shape)
        return torch.stack([self._train_step(x[t]) for t in range(x.shape[0])])

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"max_ratio={self.max_ratio}, step_mode={self.step_mode}"
        )
