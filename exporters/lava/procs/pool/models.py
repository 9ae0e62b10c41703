"""ProcessModels of ``Pool``: :func:`hwsim.arith.sum_pool2d` / ``avg_pool2d_float``."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.layout import from_batch, to_batch
from exporters.lava.procs.pool.process import Pool
from hwsim import arith


class _AbstractPoolModel(PyLoihiProcessModel):
    s_in = None
    s_out = None

    def run_spk(self) -> None:
        p = self.proc_params
        x = to_batch(self.s_in.recv())
        if p["mode"] == "avg":
            y = arith.avg_pool2d_float(x, p["kernel"], p["stride"])
        else:
            y = arith.sum_pool2d(x, p["kernel"], p["stride"])
        self.s_out.send(from_batch(y))


@implements(proc=Pool, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyPoolModelFloat(_AbstractPoolModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)


@implements(proc=Pool, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPoolModelFixed(_AbstractPoolModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24)
