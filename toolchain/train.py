"""Training loop for time-first spiking networks.

``fit(model, data, cfg)`` trains on an in-memory :class:`toolchain.data.Dataset`:

- optimiser SGD (momentum, weight decay) or Adam, with per-parameter-group settings chosen by
  parameter name (``param_groups``, :mod:`toolchain.optim`); learning rate with a linear
  warm-up, then a cosine decay to zero (``schedule="cosine"``) or constant
  (``schedule="constant"``), both stepped per iteration;
- ``mode="bptt"``: the network runs multi-step (``[T, B, ...] -> [T, B, K]``) and one backward
  pass goes through time; ``mode="online"`` (TECHNIQUES.md section 4): the network runs in
  single-step mode, every step's loss is back-propagated at once (the online LIF detaches its
  membrane, so memory does not grow with ``T``) and the optimiser steps once per batch;
- loss ``mean_ce``: cross-entropy of the mean output over time; ``tet``: per step
  ``[(1-λ) CE(o_t, y) + λ MSE(o_t, onehot(y))] / T``. Online mode needs a per-step loss, so
  ``mean_ce`` there means ``CE(o_t, y) / T`` per step;
- evaluation in multi-step, eval mode; a progress bar with loss, accuracy and spike rate;
- checkpoints that load with ``torch.load(weights_only=True)``, resume, seeding, CPU/CUDA
  chosen automatically, and epoch callbacks (:class:`Callback`).

The module protocol of :mod:`models.base` is honoured: ``reset_states`` before and
``finish_sequences`` after every sequence, ``apply_constraints`` after every optimiser step and
``collect_extra_losses`` added to the task loss.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hwsim.errors import ConfigError
from hwsim.io import atomic_write_text
from models.base import (
    apply_constraints,
    collect_extra_losses,
    finish_sequences,
    reset_states,
    set_step_mode,
)
from models.neurons import LIF
from toolchain.data import Dataset, iterate_batches
from toolchain.encoding import ENCODERS, brightness_shift, get_encoder
from toolchain.optim import OPTIMIZERS, make_optimizer, parse_param_groups

__all__ = [
    "TrainConfig",
    "TrainingDiverged",
    "Callback",
    "SpikeRateMeter",
    "fit",
    "evaluate",
    "load_checkpoint",
    "save_checkpoint",
    "select_device",
    "seed_everything",
]

from toolchain.rundir import CHECKPOINT, METRICS

SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    warmup_epochs: float = 0.0
    schedule: str = "cosine"
    # [{match|regex: <parameter-name pattern>, lr, optimizer, momentum, weight_decay}, ...]:
    # first match wins, unset keys inherit the values above (toolchain/optim.py)
    param_groups: list = field(default_factory=list)
    mode: str = "bptt"
    loss: str = "mean_ce"
    tet_lambda: float = 0.05
    T: int = 4
    encoding: str = "direct"
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    augment_brightness: float = 0.0
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        checks = {
            "optimizer": (self.optimizer, OPTIMIZERS),
            "schedule": (self.schedule, SCHEDULES),
            "mode": (self.mode, ("bptt", "online")),
            "loss": (self.loss, ("mean_ce", "tet")),
            "encoding": (self.encoding, tuple(ENCODERS)),
        }
        for key, (value, valid) in checks.items():
            if value not in valid:
                raise ConfigError(f"train.{key} must be one of {valid}, got {value!r}")
        for key in ("epochs", "batch_size", "T", "eval_batch_size"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"train.{key} must be >= 1, got {getattr(self, key)}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.tet_lambda <= 1.0:
            raise ConfigError(f"train.tet_lambda must be in [0, 1], got {self.tet_lambda}")
        for key in ("warmup_epochs", "augment_brightness"):
            if not getattr(self, key) >= 0:
                raise ConfigError(f"train.{key} must be >= 0, got {getattr(self, key)}")
        parse_param_groups(self.param_groups, self.optimizer)  # raises naming the bad key

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        valid = {f.name for f in fields(cls)}
        unknown = set(d) - valid
        if unknown:
            raise ConfigError(f"unknown train option(s) {sorted(unknown)}; valid: {sorted(valid)}")
        return cls(**d)


class TrainingDiverged(ConfigError):
    """:func:`fit` met a non-finite training loss in epoch :attr:`epoch` (counted from 1)."""

    def __init__(self, epoch: int, loss: float) -> None:
        super().__init__(f"training diverged at epoch {epoch}: loss is {loss}")
        self.epoch = epoch


class Callback:
    """Epoch hooks; subclass and override. Epochs count from 1."""

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        pass

    def on_epoch_end(self, epoch: int, model: nn.Module, metrics: dict) -> dict | None:
        """Return extra metrics (a dict of JSON numbers) to log for this epoch, or ``None``."""
        return None


class SpikeRateMeter:
    """Counts the spikes of every :class:`models.neurons.LIF` in a network via forward hooks.

    Use as a context manager; :attr:`rate` is spikes / (neurons × steps × samples).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.spikes = 0.0
        self.count = 0
        self._handles: list = []

    def _hook(self, module, inputs, output) -> None:
        self.spikes += float(output.detach().sum())
        self.count += output.numel()

    def __enter__(self) -> SpikeRateMeter:
        self._handles = [
            m.register_forward_hook(self._hook) for m in self.model.modules() if isinstance(m, LIF)
        ]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    @property
    def rate(self) -> float:
        return self.spikes / self.count if self.count else 0.0


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch (CPU and CUDA) and return a CPU generator for shuffling and encoding."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _lr_lambda(total_iters: int, warmup_iters: int, schedule: str = "cosine"):
    """The learning-rate factor at iteration ``it``: linear warm-up, then cosine or constant."""

    def fn(it: int) -> float:
        if warmup_iters > 0 and it < warmup_iters:
            return (it + 1) / warmup_iters
        if schedule == "constant":
            return 1.0
        span = max(1, total_iters - warmup_iters)
        progress = min(1.0, (it - warmup_iters) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return fn


def step_loss(out_t: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """The loss of one step's output ``o_t`` (already divided by ``T``)."""
    ce = F.cross_entropy(out_t, y)
    if cfg.loss == "tet":
        target = F.one_hot(y, out_t.shape[-1]).to(out_t.dtype)
        ce = (1.0 - cfg.tet_lambda) * ce + cfg.tet_lambda * F.mse_loss(out_t, target)
    return ce / cfg.T


def sequence_loss(out: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """The loss of a whole output sequence ``[T, B, K]``."""
    if cfg.loss == "mean_ce":
        return F.cross_entropy(out.mean(0), y)
    return sum(step_loss(out[t], y, cfg) for t in range(out.shape[0]))


def _add_extra(loss: torch.Tensor, model: nn.Module) -> torch.Tensor:
    extra = collect_extra_losses(model)
    return loss if extra is None else loss + extra


def _prepare(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator, device) -> torch.Tensor:
    if cfg.augment_brightness > 0:
        x = brightness_shift(x, cfg.augment_brightness, generator=gen)
    return get_encoder(cfg.encoding)(x, cfg.T, generator=gen).to(device)


def _train_batch(model, x_seq, y, cfg, optimizer) -> tuple[float, torch.Tensor]:
    """One optimiser step on one batch; returns (loss, summed output over time)."""
    optimizer.zero_grad(set_to_none=True)
    reset_states(model)
    if cfg.mode == "bptt":
        out = model(x_seq)
        loss = _add_extra(sequence_loss(out, y, cfg), model)
        loss.backward()
        total, out_sum = float(loss.detach()), out.detach().sum(0)
    else:
        set_step_mode(model, "s")
        total, out_sum = 0.0, None
        try:
            for t in range(cfg.T):
                out_t = model(x_seq[t])
                loss_t = _add_extra(step_loss(out_t, y, cfg), model)
                loss_t.backward()  # per-step backward: the graph of step t is freed here
                total += float(loss_t.detach())
                o = out_t.detach()
                out_sum = o if out_sum is None else out_sum + o
        finally:
            set_step_mode(model, "m")
    finish_sequences(model)
    optimizer.step()
    apply_constraints(model)
    return total, out_sum


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> dict:
    """Accuracy, loss and spike rate of ``model`` (eval mode, multi-step) on ``(x, y)``.

    Poisson encoding and the brightness shift draw from a generator seeded with ``cfg.seed``,
    so evaluation is reproducible.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    set_step_mode(model, "m")
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    correct, loss_sum, n = 0, 0.0, 0
    with SpikeRateMeter(model) as meter:
        for xb, yb in iterate_batches(x, y, cfg.eval_batch_size, shuffle=False):
            reset_states(model)
            out = model(_prepare(xb, cfg, gen, device))
            yb = yb.to(device)
            loss_sum += float(sequence_loss(out, yb, cfg)) * len(yb)
            correct += int((out.sum(0).argmax(-1) == yb).sum())
            n += len(yb)
    model.train(was_training)
    return {"accuracy": correct / n, "loss": loss_sum / n, "spike_rate": meter.rate}


def _atomic_torch_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(path: Path, **state) -> None:
    """Write a checkpoint of plain containers and tensors (loadable with ``weights_only``)."""
    _atomic_torch_save(state, Path(path))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``: nothing is unpickled but tensors and
    plain containers). Raises :class:`ConfigError` naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no checkpoint file (expected a spikefold checkpoint.pt)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a bad file
        raise ConfigError(
            f"{path}: not a readable spikefold checkpoint (torch weights_only load failed: {exc})"
        ) from exc


def fit(
    model: nn.Module,
    data: Dataset,
    cfg: TrainConfig,
    callbacks: Sequence[Callback] = (),
    run_dir: str | Path | None = None,
    resume: bool = False,
    meta: dict | None = None,
) -> dict:
    """Train ``model`` on ``data``; returns ``{"history", "test_accuracy", ...}``.

    With ``run_dir`` a checkpoint (``checkpoint.pt``) and ``metrics.json`` are written after
    every epoch; with ``resume=True`` training continues from the checkpoint there. ``meta``
    (plain JSON-like values, e.g. the model config) is stored in the checkpoint.
    """
    if cfg.mode == "online":
        offline = [n for n, m in model.named_modules() if isinstance(m, LIF) and not m.online]
        if offline:
            raise ConfigError(
                "train.mode=online needs online LIF neurons (no gradient through time; "
                f"model option neuron.online: true), but these are not: {offline[:5]}"
            )
    device = select_device(cfg.device)
    gen = seed_everything(cfg.seed)
    model.to(device)
    optimizer = make_optimizer(model, cfg)
    iters_per_epoch = math.ceil(len(data.y_train) / cfg.batch_size)
    total_iters = cfg.epochs * iters_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        _lr_lambda(total_iters, round(cfg.warmup_epochs * iters_per_epoch), cfg.schedule),
    )
    history: list[dict] = []
    start_epoch = 1
    run_path = Path(run_dir) if run_dir is not None else None
    if resume:
        if run_path is None:
            raise ConfigError("resume=True needs a run_dir holding a checkpoint")
        ckpt = load_checkpoint(run_path / CHECKPOINT, map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        gen.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        history = list(ckpt["history"])
        start_epoch = int(ckpt["epoch"]) + 1
    t_start = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs + 1):
        for cb in callbacks:
            cb.on_epoch_start(epoch, model)
        model.train()
        loss_sum, correct, n = 0.0, 0, 0
        batches = iterate_batches(
            data.x_train, data.y_train, cfg.batch_size, shuffle=True, generator=gen
        )
        bar = tqdm(
            batches,
            total=iters_per_epoch,
            desc=f"epoch {epoch}/{cfg.epochs}",
            disable=not cfg.progress,
            leave=False,
        )
        with SpikeRateMeter(model) as meter:
            for xb, yb in bar:
                yb = yb.to(device)
                x_seq = _prepare(xb, cfg, gen, device)
                loss, out_sum = _train_batch(model, x_seq, yb, cfg, optimizer)
                scheduler.step()
                if not math.isfinite(loss):
                    raise TrainingDiverged(epoch, loss)
                loss_sum += loss * len(yb)
                correct += int((out_sum.argmax(-1) == yb).sum())
                n += len(yb)
                bar.set_postfix(
                    loss=f"{loss_sum / n:.3f}",
                    acc=f"{correct / n:.3f}",
                    rate=f"{meter.rate:.3f}",
                    refresh=False,  # the bar redraws at its own interval, with the right count
                )
        metrics = {
            "epoch": epoch,
            "train_loss": loss_sum / n,
            "train_accuracy": correct / n,
            "train_spike_rate": meter.rate,
            "lr": optimizer.param_groups[0]["lr"],
        }
        test = evaluate(model, data.x_test, data.y_test, cfg)
        metrics.update({f"test_{k}": v for k, v in test.items()})
        for cb in callbacks:
            metrics.update(cb.on_epoch_end(epoch, model, metrics) or {})
        metrics["wall_seconds"] = time.perf_counter() - t_start
        history.append(metrics)
        if cfg.progress:
            tqdm.write(
                f"epoch {epoch}: loss {metrics['train_loss']:.4f} "
                f"train {metrics['train_accuracy']:.3f} test {metrics['test_accuracy']:.3f} "
                f"rate {metrics['test_spike_rate']:.3f}"
            )
        if run_path is not None:
            save_checkpoint(
                run_path / CHECKPOINT,
                model=model.state_dict(),
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                generator=gen.get_state(),
                torch_rng=torch.get_rng_state(),
                epoch=epoch,
                history=history,
                config=asdict(cfg),
                meta=dict(meta or {}),
            )
            atomic_write_text(run_path / METRICS, json.dumps(history, indent=2))
    final = history[-1] if history else {}
    return {
        "history": history,
        "test_accuracy": final.get("test_accuracy"),
        "train_accuracy": final.get("train_accuracy"),
        "epochs": cfg.epochs,
    }
