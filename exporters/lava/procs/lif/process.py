"""``SpikefoldLIF``: LIF and CUBA LIF neurons beyond Lava's stock ``LIF`` (soft reset,
``vth[t]``, biases gated until the arrival, a synapse bias into a persistent current)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


class SpikefoldLIF(AbstractProcess):
    """LIF and current-based (CUBA) LIF neurons as :func:`hwsim.arith.cuba_lif_step_fixed` /
    :func:`hwsim.arith.cuba_lif_step_float` define them (``current_decay = 0`` is the LIF of
    :func:`hwsim.arith.lif_step_fixed`), with what Lava's stock ``LIF`` lacks: soft reset, a
    threshold schedule, biases gated until the layer's arrival, and a synapse bias that enters
    a persistent current.

    At step ``t`` of a sample (fixed)::

        a  = a_in + a_bias                      (a_bias: the synapses' bias, activation units)
        u, v, s = cuba_lif_step_fixed(u, v, a, current_decay=current_decay, decay=decay,
                                      vth=vth[t], bias=bias, reset=reset)

    float: ``cuba_lif_step_float(u, v, a, current_decay=..., decay=..., threshold=vth[t],
    bias=bias, reset=reset)`` (spike on ``H >= θ``). ``current_decay`` is ``4095 - du``
    (fixed) or ``c`` (float). ``vth [period]`` is the schedule per step of the sample (the
    exporter maps the graph's ``θ[T]`` onto the steps with the layer's arrival offset);
    ``decay`` is ``4096 - dv`` (fixed) or ``a`` (float); ``bias`` in ``v`` units (fixed: the
    effective ``floor(bias_mant · 2**bias_exp)``). ``u`` and ``v`` are cleared at the first step
    of every sample. Before the layer's arrival ``offset`` (steps ``t < offset`` of a sample) the
    population holds ``u = v = 0`` and sends no spikes: the biases act only from the first step
    that carries input (:class:`hwsim.simops.LIFOp`).

    Ports: ``a_in``, ``s_out``. Vars: ``u``, ``v``, ``vth``, ``bias``, ``a_bias``.
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
        current_decay: int | float = 0,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(
            shape=shape,
            decay=decay,
            current_decay=current_decay,
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
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.vth = Var(shape=vth.shape, init=vth)
        self.bias = Var(shape=shape, init=np.broadcast_to(bias, shape))
        self.a_bias = Var(shape=shape, init=np.broadcast_to(a_bias, shape))
