"""Per-parameter-group optimiser settings (train.param_groups) and the constant schedule."""

import pytest
import torch
import yaml

from hwsim.errors import ConfigError
from models import build_model
from toolchain.config import RunConfig, dump_config
from toolchain.data import load_dataset
from toolchain.optim import OptimizerChain, make_optimizer
from toolchain.train import Callback, TrainConfig, _lr_lambda, fit


def inorm_net(seed=0):
    torch.manual_seed(seed)
    spec = {"arch": "inorm_mlp", "in_shape": [1, 8, 8], "num_classes": 10, "hidden": [16, 16]}
    return build_model({**spec, "lambda_var": 1e-2})


def one_sgd_step(net, opt):
    """Take one optimiser step on a fixed batch; return (parameters before, their grads)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 8, 1, 8, 8, generator=gen)
    y = torch.randint(0, 10, (8,), generator=gen)
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x).mean(0), y)
    for m in net.modules():
        if hasattr(m, "extra_loss"):
            extra = m.extra_loss()
            loss = loss + (0 if extra is None else extra)
    loss.backward()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    opt.step()
    return before, grads


def test_each_parameter_steps_with_its_groups_rate():
    """Plain SGD: p' = p - lr_g * grad, with lr_g the first matching group's (glob or regex)."""
    groups = [
        {"match": "*.w_ix", "lr": 0.7},
        {"regex": r"[0-9]+\.b_ix", "lr": 0.3},
        {"match": "*.w_*", "lr": 1e-3},  # w_ex, w_ei (w_ix was taken by the first group)
    ]
    cfg = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.0, param_groups=groups)
    net = inorm_net()
    before, grads = one_sgd_step(net, make_optimizer(net, cfg))
    expected_lr = {"w_ix": 0.7, "b_ix": 0.3, "w_ex": 1e-3, "w_ei": 1e-3, "bias": 0.05}
    for name, p in net.named_parameters():
        lr = expected_lr[name.split(".")[-1]]
        torch.testing.assert_close(p.detach(), before[name] - lr * grads[name], msg=name)


def test_mixed_optimisers_chain_steps_and_schedules_every_group():
    cfg = TrainConfig(
        optimizer="sgd",
        lr=0.05,
        momentum=0.0,
        param_groups=[{"match": "*.b_ix", "optimizer": "adam", "lr": 1e-2}],
    )
    net = inorm_net()
    opt = make_optimizer(net, cfg)
    assert isinstance(opt, OptimizerChain)
    assert [type(o).__name__ for o in opt.optimizers] == ["SGD", "Adam"]
    assert [g["name"] for g in opt.param_groups] == ["default", "*.b_ix"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(10, 0))
    before, grads = one_sgd_step(net, opt)
    # Adam's first step moves every element with a non-zero gradient by lr (m/sqrt(v) = sign)
    step = (before["1.b_ix"] - net.state_dict()["1.b_ix"]).abs()
    nz = grads["1.b_ix"].abs() > 1e-6
    torch.testing.assert_close(step[nz], torch.full_like(step[nz], 1e-2), rtol=1e-3, atol=0)
    w_ex = net.state_dict()["1.w_ex"]
    torch.testing.assert_close(w_ex, before["1.w_ex"] - 0.05 * grads["1.w_ex"])
    sched.step()
    factor = _lr_lambda(10, 0)(1)
    assert opt.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.05 * factor)
    assert opt.optimizers[1].param_groups[0]["lr"] == pytest.approx(1e-2 * factor)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, limit=200)


def test_mixed_groups_resume_equals_uninterrupted(digits, tmp_path):
    class StopAt(Callback):
        def on_epoch_start(self, epoch, model):
            if epoch == 2:
                raise KeyboardInterrupt

    cfg = TrainConfig(
        epochs=2,
        batch_size=32,
        optimizer="sgd",
        lr=0.05,
        momentum=0.5,
        T=1,
        progress=False,
        schedule="constant",
        param_groups=[{"match": "*.b_ix", "optimizer": "adam", "lr": 1e-3}],
    )
    full = inorm_net()
    fit(full, digits, cfg, run_dir=tmp_path / "full")
    part = inorm_net()
    with pytest.raises(KeyboardInterrupt):
        fit(part, digits, cfg, callbacks=[StopAt()], run_dir=tmp_path / "part")
    resumed = inorm_net(seed=5)
    out = fit(resumed, digits, cfg, run_dir=tmp_path / "part", resume=True)
    assert out["history"][-1]["lr"] == 0.05  # constant schedule, default group first
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_constant_schedule_after_warmup():
    f = _lr_lambda(total_iters=10, warmup_iters=2, schedule="constant")
    assert [f(i) for i in range(11)] == [0.5] + [1.0] * 10


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"match": "*"}, r"train.param_groups must be a list"),
        (["*.w"], r"param_groups\[0\] must be a mapping"),
        ([{"lr": 0.1}], r"param_groups\[0\] needs exactly one of 'match'"),
        ([{"match": "*", "regex": "x", "lr": 0.1}], r"exactly one of"),
        ([{"match": "*.w", "lr": 0.1, "lrr": 1}], r"param_groups\[0\]: unknown key.*'lrr'"),
        ([{"match": "*.w"}], r"param_groups\[0\] \(match '\*.w'\) sets none"),
        ([{"match": "*", "lr": 0.1}, {"match": "*", "lr": -1}], r"param_groups\[1\].lr must be >"),
        ([{"match": "*", "lr": True}], r"param_groups\[0\].lr must be a number"),
        ([{"regex": "(", "lr": 0.1}], r"param_groups\[0\].regex '\(' is not a regular"),
        ([{"match": "*", "optimizer": "rmsprop"}], r"param_groups\[0\].optimizer must be one"),
        ([{"match": "*", "optimizer": "adam", "momentum": 0.9}], r"momentum applies to .*sgd"),
        ([{"match": "*", "weight_decay": -1e-4}], r"param_groups\[0\].weight_decay must be >="),
    ],
)
def test_bad_groups_are_refused_at_construction_naming_the_key(groups, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(optimizer="sgd", param_groups=groups)


def test_a_group_that_matches_nothing_is_an_error():
    cfg = TrainConfig(param_groups=[{"match": "*.w_ex", "lr": 0.1}, {"match": "*.w_ex", "lr": 1}])
    with pytest.raises(ConfigError, match=r"param_groups\[1\] \('\*.w_ex'\) matches no trainable"):
        make_optimizer(inorm_net(), cfg)


def test_param_groups_round_trip_through_the_run_config():
    d = {"model": {"arch": "mlp"}, "train": {"param_groups": [{"match": "*.bias", "lr": 0.5}]}}
    cfg = RunConfig.from_dict(d)
    again = RunConfig.from_dict(yaml.safe_load(dump_config(cfg)))
    assert again.train.param_groups == [{"match": "*.bias", "lr": 0.5}]
