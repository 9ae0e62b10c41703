"""VGG / SEW ResNet / MLP options: shapes, layout, step-mode agreement, options by name."""

import math

import pytest
import torch
from torch import nn

from models import build_model
from models.adali import AdaLiSpike
from models.base import finish_sequences, reset_states, set_step_mode
from models.blocks import ConvBlock, DenseBlock
from models.init import dap_std
from models.osr import OSR
from models.ots import OTSLIF
from models.resnet import SEWBasicBlock

T = 2
TINY = {"in_shape": [1, 8, 8], "num_classes": 10, "width": 1 / 16, "T": T}


def _run_steps(net, x):
    set_step_mode(net, "s")
    reset_states(net)
    try:
        return torch.stack([net(x[t]) for t in range(x.shape[0])])
    finally:
        set_step_mode(net, "m")


@pytest.mark.parametrize("arch", ["vgg8", "vgg11", "vgg16", "sew_resnet18"])
@pytest.mark.parametrize("norm", ["none", "bn", "osr", "osr_ots"])
def test_shapes_and_step_modes_agree(arch, norm):
    torch.manual_seed(0)
    net = build_model({"arch": arch, "norm": norm, **TINY}).eval()
    x = torch.rand(T, 3, 1, 8, 8)
    with torch.no_grad():
        y = net(x)
        assert y.shape == (T, 3, 10)
        torch.testing.assert_close(_run_steps(net, x), y)


def test_osr_nets_train_mode_step_modes_agree():
    """OSR normalises per step, so even training-mode outputs and gradients agree."""
    torch.manual_seed(1)
    cfg = {"arch": "vgg8", "norm": "osr_ots", "neuron": {"online": True}, **TINY}
    a = build_model(cfg)
    b = build_model(cfg)
    b.load_state_dict(a.state_dict())
    x = torch.rand(T, 4, 1, 8, 8) * 3
    ya = a(x)
    ya.pow(2).sum().backward()
    yb = _run_steps(b, x)
    yb.pow(2).sum().backward()
    torch.testing.assert_close(ya, yb)
    wa, wb = a.block1.conv.weight.grad, b.block1.conv.weight.grad
    torch.testing.assert_close(wa, wb)
    finish_sequences(a)
    finish_sequences(b)
    torch.testing.assert_close(a.block1.norm.running_var, b.block1.norm.running_var)


def test_vgg_layout_is_flat_and_named():
    net = build_model({"arch": "vgg8", "norm": "osr_ots", **TINY})
    names = [n for n, _ in net.named_children()]
    assert names == [f"block{i}" for i in range(1, 7)] + ["flatten", "fc1", "readout"]
    b1 = net.block1
    assert isinstance(b1, ConvBlock) and isinstance(b1.conv, nn.Conv2d)
    assert isinstance(b1.norm, OSR) and isinstance(b1.lif, OTSLIF)
    assert b1.conv.bias is None  # a norm follows
    assert isinstance(net.fc1, DenseBlock) and isinstance(net.fc1.fc, nn.Linear)
    # 8x8 input: pools after block1 (8->4), block2 (4->2), block4 (2->1); block6's is skipped
    pools = [isinstance(getattr(net, f"block{i}").pool, nn.AvgPool2d) for i in range(1, 7)]
    assert pools == [True, True, False, True, False, False]
    assert net.readout.module.in_features == net.block6.conv.out_channels
    assert net.block1.lif.running_threshold.shape == (T,)


def test_vgg_without_norm_has_bias_and_plain_lif():
    net = build_model(
        {"arch": "vgg", "in_shape": [3, 16, 16], "num_classes": 4, "layers": [4, "M"]}
    )
    assert isinstance(net.block1.norm, nn.Identity) and net.block1.conv.bias is not None
    assert type(net.block1.lif).__name__ == "LIF"
    assert net.readout.module.in_features == 4 * 8 * 8


def test_sew_resnet_layout_and_add():
    net = build_model({"arch": "sew_resnet18", "norm": "bn", **TINY})
    names = [n for n, _ in net.named_children()]
    assert names == ["stem", "layer1", "layer2", "layer3", "layer4", "pool", "flatten", "readout"]
    blk = net.layer2[0]
    assert isinstance(blk, SEWBasicBlock) and isinstance(blk.shortcut, ConvBlock)
    assert blk.shortcut.conv.kernel_size == (1, 1) and blk.shortcut.conv.stride == (2, 2)
    assert isinstance(net.layer1[0].shortcut, nn.Identity)
    # SEW ADD of two spike tensors: counts in {0, 1, 2}
    net.eval()
    out = net.layer1(net.stem(torch.rand(T, 2, 1, 8, 8) * 4))
    assert set(out.unique().tolist()) <= {0.0, 1.0, 2.0}


def test_init_and_surrogate_by_name():
    cfg = {"arch": "vgg", "in_shape": [4, 8, 8], "num_classes": 10, "layers": [256, "M"]}
    net = build_model({**cfg, "init": "dap", "neuron": {"surrogate": "adali"}})
    w = net.block1.conv.weight.detach()
    assert float(w.std()) == pytest.approx(dap_std(4 * 9), rel=0.05)
    assert isinstance(net.block1.lif.spike_fn, AdaLiSpike)
    net_k = build_model({**cfg, "init": "kaiming"})
    assert float(net_k.block1.conv.weight.detach().std()) == pytest.approx(
        math.sqrt(2 / 36), rel=0.05
    )


def test_mlp_options():
    net = build_model(
        {
            "arch": "mlp",
            "in_shape": [1, 8, 8],
            "num_classes": 10,
            "hidden": [32, 16],
            "norm": "osr_ots",
            "T": 3,
            "init": "xavier",
        }
    )
    kinds = [type(m).__name__ for m in net]
    assert kinds == [
        "TimeDistributed",
        "TimeDistributed",
        "OSR",
        "OTSLIF",
        "TimeDistributed",
        "OSR",
        "OTSLIF",
        "TimeDistributed",
    ]
    assert net(torch.rand(3, 2, 1, 8, 8)).shape == (3, 2, 10)
    bn = build_model({"arch": "mlp", "in_shape": [4], "num_classes": 2, "norm": "bn"})
    assert isinstance(bn[2].module, nn.BatchNorm1d)
    plain = build_model({"arch": "mlp", "in_shape": [4], "num_classes": 2})
    assert [type(m).__name__ for m in plain] == [
        "TimeDistributed",
        "TimeDistributed",
        "LIF",
        "TimeDistributed",
    ]


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"arch": "vgg8", "norm": "layer"}, "norm"),
        ({"arch": "vgg8", "norm": "osr_ots", "T": None}, "T"),
        ({"arch": "vgg8", "init": "orthogonal"}, "initialisation"),
        ({"arch": "vgg8", "in_shape": [64]}, "in_shape"),
        ({"arch": "vgg8", "layers": [8]}, "layers"),
        ({"arch": "vgg", "layers": ["M", 8]}, "layers"),
        ({"arch": "sew_resnet18", "width": 0}, "width"),
    ],
)
def test_bad_options(cfg, match):
    with pytest.raises(ValueError, match=match):
        build_model({**TINY, **cfg})
