"""ProcessModels of ``EncodedSource``: float64 (``floating_pt``) and int64 (``fixed_pt``)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs._common import sample_step
from exporters.lava.procs.source.process import EncodedSource


class _AbstractSourceModel(PyLoihiProcessModel):
    s_out = None
    dtype = None

    def run_spk(self) -> None:
        p = self.proc_params
        if getattr(self, "_data", None) is None:
            # mapped in the Lava worker (the parent wrote the file before the run)
            self._data = np.load(p["path"], mmap_mode="r")
        s, t = sample_step(self.time_step, p["period"])
        if s < self._data.shape[0] and t < p["T"]:
            frame = self._data[s, min(t, self._data.shape[1] - 1)].astype(self.dtype)
        else:
            frame = np.zeros(p["shape"], self.dtype)
        self.s_out.send(frame)


@implements(proc=EncodedSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyEncodedSourceModelFloat(_AbstractSourceModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    dtype = np.float64


@implements(proc=EncodedSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyEncodedSourceModelFixed(_AbstractSourceModel):
    # int64 on the channel: a graded input times a weight is summed by Lava's Dense in the
    # sender's dtype (np.dot of int32 weights with int64 data is int64, never an int32 wrap)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24)
    dtype = np.int64
