"""E-I circuit layers with E-I Init and E-I Prop (TECHNIQUES.md section 2).

"Training Deep Normalization-Free Spiking Neural Networks with Lateral Inhibition" (DeepEISNN).
A layer has ``n_E`` excitatory outputs and ``n_I = max(1, n_E // ei_ratio)`` inhibitory units;
its input ``x >= 0`` (spikes, sums of spikes, or the raw image in [0, 1]) has fan-in ``d``::

    I_EE  = W_EE x                              W_EE >= 0   [n_E, d]  (conv: a Conv2d)
    h_I   = W_IE x                              W_IE >= 0   [n_I, d]  inhibitory population
    I_sub = W_EI h_I                            W_EI >= 0   [n_E, n_I] (conv: 1x1 per pixel)
    D     = W_EI (g_I ⊙ h_I)                    g_I  >= 0   [n_I]
    I     = g_E ⊙ (I_EE - I_sub) ⊘ stab(D) + b_E          g_E >= 0, b_E free   [n_E]

and a LIF population (a separate module, after the layer) turns ``I`` into spikes. The readout
variant has no division: ``logits = I_EE - I_sub``.

Module layout (what a fold pass maps onto a hardware ``EICircuit`` node)::

    EILinear / EIConv2d
      ee            nn.Linear / nn.Conv2d, bias=False      weight = W_EE
      inhib         InhibitoryPopulation                  output h_I (a hook point)
        ie          nn.Linear / nn.Conv2d, bias=False      weight = W_IE
      weight_ei     Parameter [n_E, n_I]                   W_EI
      gain_i        Parameter [n_I]                        g_I     (hidden layers only)
      gain_e        Parameter [n_E]                        g_E     (hidden layers only)
      bias_e        Parameter [n_E]                        b_E     (hidden layers only)
      centring      GradNorm on I_EE (optional, training only; identity forward)
      initialised   bool buffer: E-I Init has run (in the state_dict)
      grad_fan_in   int buffer: the divisor of W_EI's gradient

Every Dale-signed tensor is read through ``clamp(min=0)`` in the forward pass (so the forward
obeys Dale's law whatever the stored value) and projected in place by :meth:`apply_constraints`,
which the trainer calls after every optimiser step.

**E-I Init** runs once, on the first forward pass (the first training batch), from the layer's
own input with ``T*B`` merged into the batch axis: ``E_x = mean(x)``, ``Var_x =
x.var(dim=0).mean()``, ``E_x2 = mean(x^2)``; ``W_EE, W_IE ~ Exp(λ)`` with ``1/λ = sqrt(Var_x /
(d (E_x2 + Var_x)))``, ``W_EI = 1/n_I``, ``g_I = sqrt(E_x2 + Var_x) / (sqrt(d) E_x)``, ``g_E =
1``, ``b_E = 0``. **[choice]** ``initialised`` is in the state_dict, so a loaded checkpoint is
never re-initialised. Before that forward the parameters hold the same formulas for Bernoulli(½)
inputs, so an un-initialised layer is still finite.

**E-I Prop**: adaptive stabilisation (zeros of ``D`` replaced by the smallest positive ``D`` of
the same sample ``(t, b)``, over all channels and pixels; an all-zero sample gives ``I = b_E``),
the straight-through estimator ``D̃ = sg(D_fwd) + (D - sg(D))`` and the gradient scaling
``grad(W_EI) /= d_prev``. **[choice]** ``d_prev`` defaults to the layer's own fan-in ``d``: the
paper scales "by 1/d, where d is the dimension of the input spikes", and the reference code
divides by the ``in_features`` of the E-I linear/conv module feeding the divisive module; pass
``grad_fan_in`` to override.

Ablations of the paper's Table 2, all in :class:`EIConfig`: ``init="kaiming_clamped"`` (Kaiming
normal on ``W_EE, W_IE``, clamped to >= 0; ``W_EI, g_I`` by E-I Init), ``init="kaiming"``
(Kaiming normal on ``W_EE, W_IE`` and ``W_EI``, clamped), ``stabilization=("fixed", eps)``
(``D + eps``, plain gradient) and ``grad_scaling=False``.

**Error centring** (``EIConfig.error_centring``, Eyono et al.'s I-Norm paper, TECHNIQUES.md
section 3): a :class:`models.gradnorm.GradNorm` on the excitatory current ``I_EE`` (over the
``n_E`` units; per pixel for conv), so only the excitatory pathway ``W_EE`` (and, through it,
the earlier layers) learns from the centred error ``δ - mean δ`` (``center``) or ``δ - w·δ``
with fixed random ``w`` (``lateral``). The inhibitory pathway (``W_IE``, ``W_EI``, ``g_I``)
and ``g_E``, ``b_E`` keep the plain error, as in the paper, where the centred error updates
``W^EE`` only (its Eq. 2: ``ΔW^EE ∝ -δ̂``) and the inhibitory outputs are detached in the
task's forward pass. The trap: centring the error of the whole current ``I`` instead also
strips the common-mode term from the inhibitory gradients, leaving them only the divisive
gain's "scale up" term, which drives every ``g_I`` to 0; then ``D ≡ 0``, ``I = b_E`` and no
gradient returns (the demo's E-I MLP: accuracy .844 -> .100 in epoch 2, spike rate 0).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.base import StatefulModule, merged_time
from models.gradnorm import GRADNORM_MODES, GradNorm

__all__ = [
    "EI_INITS",
    "EIConfig",
    "EIInitStats",
    "input_stats",
    "adaptive_stabilize",
    "scale_grad",
    "InhibitoryPopulation",
    "EICircuit",
    "EILinear",
    "EIConv2d",
]

EI_INITS = ("ei", "kaiming", "kaiming_clamped")


@dataclass(frozen=True)
class EIConfig:
    """Options of an E-I layer (one switch per ablation of the paper's Table 2).

    Args:
        init: ``"ei"`` (E-I Init), ``"kaiming"`` or ``"kaiming_clamped"``.
        stabilization: ``"adaptive"`` or ``("fixed", eps)`` (also ``"fixed"`` with ``eps``).
        eps: the constant of fixed-ε stabilisation (``D + eps``).
        grad_scaling: divide ``W_EI``'s gradient by ``d_prev``.
        error_centring: a GradNorm mode applied to the error of the excitatory current
            ``I_EE`` (over the ``n_E`` units, per pixel for conv), e.g. ``"center"`` or
            ``"lateral"`` (I-Norm error centring; see the module docstring).
        ei_ratio: ``n_I = max(1, n_E // ei_ratio)``.
    """

    init: str = "ei"
    stabilization: str | tuple = "adaptive"
    eps: float | None = None
    grad_scaling: bool = True
    error_centring: str = "none"
    ei_ratio: int = 4

    def __post_init__(self) -> None:
        stab = self.stabilization
        if isinstance(stab, (tuple, list)):
            if len(stab) != 2 or stab[0] != "fixed":
                raise ValueError(
                    f"EIConfig: stabilization tuple must be ('fixed', eps), got {stab}"
                )
            object.__setattr__(self, "stabilization", "fixed")
            object.__setattr__(self, "eps", float(stab[1]))
        if self.stabilization not in ("adaptive", "fixed"):
            raise ValueError(
                f"EIConfig: stabilization must be 'adaptive' or ('fixed', eps), got {stab!r}"
            )
        if self.stabilization == "fixed" and not (self.eps is not None and self.eps > 0):
            raise ValueError(f"EIConfig: fixed stabilization needs eps > 0, got {self.eps}")
        if self.init not in EI_INITS:
            raise ValueError(f"EIConfig: init must be one of {EI_INITS}, got {self.init!r}")
        if self.error_centring not in GRADNORM_MODES:
            raise ValueError(
                f"EIConfig: error_centring must be one of {GRADNORM_MODES}, "
                f"got {self.error_centring!r}"
            )
        if int(self.ei_ratio) < 1:
            raise ValueError(f"EIConfig: ei_ratio must be >= 1, got {self.ei_ratio}")

    @classmethod
    def from_dict(cls, d: EIConfig | dict | None) -> EIConfig:
        """From a config section (``None`` gives the defaults); unknown keys raise."""
        if isinstance(d, EIConfig):
            return d
        d = dict(d or {})
        valid = set(cls.__dataclass_fields__)
        unknown = set(d) - valid
        if unknown:
            raise ValueError(f"unknown E-I option(s) {sorted(unknown)}; valid: {sorted(valid)}")
        return cls(**d)


# -- E-I Init statistics --------------------------------------------------------------------


@dataclass(frozen=True)
class EIInitStats:
    """First-batch input statistics: ``E_x``, ``Var_x`` (per-feature, averaged), ``E_x2``."""

    mean: float
    var: float
    mean_sq: float

    @classmethod
    def bernoulli(cls, p: float) -> EIInitStats:
        return cls(mean=p, var=p * (1.0 - p), mean_sq=p)

    def exp_scale(self, d: int) -> float:
        """``1/λ = sqrt(Var_x / (d (E_x2 + Var_x)))`` (mean of the exponential weights)."""
        return math.sqrt(self.var / (d * (self.mean_sq + self.var)))

    def gain_i(self, d: int) -> float:
        """``g_I = sqrt(E_x2 + Var_x) / (sqrt(d) E_x)``."""
        return math.sqrt(self.mean_sq + self.var) / (math.sqrt(d) * self.mean)


def input_stats(x: torch.Tensor, conv: nn.Conv2d | None = None) -> EIInitStats:
    """E-I Init statistics of a merged batch ``x`` ``[N, ...]`` (``N = T*B``).

    Dense: ``E_x = mean(x)``, ``Var_x = x.var(dim=0).mean()`` (unbiased, per feature),
    ``E_x2 = mean(x^2)``. Conv (``conv`` given): **[choice]** the same statistics of the
    convolution's input *patches* (the ``C*k*k`` features of every output location, zero padding
    included), i.e. of what the weights actually multiply; averaged over features and locations,
    with the variance over samples at each location. The reference code takes them over the raw
    map, which ignores the padding: on a 1x1 map a 3x3 kernel sees 8/9 zeros and the current's
    std comes out 3x too large. For a 1x1 kernel without padding both agree.
    """
    x = x.detach().double()
    n = x.shape[0]
    if conv is None:
        var = x.var(dim=0).mean() if n > 1 else x.new_zeros(())
        return EIInitStats(float(x.mean()), float(var), float((x * x).mean()))
    geometry = dict(
        kernel_size=conv.kernel_size,
        dilation=conv.dilation,
        padding=conv.padding,
        stride=conv.stride,
    )
    # unfold is linear: the per-(feature, location) sample means of the patches are the
    # patches of the per-pixel sample means, so only [C, H, W]-sized maps are unfolded
    m1 = F.unfold(x.mean(0, keepdim=True), **geometry)
    m2 = F.unfold((x * x).mean(0, keepdim=True), **geometry)
    var = (m2 - m1 * m1).mean() * (n / (n - 1)) if n > 1 else x.new_zeros(())
    return EIInitStats(float(m1.mean()), float(var), float(m2.mean()))


# -- E-I Prop ---------------------------------------------------------------------------------


def adaptive_stabilize(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive stabilisation of ``D`` ``[N, ...]`` with the straight-through estimator.

    Forward: every ``D <= 0`` (``D >= 0`` by Dale's law, so: every zero) is replaced by the
    smallest positive ``D`` of the same sample (row ``n``, over all channels and pixels).
    Backward: identity (``D̃ = sg(D_fwd) + (D - sg(D))``). Returns ``(D̃, valid)`` where
    ``valid`` ``[N, 1, ...]`` is False for an all-zero sample (whose ``D̃`` is 1, a finite
    placeholder; the caller sets ``I = b_E`` there).
    """
    dd = d.detach()
    flat = dd.flatten(1)
    pos = flat > 0
    inf = torch.full_like(flat, math.inf)
    sample_min = torch.where(pos, flat, inf).amin(dim=1)
    valid = pos.any(dim=1)
    sample_min = torch.where(valid, sample_min, torch.ones_like(sample_min))
    shape = (-1,) + (1,) * (d.ndim - 1)
    d_fwd = torch.where(dd > 0, dd, sample_min.view(shape))
    return d_fwd + (d - dd), valid.view(shape)


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.factor, None


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by ``factor``."""
    return _ScaleGrad.apply(x, float(factor))


# -- modules ------------------------------------------------------------------------------------


def _dale_apply(op: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``op(x)`` with ``op.weight`` read through ``clamp(min=0)`` (Dale's law in the forward)."""
    w = op.weight.clamp(min=0)
    if isinstance(op, nn.Conv2d):
        return F.conv2d(x, w, None, op.stride, op.padding, op.dilation, op.groups)
    return F.linear(x, w)


class InhibitoryPopulation(nn.Module):
    """The fast inhibitory population: ``h_I = W_IE x >= 0`` (``ie`` holds ``W_IE``).

    **[choice]** ``h_I`` is real-valued in training; on hardware each unit emits a graded spike
    whose payload is its quantised ``h_I``. Hook this module to read ``h_I``.
    """

    def __init__(self, ie: nn.Module) -> None:
        super().__init__()
        self.ie = ie

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _dale_apply(self.ie, x)


class EICircuit(StatefulModule):
    """Base of :class:`EILinear` and :class:`EIConv2d` (stateless; see the module docstring).

    In ``"m"`` mode ``[T, B, ...]`` is merged to ``[T*B, ...]`` (a sample is one ``(t, b)``);
    in ``"s"`` mode ``[B, ...]`` goes through as is.
    """

    def __init__(
        self,
        ee: nn.Module,
        ie: nn.Module,
        n_e: int,
        n_i: int,
        fan_in: int,
        config: EIConfig,
        readout: bool,
        grad_fan_in: int | None,
        unit_dim: int,
        step_mode: str,
    ) -> None:
        super().__init__(step_mode)
        self.config, self.readout = config, bool(readout)
        self.n_e, self.n_i, self.fan_in, self.unit_dim = n_e, n_i, fan_in, unit_dim
        self.ee = ee
        self.inhib = InhibitoryPopulation(ie)
        self.weight_ei = nn.Parameter(torch.empty(n_e, n_i))
        if not self.readout:
            self.gain_i = nn.Parameter(torch.empty(n_i))
            self.gain_e = nn.Parameter(torch.empty(n_e))
            self.bias_e = nn.Parameter(torch.empty(n_e))
        gfi = fan_in if grad_fan_in is None else int(grad_fan_in)
        if gfi < 1:
            raise ValueError(f"E-I layer: grad_fan_in must be >= 1, got {gfi}")
        self.register_buffer("grad_fan_in", torch.tensor(gfi, dtype=torch.int64))
        self.register_buffer("initialised", torch.tensor(False))
        centring = config.error_centring
        self.centring = (
            GradNorm(n_e, centring, dim=unit_dim) if centring != "none" and not readout else None
        )
        # a data-free start (Bernoulli(1/2) inputs) so the layer is finite before E-I Init
        self._init_parameters(EIInitStats.bernoulli(0.5))

    # -- E-I Init ------------------------------------------------------------------------------
    @torch.no_grad()
    def _init_parameters(self, stats: EIInitStats) -> None:
        d, init = self.fan_in, self.config.init
        if init == "ei":
            lam = 1.0 / stats.exp_scale(d)
            self.ee.weight.exponential_(lam)
            self.inhib.ie.weight.exponential_(lam)
        else:
            std = math.sqrt(2.0 / d)  # Kaiming normal, fan-in mode, ReLU gain
            self.ee.weight.normal_(0.0, std).clamp_(min=0)
            self.inhib.ie.weight.normal_(0.0, std).clamp_(min=0)
        if init == "kaiming":
            self.weight_ei.normal_(0.0, math.sqrt(2.0 / self.n_i)).clamp_(min=0)
        else:
            self.weight_ei.fill_(1.0 / self.n_i)
        if not self.readout:
            self.gain_i.fill_(stats.gain_i(d))
            self.gain_e.fill_(1.0)
            self.bias_e.zero_()

    @torch.no_grad()
    def ei_init(self, x: torch.Tensor) -> None:
        """Run E-I Init from the merged input batch ``x`` and mark the layer initialised."""
        stats = input_stats(x, self.ee if isinstance(self.ee, nn.Conv2d) else None)
        if not (stats.mean > 0 and stats.var > 0):
            warnings.warn(
                f"{type(self).__name__}: E-I Init got a degenerate first batch (mean "
                f"{stats.mean:.3g}, var {stats.var:.3g}); using Bernoulli(1/2) statistics",
                RuntimeWarning,
                stacklevel=2,
            )
            stats = EIInitStats.bernoulli(0.5)
        self._init_parameters(stats)
        self.initialised.fill_(True)

    # -- constraints ---------------------------------------------------------------------------
    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Project the Dale-signed tensors onto ``>= 0`` (``b_E`` stays free)."""
        for p in self.dale_parameters():
            p.clamp_(min=0)

    def dale_parameters(self) -> list[nn.Parameter]:
        ps = [self.ee.weight, self.inhib.ie.weight, self.weight_ei]
        if not self.readout:
            ps += [self.gain_i, self.gain_e]
        return ps

    # -- forward -------------------------------------------------------------------------------
    def _mix(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``W h`` over the unit dimension (1x1 mixing at every pixel for conv)."""
        raise NotImplementedError

    def _per_unit(self, v: torch.Tensor) -> torch.Tensor:
        """A per-unit vector shaped to broadcast against ``[N, units, ...]``."""
        raise NotImplementedError

    def circuit(self, x: torch.Tensor) -> torch.Tensor:
        """The circuit on a merged batch ``x`` ``[N, ...]``: ``I`` (or the readout logits)."""
        if not bool(self.initialised):
            self.ei_init(x)
        w_ei = self.weight_ei.clamp(min=0)
        if self.config.grad_scaling:
            w_ei = scale_grad(w_ei, 1.0 / float(self.grad_fan_in))
        i_ee = _dale_apply(self.ee, x)
        if self.centring is not None:  # the excitatory pathway only (module docstring)
            i_ee = self.centring(i_ee)
        h_i = self.inhib(x)
        i_sub = self._mix(h_i, w_ei)
        if self.readout:
            return i_ee - i_sub
        g_i = self._per_unit(self.gain_i.clamp(min=0))
        g_e = self._per_unit(self.gain_e.clamp(min=0))
        b_e = self._per_unit(self.bias_e)
        d = self._mix(g_i * h_i, w_ei)
        if self.config.stabilization == "fixed":
            current = g_e * (i_ee - i_sub) / (d + self.config.eps) + b_e
        else:
            d_stab, valid = adaptive_stabilize(d)
            ratio = g_e * (i_ee - i_sub) / d_stab
            current = torch.where(valid, ratio, torch.zeros_like(ratio)) + b_e
        return current

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return merged_time(self.circuit, x, self.step_mode)

    def extra_repr(self) -> str:
        c = self.config
        stab = c.stabilization if c.stabilization == "adaptive" else f"fixed(eps={c.eps:g})"
        return (
            f"n_E={self.n_e}, n_I={self.n_i}, readout={self.readout}, init={c.init}, "
            f"stabilization={stab}, grad_scaling={c.grad_scaling}, "
            f"error_centring={c.error_centring}, step_mode={self.step_mode}"
        )


def _n_inhibitory(n_e: int, ei_ratio: int) -> int:
    return max(1, n_e // int(ei_ratio))


class EILinear(EICircuit):
    """Dense E-I layer ``[..., d] -> [..., n_E]`` (``readout=True``: no division)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        config: EIConfig | dict | None = None,
        readout: bool = False,
        grad_fan_in: int | None = None,
        step_mode: str = "m",
    ) -> None:
        cfg = EIConfig.from_dict(config)
        if in_features < 1 or out_features < 1:
            raise ValueError(f"EILinear: sizes must be >= 1, got {in_features}, {out_features}")
        n_i = _n_inhibitory(out_features, cfg.ei_ratio)
        ee = nn.Linear(in_features, out_features, bias=False)
        ie = nn.Linear(in_features, n_i, bias=False)
        super().__init__(
            ee, ie, out_features, n_i, in_features, cfg, readout, grad_fan_in, -1, step_mode
        )

    def _mix(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.linear(h, w)

    def _per_unit(self, v: torch.Tensor) -> torch.Tensor:
        return v


class EIConv2d(EICircuit):
    """Convolutional E-I layer ``[N, C, H, W] -> [N, n_E, H', W']`` (merged ``T*B`` in ``"m"``).

    ``W_EE`` and ``W_IE`` are convolutions (no bias); ``W_EI`` mixes the ``n_I`` inhibitory
    channels into the ``n_E`` excitatory ones at every pixel (a 1x1 convolution).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        config: EIConfig | dict | None = None,
        grad_fan_in: int | None = None,
        step_mode: str = "m",
    ) -> None:
        cfg = EIConfig.from_dict(config)
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"EIConv2d: channels must be >= 1, got {in_channels}, {out_channels}")
        n_i = _n_inhibitory(out_channels, cfg.ei_ratio)
        conv = dict(kernel_size=kernel_size, stride=stride, padding=padding, bias=False)
        ee = nn.Conv2d(in_channels, out_channels, **conv)
        ie = nn.Conv2d(in_channels, n_i, **conv)
        fan_in = in_channels * ee.kernel_size[0] * ee.kernel_size[1]
        super().__init__(ee, ie, out_channels, n_i, fan_in, cfg, False, grad_fan_in, 1, step_mode)

    def _mix(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nihw,ei->nehw", h, w)

    def _per_unit(self, v: torch.Tensor) -> torch.Tensor:
        return v.view(1, -1, 1, 1)
