"""ProcessModels of ``Probe`` (the file's dtype decides what is stored)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs._common import sample_step
from exporters.lava.procs.probe.process import Probe


class _AbstractProbeModel(PyLoihiProcessModel):
    a_in = None

    def run_spk(self) -> None:
        data = self.a_in.recv()
        if getattr(self, "_file", None) is None:
            # opened in the Lava child process (the parent created the file before the run)
            self._file = np.lib.format.open_memmap(self.proc_params["path"], mode="r+")
        s, t = sample_step(self.time_step, self.proc_params["period"])
        if s < self._file.shape[0]:
            self._file[s, t] = data


@implements(proc=Probe, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyProbeModelFloat(_AbstractProbeModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)


@implements(proc=Probe, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyProbeModelFixed(_AbstractProbeModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
