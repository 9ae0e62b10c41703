"""Stage functions of the spikefold pipeline, callable from Python and from the CLI.

Each stage writes its artifact into a run directory (``runs/<name>/``) so a user can resume
from any point, and records what it was made from (:mod:`toolchain.provenance`):

- :func:`train_run` — ``config.yaml``, ``checkpoint.pt``, ``metrics.json``; into an existing
  run only with ``resume`` (same model, data and training options; more epochs allowed) or
  ``overwrite`` (every artifact of the old run is deleted first);
- :func:`load_trained` — rebuilds the trained model from a run directory;
- :func:`load_run_dataset` — the config and dataset of any run directory, trained or imported
  (``spikefold import nir``: a graph and no checkpoint), for the stages after the fold.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwsim.errors import ConfigError
from hwsim.io import atomic_write_text
from models import build_model
from toolchain import provenance
from toolchain.config import RunConfig, dump_config, load_config
from toolchain.data import Dataset, load_dataset
from toolchain.distributed import is_main_process
from toolchain.rundir import ARTIFACTS, CONFIG, METRICS
from toolchain.train import CHECKPOINT, Callback, fit, load_checkpoint

__all__ = [
    "TrainedRun",
    "build_run_model",
    "load_run_data",
    "load_run_dataset",
    "reshape_frames",
    "run_callbacks",
    "train_run",
    "train_options",
    "config_changes",
    "load_trained",
    "TRAIN_OUTPUTS",
    "RESUMABLE_CHANGES",
]

TRAIN_OUTPUTS = (CONFIG, CHECKPOINT, METRICS)
#: Options that say how a run is computed, not what it computes: not part of its provenance.
HOW_NOT_WHAT = ("progress", "device", "workers", "threads", "time_limit_s", "eval_batch_size")
#: Options a resumed run may change: the others would make the checkpoint a different run.
RESUMABLE_CHANGES = ("train.epochs", *(f"train.{k}" for k in HOW_NOT_WHAT))


@dataclass
class TrainedRun:
    run_dir: Path
    config: RunConfig
    model: nn.Module
    data: Dataset
    result: dict


def load_run_data(cfg: RunConfig) -> Dataset:
    """The run's dataset; frames reshaped to ``data.shape`` when the config sets it."""
    d = cfg.data
    data = load_dataset(
        d.dataset,
        root=d.root,
        test_fraction=d.test_fraction,
        seed=d.seed,
        limit=d.limit,
        T=cfg.train.T,  # the number of bins of an event dataset
        image_size=d.image_size,
        normalize=d.normalize,
        downsample=d.downsample,
    )
    return data if d.shape is None else reshape_frames(data, d.shape)


def reshape_frames(data: Dataset, shape) -> Dataset:
    """``data`` with every frame reshaped, row-major, to the per-sample ``shape``: an imported
    graph's Input has its source library's shape (a vector for an MLP, ``(C, 1, L)`` for a
    Conv1d net), not the dataset's ``(C, H, W)``. Sizes must agree (:class:`ConfigError`)."""
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape)) != int(np.prod(data.in_shape)):
        raise ConfigError(
            f"dataset {data.name!r} frames {list(data.in_shape)} cannot be reshaped to the "
            f"graph's input {list(shape)}: the sizes differ; pick the dataset the model was "
            "trained on"
        )
    if shape == tuple(data.in_shape) or data.encoding != "frames":
        return data
    return dataclasses.replace(
        data,
        x_train=data.x_train.reshape(len(data.x_train), *shape),
        x_test=data.x_test.reshape(len(data.x_test), *shape),
        in_shape=shape,
    )


def load_run_dataset(run_dir: str | Path) -> tuple[RunConfig, Dataset]:
    """The config and dataset of a run directory, trained or imported; no checkpoint needed."""
    cfg = RunConfig.from_dict(load_config(Path(run_dir) / CONFIG))
    return cfg, load_run_data(cfg)


def build_run_model(cfg: RunConfig, data: Dataset) -> nn.Module:
    spec = dict(cfg.model)
    spec.setdefault("in_shape", list(data.in_shape))
    spec.setdefault("num_classes", int(data.num_classes))
    try:
        return build_model(spec)
    except ValueError as exc:
        raise ConfigError(f"model section: {exc}") from exc


def run_callbacks(cfg: RunConfig, model: nn.Module) -> list[Callback]:
    """The epoch callbacks a model needs: an :class:`toolchain.callbacks.AdaLiCallback` (window
    schedule ``train.adali_schedule`` over ``train.epochs``) when it has AdaLi surrogates."""
    from models.adali import adali_surrogates
    from toolchain.callbacks import AdaLiCallback

    if adali_surrogates(model):
        return [AdaLiCallback(cfg.train.epochs, cfg.train.adali_schedule)]
    return []


def train_options(cfg: RunConfig) -> dict:
    """The options a trained run is made with (its provenance record): the whole config but
    :data:`HOW_NOT_WHAT` (progress bars, device, threads...)."""
    d = cfg.to_dict()
    for key in HOW_NOT_WHAT:
        d["train"].pop(key, None)
    return d


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(old: dict, new: dict) -> dict[str, tuple]:
    """``{dotted key: (old value, new value)}`` for every key where two config dicts differ."""
    a, b = _flat(old), _flat(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _check_resumable(run_dir: Path, cfg: RunConfig) -> None:
    """Refuse a resume that would not continue the same run, before anything is written."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"{path}: no checkpoint to resume; train without --resume")
    ckpt = load_checkpoint(path)
    saved = ckpt.get("meta", {}).get("run_config")
    if not isinstance(saved, dict):
        raise ConfigError(f"{path}: holds no run config (not written by spikefold train)")
    changed = {
        k: v for k, v in config_changes(saved, cfg.to_dict()).items() if k not in RESUMABLE_CHANGES
    }
    if changed:
        what = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise ConfigError(
            f"cannot resume {run_dir}: the config differs from the checkpoint's ({what}); "
            "resume with the run's own config, or start a new run (--overwrite or another --name)"
        )
    if cfg.train.epochs < int(ckpt["epoch"]):
        raise ConfigError(
            f"cannot resume {run_dir}: its checkpoint is at epoch {ckpt['epoch']}, beyond "
            f"--epochs {cfg.train.epochs}"
        )


def train_run(
    cfg: RunConfig,
    runs_root: str | Path = "runs",
    resume: bool = False,
    callbacks: list[Callback] | None = None,
    overwrite: bool = False,
) -> TrainedRun:
    """Train ``cfg`` into ``runs_root/cfg.name`` and return the trained run (``callbacks``:
    default :func:`run_callbacks`).

    A run directory that already holds artifacts is refused unless ``resume`` (continue its
    checkpoint: refused, with nothing written, when the config differs in anything but the
    epochs) or ``overwrite`` (delete every artifact of the old run, then train). The
    directory is locked while training (:func:`toolchain.provenance.run_lock`). Under
    torchrun one process (rank 0) checks, locks, writes and records; the others train."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other")
    run_dir = Path(runs_root) / cfg.name
    data = load_run_data(cfg)
    torch.manual_seed(cfg.train.seed)  # the initial weights are part of the reproducible run
    model = build_run_model(cfg, data)  # a bad config fails here, before the run is touched
    main = is_main_process()
    if resume:
        _check_resumable(run_dir, cfg)  # read-only: every rank refuses alike
    lock = provenance.run_lock(run_dir, f"spikefold train --name {cfg.name}")
    with lock if main else contextlib.nullcontext():
        if main and not resume:
            existing = [n for n in ARTIFACTS if (run_dir / n).is_file()]
            if existing and not overwrite:
                raise ConfigError(
                    f"{run_dir} already holds a run ({', '.join(existing)}): pass --resume to "
                    "continue training it, or --overwrite to replace it (deletes these files)"
                )
            provenance.clear_run(run_dir)
        if main:
            atomic_write_text(run_dir / CONFIG, dump_config(cfg))
        result = fit(
            model,
            data,
            cfg.train,
            callbacks=run_callbacks(cfg, model) if callbacks is None else callbacks,
            run_dir=run_dir,
            resume=resume,
            meta={"run_config": cfg.to_dict()},
        )
        done = bool(result["history"]) and result["history"][-1]["epoch"] >= cfg.train.epochs
        if main and done:  # a run stopped early (time_limit_s) is not trained yet: no record
            provenance.record(
                run_dir,
                "train",
                "spikefold run {run} --until train",
                TRAIN_OUTPUTS,
                options=train_options(cfg),
            )
    return TrainedRun(run_dir, cfg, model, data, result)


def check_run_dir(run_dir: str | Path) -> None:
    """Refuse, naming it, a RUN_DIR argument that is not a trained run directory."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ConfigError(
            f"{run_dir}: no such run directory (train one with `spikefold train --name NAME`)"
        )
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: is a file, not a run directory")
    if not (run_dir / CONFIG).is_file():
        raise ConfigError(
            f"{run_dir}: not a trained run directory (no {CONFIG}); train it with `spikefold train`"
        )


def load_trained(run_dir: str | Path) -> tuple[nn.Module, RunConfig, Dataset]:
    """The trained model (eval mode, CPU), its config and its dataset from a run directory."""
    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    provenance.require_fresh(run_dir, (CONFIG, CHECKPOINT))
    cfg = RunConfig.from_dict(load_config(run_dir / CONFIG))
    data = load_run_data(cfg)
    model = build_run_model(cfg, data)
    ckpt = load_checkpoint(run_dir / CHECKPOINT)
    try:
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError) as exc:
        raise ConfigError(
            f"{run_dir / CHECKPOINT}: does not match the model of {run_dir / CONFIG}: {exc}"
        ) from exc
    return model.eval(), cfg, data
