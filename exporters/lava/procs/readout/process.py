"""``Readout``: sums the last layer's current over the ``T`` aligned steps of a sample."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


class Readout(AbstractProcess):
    """The graph's ``Readout``: the current of step ``t`` is ``a_in + a_bias``; over the steps
    ``start <= t < start + T`` of a sample (``start`` the node's arrival offset, so the sum
    covers exactly the ``T`` input steps) it accumulates (fixed:
    :func:`hwsim.arith.readout_accumulate`, 32-bit saturating; float: plain sum). The total is
    cleared at the first step of every sample; the prediction is its argmax.

    ``path`` (optional, given by the runner): an ``.npy`` file ``[n_samples, *shape]`` into
    which the total of sample ``s`` is written at its last summed step, so reading the
    results needs no probe process (one OS process and one channel fewer every step).

    Ports: ``a_in``, ``a_out`` (the current of the step). Vars: ``a_bias``, ``total``.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        a_bias: np.ndarray,
        start: int,
        T: int,
        period: int,
        path: str | None = None,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(
            shape=shape, start=start, T=T, period=period, path=path, name=name,
            log_config=log_config,
        )  # fmt: skip
        self.a_in = InPort(shape=shape)
        self.a_out = OutPort(shape=shape)
        self.a_bias = Var(shape=shape, init=np.broadcast_to(a_bias, shape))
        self.total = Var(shape=shape, init=0)
