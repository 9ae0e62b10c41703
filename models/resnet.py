"""SEW ResNet-18 with a CIFAR stem (Fang et al. 2021, "Deep residual learning in spiking neural
networks"), registered as ``"sew_resnet18"``.

Layout (an ``nn.Sequential`` with named children, time-first ``[T, B, C, H, W] -> [T, B, K]``)::

    stem               ConvBlock: conv3x3 stride 1 -> norm -> LIF  (CIFAR stem: no 7×7, no max pool)
    layer1 .. layer4   nn.Sequential of two SEWBasicBlock each; widths 64, 128, 256, 512 (× width),
                       strides 1, 2, 2, 2
    pool               TimeDistributed(nn.AdaptiveAvgPool2d(1))  (global mean: sum pool × 1/(HW))
    flatten            TimeDistributed(nn.Flatten())
    readout            TimeDistributed(nn.Linear)

A :class:`SEWBasicBlock` has ``block1`` (ConvBlock, stride s), ``block2`` (ConvBlock, stride 1) and
``shortcut`` (``nn.Identity``, or a ConvBlock conv1×1 stride s -> norm -> LIF when the shape
changes, as in the SEW paper's downsample with a spiking neuron). Its output is the SEW ``ADD``
of spikes, ``block2(block1(x)) + shortcut(x)``: an integer count, not a binary spike (a hardware
``Add`` node; the next conv sees values in {0, 1, 2, ...}).

Options: ``in_shape``, ``num_classes``, ``width``, ``norm``, ``neuron``, ``T``, ``init``,
``init_params`` (as for :mod:`models.vgg`).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from models.architectures import register_architecture
from models.base import StatefulModule, TimeDistributed
from models.blocks import ConvBlock, check_image_shape, scaled_width
from models.init import apply_init

__all__ = ["SEWBasicBlock", "build_sew_resnet18"]


class SEWBasicBlock(StatefulModule):
    """SEW basic block: ``block2(block1(x)) + shortcut(x)`` (ADD)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        norm: str | None = None,
        neuron: dict | None = None,
        T: int | None = None,
    ) -> None:
        super().__init__()
        kw = {"norm": norm, "neuron": neuron, "T": T}
        self.block1 = ConvBlock(in_channels, out_channels, 3, stride=stride, **kw)
        self.block2 = ConvBlock(out_channels, out_channels, 3, stride=1, **kw)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = ConvBlock(in_channels, out_channels, 1, stride=stride, **kw)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(x)) + self.shortcut(x)


def build_sew_resnet18(
    in_shape: tuple[int, ...] | list[int],
    num_classes: int,
    width: float = 1.0,
    norm: str | None = None,
    neuron: dict | None = None,
    T: int | None = None,
    init: str | None = None,
    init_params: dict | None = None,
) -> nn.Sequential:
    """SEW ResNet-18 (CIFAR stem); see the module docstring."""
    c, _, _ = check_image_shape(in_shape, "sew_resnet18")
    if not width > 0:
        raise ValueError(f"sew_resnet18: width must be > 0, got {width}")
    kw = {"norm": norm, "neuron": neuron, "T": T}
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    c0 = scaled_width(64, width)
    mods["stem"] = ConvBlock(c, c0, 3, **kw)
    c = c0
    for i, (base, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), 1):
        out = scaled_width(base, width)
        mods[f"layer{i}"] = nn.Sequential(
            SEWBasicBlock(c, out, stride, **kw), SEWBasicBlock(out, out, 1, **kw)
        )
        c = out
    mods["pool"] = TimeDistributed(nn.AdaptiveAvgPool2d(1))
    mods["flatten"] = TimeDistributed(nn.Flatten())
    mods["readout"] = TimeDistributed(nn.Linear(c, int(num_classes)))
    net = nn.Sequential(mods)
    if init is not None:
        apply_init(net, init, **(init_params or {}))
    return net


register_architecture("sew_resnet18")(build_sew_resnet18)
