"""``SpikefoldLI``: Lava's LIF process Vars and ports, without threshold, sending ``v``."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.process import LogConfig
from lava.proc.lif.process import AbstractLIF


class SpikefoldLI(AbstractLIF):
    """Leaky integrators (the graph's ``LI``): Lava's own LIF state and parameters (``u``,
    ``v``, ``du``, ``dv``, ``bias_mant``, ``bias_exp``; :class:`lava.proc.lif.process.
    AbstractLIF`) with no threshold and no reset; ``s_out`` sends the membrane ``v`` every
    step (a graded 24-bit value, fixed; float64, float).

    At step ``t`` of a sample, Lava's own sub-threshold dynamics
    (``AbstractPyLifModelFixed.subthr_dynamics`` / ``AbstractPyLifModelFloat``) with ``du =
    4095`` (fixed; ``1.0`` float: the current does not persist), so that the fixed model is
    Lava's arithmetic, not spikefold's, and rung 2 compares hwsim's
    :func:`hwsim.arith.li_step_fixed` with it. ``u`` and ``v`` are cleared at the first step of
    every sample; before the layer's arrival ``offset`` the population rests (``v = 0``, sends
    0, its bias gated off, as :class:`hwsim.simops.LIOp`).

    Ports: ``a_in``, ``s_out``. Vars: ``u``, ``v``, ``du``, ``dv``, ``bias_mant``, ``bias_exp``.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        du: int | float,
        dv: int | float,
        bias_mant: np.ndarray,
        bias_exp: np.ndarray | int | float,
        period: int,
        offset: int = 0,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(
            shape=shape, u=0, v=0, du=du, dv=dv, bias_mant=np.broadcast_to(bias_mant, shape),
            bias_exp=np.broadcast_to(bias_exp, shape), name=name, log_config=log_config,
            period=period, offset=offset,
        )  # fmt: skip
