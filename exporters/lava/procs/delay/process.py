"""``Delay``: ``y[t] = Σ inputs[t - steps]``; the residual ``Add`` is ``steps = 0``."""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


class Delay(AbstractProcess):
    """Sends at step ``t`` the (summed) input of step ``t - steps``, zeros before (hwsim's
    ``Delay`` node). Lava's ``InPort`` adds everything connected to it, so ``steps = 0`` with
    several inputs is the SEW residual ``Add`` (spikes add to graded counts). Zero latency:
    ``steps = 0`` forwards the input of the same step. The line is cleared at the first step
    of every sample.

    Ports: ``s_in``, ``s_out``. Vars: ``line [max(steps, 1), *shape]``.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        steps: int,
        period: int,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(shape=shape, steps=steps, period=period, name=name, log_config=log_config)
        if steps < 0:
            raise ValueError(f"Delay: steps must be >= 0, got {steps}")
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.line = Var(shape=(max(steps, 1), *shape), init=0)
