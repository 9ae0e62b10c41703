"""ProcessModels of ``Delay`` (data movement only: no arithmetic beyond Lava's port sum)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs._common import sample_step
from exporters.lava.procs.delay.process import Delay


class _AbstractDelayModel(PyLoihiProcessModel):
    s_in = None
    s_out = None
    line = None

    def run_spk(self) -> None:
        steps = self.proc_params["steps"]
        _, t = sample_step(self.time_step, self.proc_params["period"])
        x = self.s_in.recv()
        if steps == 0:
            self.s_out.send(x)
            return
        if t == 0:
            self.line[...] = 0
        slot = t % steps  # the slot written `steps` steps ago
        y = self.line[slot].copy()
        self.line[slot] = x
        self.s_out.send(y)


@implements(proc=Delay, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDelayModelFloat(_AbstractDelayModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    line: np.ndarray = LavaPyType(np.ndarray, np.float64)


@implements(proc=Delay, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDelayModelFixed(_AbstractDelayModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24)
    line: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
