"""ProcessModels of ``Inhibitory``: :func:`hwsim.arith.ei_inhibitory_fixed` / ``_float``."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.layout import from_batch, to_batch
from exporters.lava.procs.inhibitory.process import Inhibitory
from hwsim import arith


class _AbstractInhibitoryModel(PyLoihiProcessModel):
    a_in = None
    s_out = None
    s_div_out = None
    g_i = None
    a_bias = None

    def payloads(self, h: np.ndarray) -> arith.EIInhibitory:
        raise NotImplementedError

    def run_spk(self) -> None:
        h = self.a_in.recv() + self.a_bias
        out = self.payloads(to_batch(h))
        p = from_batch(out.payload)
        q = np.zeros_like(p) if out.divisive is None else from_batch(out.divisive)
        self.s_out.send(p)
        self.s_div_out.send(q)

    def gains(self) -> np.ndarray | None:
        return self.g_i if self.proc_params["divisive"] else None


@implements(proc=Inhibitory, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyInhibitoryModelFloat(_AbstractInhibitoryModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    s_div_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    g_i: np.ndarray = LavaPyType(np.ndarray, np.float64)
    a_bias: np.ndarray = LavaPyType(np.ndarray, np.float64)

    def payloads(self, h):
        return arith.ei_inhibitory_float(h, self.gains())


@implements(proc=Inhibitory, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyInhibitoryModelFixed(_AbstractInhibitoryModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24)
    s_div_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24)
    g_i: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)
    a_bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)

    def payloads(self, h):
        p = self.proc_params
        return arith.ei_inhibitory_fixed(
            h,
            g_i=self.gains(),
            g_i_exp=p["g_i_exp"],
            payload_exp=p["payload_exp"],
            payload_bits=p["payload_bits"],
        )
