"""VGG-style spiking networks: ``"vgg"`` (custom layer list), ``"vgg8"``, ``"vgg11"``, ``"vgg16"``,
``"vggsnn"``.

Layout (an ``nn.Sequential`` with named children, time-first ``[T, B, C, H, W] -> [T, B, K]``)::

    block1 .. blockN   ConvBlock: conv3x3 (pad 1) -> norm -> LIF -> pool (AvgPool2d(2) | Identity)
    gap                TimeDistributed(nn.AdaptiveAvgPool2d(1))  (only with global_pool=True)
    flatten            TimeDistributed(nn.Flatten())
    fc1 .. fcM         DenseBlock: linear -> norm -> LIF
    readout            TimeDistributed(nn.Linear)  (non-spiking; prediction: argmax of sum over t)

A layer list holds channel counts and ``"M"`` (2×2 average pooling after the preceding block's
LIF). **[choice]** A pool is skipped when the feature map is already smaller than 2×2, so the
deep presets accept 8×8 ``digits`` images. The name counts weight layers: ``vgg8`` = 6 conv +
1 hidden FC + readout, ``vgg11`` = 8 conv + 2 hidden FC + readout, ``vgg16`` = 13 conv + 2 hidden
FC + readout; ``vggsnn`` is the VGGSNN of OTTT (Xiao et al. 2022) and OSR+OTS (Zhu et al. 2024,
appendix C), ``64C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-GAP-FC``: 8 conv, a
global average pool and the readout, no hidden FC. ``width`` scales every channel and hidden
width (``max(1, round(c · width))``), so tests can build tiny nets.

Options (``build_model({"arch": "vgg8", ...})``): ``in_shape``, ``num_classes``, ``width``,
``hidden`` (hidden FC widths, overriding the preset's), ``norm`` (``"none" | "bn" | "osr" |
"osr_ots"``), ``neuron`` (the LIF section, e.g. ``{"surrogate": "adali", "online": True}``),
``T`` (needed by ``"osr_ots"``), ``init`` (``"dap" | "kaiming" | "xavier"`` or ``None`` for
torch's default), ``init_params`` and ``global_pool`` (a global average pool before the
classifier); ``"vgg"`` also takes ``layers``.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from models.architectures import register_architecture
from models.base import TimeDistributed
from models.blocks import ConvBlock, DenseBlock, check_image_shape, scaled_width
from models.init import apply_init

__all__ = ["VGG_PRESETS", "build_vgg"]

_M = "M"

#: name -> (conv layer list, hidden FC widths[, global average pool]), before the width multiplier.
VGG_PRESETS: dict[str, tuple] = {
    "vggsnn": ([64, 128, _M, 256, 256, _M, 512, 512, _M, 512, 512], [], True),
    "vgg8": ([64, _M, 128, _M, 256, 256, _M, 512, 512, _M], [512]),
    "vgg11": ([64, _M, 128, _M, 256, 256, _M, 512, 512, _M, 512, 512, _M], [512, 512]),
    "vgg16": (
        [64, 64, _M, 128, 128, _M, 256, 256, 256, _M, 512, 512, 512, _M, 512, 512, 512, _M],
        [512, 512],
    ),
}


def build_vgg(
    in_shape: tuple[int, ...] | list[int],
    num_classes: int,
    layers: list,
    hidden: list[int] | tuple[int, ...] = (),
    width: float = 1.0,
    norm: str | None = None,
    neuron: dict | None = None,
    T: int | None = None,
    init: str | None = None,
    init_params: dict | None = None,
    global_pool: bool = False,
) -> nn.Sequential:
    """A VGG-style spiking network from a layer list (see the module docstring)."""
    c, h, w = check_image_shape(in_shape, "vgg")
    if not width > 0:
        raise ValueError(f"vgg: width must be > 0, got {width}")
    if not layers or layers[0] == _M:
        raise ValueError(f"vgg: layers must start with a channel count, got {layers}")
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    blocks: list[ConvBlock] = []
    for item in layers:
        if item == _M:
            if min(h, w) >= 2 and isinstance(blocks[-1].pool, nn.Identity):
                blocks[-1].pool = nn.AvgPool2d(2)
                h, w = h // 2, w // 2
            continue
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise ValueError(f"vgg: layer entries are channel counts or 'M', got {item!r}")
        out = scaled_width(item, width)
        blocks.append(ConvBlock(c, out, norm=norm, neuron=neuron, T=T))
        c = out
    for i, b in enumerate(blocks, 1):
        mods[f"block{i}"] = b
    if global_pool:
        mods["gap"] = TimeDistributed(nn.AdaptiveAvgPool2d(1))  # a sum pool x 1/(HW) on hardware
        h = w = 1
    mods["flatten"] = TimeDistributed(nn.Flatten())
    d = c * h * w
    for i, width_i in enumerate(hidden, 1):
        out = scaled_width(int(width_i), width)
        mods[f"fc{i}"] = DenseBlock(d, out, norm=norm, neuron=neuron, T=T)
        d = out
    mods["readout"] = TimeDistributed(nn.Linear(d, int(num_classes)))
    net = nn.Sequential(mods)
    if init is not None:
        apply_init(net, init, **(init_params or {}))
    return net


register_architecture("vgg")(build_vgg)


def _preset(name: str):
    layers, preset_hidden, *gap = VGG_PRESETS[name]

    def builder(in_shape, num_classes, hidden: list[int] | None = None, **options) -> nn.Sequential:
        for fixed in ("layers", "global_pool"):
            if fixed in options:
                raise ValueError(f"{name}: '{fixed}' is fixed by the preset; use arch 'vgg'")
        h = list(preset_hidden) if hidden is None else list(hidden)
        return build_vgg(in_shape, num_classes, layers=list(layers), hidden=h,
                         global_pool=bool(gap and gap[0]), **options)  # fmt: skip

    builder.__name__ = f"build_{name}"
    builder.__doc__ = f"{name}: layers {layers}, hidden {preset_hidden} (see :func:`build_vgg`)."
    return builder


for _name in VGG_PRESETS:
    register_architecture(_name)(_preset(_name))
