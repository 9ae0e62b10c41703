"""One optimiser step of the trainer, as functions of a batch (``toolchain.train.fit`` loops
over them): the input sequence of a batch, the per-step and per-sequence losses, and the step
itself in BPTT or online mode, plain, data-parallel (DDP, ``no_sync``) or mixed precision.

``cfg`` is a :class:`toolchain.train.TrainConfig` (read for ``loss``, ``tet_lambda``, ``T``,
``mode``, ``encoding``, ``augment_brightness``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.base import (
    apply_constraints,
    collect_extra_losses,
    finish_sequences,
    reset_states,
    set_step_mode,
)
from toolchain.encoding import brightness_shift, get_encoder

__all__ = [
    "StepRunner",
    "add_extra_loss",
    "prepare_inputs",
    "sequence_loss",
    "step_loss",
    "train_batch",
]


def step_loss(out_t: torch.Tensor, y: torch.Tensor, cfg) -> torch.Tensor:
    """The loss of one step's output ``o_t`` (already divided by ``T``)."""
    ce = F.cross_entropy(out_t, y)
    if cfg.loss == "tet":
        target = F.one_hot(y, out_t.shape[-1]).to(out_t.dtype)
        ce = (1.0 - cfg.tet_lambda) * ce + cfg.tet_lambda * F.mse_loss(out_t, target)
    return ce / cfg.T


def sequence_loss(out: torch.Tensor, y: torch.Tensor, cfg) -> torch.Tensor:
    """The loss of a whole output sequence ``[T, B, K]``."""
    if cfg.loss == "mean_ce":
        return F.cross_entropy(out.mean(0), y)
    return sum(step_loss(out[t], y, cfg) for t in range(out.shape[0]))


def add_extra_loss(loss: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """``loss`` plus the modules' ``extra_loss()`` terms (e.g. I-Norm's local loss)."""
    extra = collect_extra_losses(model)
    return loss if extra is None else loss + extra


def prepare_inputs(x: torch.Tensor, cfg, gen: torch.Generator, device) -> torch.Tensor:
    """A batch of samples -> the network's input sequence ``[T, B, ...]`` on ``device``."""
    x = x.to(device, non_blocking=True)
    if cfg.augment_brightness > 0:
        x = brightness_shift(x, cfg.augment_brightness, generator=gen)
    return get_encoder(cfg.encoding)(x, cfg.T, generator=gen)


@dataclass(frozen=True)
class StepRunner:
    """How one optimiser step runs: ``runner`` is the DDP wrapper (or the model itself),
    ``scaler`` a GradScaler for float16 AMP, ``autocast`` the AMP context factory."""

    runner: nn.Module
    scaler: torch.amp.GradScaler | None = None
    autocast: object = contextlib.nullcontext

    def backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()

    def no_sync(self, last: bool):
        """DDP's ``no_sync`` for every backward of a batch but its ``last``: the gradients
        accumulate locally and are all-reduced once, by the last backward."""
        if last or not hasattr(self.runner, "no_sync"):
            return contextlib.nullcontext()
        return self.runner.no_sync()


def train_batch(model, x_seq, y, cfg, optimizer, run: StepRunner | None = None):
    """One optimiser step on one batch; returns (loss, summed output over time)."""
    run = run or StepRunner(model)
    optimizer.zero_grad(set_to_none=True)
    reset_states(model)
    if cfg.mode == "bptt":
        with run.autocast():
            out = run.runner(x_seq)
            loss = add_extra_loss(sequence_loss(out.float(), y, cfg), model)
        run.backward(loss)
        total, out_sum = float(loss.detach()), out.detach().float().sum(0)
    else:
        set_step_mode(model, "s")
        total, out_sum = 0.0, None
        try:
            for t in range(cfg.T):
                # the forward too must be inside no_sync, or DDP prepares an all-reduce
                with run.no_sync(last=t == cfg.T - 1), run.autocast():
                    out_t = run.runner(x_seq[t])
                    loss_t = add_extra_loss(step_loss(out_t.float(), y, cfg), model)
                    run.backward(loss_t)  # per-step backward: the graph of step t is freed here
                total += float(loss_t.detach())
                o = out_t.detach().float()
                out_sum = o if out_sum is None else out_sum + o
        finally:
            set_step_mode(model, "m")
    finish_sequences(model)
    run.step(optimizer)
    apply_constraints(model)
    return total, out_sum
