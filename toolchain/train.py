"""Training loop for time-first spiking networks, in one process or data-parallel in several.

``fit(model, data, cfg)`` trains on a :class:`toolchain.data.Dataset` through a DataLoader
(:mod:`toolchain.loader`: workers, pinned memory, per-sample augmentations
:mod:`toolchain.augment`):

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
  chosen automatically, and epoch callbacks (:class:`Callback`);
- several processes (started by ``torchrun``, :mod:`toolchain.distributed`):
  DistributedDataParallel (NCCL on GPUs, gloo on CPUs), each process taking ``batch_size /
  W`` of every global batch; metrics reduced over the processes; the main process alone writes
  the checkpoint and ``metrics.json`` (atomically) while the others wait. ``batch_size`` is the
  *global* batch, so the learning-rate schedule and a checkpoint mean the same at any process
  count, and a run resumes on a different number of processes. Online mode accumulates the
  ``T`` per-step backwards under ``no_sync`` and all-reduces once, at the last step;
- mixed precision (``amp``) on CUDA (bfloat16 where the GPU has it, else float16 with a
  gradient scaler); on a CPU it is off, and the trainer says so;
- a time budget (``time_limit_s``): training stops after the epoch in which it ran out, with a
  checkpoint to resume from, as a cluster job with a wall-clock limit needs;
- the torch thread count (``threads``; 0 chooses, :func:`toolchain.distributed.choose_threads`).

The module protocol of :mod:`models.base` is honoured: ``reset_states`` before and
``finish_sequences`` after every sequence, ``apply_constraints`` after every optimiser step and
``collect_extra_losses`` added to the task loss.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from hwsim.errors import ConfigError
from hwsim.io import atomic_write_text
from models.base import (
    reset_states,
    set_stats_group,
    set_step_mode,
)
from models.ei import EICircuit
from models.neurons import LIF
from toolchain.augment import Augment, seeded_generator
from toolchain.data import Dataset
from toolchain.distributed import DistContext, all_reduce_sums, choose_threads, init_context
from toolchain.encoding import ALIASES, ENCODERS
from toolchain.loader import BatchSet, EpochBatches, ShardBatches, make_loader
from toolchain.optim import OPTIMIZERS, make_optimizer, parse_param_groups
from toolchain.steps import StepRunner, prepare_inputs, sequence_loss, train_batch

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
    augment_crop: int = 0  # zero-padding of the random crop (4 for CIFAR); 0: off
    augment_flip: bool = False  # random horizontal flip
    augment_cutout: int = 0  # side of the cutout square (16 for CIFAR-10); 0: off
    eval_batch_size: int = 256
    workers: int = 0  # DataLoader worker processes per training process
    amp: bool = False  # mixed precision on CUDA (a no-op, with a message, on CPU)
    threads: int = 0  # torch threads per process; 0: chosen from the CPU count
    time_limit_s: float | None = None  # stop (resumably) after the epoch that exceeds it
    adali_schedule: str = "linear"  # AdaLi window schedule over the epochs: linear | log

    def __post_init__(self) -> None:
        self.encoding = ALIASES.get(self.encoding, self.encoding)  # old configs: poisson = rate
        checks = {
            "optimizer": (self.optimizer, OPTIMIZERS),
            "schedule": (self.schedule, SCHEDULES),
            "mode": (self.mode, ("bptt", "online")),
            "loss": (self.loss, ("mean_ce", "tet")),
            "encoding": (self.encoding, tuple(ENCODERS)),
            "adali_schedule": (self.adali_schedule, ("linear", "log")),
        }
        for key, (value, valid) in checks.items():
            if value not in valid:
                raise ConfigError(f"train.{key} must be one of {valid}, got {value!r}")
        Augment(self.augment_crop, bool(self.augment_flip), self.augment_cutout)  # checks
        for key in ("epochs", "batch_size", "T", "eval_batch_size"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"train.{key} must be >= 1, got {getattr(self, key)}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.tet_lambda <= 1.0:
            raise ConfigError(f"train.tet_lambda must be in [0, 1], got {self.tet_lambda}")
        for key in ("warmup_epochs", "augment_brightness", "workers", "threads"):
            if not getattr(self, key) >= 0:
                raise ConfigError(f"train.{key} must be >= 0, got {getattr(self, key)}")
        parse_param_groups(self.param_groups, self.optimizer)  # raises naming the bad key
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise ConfigError(f"train.time_limit_s must be > 0 or null, got {self.time_limit_s}")

    @property
    def augment(self) -> Augment:
        return Augment(self.augment_crop, bool(self.augment_flip), self.augment_cutout)

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


@torch.no_grad()
def evaluate(
    model: nn.Module, x, y: torch.Tensor, cfg: TrainConfig, ctx: DistContext | None = None
) -> dict:
    """Accuracy, loss and spike rate of ``model`` (eval mode, multi-step) on ``(x, y)``.

    Poisson encoding and the brightness shift draw from a generator seeded with ``cfg.seed``,
    so evaluation is reproducible. With several processes (``ctx``) each evaluates every
    ``W``-th sample and the sums are all-reduced: every process returns the whole set's numbers.
    """
    ctx = ctx or DistContext()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    set_step_mode(model, "m")
    gen = torch.Generator().manual_seed(cfg.seed + 1 + 7919 * ctx.rank)
    sampler = ShardBatches(len(y), cfg.eval_batch_size, ctx.world, ctx.rank)
    loader = make_loader(BatchSet(x, y), sampler, cfg.workers, device.type == "cuda")
    correct, loss_sum, n = 0, 0.0, 0
    with SpikeRateMeter(model) as meter:
        for xb, yb in loader:
            reset_states(model)
            out = model(prepare_inputs(xb, cfg, gen, device)).float()
            yb = yb.to(device)
            loss_sum += float(sequence_loss(out, yb, cfg)) * len(yb)
            correct += int((out.sum(0).argmax(-1) == yb).sum())
            n += len(yb)
    model.train(was_training)
    correct, loss_sum, n, spikes, count = all_reduce_sums(
        [correct, loss_sum, n, meter.spikes, meter.count], ctx, _reduce_device(device)
    )
    return {"accuracy": correct / n, "loss": loss_sum / n, "spike_rate": spikes / max(count, 1)}


def _reduce_device(device: torch.device):
    """NCCL reduces CUDA tensors, gloo CPU ones."""
    return device if device.type == "cuda" else None


def _atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` through memory, then an atomic write: a full disk or a read-only
    directory is an ``OSError`` naming ``path`` (torch's own writer raises a bare
    RuntimeError), and the previous checkpoint stays intact."""
    import io

    from hwsim.io import write_error

    buf = io.BytesIO()
    torch.save(obj, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getbuffer())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise write_error(exc, path) from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
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
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "Weights only load failed" in first:  # pickled objects beyond tensors: never loaded
            first = "it holds Python objects beyond tensors and plain containers; not unpickled"
        raise ConfigError(f"{path}: not a readable spikefold checkpoint ({first[:200]})") from exc


def _say(ctx: DistContext, message: str) -> None:
    if ctx.main:
        print(f"spikefold train: {message}", file=sys.stderr)


def _check_data(model: nn.Module, data: Dataset, cfg: TrainConfig, ctx: DistContext) -> None:
    if cfg.mode == "online":
        offline = [n for n, m in model.named_modules() if isinstance(m, LIF) and not m.online]
        if offline:
            raise ConfigError(
                "train.mode=online needs online LIF neurons (no gradient through time; "
                f"model option neuron.online: true), but these are not: {offline[:5]}"
            )
    if (data.encoding == "spikes") != (cfg.encoding == "spikes"):
        raise ConfigError(
            f"dataset {data.name!r} holds {data.encoding}: set train.encoding to "
            + ("'spikes'" if data.encoding == "spikes" else "'direct' or 'rate'")
        )
    if data.encoding == "spikes" and data.T != cfg.T:
        raise ConfigError(f"dataset {data.name!r} is binned into {data.T} steps, train.T={cfg.T}")
    if cfg.batch_size % ctx.world:
        raise ConfigError(
            f"train.batch_size={cfg.batch_size} (the global batch) must be a multiple of the "
            f"number of processes, {ctx.world}"
        )


def _amp(cfg: TrainConfig, device: torch.device, ctx: DistContext):
    """(autocast factory, GradScaler or None) for ``cfg.amp`` on ``device``."""
    if not cfg.amp:
        return contextlib.nullcontext, None
    if device.type != "cuda":
        _say(ctx, "train.amp is on but AMP needs CUDA; training in float32 on the CPU")
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    _say(ctx, f"mixed precision: {dtype} autocast")
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def _sync_batchnorm(model: nn.Module, device: torch.device, ctx: DistContext) -> None:
    """``norm: bn`` under DDP: on GPUs torch's SyncBatchNorm (statistics of the global batch;
    it keeps the same Parameter objects, so the optimiser is unaffected and the state_dict
    keys are BatchNorm's); on CPU processes, where SyncBatchNorm does not run, each process
    normalises with its own batch and DDP keeps process 0's running statistics."""
    bns = [n for n, m in model.named_modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    if not bns:
        return
    if device.type == "cuda":
        for name in bns:
            parent, _, child = name.rpartition(".")
            owner = model.get_submodule(parent) if parent else model
            setattr(owner, child, nn.SyncBatchNorm.convert_sync_batchnorm(getattr(owner, child)))
    else:
        _say(ctx, "norm 'bn' on CPU processes: per-process batch statistics (SyncBatchNorm "
             "needs CUDA); the running statistics are process 0's")  # fmt: skip


def _ei_init_pass(model: nn.Module, x, cfg: TrainConfig, device) -> None:
    """E-I Init (TECHNIQUES.md section 2) of every uninitialised E-I layer, from the first
    global batch ``x``, in an eval-mode forward that changes nothing else (OSR, OTS and AdaLi
    record statistics in training mode only). Every process runs it on the same batch with the
    same generator state, so all start from the weights a one-process run computes."""
    if all(bool(m.initialised) for m in model.modules() if isinstance(m, EICircuit)):
        return
    gen = torch.Generator().manual_seed(cfg.seed)
    model.eval()
    set_step_mode(model, "m")
    reset_states(model)
    with torch.no_grad():
        model(prepare_inputs(x, cfg, gen, device))
    reset_states(model)
    model.train()


_ENCODING_STREAM = 1  # a fourth key: never the (seed, epoch, index) of an augmentation draw


def _epoch_generator(cfg: TrainConfig, epoch: int, ctx: DistContext) -> torch.Generator:
    """The generator of an epoch's encoding and brightness draws, one stream per process."""
    return seeded_generator(cfg.seed, epoch, ctx.rank, _ENCODING_STREAM)


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
    every epoch; with ``resume=True`` training continues from the checkpoint there (written by
    any number of processes). ``meta`` (plain JSON-like values, e.g. the model config) is
    stored in the checkpoint. Started by ``torchrun``, it trains data-parallel (module
    docstring); every process returns the same result.
    """
    device = select_device(cfg.device)
    ctx = init_context(device.type)
    if ctx.active and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
    threads, why = choose_threads(cfg.threads, ctx)
    torch.set_num_threads(threads)
    _say(ctx, f"{ctx.world} process(es) on {device.type}, {threads} torch thread(s) each ({why})")
    _check_data(model, data, cfg, ctx)
    seed_everything(cfg.seed)
    model.to(device)
    train_set = BatchSet(data.x_train, data.y_train, cfg.augment, cfg.seed)
    sampler = EpochBatches(len(data.y_train), cfg.batch_size // ctx.world, ctx.world, ctx.rank,
                           cfg.seed)  # fmt: skip
    loader = make_loader(train_set, sampler, cfg.workers, device.type == "cuda")
    optimizer = make_optimizer(model, cfg)
    iters_per_epoch = len(sampler)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        _lr_lambda(
            cfg.epochs * iters_per_epoch, round(cfg.warmup_epochs * iters_per_epoch), cfg.schedule
        ),  # fmt: skip
    )
    autocast, scaler = _amp(cfg, device, ctx)
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
        torch.set_rng_state(ckpt["torch_rng"].cpu())  # map_location moved it to the device
        history = list(ckpt["history"])
        start_epoch = int(ckpt["epoch"]) + 1
        _say(
            ctx,
            f"resumed after epoch {start_epoch - 1} (saved by {ckpt.get('world', 1)} process(es))",
        )
    else:
        first = EpochBatches(len(data.y_train), cfg.batch_size, 1, 0, cfg.seed)
        first.set_epoch(1)
        _ei_init_pass(model, train_set[next(iter(first))][0], cfg, device)
    runner = model
    if ctx.active:
        set_stats_group(model, torch.distributed.group.WORLD)
        _sync_batchnorm(model, device, ctx)
        ids = [device.index] if device.type == "cuda" else None
        runner = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    run = StepRunner(runner, scaler, autocast)
    t_start = time.perf_counter()
    try:
        for epoch in range(start_epoch, cfg.epochs + 1):
            metrics = _train_epoch(model, run, loader, sampler, optimizer, scheduler, cfg, ctx,
                                   epoch, callbacks, device)  # fmt: skip
            test = evaluate(model, data.x_test, data.y_test, cfg, ctx)
            metrics.update({f"test_{k}": v for k, v in test.items()})
            for cb in callbacks:
                metrics.update(cb.on_epoch_end(epoch, model, metrics) or {})
            metrics["wall_seconds"] = time.perf_counter() - t_start
            history.append(metrics)
            if cfg.progress and ctx.main:
                tqdm.write(
                    f"epoch {epoch}: loss {metrics['train_loss']:.4f} "
                    f"train {metrics['train_accuracy']:.3f} test {metrics['test_accuracy']:.3f} "
                    f"rate {metrics['test_spike_rate']:.3f}"
                )
            if run_path is not None:
                _write_epoch(run_path, model, optimizer, scheduler, epoch, history, cfg, meta, ctx)
            if _out_of_time(cfg, t_start, ctx, device) and epoch < cfg.epochs:
                _say(ctx, f"train.time_limit_s reached after epoch {epoch}; resume with --resume")
                break
    finally:
        set_stats_group(model, None)
    final = history[-1] if history else {}
    return {
        "history": history,
        "test_accuracy": final.get("test_accuracy"),
        "train_accuracy": final.get("train_accuracy"),
        "epochs": len(history),
    }


def _train_epoch(model, run, loader, sampler, optimizer, scheduler, cfg, ctx, epoch, callbacks,
                 device) -> dict:  # fmt: skip
    for cb in callbacks:
        cb.on_epoch_start(epoch, model)
    model.train()
    sampler.set_epoch(epoch)
    gen = _epoch_generator(cfg, epoch, ctx)
    loss_sum, correct, n = 0.0, 0, 0
    bar = tqdm(loader, total=len(sampler), desc=f"epoch {epoch}/{cfg.epochs}",
               disable=not (cfg.progress and ctx.main), leave=False)  # fmt: skip
    with SpikeRateMeter(model) as meter:
        for xb, yb in bar:
            yb = yb.to(device, non_blocking=True)
            loss, out_sum = train_batch(model, prepare_inputs(xb, cfg, gen, device), yb, cfg,
                                         optimizer, run)  # fmt: skip
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
    loss_sum, correct, n, spikes, count = all_reduce_sums(
        [loss_sum, correct, n, meter.spikes, meter.count], ctx, _reduce_device(device)
    )
    return {
        "epoch": epoch,
        "train_loss": loss_sum / n,
        "train_accuracy": correct / n,
        "train_spike_rate": spikes / max(count, 1),
        "lr": optimizer.param_groups[0]["lr"],
    }


def _write_epoch(run_path, model, optimizer, scheduler, epoch, history, cfg, meta, ctx) -> None:
    """The main process writes the checkpoint and metrics (atomically); the others wait, so no
    process starts the next epoch, or returns, before the files are complete."""
    if ctx.main:
        save_checkpoint(
            run_path / CHECKPOINT,
            model=model.state_dict(),
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            torch_rng=torch.get_rng_state(),
            epoch=epoch,
            history=history,
            config=asdict(cfg),
            meta=dict(meta or {}),
            world=ctx.world,
        )
        atomic_write_text(run_path / METRICS, json.dumps(history, indent=2))
    if ctx.active:
        torch.distributed.barrier()


def _out_of_time(cfg: TrainConfig, t_start: float, ctx: DistContext, device) -> bool:
    """Whether the time budget is spent; the processes agree (any one over stops all)."""
    if cfg.time_limit_s is None:
        return False
    over = time.perf_counter() - t_start > cfg.time_limit_s
    return all_reduce_sums([float(over)], ctx, _reduce_device(device))[0] > 0
