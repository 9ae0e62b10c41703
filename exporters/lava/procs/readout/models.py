"""ProcessModels of ``Readout``: :func:`hwsim.arith.readout_accumulate` (fixed), sum (float)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs._common import sample_step
from exporters.lava.procs.readout.process import Readout
from hwsim import arith


class _AbstractReadoutModel(PyLoihiProcessModel):
    a_in = None
    a_out = None
    a_bias = None
    total = None

    def accumulate(self, current: np.ndarray) -> None:
        raise NotImplementedError

    def run_spk(self) -> None:
        p = self.proc_params
        s, t = sample_step(self.time_step, p["period"])
        if t == 0:
            self.total[...] = 0
        current = self.a_in.recv() + self.a_bias
        if p["start"] <= t < p["start"] + p["T"]:
            self.accumulate(current)
        if t == p["start"] + p["T"] - 1 and p["path"] is not None:
            self.write(s)
        self.a_out.send(current)

    def write(self, sample: int) -> None:
        if getattr(self, "_file", None) is None:
            # mapped in the Lava worker (the runner created the file before the run)
            self._file = np.lib.format.open_memmap(self.proc_params["path"], mode="r+")
        if sample < self._file.shape[0]:
            self._file[sample] = self.total


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyReadoutModelFloat(_AbstractReadoutModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    a_bias: np.ndarray = LavaPyType(np.ndarray, np.float64)
    total: np.ndarray = LavaPyType(np.ndarray, np.float64)

    def accumulate(self, current):
        self.total[...] = self.total + current


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyReadoutModelFixed(_AbstractReadoutModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=32)
    a_bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    total: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def accumulate(self, current):
        self.total[...] = arith.readout_accumulate(self.total, current).value
