"""The trainer's scale options in one process: AMP on a CPU, the thread choice, the time budget,
and the checks a data-parallel run relies on."""

from __future__ import annotations

import pytest
import torch

from hwsim.errors import ConfigError
from models import build_model
from toolchain.data import Dataset, load_dataset
from toolchain.distributed import DistContext, choose_threads
from toolchain.train import CHECKPOINT, TrainConfig, _check_data, fit, load_checkpoint


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, limit=64)


def mlp(data):
    torch.manual_seed(0)
    spec = {"arch": "mlp", "in_shape": data.in_shape, "num_classes": data.num_classes}
    return build_model({**spec, "hidden": [16]})


def cfg(**kw):
    return TrainConfig(**{"epochs": 1, "batch_size": 16, "T": 2, "progress": False, **kw})


def test_amp_on_cpu_is_a_no_op_that_says_so(digits, capsys):
    a = fit(mlp(digits), digits, cfg(amp=True, device="cpu"))["history"]
    b = fit(mlp(digits), digits, cfg(device="cpu"))["history"]
    assert "AMP needs CUDA" in capsys.readouterr().err
    assert a[0]["train_loss"] == b[0]["train_loss"]


def test_thread_choice_is_said_and_follows_the_cores(digits, capsys):
    fit(mlp(digits), digits, cfg(threads=1))
    assert torch.get_num_threads() == 1
    assert "1 torch thread(s) each (train.threads)" in capsys.readouterr().err
    n, why = choose_threads(0, DistContext(world=2, local_world=2))
    assert n >= 1 and "2 processes" in why
    assert choose_threads(0, DistContext(world=64, local_world=64))[0] == 1  # a share of <= 2


def test_time_limit_stops_after_an_epoch_and_resume_finishes(digits, tmp_path):
    out = fit(mlp(digits), digits, cfg(epochs=3, time_limit_s=1e-6), run_dir=tmp_path)
    assert out["epochs"] == 1 and load_checkpoint(tmp_path / CHECKPOINT)["epoch"] == 1
    again = fit(mlp(digits), digits, cfg(epochs=3), run_dir=tmp_path, resume=True)
    whole = fit(mlp(digits), digits, cfg(epochs=3))
    assert [h["train_loss"] for h in again["history"]] == [
        h["train_loss"] for h in whole["history"]
    ]


def test_data_parallel_preconditions(digits):
    with pytest.raises(ConfigError, match="multiple of the number of processes, 3"):
        _check_data(mlp(digits), digits, cfg(batch_size=16), DistContext(world=3))
    spikes = Dataset("ev", torch.zeros(4, 2, 3), torch.zeros(4).long(), torch.zeros(4, 2, 3),
                     torch.zeros(4).long(), (3,), 2, "spikes")  # fmt: skip
    with pytest.raises(ConfigError, match="train.encoding to 'spikes'"):
        _check_data(mlp(digits), spikes, cfg(), DistContext())
    with pytest.raises(ConfigError, match="binned into 2 steps, train.T=3"):
        _check_data(mlp(digits), spikes, cfg(T=3, encoding="spikes"), DistContext())
    with pytest.raises(ConfigError, match="augment_cutout"):
        TrainConfig(augment_cutout=-2)
