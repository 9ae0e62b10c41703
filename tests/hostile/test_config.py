"""Hostile configs (issue 14): files, flags and ``--set`` go through one validated layer; every
bad value is one error naming where it came from (the file, the flag, ``--set KEY=VALUE``) and
the key; values mean what the user typed."""

from __future__ import annotations

import pytest
import yaml

from tests.hostile.conftest import TINIER, TINY, assert_error, assert_ok, cli
from toolchain.config import RunConfig, apply_overrides, load_config, parse_yaml

# (id, file name, contents, names the error line must hold besides the file)
BAD_FILES = [
    ("duplicate-section", "c.yaml", "name: a\ntrain: {epochs: 1}\ntrain: {epochs: 2}\n",
     ["duplicate key 'train'", "line 3"]),
    ("duplicate-key", "c.yaml", "train: {epochs: 1, epochs: 2}\n", ["duplicate key 'epochs'"]),
    ("duplicate-nested", "c.yaml", "model:\n  arch: mlp\n  neuron:\n    tau: 2\n    tau: 3\n",
     ["duplicate key 'tau'"]),
    ("duplicate-toml", "c.toml", 'name = "a"\nname = "b"\n', ["malformed TOML"]),
    ("epochs-ten", "c.yaml", "train:\n  epochs: ten\n", ["train.epochs", "integer", "'ten'"]),
    ("epochs-float", "c.yaml", "train: {epochs: 2.5}\n", ["train.epochs", "integer"]),
    ("epochs-bool", "c.yaml", "train: {epochs: true}\n", ["train.epochs", "integer"]),
    ("lr-word", "c.yaml", "train: {lr: fast}\n", ["train.lr", "a number", "'fast'"]),
    ("lr-inf", "c.yaml", "train: {lr: .inf}\n", ["train.lr", "finite"]),
    ("lr-zero", "c.yaml", "train: {lr: 0}\n", ["train.lr", "> 0"]),
    ("section-list", "c.yaml", "train: [1, 2]\n", ["train", "expected a mapping", "list"]),
    ("section-scalar", "c.yaml", "data: 5\n", ["data", "expected a mapping"]),
    ("model-list", "c.yaml", "model: [mlp]\n", ["model", "expected a mapping"]),
    ("top-list", "c.yaml", "[1, 2, 3]\n", ["a mapping of sections"]),
    ("top-scalar", "c.yaml", "hello\n", ["a mapping of sections"]),
    ("random-bytes", "c.yaml", bytes(range(128, 256)) * 3, ["not a text file"]),
    ("random-bytes-toml", "c.toml", b"\xff\xfe\x00garbage", ["not a text file"]),
    ("malformed-yaml", "c.yaml", "train: {epochs: 1\n", ["malformed YAML", "line"]),
    ("tab-indent", "c.yaml", "train:\n\tepochs: 1\n", ["malformed YAML"]),
    ("malformed-toml", "c.toml", "[train\nepochs = 1\n", ["malformed TOML"]),
    ("unknown-section", "c.yaml", "trian: {epochs: 1}\n", ["trian", "unknown config section"]),
    ("unknown-train-key", "c.yaml", "train: {epoch: 1}\n", ["train.epoch", "unknown train option"]),
    ("unknown-data-key", "c.yaml", "data: {datset: digits}\n", ["data.datset", "unknown data"]),
    ("name-null", "c.yaml", "name: null\n", ["name", "must be a string"]),
    ("name-number", "c.yaml", "name: 3\n", ["name", "must be a string", "quote"]),
    ("name-empty", "c.yaml", "name: ''\n", ["name", "must not be empty"]),
    ("name-slash", "c.yaml", "name: a/b\n", ["name", "not a run name"]),
    ("name-dotdot", "c.yaml", "name: ..\n", ["name", "not a run name"]),
    ("threshold-zero", "c.yaml", "model: {arch: mlp, neuron: {threshold: 0}}\n",
     ["model.neuron.threshold", "> 0"]),
    ("threshold-negative", "c.yaml", "model: {arch: mlp, neuron: {threshold: -1.5}}\n",
     ["model.neuron.threshold", "> 0"]),
    ("threshold-schedule-zero", "c.yaml", "model: {arch: mlp, neuron: {threshold: [1, 0]}}\n",
     ["model.neuron.threshold"]),
    ("threshold-word", "c.yaml", "model: {arch: mlp, neuron: {threshold: high}}\n",
     ["model.neuron.threshold"]),
    ("tau-below-one", "c.yaml", "model: {arch: mlp, neuron: {tau: 0.5}}\n",
     ["model.neuron.tau", ">= 1"]),
    ("neuron-list", "c.yaml", "model: {arch: mlp, neuron: [1]}\n", ["model.neuron", "mapping"]),
    ("hidden-negative", "c.yaml", "model: {arch: mlp, hidden: [-4]}\n", ["model.hidden", "-4"]),
    ("hidden-zero", "c.yaml", "model: {arch: mlp, hidden: [16, 0]}\n", ["model.hidden", "item 1"]),
    ("hidden-empty", "c.yaml", "model: {arch: mlp, hidden: []}\n", ["model.hidden"]),
    ("hidden-words", "c.yaml", "model: {arch: mlp, hidden: [wide]}\n", ["model.hidden"]),
    ("hidden-scalar", "c.yaml", "model: {arch: mlp, hidden: 16}\n", ["model.hidden", "a list"]),
    ("width-negative", "c.yaml", "model: {arch: vgg8, width: -1}\n", ["model.width", "> 0"]),
    ("arch-missing", "c.yaml", "model: {hidden: [4]}\n", ["model", "arch"]),
    ("arch-unknown", "c.yaml", "model: {arch: transformer}\n", ["model.arch", "transformer"]),
    ("arch-number", "c.yaml", "model: {arch: 3}\n", ["model.arch"]),
    ("device-tpu", "c.yaml", "train: {device: tpu}\n", ["train.device", "tpu"]),
    ("dataset-unknown", "c.yaml", "data: {dataset: imagenet22k}\n", ["data.dataset"]),
    ("test-fraction-one", "c.yaml", "data: {test_fraction: 1.0}\n", ["data.test_fraction"]),
    ("limit-negative", "c.yaml", "data: {limit: -1}\n", ["data.limit"]),
    ("downsample-two", "c.yaml", "data: {downsample: 2}\n", ["data.downsample"]),
    ("seed-negative", "c.yaml", "train: {seed: -3}\n", ["train.seed"]),
    ("T-zero", "c.yaml", "train: {T: 0}\n", ["train.T"]),
    ("momentum-two", "c.yaml", "train: {momentum: 2}\n", ["train.momentum"]),
    ("mode-unknown", "c.yaml", "train: {mode: backwards}\n", ["train.mode"]),
    ("encoding-unknown", "c.yaml", "train: {encoding: morse}\n", ["train.encoding"]),
    ("optimizer-unknown", "c.yaml", "train: {optimizer: rmsprop}\n", ["train.optimizer"]),
    ("time-limit-negative", "c.yaml", "train: {time_limit_s: -5}\n", ["train.time_limit_s"]),
    ("param-groups-string", "c.yaml", "train: {param_groups: all}\n", ["train.param_groups"]),
    ("progress-yes", "c.yaml", "train: {progress: yes}\n", ["train.progress", "true or false"]),
    ("toml-epochs-string", "c.toml", '[train]\nepochs = "ten"\n', ["train.epochs", "'ten'"]),
    ("toml-section-array", "c.toml", "train = [1, 2]\n", ["train", "expected a mapping"]),
    ("unknown-suffix", "c.json", '{"name": "a"}', ["unknown config format"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "fname,content,names", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_a_bad_config_file_is_one_error_naming_the_file_and_key(tmp_path, fname, content, names):
    path = tmp_path / fname
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    res = cli("train", "--config", path, "--runs", tmp_path / "runs")
    assert_error(res, path, *names, rc=1)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    "what,make",
    [
        ("missing", lambda p: p / "nope.yaml"),
        ("directory", lambda p: (p / "d.yaml").mkdir() or p / "d.yaml"),
        ("huge", lambda p: (p / "h.yaml").write_text("# x\n" * 400_000) and p / "h.yaml"),
    ],
)
def test_an_unusable_config_path_is_named(tmp_path, what, make):
    path = make(tmp_path)
    assert_error(cli("train", "--config", path, "--runs", tmp_path / "r"), path, rc=1)


# --set KEY=VALUE: (id, overrides, names)
BAD_SETS = [
    ("epochs-ten", ["train.epochs=ten"], ["--set train.epochs=ten", "integer"]),
    ("epochs-zero", ["train.epochs=0"], ["--set train.epochs=0", ">= 1"]),
    ("section-list", ["train=[1,2]"], ["--set train=[1,2]", "expected a mapping"]),
    ("model-scalar", ["model=5"], ["--set model=5", "expected a mapping"]),
    ("hidden-negative", ["model.hidden=[-5]"], ["--set model.hidden=[-5]", "model.hidden"]),
    ("hidden-word", ["model.hidden=ten"], ["model.hidden", "a list"]),
    ("threshold-zero", ["model.neuron.threshold=0"], ["model.neuron.threshold", "> 0"]),
    ("threshold-negative", ["model.neuron.threshold=-1"], ["model.neuron.threshold"]),
    ("neuron-scalar", ["model.neuron=5"], ["model.neuron", "mapping"]),
    ("tau-small", ["model.neuron.tau=0.5"], ["model.neuron.tau"]),
    ("lr-nan", ["train.lr=.nan"], ["train.lr", "finite"]),
    ("lr-word-nan", ["train.lr=nan"], ["train.lr", "'nan'"]),
    ("lr-list", ["train.lr=[1"], ["--set train.lr=[1", "malformed YAML"]),
    ("batch-float", ["train.batch_size=1e3"], ["train.batch_size", "integer"]),
    ("epochs-bool", ["train.epochs=true"], ["train.epochs", "integer"]),
    ("seed-negative", ["train.seed=-1"], ["train.seed", ">= 0"]),
    ("momentum", ["train.momentum=2"], ["train.momentum"]),
    ("test-fraction", ["data.test_fraction=1.5"], ["data.test_fraction"]),
    ("limit-zero", ["data.limit=0"], ["data.limit"]),
    ("dataset-empty", ["data.dataset="], ["data.dataset"]),
    ("device", ["train.device=tpu"], ["--set train.device=tpu", "unknown device"]),
    ("optimizer", ["train.optimizer=rmsprop"], ["--set train.optimizer=rmsprop", "sgd"]),
    ("unknown-key", ["train.bogus=1"], ["--set train.bogus=1", "unknown train option"]),
    ("unknown-section", ["bogus.x=1"], ["bogus", "unknown config section"]),
    ("no-equals", ["train.lr"], ["--set 'train.lr'", "section.key=value"]),
    ("empty-key", ["=3"], ["--set =3", "dotted key"]),
    ("empty-part", ["train..lr=3"], ["train..lr", "dotted key"]),
    ("name-as-section", ["name.x=3"], ["--set name.x=3", "not a section"]),
    ("name-empty", ["name="], ["--set name=", "must not be empty"]),
    ("name-path", ["name=../up"], ["--set name=../up", "not a run name"]),
]  # fmt: skip


@pytest.mark.parametrize("sets,names", [c[1:] for c in BAD_SETS], ids=[c[0] for c in BAD_SETS])
def test_a_bad_set_is_one_error_naming_the_override(tmp_path, sets, names):
    argv = ["train", "--name", "s", "--arch", "mlp", "--runs", tmp_path / "runs"]
    for s in sets:
        argv += ["--set", s]
    assert_error(cli(*argv), *names, rc=1)
    assert not (tmp_path / "runs" / "s").exists()


# flags of train: (id, argv, names, exit status)
BAD_FLAGS = [
    ("name-empty", ["--name", ""], ["--name", "must not be empty"], 1),
    ("name-updir", ["--name", "../evil"], ["--name", "not a run name"], 1),
    ("name-slash", ["--name", "a/b"], ["--name", "not a run name"], 1),
    ("name-dash", ["--name", "-x"], ["--name"], 2),
    ("name-newline", ["--name", "a\nb"], ["--name", "not a run name"], 1),
    ("lr-negative", ["--lr", "-1"], ["argument --lr", "> 0"], 2),
    ("lr-zero", ["--lr", "0"], ["argument --lr"], 2),
    ("lr-nan", ["--lr", "nan"], ["argument --lr", "finite"], 2),
    ("lr-inf", ["--lr", "inf"], ["argument --lr", "finite"], 2),
    ("lr-word", ["--lr", "fast"], ["argument --lr", "'fast'"], 2),
    ("epochs-zero", ["--epochs", "0"], ["argument --epochs", ">= 1"], 2),
    ("epochs-negative", ["--epochs", "-2"], ["argument --epochs"], 2),
    ("epochs-float", ["--epochs", "1.5"], ["argument --epochs", "'1.5'"], 2),
    ("batch-zero", ["--batch-size", "0"], ["argument --batch-size"], 2),
    ("T-zero", ["-T", "0"], ["argument -T/--T"], 2),
    ("seed-word", ["--seed", "abc"], ["argument --seed"], 2),
    ("nproc-zero", ["--nproc", "0"], ["argument --nproc"], 2),
    ("optimizer", ["--optimizer", "rmsprop"], ["argument --optimizer"], 2),
    ("mode", ["--mode", "sideways"], ["argument --mode"], 2),
    ("device-tpu", ["--device", "tpu"], ["--device", "train.device", "'tpu'"], 1),
    ("device-number", ["--device", "3"], ["--device", "unknown device"], 1),
    ("device-cuda-index", ["--device", "cuda:99"], ["--device", "cuda:99"], 1),
    ("dataset", ["--dataset", "imagenet22k"], ["--dataset", "data.dataset"], 1),
    ("arch", ["--arch", "transformer"], ["--arch", "model.arch", "transformer"], 1),
    ("resume-and-overwrite", ["--resume", "--overwrite"], ["--resume and --overwrite"], 1),
]  # fmt: skip


@pytest.mark.parametrize(
    "extra,names,rc", [c[1:] for c in BAD_FLAGS], ids=[c[0] for c in BAD_FLAGS]
)
def test_a_bad_train_flag_is_one_error_naming_the_flag(tmp_path, extra, names, rc):
    argv = ["train", "--runs", tmp_path / "runs", "--arch", "mlp", *TINIER, *extra]
    if "--name" not in extra:
        argv += ["--name", "f"]
    assert_error(cli(*argv), *names, rc=rc)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_device_cuda_without_cuda_names_the_flag(tmp_path):
    """issue 14: `--device cuda` without CUDA gave a raw traceback."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = cli("train", "--name", "c", "--runs", tmp_path, "--device", "cuda", *TINIER)
    assert_error(res, "--device", "CUDA is not available", rc=1)


def test_runs_pointing_at_a_file_is_named(tmp_path):
    """issue 14: `--runs` pointing at a file gave a raw traceback."""
    f = tmp_path / "afile"
    f.write_text("x")
    assert_error(cli("train", "--name", "a", "--runs", f, *TINIER), "--runs", f, "is a file")
    assert_error(cli("train", "--name", "a", "--runs", f / "sub", *TINIER), "--runs", f)
    assert_error(cli("run", tmp_path / "c.yaml", "--runs", f), "--runs", f)


def test_a_numeric_data_root_is_a_directory_name(tmp_path):
    """issue 14: a numeric `--data-root` gave a raw traceback (YAML made it an int)."""
    res = cli("train", "--name", "m", "--runs", tmp_path, "--dataset", "mnist",
              "--data-root", "5", *TINIER)  # fmt: skip
    assert_error(res, "5", "mnist", rc=1)
    res = cli("simulate", tmp_path / "g.npz", "--dataset", "mnist", "--data-root", "5")
    assert res.rc == 1 and "Traceback" not in res.err


def test_lr_5e_05_is_a_float_everywhere(tmp_path):
    """issue 14: `train --lr 0.00005` crashed (YAML 1.1 read 5e-05 as a string)."""
    assert_ok(cli("train", "--name", "lr", "--runs", tmp_path, "--lr", "0.00005", *TINIER))
    saved = load_config(tmp_path / "lr" / "config.yaml")
    assert saved["train"]["lr"] == 5e-05 and isinstance(saved["train"]["lr"], float)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: lr2\ntrain: {lr: 5e-05, epochs: 1, T: 1}\nmodel: {arch: mlp, "
                   "hidden: [4]}\ndata: {limit: 60}\n")  # fmt: skip
    assert_ok(cli("train", "--config", cfg, "--runs", tmp_path))
    assert load_config(tmp_path / "lr2" / "config.yaml")["train"]["lr"] == 5e-05
    assert apply_overrides({}, ["train.lr=1e-3"])["train"]["lr"] == 0.001
    assert parse_yaml("a: 1e-3\nb: 5e-05\nc: 1.5E+2\nd: -.5\n") == {
        "a": 0.001, "b": 5e-05, "c": 150.0, "d": -0.5}  # fmt: skip


@pytest.mark.parametrize("name", ["exp #3", "null", "yes", "", "~", "1e3", "on", "2024-01-01"])
def test_a_name_is_what_the_user_typed(tmp_path, name):
    """issue 14: `--name 'exp #3'` ran into `exp`, `--name null`/`''` into `None`."""
    res = cli("train", "--name", name, "--runs", tmp_path, "--arch", "mlp", *TINIER)
    if name == "":
        assert_error(res, "--name", "must not be empty")
        return
    assert_ok(res)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert load_config(tmp_path / name / "config.yaml")["name"] == name
    # and through --set: a string option takes the text as typed
    assert apply_overrides({}, [f"name={name}"])["name"] == name


def test_yaml_1_2_scalars_and_the_saved_config_reads_back(tmp_path):
    d = parse_yaml("a: yes\nb: no\nc: on\nd: true\ne: null\nf: ~\ng: 2024-01-01\nh: 0x10\n"
                   "i: 010\nj: .inf\n")  # fmt: skip
    assert d == {"a": "yes", "b": "no", "c": "on", "d": True, "e": None, "f": None,
                 "g": "2024-01-01", "h": 16, "i": 10, "j": float("inf")}  # fmt: skip
    cfg = RunConfig.from_dict({"name": "yes", "train": {"lr": 5e-05}})
    from toolchain.config import dump_config

    back = yaml.safe_load(dump_config(cfg))  # any YAML reader reads what spikefold writes
    assert back["name"] == "yes" and back["train"]["lr"] == 5e-05
    p = tmp_path / "c.yaml"
    p.write_text(dump_config(cfg))
    assert RunConfig.from_dict(load_config(p)).to_dict() == cfg.to_dict()


def test_a_data_root_override_null_is_none_and_text_is_kept():
    assert apply_overrides({}, ["data.root=null"])["data"]["root"] is None
    assert apply_overrides({}, ["data.root=5"])["data"]["root"] == "5"
    assert apply_overrides({}, ["data.root=/a #b"])["data"]["root"] == "/a #b"


def test_the_error_of_a_config_without_its_file_names_the_key():
    from hwsim.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^train\.epochs: expected an integer"):
        RunConfig.from_dict({"train": {"epochs": "ten"}})
    with pytest.raises(ConfigError, match=r"^model\.hidden"):
        RunConfig.from_dict({"model": {"arch": "mlp", "hidden": [-1]}})


def test_with_debug_an_error_shows_its_traceback(tmp_path):
    res = cli("train", "--name", "d", "--runs", tmp_path, "--set", "train.epochs=ten", "--debug")
    assert res.rc == 1 and "Traceback" in res.err and "train.epochs" in res.err


def test_tiny_training_flags_are_valid(tmp_path):
    """The flags every hostile case starts from are themselves accepted."""
    assert_ok(cli("train", "--name", "ok", "--runs", tmp_path, *TINY))
