"""ProcessModels of ``Excitatory``: :func:`hwsim.arith.ei_excitatory_fixed` / ``_float``."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.layout import from_batch, to_batch
from exporters.lava.procs._common import sample_step
from exporters.lava.procs.excitatory.process import Excitatory
from hwsim import arith


class _AbstractExcitatoryModel(PyLoihiProcessModel):
    a_in = None
    a_sub_in = None
    a_den_in = None
    a_out = None
    g_e = None
    b_e = None
    ee = None

    def current(self, ee, sub, den) -> np.ndarray:
        raise NotImplementedError

    def run_spk(self) -> None:
        _, t = sample_step(self.time_step, self.proc_params["period"])
        if t == 0:
            self.ee[...] = 0
        a, sub, den = self.a_in.recv(), self.a_sub_in.recv(), self.a_den_in.recv()
        divisive = self.proc_params["variant"] == "divisive"
        cur = self.current(to_batch(self.ee), to_batch(sub), to_batch(den) if divisive else None)
        self.ee[...] = a  # the E path's one-step delay
        self.a_out.send(from_batch(cur))

    def config(self) -> dict:
        p = self.proc_params
        divisive = p["variant"] == "divisive"
        return dict(
            g_e=self.g_e if divisive else None,
            b_e=self.b_e if divisive else None,
            variant=p["variant"],
            stabilisation=p["stabilisation"],
            floor=p["floor"],
        )


@implements(proc=Excitatory, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyExcitatoryModelFloat(_AbstractExcitatoryModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    a_sub_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    a_den_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    g_e: np.ndarray = LavaPyType(np.ndarray, np.float64)
    b_e: np.ndarray = LavaPyType(np.ndarray, np.float64)
    ee: np.ndarray = LavaPyType(np.ndarray, np.float64)

    def current(self, ee, sub, den):
        cfg = self.config()
        cfg["floor"] = float(cfg["floor"])
        return arith.ei_excitatory_float(ee, sub, den, **cfg).current


@implements(proc=Excitatory, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyExcitatoryModelFixed(_AbstractExcitatoryModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    a_sub_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    a_den_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24)
    g_e: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)
    b_e: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    ee: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def current(self, ee, sub, den):
        cfg = self.config()
        cfg["floor"] = int(cfg["floor"])
        return arith.ei_excitatory_fixed(
            ee, sub, den, g_e_exp=self.proc_params["g_e_exp"], **cfg
        ).current
