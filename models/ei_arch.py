"""E-I spiking architectures without normalisation (DeepEISNN, TECHNIQUES.md section 2).

Every hidden layer is an E-I circuit (:class:`models.ei.EILinear` / :class:`models.ei.EIConv2d`)
followed by a LIF population; the classifier is an E-I readout (``logits = I_EE - I_sub``, no
division). Pooling is average pooling. All builders take ``neuron`` (a LIF config section, see
:func:`models.blocks.make_lif`) and ``ei`` (an :class:`models.ei.EIConfig` section:
``init``, ``stabilization``, ``eps``, ``grad_scaling``, ``error_centring``, ``ei_ratio``).

- ``ei_mlp``: ``Flatten -> [EILinear -> LIF] * len(hidden) -> EILinear(readout)``.
- ``ei_vgg8`` / ``ei_vgg11`` / ``ei_vgg16``: the VGG layer lists of the reference code with a
  ``width`` multiplier on every channel count; a pooling step is skipped once the map is
  smaller than 2x2 (so 8x8 digits and 28x28 MNIST work); "light" classifier (one readout).
- ``ei_sew_resnet18``: SEW ResNet-18 (3x3 stem, no max-pool, 4 stages of 2 basic blocks, ADD
  connection ``out = SN(EI(SN(EI(x)))) + shortcut(x)``, the shortcut an E-I 1x1 conv + LIF
  when the shape changes), global average pooling, readout.

``build_model({"arch": "ei_vgg8", "in_shape": [1, 8, 8], "num_classes": 10, "width": 0.125})``
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.architectures import register_architecture
from models.base import TimeDistributed
from models.blocks import check_image_shape, make_lif, scaled_width
from models.ei import EICircuit, EIConfig, EIConv2d, EILinear
from models.neurons import LIF

__all__ = [
    "VGG_LAYERS",
    "build_ei_mlp",
    "build_ei_vgg",
    "build_ei_sew_resnet18",
    "EISEWBlock",
    "ei_layer_statistics",
]

VGG_LAYERS: dict[int, list] = {
    8: [64, "P", 128, "P", 256, "P", 512, "P", 512, "P"],
    11: [64, "P", 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P"],
    16: [64, 64, "P", 128, 128, "P", 256, 256, 256, "P", 512, 512, 512, "P", 512, 512, 512, "P"],
}


@register_architecture("ei_mlp")
def build_ei_mlp(
    in_shape: tuple[int, ...] | list[int],
    num_classes: int,
    hidden: list[int] | tuple[int, ...] = (128,),
    neuron: dict | None = None,
    ei: EIConfig | dict | None = None,
) -> nn.Sequential:
    """``Flatten -> [EILinear -> LIF] * len(hidden) -> EILinear(readout)``."""
    if not hidden:
        raise ValueError("ei_mlp: 'hidden' must list at least one layer width")
    cfg = EIConfig.from_dict(ei)
    layers: list[nn.Module] = [TimeDistributed(nn.Flatten())]
    d = int(math.prod(in_shape))
    for width in hidden:
        layers += [EILinear(d, int(width), cfg), make_lif(neuron)]
        d = int(width)
    layers.append(EILinear(d, int(num_classes), cfg, readout=True))
    return nn.Sequential(*layers)


def build_ei_vgg(
    depth: int,
    in_shape: tuple[int, ...] | list[int],
    num_classes: int,
    width: float = 1.0,
    neuron: dict | None = None,
    ei: EIConfig | dict | None = None,
) -> nn.Sequential:
    """E-I VGG-``depth`` (8, 11 or 16) with channel multiplier ``width``."""
    if depth not in VGG_LAYERS:
        raise ValueError(f"ei_vgg: depth must be one of {sorted(VGG_LAYERS)}, got {depth}")
    if not width > 0:
        raise ValueError(f"ei_vgg: width must be > 0, got {width}")
    cfg = EIConfig.from_dict(ei)
    c, h, w = check_image_shape(in_shape, f"ei_vgg{depth}")
    layers: list[nn.Module] = []
    for item in VGG_LAYERS[depth]:
        if item == "P":
            if h >= 2 and w >= 2:  # skip pooling once the map is smaller than 2x2
                layers.append(TimeDistributed(nn.AvgPool2d(2)))
                h, w = h // 2, w // 2
            continue
        out = scaled_width(item, width)
        layers += [EIConv2d(c, out, 3, 1, 1, config=cfg), make_lif(neuron)]
        c = out
    layers += [TimeDistributed(nn.Flatten()), EILinear(c * h * w, num_classes, cfg, readout=True)]
    return nn.Sequential(*layers)


@register_architecture("ei_vgg8")
def build_ei_vgg8(in_shape, num_classes, width=1.0, neuron=None, ei=None) -> nn.Sequential:
    """E-I VGG-8 (see :func:`build_ei_vgg`)."""
    return build_ei_vgg(8, in_shape, num_classes, width=width, neuron=neuron, ei=ei)


@register_architecture("ei_vgg11")
def build_ei_vgg11(in_shape, num_classes, width=1.0, neuron=None, ei=None) -> nn.Sequential:
    """E-I VGG-11 (see :func:`build_ei_vgg`)."""
    return build_ei_vgg(11, in_shape, num_classes, width=width, neuron=neuron, ei=ei)


@register_architecture("ei_vgg16")
def build_ei_vgg16(in_shape, num_classes, width=1.0, neuron=None, ei=None) -> nn.Sequential:
    """E-I VGG-16 (see :func:`build_ei_vgg`)."""
    return build_ei_vgg(16, in_shape, num_classes, width=width, neuron=neuron, ei=ei)


class EISEWBlock(nn.Module):
    """SEW basic block with ADD: ``SN(EI2(SN(EI1(x)))) + shortcut(x)``.

    ``shortcut`` is the identity, or (when stride or channels change) an E-I 1x1 conv + LIF, as
    in the reference code. The sum of spikes is non-negative, which the next E-I layer needs.
    """

    def __init__(
        self, c_in: int, c_out: int, stride: int, neuron: dict | None, cfg: EIConfig
    ) -> None:
        super().__init__()
        self.conv1 = EIConv2d(c_in, c_out, 3, stride, 1, config=cfg)
        self.sn1 = make_lif(neuron)
        self.conv2 = EIConv2d(c_out, c_out, 3, 1, 1, config=cfg)
        self.sn2 = make_lif(neuron)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                EIConv2d(c_in, c_out, 1, stride, 0, config=cfg), make_lif(neuron)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sn2(self.conv2(self.sn1(self.conv1(x)))) + self.shortcut(x)


@register_architecture("ei_sew_resnet18")
def build_ei_sew_resnet18(
    in_shape: tuple[int, ...] | list[int],
    num_classes: int,
    width: float = 1.0,
    neuron: dict | None = None,
    ei: EIConfig | dict | None = None,
) -> nn.Sequential:
    """E-I SEW ResNet-18 with channel multiplier ``width`` (64, 128, 256, 512 at ``width=1``)."""
    if not width > 0:
        raise ValueError(f"ei_sew_resnet18: width must be > 0, got {width}")
    cfg = EIConfig.from_dict(ei)
    c_in, _, _ = check_image_shape(in_shape, "ei_sew_resnet18")
    c = scaled_width(64, width)
    layers: list[nn.Module] = [EIConv2d(c_in, c, 3, 1, 1, config=cfg), make_lif(neuron)]
    for stage, base in enumerate((64, 128, 256, 512)):
        out = scaled_width(base, width)
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(EISEWBlock(c, out, stride, neuron, cfg))
            c = out
    layers += [
        TimeDistributed(nn.AdaptiveAvgPool2d(1)),
        TimeDistributed(nn.Flatten()),
        EILinear(c, num_classes, cfg, readout=True),
    ]
    return nn.Sequential(*layers)


@torch.no_grad()
def ei_layer_statistics(net: nn.Module, x: torch.Tensor) -> list[dict]:
    """Run ``net(x)`` (multi-step) and return, per hidden E-I layer in call order, the mean and
    std of its integrated current ``I`` (over all elements) and the firing rate of the LIF that
    follows it. On an un-initialised net this is the state right after E-I Init."""
    rows: list[dict] = []

    def on_circuit(module, inputs, out):
        if not module.readout:
            rows.append({"mean": float(out.mean()), "std": float(out.std()), "rate": None})

    def on_lif(module, inputs, out):
        for row in reversed(rows):  # the LIF after a circuit takes that circuit's current
            if row["rate"] is None:
                row["rate"] = float(out.mean())
                break

    handles = [
        m.register_forward_hook(on_circuit if isinstance(m, EICircuit) else on_lif)
        for m in net.modules()
        if isinstance(m, (EICircuit, LIF))
    ]
    try:
        net(x)
    finally:
        for h in handles:
            h.remove()
    return rows
