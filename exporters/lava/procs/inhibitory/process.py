"""``Inhibitory``: fast inhibitory units that emit graded spikes every step."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


class Inhibitory(AbstractProcess):
    """The inhibitory population of an E-I circuit (TECHNIQUES.md section 2, **[choice]**):
    every unit emits, every step, graded payloads computed from its input current
    ``h = a_in + a_bias`` (zero latency: the payload of step ``t`` leaves at step ``t``).

    fixed (:func:`hwsim.arith.ei_inhibitory_fixed`)::

        p = fast_inhibitory_fixed(h, payload_exp, payload_bits)         -> s_out
        q = sat_u( floor(g_I · p · 2**g_i_exp), payload_bits )          -> s_div_out

    float (:func:`hwsim.arith.ei_inhibitory_float`): ``p = h``, ``q = g_I ⊙ h``. Without
    ``g_i`` (a standalone ``FastInhibitory`` node, or the subtractive readout variant) only
    ``s_out`` carries data (``s_div_out`` sends zeros).

    Ports: ``a_in``, ``s_out``, ``s_div_out``. Vars: ``g_i`` (per unit, zeros when absent),
    ``a_bias``.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        g_i: np.ndarray | None,
        a_bias: np.ndarray,
        payload_exp: int = 0,
        payload_bits: int = 24,
        g_i_exp: int = 0,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        divisive = g_i is not None
        super().__init__(
            shape=shape,
            divisive=divisive,
            payload_exp=payload_exp,
            payload_bits=payload_bits,
            g_i_exp=g_i_exp,
            name=name,
            log_config=log_config,
        )
        units = shape[-1]  # the unit (channel) axis is the last one in Lava's layout
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.s_div_out = OutPort(shape=shape)
        self.g_i = Var(shape=(units,), init=np.zeros(units) if g_i is None else np.asarray(g_i))
        self.a_bias = Var(shape=shape, init=np.broadcast_to(a_bias, shape))
