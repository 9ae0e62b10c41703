"""The training loop: reproducibility, resume, checkpoints, schedules, online mode, callbacks."""

import json
import math

import pytest
import torch

from hwsim.errors import ConfigError
from models import build_model
from toolchain.data import load_dataset
from toolchain.train import (
    CHECKPOINT,
    METRICS,
    Callback,
    TrainConfig,
    TrainingDiverged,
    _lr_lambda,
    evaluate,
    fit,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, limit=300)


def small_mlp(data, seed=0):
    torch.manual_seed(seed)
    spec = {"arch": "mlp", "in_shape": data.in_shape, "num_classes": data.num_classes}
    return build_model({**spec, "hidden": [32]})


def cfg(**kw):
    return TrainConfig(
        **{"epochs": 2, "batch_size": 32, "lr": 3e-3, "T": 3, "progress": False, **kw}
    )


def without_time(history):
    return [{k: v for k, v in e.items() if k != "wall_seconds"} for e in history]


def test_same_seed_same_history(digits):
    h1 = fit(small_mlp(digits), digits, cfg())["history"]
    h2 = fit(small_mlp(digits), digits, cfg())["history"]
    assert without_time(h1) == without_time(h2)
    h3 = fit(small_mlp(digits), digits, cfg(seed=1))["history"]
    assert without_time(h1) != without_time(h3)


class StopAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_start(self, epoch, model):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_resume_equals_uninterrupted(digits, tmp_path):
    full = small_mlp(digits)
    fit(full, digits, cfg(epochs=3), run_dir=tmp_path / "full")
    part = small_mlp(digits)
    with pytest.raises(KeyboardInterrupt):
        fit(part, digits, cfg(epochs=3), callbacks=[StopAt(2)], run_dir=tmp_path / "part")
    resumed = small_mlp(digits, seed=99)  # different init: the checkpoint must overwrite it
    out = fit(resumed, digits, cfg(epochs=3), run_dir=tmp_path / "part", resume=True)
    assert [e["epoch"] for e in out["history"]] == [1, 2, 3]
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    metrics = json.loads((tmp_path / "part" / METRICS).read_text())
    assert len(metrics) == 3


def test_checkpoint_loads_with_weights_only(digits, tmp_path):
    fit(small_mlp(digits), digits, cfg(epochs=1), run_dir=tmp_path, meta={"note": "x"})
    ckpt = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["meta"] == {"note": "x"}
    assert set(ckpt["model"]) == set(small_mlp(digits).state_dict())


def test_resume_without_checkpoint_names_file(digits, tmp_path):
    with pytest.raises(ConfigError, match="checkpoint"):
        fit(small_mlp(digits), digits, cfg(), run_dir=tmp_path, resume=True)


def test_lr_warmup_then_cosine():
    f = _lr_lambda(total_iters=10, warmup_iters=4)
    assert [f(i) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    # after warm-up: 0.5 (1 + cos(pi (it - 4) / 6))
    for it in range(4, 11):
        assert math.isclose(f(it), 0.5 * (1 + math.cos(math.pi * (it - 4) / 6)))
    assert f(10) == pytest.approx(0.0, abs=1e-12)


def test_online_mode_learns_and_callbacks_see_every_epoch(digits):
    seen = []

    class Record(Callback):
        def on_epoch_start(self, epoch, model):
            seen.append(("start", epoch))

        def on_epoch_end(self, epoch, model, metrics):
            seen.append(("end", epoch))
            return {"custom": 1.0}

    model = build_model(
        {
            "arch": "mlp",
            "in_shape": digits.in_shape,
            "num_classes": 10,
            "hidden": [64],
            "neuron": {"online": True},
        }
    )
    before = evaluate(model, digits.x_test, digits.y_test, cfg())["accuracy"]
    out = fit(model, digits, cfg(mode="online", loss="tet", epochs=3), callbacks=[Record()])
    assert seen == [("start", 1), ("end", 1), ("start", 2), ("end", 2), ("start", 3), ("end", 3)]
    assert out["history"][-1]["custom"] == 1.0
    assert out["test_accuracy"] > max(0.5, before + 0.2)
    assert all(m.step_mode == "m" for m in model.modules() if hasattr(m, "step_mode"))


def test_online_gradient_equals_bptt_with_detached_membrane(digits):
    # For an online LIF the per-step backward of sum_t loss_t equals one backward through the
    # multi-step graph: the membrane is detached, so the two graphs are the same.
    from toolchain.steps import train_batch

    x = digits.x_train[:16]
    y = digits.y_train[:16]
    x_seq = x.unsqueeze(0).repeat(3, 1, 1, 1, 1)
    grads = []
    for mode in ("online", "bptt"):
        model = build_model(
            {
                "arch": "mlp",
                "in_shape": digits.in_shape,
                "num_classes": 10,
                "hidden": [16],
                "neuron": {"online": True},
            }
        )
        torch.manual_seed(0)
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.5)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        train_batch(model, x_seq, y, cfg(mode=mode, loss="tet"), opt)
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-6)


def test_online_mode_refuses_offline_neurons(digits):
    with pytest.raises(ConfigError, match="neuron.online"):
        fit(small_mlp(digits), digits, cfg(mode="online"))


def test_bad_config_values_raise():
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ConfigError, match="unknown train option"):
        TrainConfig.from_dict({"epoch": 3})
    # checked at construction, not at the first batch of an epoch
    with pytest.raises(ConfigError, match="encoding"):
        TrainConfig(encoding="latency")
    with pytest.raises(ConfigError, match="warmup_epochs"):
        TrainConfig(warmup_epochs=-1)
    with pytest.raises(ConfigError, match="augment_brightness"):
        TrainConfig(augment_brightness=-0.1)


def test_non_finite_loss_raises_training_diverged_with_epoch(digits):
    model = small_mlp(digits)
    with torch.no_grad():
        model[-1].module.weight[0, 0] = float("nan")  # readout NaN -> loss NaN in batch 1
    with pytest.raises(TrainingDiverged, match="epoch 1") as err:
        fit(model, digits, cfg(epochs=2))
    assert err.value.epoch == 1 and isinstance(err.value, ConfigError)
