"""Stage functions of the spikefold pipeline, callable from Python and from the CLI.

Each stage writes its artifact into a run directory (``runs/<name>/``) so a user can resume
from any point:

- :func:`train_run` — ``config.yaml``, ``checkpoint.pt``, ``metrics.json``;
- :func:`load_trained` — rebuilds the trained model from a run directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hwsim.errors import ConfigError
from hwsim.io import atomic_write_text
from models import build_model
from toolchain.config import RunConfig, dump_config, load_config
from toolchain.data import Dataset, load_dataset
from toolchain.distributed import is_main_process
from toolchain.train import CHECKPOINT, Callback, fit, load_checkpoint

__all__ = [
    "TrainedRun",
    "build_run_model",
    "load_run_data",
    "run_callbacks",
    "train_run",
    "load_trained",
]

from toolchain.rundir import CONFIG


@dataclass
class TrainedRun:
    run_dir: Path
    config: RunConfig
    model: nn.Module
    data: Dataset
    result: dict


def load_run_data(cfg: RunConfig) -> Dataset:
    d = cfg.data
    return load_dataset(
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


def train_run(
    cfg: RunConfig,
    runs_root: str | Path = "runs",
    resume: bool = False,
    callbacks: list[Callback] | None = None,
) -> TrainedRun:
    """Train ``cfg`` into ``runs_root/cfg.name`` and return the trained run (``callbacks``:
    default :func:`run_callbacks`)."""
    run_dir = Path(runs_root) / cfg.name
    data = load_run_data(cfg)
    torch.manual_seed(cfg.train.seed)  # the initial weights are part of the reproducible run
    model = build_run_model(cfg, data)
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_main_process():  # under torchrun, one process writes
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
    return TrainedRun(run_dir, cfg, model, data, result)


def load_trained(run_dir: str | Path) -> tuple[nn.Module, RunConfig, Dataset]:
    """The trained model (eval mode, CPU), its config and its dataset from a run directory."""
    run_dir = Path(run_dir)
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
