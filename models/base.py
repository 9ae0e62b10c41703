"""Step modes and state handling shared by every spiking module.

Networks are time-first: in multi-step mode (``"m"``) a module maps ``[T, B, ...]`` to
``[T, B, ...]`` and starts every call from a zero state; in single-step mode (``"s"``) it maps
``[B, ...]`` to ``[B, ...]`` and carries its state from call to call, which is what online
training (TECHNIQUES.md section 4) and step-by-step deployment need.

Protocol (duck-typed, so architectures can mix plain ``torch.nn`` layers in):

- ``step_mode`` attribute, ``"m"`` or ``"s"``;
- ``reset_state()`` — called before a new sequence (clears single-step state);
- ``finish_sequence()`` — called after the last step of a sequence (e.g. OSR updates its
  running statistics from the statistics accumulated over the sequence);
- ``apply_constraints()`` — called by the trainer after every optimiser step (e.g. E-I layers
  clamp their Dale-signed weights to be non-negative);
- ``extra_loss()`` — returns a scalar tensor (or ``None``) accumulated during the last forward
  pass, added to the task loss by the trainer (e.g. I-Norm's local loss), then cleared;
- ``stats_group`` attribute — modules that take batch statistics in training (OSR, OTS) reduce
  them over this ``torch.distributed`` process group (``None``: this process's batch only);
  :func:`set_stats_group` sets it, as ``nn.SyncBatchNorm`` does for BatchNorm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

__all__ = [
    "STEP_MODES",
    "StatefulModule",
    "TimeDistributed",
    "merged_time",
    "set_step_mode",
    "reset_states",
    "finish_sequences",
    "spiking_modules",
    "apply_constraints",
    "collect_extra_losses",
    "batch_moments",
    "set_stats_group",
]

STEP_MODES = ("m", "s")


def _check_mode(mode: str) -> str:
    if mode not in STEP_MODES:
        raise ValueError(f"step_mode must be one of {STEP_MODES}, got {mode!r}")
    return mode


class StatefulModule(nn.Module):
    """Base class of modules with a step mode and per-sequence state."""

    def __init__(self, step_mode: str = "m") -> None:
        super().__init__()
        self.step_mode = _check_mode(step_mode)

    def reset_state(self) -> None:  # pragma: no cover - overridden
        pass

    def finish_sequence(self) -> None:
        pass


def merged_time(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, step_mode: str
) -> torch.Tensor:
    """``fn`` applied per time step as one batched call.

    In ``"m"`` mode ``[T, B, ...]`` is merged to ``[T*B, ...]`` and the result split back to
    ``[T, B, ...]``; in ``"s"`` mode ``fn`` sees ``[B, ...]`` as is.
    """
    if step_mode == "s":
        return fn(x)
    y = fn(x.flatten(0, 1))
    return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


class TimeDistributed(StatefulModule):
    """Apply a stateless module to every time step.

    In ``"m"`` mode ``[T, B, ...]`` is merged to ``[T*B, ...]`` (one batched call, which is what
    lets a Conv2d or BatchNorm see a normal 4-D batch) and split back; in ``"s"`` mode the
    module is applied to ``[B, ...]`` as is.
    """

    def __init__(self, module: nn.Module, step_mode: str = "m") -> None:
        super().__init__(step_mode)
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return merged_time(self.module, x, self.step_mode)


def spiking_modules(net: nn.Module) -> Iterator[nn.Module]:
    """Every submodule (including ``net``) that has a ``step_mode`` attribute."""
    for m in net.modules():
        if hasattr(m, "step_mode"):
            yield m


def set_step_mode(net: nn.Module, mode: str) -> nn.Module:
    """Set ``step_mode`` on every module of ``net`` that has one; returns ``net``."""
    _check_mode(mode)
    for m in spiking_modules(net):
        m.step_mode = mode
    return net


def _call_each(net: nn.Module, method: str) -> None:
    for m in net.modules():
        fn = getattr(m, method, None)
        if callable(fn):
            fn()


def reset_states(net: nn.Module) -> None:
    """Call ``reset_state()`` on every module of ``net`` that defines it."""
    _call_each(net, "reset_state")


def finish_sequences(net: nn.Module) -> None:
    """Call ``finish_sequence()`` on every module of ``net`` that defines it."""
    _call_each(net, "finish_sequence")


def apply_constraints(net: nn.Module) -> None:
    """Call ``apply_constraints()`` on every module of ``net`` that defines it."""
    _call_each(net, "apply_constraints")


def collect_extra_losses(net: nn.Module) -> torch.Tensor | None:
    """Sum of ``extra_loss()`` over the modules of ``net`` that define it (``None`` if none)."""
    total = None
    for m in net.modules():
        fn = getattr(m, "extra_loss", None)
        if callable(fn):
            loss = fn()
            if loss is not None:
                total = loss if total is None else total + loss
    return total


def set_stats_group(net: nn.Module, group) -> int:
    """Set ``stats_group`` on every module of ``net`` that has one (OSR, OTS); returns how many.

    With a process group the per-step batch statistics are those of the *global* batch, summed
    over the group's processes (:func:`batch_moments`), so data-parallel training normalises
    exactly as one process with the whole batch would and every process keeps the same running
    statistics. ``None`` restores per-process statistics.
    """
    mods = [m for m in net.modules() if hasattr(m, "stats_group")]
    for m in mods:
        m.stats_group = group
    return len(mods)


def batch_moments(
    x: torch.Tensor, dims: list[int], group=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance of ``x`` over ``dims``, over the processes of ``group``.

    ``group=None``: ``x.mean(dims)``, ``x.var(dims, unbiased=False)``. Otherwise the sums
    ``Σx`` and ``Σx²`` and the count are all-reduced and ``var = Σx²/n - mean²``; the
    backward of the sums all-reduces their gradient, so every process's input gets the
    gradient of the global statistics (what SyncBatchNorm does).
    """
    if group is None:
        return x.mean(dim=dims), x.var(dim=dims, unbiased=False)
    import torch.distributed as dist

    count = torch.tensor(float(x.numel() // max(1, _kept_numel(x, dims))), dtype=x.dtype,
                         device=x.device)  # fmt: skip
    dist.all_reduce(count, group=group)
    sums = torch.stack([x.sum(dim=dims), (x * x).sum(dim=dims)])
    sums = _AllReduceSum.apply(sums, group)
    mean = sums[0] / count
    return mean, (sums[1] / count - mean * mean).clamp_min(0.0)


def _kept_numel(x: torch.Tensor, dims: list[int]) -> int:
    kept = [s for i, s in enumerate(x.shape) if i not in {d % x.ndim for d in dims}]
    n = 1
    for s in kept:
        n *= int(s)
    return n


class _AllReduceSum(torch.autograd.Function):
    """``Σ_processes t``; the gradient of every process's ``t`` is ``Σ_processes grad``: each
    process's loss depends on every process's ``t`` through the sum."""

    @staticmethod
    def forward(ctx, t: torch.Tensor, group) -> torch.Tensor:
        import torch.distributed as dist

        ctx.group = group
        t = t.clone()
        dist.all_reduce(t, group=group)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None
