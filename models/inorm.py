"""I-Norm: inhibitory normalisation of a rate E-I network (TECHNIQUES.md section 3).

Eyono et al., "Inhibitory normalization of error signals improves learning in neural circuits".
A rate (ReLU) network whose hidden layers normalise excitatory activity with two inhibitory
populations trained by a *local* loss, and optionally normalise the back-propagated error with
:mod:`models.gradnorm` (``center``, ``lateral``, ``full``, ...). With ``x`` the layer input::

    h_E   = W_EX x + b                                   W_EX >= 0 [n_E, d], task-trained
    i_sub = W_EI (W_IX sg(x))                            subtractive population
    z_d   = sqrt( B_EI ((B_IX sg(x))^2) + 1e-5 )          divisive population
    z     = (h_E - sg(i_sub)) / sg(z_d)  ->  GradNorm(z)  ->  ReLU

Local I-Norm loss, over the ``n_E`` units ``k`` of each sample, ``λ_var = 100``::

    v = (sg(h_E) - i_sub) / z_d
    L = λ_var * mean_batch[ (mean_k v)^2 + (var_k v - 1)^2 ]       (biased var)

It reaches only ``W_IX`` (>= 0) and ``B_IX`` (free sign); ``W_EI`` (>= 0) and ``B_EI`` are fixed
buffers; the task loss never reaches the inhibitory weights of a hidden layer (the stop-gradients
above). The local loss is exposed through :meth:`INormDense.extra_loss`, which the trainer adds
to the task loss: since the two losses touch disjoint parameters, the sum trains each with its
own gradient, as the reference code's separate backward does.

Init: ``W_EX`` lognormal with mean = std = ``s_w = sqrt(2 n_E / (d (n_E - 1)))``; ``W_EI`` rows
from the same lognormal, normalised to sum 1; every row of ``W_IX`` = the column mean of
``W_EX``; ``B_IX = diag(S) V^T`` from the SVD of ``W_EX - W_EI W_IX`` (top ``n_E`` components;
**[choice]** zero rows when ``d < n_E``); ``B_EI = 1/n_E``; ``b = 0``. ``n_I = max(1, int(0.1
n_E))``.

Baselines in the same family: :class:`DANNDense` (``z = (W_EX - W_EI W_IX) x + b``, everything
trained by the task loss; the readout of every variant) and the ``"ln"`` variant of
:func:`build_inorm_mlp` (``DANNDense -> LayerNorm`` without affine, the hard-coded LN network).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.architectures import register_architecture
from models.base import TimeDistributed
from models.gradnorm import GRADNORM_MODES, GradNorm

__all__ = [
    "INORM_EPS",
    "INORM_VARIANTS",
    "dann_init",
    "svd_divisive_init",
    "inorm_local_loss",
    "DANNDense",
    "INormDense",
    "LayerNormLast",
    "build_inorm_mlp",
]

INORM_EPS = 1e-5
INORM_VARIANTS = ("inorm", "ln", "dann")


def _lognormal_(t: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Fill ``t`` with lognormal samples of the given mean and std (of the lognormal itself)."""
    sigma2 = math.log(1.0 + std**2 / mean**2)
    mu = math.log(mean) - 0.5 * sigma2
    return t.log_normal_(mu, math.sqrt(sigma2))


@torch.no_grad()
def dann_init(w_ex: torch.Tensor, w_ix: torch.Tensor, w_ei: torch.Tensor) -> None:
    """In place: ``W_EX`` lognormal (mean = std = ``s_w``), ``W_EI`` rows lognormal summing to
    1, every row of ``W_IX`` the column mean of ``W_EX`` (so ``W_EI W_IX`` is the mean row)."""
    n_e, d = w_ex.shape
    if n_e < 2:
        raise ValueError(f"I-Norm init needs n_E >= 2 (s_w divides by n_E - 1), got {n_e}")
    s_w = math.sqrt(2.0 * n_e / (d * (n_e - 1)))
    _lognormal_(w_ex, s_w, s_w)
    _lognormal_(w_ei, s_w, s_w)
    w_ei.div_(w_ei.sum(dim=1, keepdim=True))
    w_ix.copy_(w_ex.mean(dim=0, keepdim=True).expand_as(w_ix))


@torch.no_grad()
def svd_divisive_init(
    w_ex: torch.Tensor, w_ix: torch.Tensor, w_ei: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B_IX, B_EI)``: ``B_IX = diag(S) V^T`` (top ``n_E``) of ``W = W_EX - W_EI W_IX``,
    ``B_EI = 1/n_E``; then ``z_d^2 = mean_k (B_IX x)_k^2 = ||W x||^2 / n_E`` at init."""
    n_e, d = w_ex.shape
    w = (w_ex - w_ei @ w_ix).double()
    _, s, vh = torch.linalg.svd(w, full_matrices=False)  # s [r], vh [r, d], r = min(n_e, d)
    b_ix = torch.zeros(n_e, d, dtype=torch.float64)
    r = s.numel()
    b_ix[:r] = s[:, None] * vh
    b_ei = torch.full((n_e, n_e), 1.0 / n_e)
    return b_ix.to(w_ex.dtype), b_ei.to(w_ex.dtype)


def inorm_local_loss(v: torch.Tensor, lambda_var: float) -> torch.Tensor:
    """``λ * mean_batch[(mean_k v)^2 + (var_k v - 1)^2]`` with the units on the last dim."""
    mean = v.mean(-1)
    var = v.var(-1, unbiased=False)
    return lambda_var * (mean.square() + (var - 1.0).square()).mean()


class DANNDense(nn.Module):
    """Subtractive E-I dense layer ``z = W_EX x - W_EI (W_IX x) + b`` (all weights >= 0, all
    trained by the task loss); the readout of the I-Norm networks and the LN baseline's layer."""

    def __init__(self, in_features: int, out_features: int, n_inhib: int | None = None) -> None:
        super().__init__()
        n_i = max(1, int(0.1 * out_features)) if n_inhib is None else int(n_inhib)
        self.n_e, self.n_i, self.in_features = out_features, n_i, in_features
        self.w_ex = nn.Parameter(torch.empty(out_features, in_features))
        self.w_ix = nn.Parameter(torch.empty(n_i, in_features))
        self.w_ei = nn.Parameter(torch.empty(out_features, n_i))
        self.bias = nn.Parameter(torch.zeros(out_features))
        dann_init(self.w_ex, self.w_ix, self.w_ei)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_ex, w_ix, w_ei = (p.clamp(min=0) for p in (self.w_ex, self.w_ix, self.w_ei))
        return F.linear(x, w_ex, self.bias) - F.linear(F.linear(x, w_ix), w_ei)

    @torch.no_grad()
    def apply_constraints(self) -> None:
        for p in (self.w_ex, self.w_ix, self.w_ei):
            p.clamp_(min=0)

    def extra_repr(self) -> str:
        return f"d={self.in_features}, n_E={self.n_e}, n_I={self.n_i}"


class INormDense(nn.Module):
    """I-Norm hidden layer ``[..., d] -> [..., n_E]`` (ReLU output; see the module docstring).

    Args:
        grad_norm: GradNorm mode on ``z`` (``"none"``: plain I-Norm, ``"center"``,
            ``"lateral"``, ``"full"``, ``"scale"``, ``"decorrelate"``).
        lambda_var: weight of the local I-Norm loss.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grad_norm: str = "none",
        lambda_var: float = 100.0,
        n_inhib: int | None = None,
    ) -> None:
        super().__init__()
        if grad_norm not in GRADNORM_MODES:
            raise ValueError(f"INormDense: grad_norm must be one of {GRADNORM_MODES}")
        n_i = max(1, int(0.1 * out_features)) if n_inhib is None else int(n_inhib)
        self.n_e, self.n_i, self.in_features = out_features, n_i, in_features
        self.lambda_var = float(lambda_var)
        self.w_ex = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.w_ix = nn.Parameter(torch.empty(n_i, in_features))
        self.b_ix = nn.Parameter(torch.empty(out_features, in_features))
        w_ei = torch.empty(out_features, n_i)
        dann_init(self.w_ex, self.w_ix, w_ei)
        b_ix, b_ei = svd_divisive_init(self.w_ex, self.w_ix, w_ei)
        with torch.no_grad():
            self.b_ix.copy_(b_ix)
        self.register_buffer("w_ei", w_ei)  # fixed (not trained in this layer)
        self.register_buffer("b_ei", b_ei)  # fixed
        self.grad_norm = GradNorm(out_features, grad_norm, dim=-1)
        self._local_loss: torch.Tensor | None = None

    def populations(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(h_E, i_sub, z_d)`` with the reference's stop-gradients on the inhibitory input."""
        h_e = F.linear(x, self.w_ex.clamp(min=0), self.bias)
        xs = x.detach()  # inhibitory populations never send gradient into earlier layers
        i_sub = F.linear(F.linear(xs, self.w_ix.clamp(min=0)), self.w_ei)
        z_d = torch.sqrt(F.linear(F.linear(xs, self.b_ix).square(), self.b_ei) + INORM_EPS)
        return h_e, i_sub, z_d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_e, i_sub, z_d = self.populations(x)
        if self.training and torch.is_grad_enabled():
            v = (h_e.detach() - i_sub) / z_d
            loss = inorm_local_loss(v, self.lambda_var)
            self._local_loss = loss if self._local_loss is None else self._local_loss + loss
        z = (h_e - i_sub.detach()) / z_d.detach()
        return F.relu(self.grad_norm(z))

    def extra_loss(self) -> torch.Tensor | None:
        """The local I-Norm loss accumulated since the last call (then cleared)."""
        loss, self._local_loss = self._local_loss, None
        return loss

    @torch.no_grad()
    def apply_constraints(self) -> None:
        self.w_ex.clamp_(min=0)
        self.w_ix.clamp_(min=0)

    def extra_repr(self) -> str:
        return (
            f"d={self.in_features}, n_E={self.n_e}, n_I={self.n_i}, lambda_var={self.lambda_var:g}"
        )


class LayerNormLast(nn.Module):
    """LayerNorm over the last dimension without affine parameters (the "LN" baseline)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(z, z.shape[-1:], eps=INORM_EPS)


@register_architecture("inorm_mlp")
def build_inorm_mlp(
    in_shape: tuple[int, ...] | list[int],
    num_classes: int,
    hidden: list[int] | tuple[int, ...] = (256, 256),
    variant: str = "inorm",
    grad_norm: str = "none",
    lambda_var: float = 100.0,
) -> nn.Sequential:
    """Rate E-I MLP: ``Flatten -> hidden layers -> DANNDense`` readout (time-first input).

    ``variant``: ``"inorm"`` (:class:`INormDense` with ``grad_norm``), ``"ln"``
    (``DANNDense -> LayerNorm -> ReLU``) or ``"dann"`` (``DANNDense -> ReLU``, no normalisation).
    Stateless: every step of ``[T, B, ...]`` is processed independently (use ``T = 1``).
    """
    if variant not in INORM_VARIANTS:
        raise ValueError(f"inorm_mlp: variant must be one of {INORM_VARIANTS}, got {variant!r}")
    if variant != "inorm" and grad_norm != "none":
        raise ValueError("inorm_mlp: grad_norm applies to variant 'inorm' only")
    if not hidden:
        raise ValueError("inorm_mlp: 'hidden' must list at least one layer width")
    layers: list[nn.Module] = [TimeDistributed(nn.Flatten())]
    d = int(math.prod(in_shape))
    for width in hidden:
        width = int(width)
        if variant == "inorm":
            layers.append(INormDense(d, width, grad_norm, lambda_var))
        else:
            layers.append(DANNDense(d, width))
            if variant == "ln":
                layers.append(LayerNormLast())
            layers.append(nn.ReLU())
        d = width
    layers.append(DANNDense(d, int(num_classes)))
    return nn.Sequential(*layers)
