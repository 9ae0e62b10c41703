"""``EncodedSource``: the network's input, the encoded dataset one sample after another."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


class EncodedSource(AbstractProcess):
    """Graded (or binary) input from the encoded dataset.

    ``data [N, T_in, *shape]`` in Lava layout: ``T_in = T`` for spike trains (``spikes`` or
    ``rate`` inputs, Bernoulli-drawn by :func:`hwsim.sim.encode_inputs`) or ``T_in = 1`` for a
    ``direct`` frame (already quantised for a fixed graph) that enters every step. Sample ``s``
    occupies the steps ``s·period .. s·period + period - 1`` of the run; at its step ``t`` the
    source sends ``data[s, min(t, T_in - 1)]`` for ``t < T`` and zeros for ``T <= t < period``
    (hwsim: input steps ``t >= T`` are zero), and zeros once the samples are exhausted.

    Ports: ``s_out``. Vars: ``data``.
    """

    def __init__(
        self,
        *,
        data: np.ndarray,
        T: int,
        period: int,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        data = np.asarray(data)
        super().__init__(data=data, T=T, period=period, name=name, log_config=log_config)
        self.s_out = OutPort(shape=data.shape[2:])
        self.data = Var(shape=data.shape, init=data)
