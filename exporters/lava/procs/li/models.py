"""ProcessModels of ``SpikefoldLI``: Lava's own LIF sub-threshold dynamics, no spikes.

The fixed model is :class:`lava.proc.lif.models.AbstractPyLifModelFixed` (the arithmetic of
Lava's bit-accurate ``PyLifModelBitAcc``) and the float model
:class:`lava.proc.lif.models.AbstractPyLifModelFloat`; only the per-sample rest, the gating
before the arrival and the graded output are spikefold's.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat

from exporters.lava.procs._common import sample_step
from exporters.lava.procs.li.process import SpikefoldLI


class _LIRun:
    """``run_spk`` of both models: rest at a sample's first step and before the arrival, else
    Lava's ``subthr_dynamics`` on the received activation, and send ``v``."""

    def activation(self, a: np.ndarray) -> np.ndarray:
        return a

    def run_spk(self) -> None:
        _, t = sample_step(self.time_step, self.proc_params["period"])
        a = self.a_in.recv()  # received every step, to keep the channel flowing
        if t == 0 or t < self.proc_params["offset"]:
            self.u[:] = 0
            self.v[:] = 0
        if t < self.proc_params["offset"]:  # before the arrival: rest, bias gated off
            self.s_out.send(np.zeros_like(self.v))
            return
        self.subthr_dynamics(activation_in=self.activation(a))
        self.s_out.send(self.v)


@implements(proc=SpikefoldLI, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikefoldLIModelFloat(_LIRun, AbstractPyLifModelFloat):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)


@implements(proc=SpikefoldLI, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikefoldLIModelFixed(_LIRun, AbstractPyLifModelFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def activation(self, a: np.ndarray) -> np.ndarray:
        # Lava's LIF adds the shifted activation into an int32 current in place: an int64
        # input (from a spikefold Synapse) is first wrapped to the int32 channel's value,
        # hwsim.arith.lif_current_fixed's wrap32(a)
        return a.astype(np.int32)

    def run_spk(self) -> None:
        self.scale_bias()  # Lava's effective bias, floor(bias_mant · 2**bias_exp)
        super().run_spk()
