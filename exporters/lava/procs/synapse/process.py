"""``Synapse``: a synapse layer where Lava's stock ``Dense``/``Conv`` would not be exact."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var

KINDS = ("dense", "conv", "mix")


class Synapse(AbstractProcess):
    """A synapse layer with Lava's one-step delay, computed by :mod:`hwsim.arith`.

    ``kind``: ``dense`` (``weight [n, d]``, :func:`hwsim.arith.dense_accumulate`), ``conv``
    (``weight [O, C/groups, kh, kw]`` in torch layout, :func:`hwsim.arith.conv_accumulate`,
    which honours ``weight_exp``, unlike Lava's ``Conv``) or ``mix`` (``weight [n_out, n_in]``
    applied to the channels at every pixel, as the conv E-I circuit's ``W_EI``:
    :func:`hwsim.arith.dense_accumulate` over the channel axis). float: ``dense_float``, the
    float64 convolution :func:`hwsim.simops.conv_sum`, and ``x @ W^T`` over the channels.

    Timing as Lava's ``Dense``: at step ``t`` it sends the accumulation of step ``t - 1``
    (plus ``bias``, per output unit, activation units) and accumulates ``s_in``; at the first
    step of a sample it sends ``bias`` alone (hwsim: a synapse sees a zero input before the
    first arrival).

    Ports: ``s_in``, ``a_out``. Vars: ``weight``, ``bias`` (zeros when absent), ``a_buf``.
    """

    def __init__(
        self,
        *,
        kind: str,
        weight: np.ndarray,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        bias: np.ndarray | None = None,
        weight_exp: int = 0,
        stride: tuple[int, int] = (1, 1),
        padding: tuple[int, int] = (0, 0),
        groups: int = 1,
        period: int,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(
            kind=kind,
            in_shape=in_shape,
            out_shape=out_shape,
            weight_exp=weight_exp,
            stride=tuple(stride),
            padding=tuple(padding),
            groups=groups,
            period=period,
            name=name,
            log_config=log_config,
        )
        if kind not in KINDS:
            raise ValueError(f"Synapse: kind must be one of {KINDS}, got {kind!r}")
        weight = np.asarray(weight)
        units = out_shape[-1]
        self.s_in = InPort(shape=in_shape)
        self.a_out = OutPort(shape=out_shape)
        self.weight = Var(shape=weight.shape, init=weight)
        self.bias = Var(shape=(units,), init=np.zeros(units) if bias is None else bias)
        self.a_buf = Var(shape=out_shape, init=0)
