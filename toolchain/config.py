"""Run configuration: one YAML or TOML file (or flags) with ``data``, ``model`` and ``train``
sections.

Example (``configs/demo.yaml``)::

    name: demo
    data: {dataset: digits, test_fraction: 0.2, seed: 0}
    model: {arch: mlp, hidden: [128], neuron: {tau: 2.0, threshold: 1.0, reset: soft}}
    train: {epochs: 8, batch_size: 32, optimizer: adam, lr: 0.003, T: 4}

``model`` is passed to :func:`models.build_model` (``in_shape`` and ``num_classes`` come from
the dataset); ``train`` to :class:`toolchain.train.TrainConfig`.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from hwsim.errors import ConfigError
from toolchain.train import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DataConfig", "RunConfig", "load_config", "apply_overrides", "dump_config"]

SECTIONS = ("name", "data", "model", "train")
DEFAULT_MODEL = {"arch": "mlp", "hidden": [128]}


@dataclass
class DataConfig:
    dataset: str = "digits"
    root: str | None = None
    test_fraction: float = 0.2
    seed: int = 0
    limit: int | None = None
    image_size: int | None = None  # class folders: resize + centre-crop to this square side
    normalize: bool = False  # images: subtract the training split's channel mean, divide by std
    downsample: float = 1.0  # event datasets: spatial factor of tonic's Downsample, in (0, 1]
    shape: list[int] | None = None  # per-sample shape frames are reshaped to (imported graphs)

    @classmethod
    def from_dict(cls, d: dict) -> DataConfig:
        valid = set(cls.__dataclass_fields__)
        unknown = set(d) - valid
        if unknown:
            raise ConfigError(f"unknown data option(s) {sorted(unknown)}; valid: {sorted(valid)}")
        return cls(**d)


@dataclass
class RunConfig:
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=lambda: copy.deepcopy(DEFAULT_MODEL))
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        unknown = set(d) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config section(s) {sorted(unknown)}; valid: {SECTIONS}")
        model = copy.deepcopy(d.get("model") or DEFAULT_MODEL)
        if "arch" not in model:
            raise ConfigError(
                "config section 'model' needs an 'arch' (e.g. arch: mlp, or --arch mlp)"
            )
        return cls(
            name=str(d.get("name", "run")),
            data=DataConfig.from_dict(dict(d.get("data") or {})),
            model=model,
            train=TrainConfig.from_dict(dict(d.get("train") or {})),
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "data": asdict(self.data),
            "model": copy.deepcopy(self.model),
            "train": asdict(self.train),
        }


def load_config(path: str | Path) -> dict:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{path}: unknown config format (use .yaml, .yml or .toml)")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: malformed config: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of sections {SECTIONS}")
    return data


def apply_overrides(d: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a config dict."""
    d = copy.deepcopy(d)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = d
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return d


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
