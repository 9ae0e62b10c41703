"""GradNorm: identity forward, normalised error signal backward (TECHNIQUES.md section 3).

Eyono et al., "Inhibitory normalization of error signals improves learning in neural circuits",
Eq. 2: layer normalisation changes learning through its backward pass, which rescales, centres
and decorrelates the error ``δ`` arriving at the pre-activation ``z``. GradNorm applies these
backward transforms (alone or together) to a network that normalises its *activity* with
inhibitory populations instead (I-Norm).

With ``δ`` the upstream gradient, ``n`` the number of units along the normalised dimension and
``s = sqrt(var_k z + 1e-5)`` (biased variance over the ``n`` units of one sample):

=============  =====================================================
mode           backward ``δ̂``
=============  =====================================================
``full``       ``(δ - mean δ - z · sum(δ z) / n) / s``   (LayerNorm backward; ``z`` raw, as in
               the reference code)
``center``     ``δ - mean δ``
``scale``      ``δ / s``
``decorrelate````δ - z · sum(δ z) / n``
``lateral``    ``δ - sum_k w_k δ_k``, fixed random ``w_k = u_k / sum u``, ``u ~ U(0, 1)``: one
               inhibitory unit pooling the errors through fixed random synapses (the paper's
               Theorem 1: ``sum_k w_k δ_k -> mean δ`` as ``n`` grows, so ``lateral -> center``)
``none``       ``δ``
=============  =====================================================

**[choice]** the lateral weights are drawn once per layer at construction and kept as a buffer
in the ``state_dict``, so a checkpoint restores the same inhibitory synapses.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GRADNORM_MODES", "GRADNORM_EPS", "grad_norm", "gradnorm_backward", "GradNorm"]

GRADNORM_MODES = ("full", "center", "scale", "decorrelate", "lateral", "none")
GRADNORM_EPS = 1e-5


def gradnorm_backward(
    delta: torch.Tensor, z: torch.Tensor, mode: str, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The normalised error ``δ̂`` for ``δ``, ``z`` with the units along the last dimension."""
    if mode == "none":
        return delta
    if mode == "center":
        return delta - delta.mean(-1, keepdim=True)
    if mode == "lateral":
        if weights is None:
            raise ValueError("GradNorm mode 'lateral' needs the lateral weights")
        return delta - (delta * weights).sum(-1, keepdim=True)
    n = z.shape[-1]
    s = torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + GRADNORM_EPS)
    if mode == "scale":
        return delta / s
    corr = z * (delta * z).sum(-1, keepdim=True) / n
    if mode == "decorrelate":
        return delta - corr
    if mode == "full":
        return (delta - delta.mean(-1, keepdim=True) - corr) / s
    raise ValueError(f"GradNorm mode must be one of {GRADNORM_MODES}, got {mode!r}")


class _GradNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, mode: str, weights: torch.Tensor | None, dim: int):
        ctx.mode, ctx.dim = mode, dim
        ctx.save_for_backward(z, weights if weights is not None else z.new_empty(0))
        return z.view_as(z)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, weights = ctx.saved_tensors
        dim = ctx.dim
        w = weights if weights.numel() else None
        out = gradnorm_backward(grad.movedim(dim, -1), z.movedim(dim, -1), ctx.mode, w)
        return out.movedim(-1, dim), None, None, None


def grad_norm(
    z: torch.Tensor, mode: str, weights: torch.Tensor | None = None, dim: int = -1
) -> torch.Tensor:
    """Identity on ``z``; the gradient through it is ``gradnorm_backward`` along ``dim``."""
    if mode not in GRADNORM_MODES:
        raise ValueError(f"GradNorm mode must be one of {GRADNORM_MODES}, got {mode!r}")
    if mode == "none":
        return z
    dim = dim % z.ndim
    if mode == "lateral" and (weights is None or weights.shape != (z.shape[dim],)):
        raise ValueError(
            f"GradNorm 'lateral': weights of shape ({z.shape[dim]},) needed, got "
            f"{None if weights is None else tuple(weights.shape)}"
        )
    return _GradNormFn.apply(z, mode, weights, dim)


class GradNorm(nn.Module):
    """GradNorm over ``num_features`` units along ``dim`` (``-1`` for dense, ``1`` for conv).

    Holds the fixed lateral weights ``w`` (buffer ``lateral_weight``) in ``lateral`` mode.
    """

    def __init__(self, num_features: int, mode: str = "full", dim: int = -1) -> None:
        super().__init__()
        if mode not in GRADNORM_MODES:
            raise ValueError(f"GradNorm mode must be one of {GRADNORM_MODES}, got {mode!r}")
        if num_features < 1:
            raise ValueError(f"GradNorm needs num_features >= 1, got {num_features}")
        self.mode, self.dim, self.num_features = mode, int(dim), int(num_features)
        if mode == "lateral":
            u = torch.rand(num_features)
            self.register_buffer("lateral_weight", u / u.sum())
        else:
            self.lateral_weight = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[self.dim] != self.num_features:
            raise ValueError(
                f"GradNorm: expected {self.num_features} units along dim {self.dim}, "
                f"got shape {tuple(z.shape)}"
            )
        return grad_norm(z, self.mode, self.lateral_weight, self.dim)

    def extra_repr(self) -> str:
        return f"{self.num_features}, mode={self.mode}, dim={self.dim}"
