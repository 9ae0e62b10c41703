"""``SpikefoldLIF``: LIF neurons beyond Lava's stock ``LIF`` (soft reset, ``vth[t]``)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


class SpikefoldLIF(AbstractProcess):
    """LIF neurons as :func:`hwsim.arith.lif_step_fixed` / :func:`hwsim.arith.lif_step_float`
    define them, with what Lava's stock ``LIF`` lacks: soft reset and a threshold schedule.

    At step ``t`` of a sample (fixed)::

        a  = a_in + a_bias                      (a_bias: the synapses' bias, activation units)
        v, s = lif_step_fixed(v, a, decay=decay, vth=vth[t], bias=bias, reset=reset)

    float: ``lif_step_float(v, a, decay=decay, threshold=vth[t], bias=bias, reset=reset)``
    (spike on ``H >= θ``). ``vth [period]`` is the schedule per step of the sample (the
    exporter maps the graph's ``θ[T]`` onto the steps with the layer's arrival offset);
    ``decay`` is ``4096 - dv`` (fixed) or ``a`` (float); ``bias`` in ``v`` units (fixed: the
    effective ``floor(bias_mant · 2**bias_exp)``). ``v`` is cleared at the first step of every
    sample. Before the layer's arrival ``offset`` (steps ``t < offset`` of a sample) the
    population holds ``v = 0`` and sends no spikes: the biases act only from the first step
    that carries input (:class:`hwsim.simops.LIFOp`).

    Ports: ``a_in``, ``s_out``. Vars: ``v``, ``vth``, ``bias``, ``a_bias``.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        decay: int | float,
        vth: np.ndarray,
        bias: np.ndarray,
        a_bias: np.ndarray,
        reset: str,
        period: int,
        offset: int = 0,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(
            shape=shape,
            decay=decay,
            vth=vth,
            bias=bias,
            a_bias=a_bias,
            reset=reset,
            period=period,
            offset=offset,
            name=name,
            log_config=log_config,
        )
        if reset not in ("soft", "hard"):
            raise ValueError(f"SpikefoldLIF: reset must be 'soft' or 'hard', got {reset!r}")
        vth = np.asarray(vth)
        if vth.shape != (period,):
            raise ValueError(f"SpikefoldLIF: vth must have shape ({period},), got {vth.shape}")
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.v = Var(shape=shape, init=0)
        self.vth = Var(shape=vth.shape, init=vth)
        self.bias = Var(shape=shape, init=np.broadcast_to(bias, shape))
        self.a_bias = Var(shape=shape, init=np.broadcast_to(a_bias, shape))
