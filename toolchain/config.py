"""Run configuration: one YAML or TOML file (or flags) with ``data``, ``model`` and ``train``
sections, validated in one place.

Example (``configs/demo.yaml``)::

    name: demo
    data: {dataset: digits, test_fraction: 0.2, seed: 0}
    model: {arch: mlp, hidden: [128], neuron: {tau: 2.0, threshold: 1.0, reset: soft}}
    train: {epochs: 8, batch_size: 32, optimizer: adam, lr: 0.003, T: 4}

``model`` is passed to :func:`models.build_model` (``in_shape`` and ``num_classes`` come from
the dataset); ``train`` to :class:`toolchain.train.TrainConfig`.

**Validation** (docs/errors.md). Every value is typed and range-checked when the config is
built (:meth:`RunConfig.from_dict`), whichever way it came: a file, a flag or ``--set``. A
problem is one :class:`~hwsim.errors.ConfigError` naming where the value came from (the file,
``--lr``, ``--set train.lr=...``) and the dotted key, e.g. ``run.yaml: train.epochs: expected
an integer, got 'ten'``. YAML is read with the YAML 1.2 core schema (:class:`ConfigLoader`):
``5e-05`` and ``1e-3`` are floats, ``yes``/``no``/``on``/``off`` and dates are strings, only
``true``/``false`` are booleans; a key given twice in one mapping is an error naming the file,
line and key. A string-typed option given by a flag or ``--set`` is the text typed, verbatim
(``--name 'exp #3'``, ``--name null``).
"""

from __future__ import annotations

import copy
import math
import re
import sys
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from hwsim.errors import ConfigError
from toolchain.train import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "DataConfig",
    "RunConfig",
    "ConfigDict",
    "ConfigLoader",
    "load_config",
    "parse_yaml",
    "apply_overrides",
    "set_value",
    "dump_config",
    "check_run_name",
    "check_device",
]

SECTIONS = ("name", "data", "model", "train")
DEFAULT_MODEL = {"arch": "mlp", "hidden": [128]}
IMPORTED_ARCH = "imported"  # toolchain.nir_import: the graph came from a file, not a model
MAX_CONFIG_BYTES = 1 << 20  # a run config is a few hundred bytes; a 1 MiB one is not a config


# ---------------------------------------------------------------------------------------------
# YAML 1.2 core schema, duplicate keys refused


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars (``1e-3`` a float, ``yes`` a
    string, no dates) and duplicate keys refused."""


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] not in
            ("bool", "int", "float", "null", "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}  # fmt: skip
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
for _tag, _rx, _first in (
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", _BOOL, list("tTfF")),
    ("tag:yaml.org,2002:int", _INT, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789")),
):
    ConfigLoader.add_implicit_resolver(_tag, _rx, _first)


def _construct_int(loader: ConfigLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text, 10)


def _construct_float(loader: ConfigLoader, node: yaml.Node) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.lstrip("+-") == ".inf":
        return -math.inf if text.startswith("-") else math.inf
    return math.nan if text == ".nan" else float(text)


def _construct_mapping(loader: ConfigLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a name, got {key!r}", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                f"duplicate key {key!r} (first at line {seen[key] + 1})",
                None,
                f"key {key!r} given twice",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


ConfigLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
ConfigLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
ConfigLoader.construct_mapping = _construct_mapping  # type: ignore[method-assign]


def parse_yaml(text: str, where: str = "<string>") -> Any:
    """``text`` read with :class:`ConfigLoader` (:class:`ConfigError` naming ``where``)."""
    try:
        return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = exc.problem or exc.context or "malformed"
        if exc.context and exc.problem and "duplicate" in exc.context:
            what = exc.context
        raise ConfigError(f"{where}: malformed YAML: {at}{what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: malformed YAML: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


# ---------------------------------------------------------------------------------------------
# where each value came from


class ConfigDict(dict):
    """A raw config dict that remembers where each value came from: ``origins`` maps a dotted
    key (``train.lr``; ``""`` for the whole) to a file path, ``--lr`` or ``--set
    train.lr=...``. Errors name the origin of the key concerned (its longest known prefix)."""

    def __init__(self, *args, origins: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.origins: dict[str, str] = dict(origins or {})

    def __deepcopy__(self, memo) -> ConfigDict:
        return ConfigDict(copy.deepcopy(dict(self), memo), origins=self.origins)


def _origin(origins: dict[str, str], key: str) -> str:
    parts = key.split(".") if key else []
    for i in range(len(parts), -1, -1):
        found = origins.get(".".join(parts[:i]))
        if found:
            return found
    return ""


def _err(origins: dict[str, str], key: str, problem: str) -> ConfigError:
    where = _origin(origins, key)
    text = f"{key}: {problem}" if key else problem
    return ConfigError(f"{where}: {text}" if where else text)


# ---------------------------------------------------------------------------------------------
# typed fields


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return f"a list {v!r:.40}"
    return f"{v!r:.60}"


def _check_type(value: Any, hint: Any) -> tuple[Any, str | None]:
    """``(value, None)`` when ``value`` fits ``hint`` (an int is taken for a float), else
    ``(value, what was expected)``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None, None
        expected = []
        for a in args:
            if a is type(None):
                continue
            v, bad = _check_type(value, a)
            if bad is None:
                return v, None
            expected.append(bad)
        return value, " or ".join(expected) + (" or null" if type(None) in args else "")
    if hint is bool:
        return value, None if isinstance(value, bool) else "true or false"
    if hint is int:
        return value, None if isinstance(value, int) and not isinstance(value, bool) else (
            "an integer"
        )
    if hint is float:
        if not _is_number(value):
            return value, "a number"
        if not math.isfinite(value):
            return value, "a finite number"
        return float(value), None
    if hint is str:
        return value, None if isinstance(value, str) else "a string (quote it)"
    if hint is list or origin is list:
        return value, None if isinstance(value, list) else "a list"
    if hint is dict or origin is dict:
        return value, None if isinstance(value, dict) else "a mapping"
    if hint is tuple or origin is tuple:
        return value, None if isinstance(value, (list, tuple)) else "a list"
    return value, None


def _typed_section(cls: type, section: str, d: Any, origins: dict[str, str]) -> dict:
    """``d`` checked against the fields of dataclass ``cls``: a mapping, no unknown keys,
    every value of its field's type."""
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise _err(origins, section, f"expected a mapping of options, got {_describe(d)}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls)]
    out = {}
    for key, value in d.items():
        dotted = f"{section}.{key}"
        if key not in hints:
            raise _err(origins, dotted, f"unknown {section} option; valid: {', '.join(valid)}")
        v, bad = _check_type(value, hints[key])
        if bad is not None:
            raise _err(origins, dotted, f"expected {bad}, got {_describe(value)}")
        out[key] = v
    return out


# ranges: dotted key -> (test, what it must be); None values skip the test
_RANGES: dict[str, tuple[typing.Callable[[Any], bool], str]] = {
    "data.test_fraction": (lambda v: 0.0 < v < 1.0, "in (0, 1)"),
    "data.seed": (lambda v: v >= 0, ">= 0"),
    "data.limit": (lambda v: v >= 1, ">= 1 (or null: the whole dataset)"),
    "data.image_size": (lambda v: v >= 1, ">= 1 (or null)"),
    "data.downsample": (lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
    "data.dataset": (lambda v: bool(v.strip()), "a dataset name (docs/data.md)"),
    "data.shape": (
        lambda v: all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v),
        "a list of sizes >= 1 (or null)",
    ),
    "train.epochs": (lambda v: v >= 1, ">= 1"),
    "train.batch_size": (lambda v: v >= 1, ">= 1"),
    "train.eval_batch_size": (lambda v: v >= 1, ">= 1"),
    "train.T": (lambda v: v >= 1, ">= 1"),
    "train.lr": (lambda v: v > 0, "> 0"),
    "train.momentum": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "train.weight_decay": (lambda v: v >= 0, ">= 0"),
    "train.warmup_epochs": (lambda v: v >= 0, ">= 0"),
    "train.tet_lambda": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "train.seed": (lambda v: v >= 0, ">= 0"),
    "train.augment_brightness": (lambda v: v >= 0, ">= 0"),
    "train.augment_crop": (lambda v: v >= 0, ">= 0"),
    "train.augment_cutout": (lambda v: v >= 0, ">= 0"),
    "train.workers": (lambda v: v >= 0, ">= 0"),
    "train.threads": (lambda v: v >= 0, ">= 0 (0: chosen from the CPU count)"),
    "train.time_limit_s": (lambda v: v > 0, "> 0 (or null: no limit)"),
}


def _check_ranges(section: str, d: dict, origins: dict[str, str]) -> None:
    for key, value in d.items():
        rule = _RANGES.get(f"{section}.{key}")
        if rule is not None and value is not None and not rule[0](value):
            raise _err(origins, f"{section}.{key}", f"must be {rule[1]}, got {value!r}")


_DEVICE = re.compile(r"^(?:auto|cpu|cuda(?::[0-9]+)?|mps)$")


def check_device(name: str, where: str = "train.device") -> None:
    """Refuse a device name torch would not take (``tpu``) or that this machine lacks
    (``cuda`` without CUDA), naming ``where``."""
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise ConfigError(f"{where}: unknown device {name!r}; valid: auto, cpu, cuda, cuda:N, mps")
    if name.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"{where}: {name!r} asked for, but CUDA is not available on this machine "
                "(torch.cuda.is_available() is false); use cpu or auto"
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"{where}: {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif name == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ConfigError(f"{where}: 'mps' asked for, but MPS is not available here")


_BAD_NAME = re.compile(r"[/\\\x00-\x1f]")


def check_run_name(name: Any, where: str = "name") -> str:
    """A run name is a directory name: a non-empty string without ``/``, ``\\`` or control
    characters, not ``.``/``..`` and not starting with ``-``."""
    if not isinstance(name, str):
        raise ConfigError(f"{where}: a run name must be a string (quote it), got {_describe(name)}")
    if not name.strip():
        raise ConfigError(f"{where}: a run name must not be empty")
    if _BAD_NAME.search(name) or name in (".", "..") or name.startswith("-"):
        raise ConfigError(
            f"{where}: {name!r} is not a run name (a directory name: no '/', '\\' or control "
            "characters, not '.' or '..', not starting with '-')"
        )
    return name


# the model section: what every architecture's options share
_MODEL_TYPES: dict[str, Any] = {
    "arch": str,
    "hidden": list,
    "width": float,
    "neuron": dict | None,
    "ei": dict | None,
    "bias": bool,
    "T": int | None,
    "norm": str | None,
    "init": str | None,
    "init_params": dict | None,
}
_NEURON_TYPES: dict[str, Any] = {
    "tau": float,
    "reset": str,
    "surrogate": str,
    "surrogate_params": dict | None,
    "detach_reset": bool,
}


def _check_model(model: Any, origins: dict[str, str]) -> dict:
    if not isinstance(model, dict):
        raise _err(origins, "model", f"expected a mapping of options, got {_describe(model)}")
    model = copy.deepcopy(model)
    if "arch" not in model:
        raise _err(origins, "model", "needs an 'arch' (e.g. arch: mlp, or --arch mlp)")
    from models import ARCHITECTURES

    arch = model["arch"]
    if arch == IMPORTED_ARCH:  # a run made by `spikefold import nir`: no model to build
        return model
    if not isinstance(arch, str) or arch.lower() not in ARCHITECTURES:
        raise _err(
            origins,
            "model.arch",
            f"unknown architecture {arch!r}; valid: {', '.join(sorted(ARCHITECTURES))}",
        )
    for key, hint in _MODEL_TYPES.items():
        if key in model:
            v, bad = _check_type(model[key], hint)
            if bad is not None:
                raise _err(origins, f"model.{key}", f"expected {bad}, got {_describe(model[key])}")
            model[key] = v
    hidden = model.get("hidden")
    if hidden is not None:
        if not hidden and str(model["arch"]).lower() in ("mlp", "ei_mlp", "inorm_mlp"):
            raise _err(origins, "model.hidden", "must list at least one layer width")
        for i, w in enumerate(hidden):
            if isinstance(w, bool) or not isinstance(w, int) or w < 1:
                raise _err(
                    origins, "model.hidden", f"layer widths are integers >= 1; item {i} is {w!r}"
                )
    if "width" in model and not model["width"] > 0:
        raise _err(origins, "model.width", f"must be > 0, got {model['width']!r}")
    if model.get("T") is not None and model["T"] < 1:
        raise _err(origins, "model.T", f"must be >= 1, got {model['T']!r}")
    neuron = model.get("neuron") or {}
    for key, hint in _NEURON_TYPES.items():
        if key in neuron:
            v, bad = _check_type(neuron[key], hint)
            if bad is not None:
                raise _err(
                    origins, f"model.neuron.{key}", f"expected {bad}, got {_describe(neuron[key])}"
                )
    if "tau" in neuron and not neuron["tau"] >= 1.0:
        raise _err(origins, "model.neuron.tau", f"must be >= 1, got {neuron['tau']!r}")
    if "threshold" in neuron:
        th = neuron["threshold"]
        values = th if isinstance(th, list) else [th]
        if not values or not all(_is_number(v) and math.isfinite(v) and v > 0 for v in values):
            raise _err(
                origins,
                "model.neuron.threshold",
                f"must be a number > 0 (or a list of them, one per step), got {_describe(th)}",
            )
    return model


# ---------------------------------------------------------------------------------------------
# the config


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
    def from_dict(cls, d: dict, origins: dict[str, str] | None = None) -> DataConfig:
        origins = origins if origins is not None else getattr(d, "origins", {})
        checked = _typed_section(cls, "data", d, origins)
        _check_ranges("data", checked, origins)
        from toolchain.data import DATASETS

        if "dataset" in checked and checked["dataset"] not in DATASETS:
            raise _err(
                origins,
                "data.dataset",
                f"unknown dataset {checked['dataset']!r}; valid: {', '.join(DATASETS)} "
                "(docs/data.md)",
            )
        return cls(**checked)


@dataclass
class RunConfig:
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=lambda: copy.deepcopy(DEFAULT_MODEL))
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, d: dict, origins: dict[str, str] | None = None) -> RunConfig:
        """Validate a raw config dict (see the module doc); ``origins`` (default: ``d``'s own
        when it is a :class:`ConfigDict`) says where each key came from, for the messages."""
        origins = origins if origins is not None else getattr(d, "origins", {})
        if not isinstance(d, dict):
            raise _err(origins, "", f"a config is a mapping of sections {SECTIONS}")
        unknown = [k for k in d if k not in SECTIONS]
        if unknown:
            raise _err(
                origins, str(unknown[0]), f"unknown config section; valid: {', '.join(SECTIONS)}"
            )
        name = check_run_name(d.get("name", "run"), _where(origins, "name"))
        model = _check_model(DEFAULT_MODEL if d.get("model") is None else d["model"], origins)
        train = _typed_section(TrainConfig, "train", d.get("train"), origins)
        _check_ranges("train", train, origins)
        if "device" in train:
            _check_device_name(train["device"], origins)
        try:
            train_cfg = TrainConfig(**train)
        except ConfigError as exc:  # the choices and cross-field checks of TrainConfig
            named = re.match(r"train\.(\w+)", str(exc))
            where = _origin(origins, f"train.{named.group(1)}" if named else "train")
            raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None
        return cls(
            name=name,
            data=DataConfig.from_dict(d.get("data") or {}, origins),
            model=model,
            train=train_cfg,
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "data": asdict(self.data),
            "model": copy.deepcopy(self.model),
            "train": asdict(self.train),
        }


def _where(origins: dict[str, str], key: str) -> str:
    where = _origin(origins, key)
    return f"{where}: {key}" if where else key


def _check_device_name(name: Any, origins: dict[str, str]) -> None:
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise _err(
            origins, "train.device", f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N, mps"
        )


def load_config(path: str | Path) -> ConfigDict:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config file into a dict that
    remembers the file (:class:`ConfigDict`: validation errors name it)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: unknown config format (use .yaml, .yml or .toml)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {len(raw):,} bytes is not a run config (limit 1 MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); a config is YAML or TOML"
        ) from None
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: malformed TOML: {_one_line(exc)}") from None
    else:
        data = parse_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config file holds a mapping of sections {', '.join(SECTIONS)}; got "
            f"{_describe(data)}"
        )
    return ConfigDict(data, origins={"": str(path)})


def _field_hint(key: str) -> Any:
    """The type hint of a dotted config key (None when the schema does not type it)."""
    parts = key.split(".")
    if parts == ["name"]:
        return str
    if len(parts) == 2 and parts[0] in ("data", "train"):
        cls = DataConfig if parts[0] == "data" else TrainConfig
        return typing.get_type_hints(cls).get(parts[1])
    if parts == ["model", "arch"]:
        return str
    return None


def _parse_override(key: str, raw: str) -> Any:
    hint = _field_hint(key)
    if hint is str:  # a name is the text typed: 'exp #3', 'null', 'yes'
        return raw
    if set(typing.get_args(hint)) == {str, type(None)}:  # str | None: null is None
        return None if _NULL.match(raw.strip()) else raw
    return parse_yaml(raw, f"--set {key}={raw}")


def set_value(d: dict, key: str, value: Any, origin: str) -> None:
    """Set the dotted ``key`` of config dict ``d`` to ``value`` (already typed), recording
    ``origin`` (a flag, ``--set ...``) for its messages."""
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"{origin}: {key!r} is not a dotted key such as train.lr")
    node = d
    for i, p in enumerate(parts[:-1]):
        child = node.get(p)
        if child is None:
            child = node[p] = {}
        if not isinstance(child, dict):
            raise ConfigError(
                f"{origin}: {'.'.join(parts[: i + 1])} is {_describe(child)}, not a section"
            )
        node = child
    node[parts[-1]] = value
    if isinstance(d, ConfigDict):
        d.origins[".".join(parts)] = origin


def apply_overrides(d: dict, overrides: list[str]) -> ConfigDict:
    """Apply ``section.key=value`` overrides to a config dict: a string option takes the text
    as typed, others are parsed as YAML 1.2 (``1e-3`` a float, ``[256,128]`` a list)."""
    out = copy.deepcopy(d) if isinstance(d, ConfigDict) else ConfigDict(copy.deepcopy(d))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not of the form section.key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        set_value(out, key, _parse_override(key, raw), f"--set {key}={raw}")
    return out


class _ConfigDumper(yaml.SafeDumper):
    """Quotes every string that a YAML 1.1 *or* 1.2 reader would take for another type
    (``yes``, ``1e3``, ``null``), so that a saved config reads back the same anywhere."""


_ConfigDumper.yaml_implicit_resolvers = {
    first: list(yaml.SafeDumper.yaml_implicit_resolvers.get(first, []))
    + list(ConfigLoader.yaml_implicit_resolvers.get(first, []))
    for first in set(yaml.SafeDumper.yaml_implicit_resolvers)
    | set(ConfigLoader.yaml_implicit_resolvers)
}


def dump_config(cfg: RunConfig) -> str:
    return yaml.dump(cfg.to_dict(), Dumper=_ConfigDumper, sort_keys=False)
