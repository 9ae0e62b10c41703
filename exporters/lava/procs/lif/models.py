"""ProcessModels of ``SpikefoldLIF``: both call :mod:`hwsim.arith`'s CUBA LIF step (with
``current_decay = 0``, the LIF step)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs._common import sample_step
from exporters.lava.procs.lif.process import SpikefoldLIF
from hwsim import arith


class _AbstractLIFModel(PyLoihiProcessModel):
    a_in = None
    s_out = None
    u = None
    v = None
    vth = None
    bias = None
    a_bias = None

    def step(self, a: np.ndarray, vth) -> np.ndarray:
        raise NotImplementedError

    def run_spk(self) -> None:
        _, t = sample_step(self.time_step, self.proc_params["period"])
        if t == 0:  # a new sample starts from rest
            self.u[...] = 0
            self.v[...] = 0
        a = self.a_in.recv()  # received every step, to keep the channel flowing
        if t < self.proc_params.get("offset", 0):  # before the arrival: rest, bias gated off
            self.u[...] = 0
            self.v[...] = 0
            self.s_out.send(np.zeros_like(self.v))
            return
        spikes = self.step(a + self.a_bias, self.vth[t])
        self.s_out.send(spikes)


@implements(proc=SpikefoldLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikefoldLIFModelFloat(_AbstractLIFModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    u: np.ndarray = LavaPyType(np.ndarray, np.float64)
    v: np.ndarray = LavaPyType(np.ndarray, np.float64)
    vth: np.ndarray = LavaPyType(np.ndarray, np.float64)
    bias: np.ndarray = LavaPyType(np.ndarray, np.float64)
    a_bias: np.ndarray = LavaPyType(np.ndarray, np.float64)

    def step(self, a, vth):
        p = self.proc_params
        out = arith.cuba_lif_step_float(
            self.u, self.v, a, current_decay=float(p.get("current_decay", 0)),
            decay=float(p["decay"]), threshold=vth, bias=self.bias, reset=p["reset"],
        )  # fmt: skip
        self.u[...] = out.u
        self.v[...] = out.v
        return out.spikes.astype(np.float64)


@implements(proc=SpikefoldLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikefoldLIFModelFixed(_AbstractLIFModel):
    # int64 everywhere: the sum of a_in (int32 channels) and a_bias is wrapped to 32 bits by
    # arith.cuba_current_fixed exactly as Lava's int32 channel would, not by numpy
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=1)
    u: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=17)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    a_bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)

    def step(self, a, vth):
        p = self.proc_params
        out = arith.cuba_lif_step_fixed(
            self.u, self.v, a, current_decay=int(p.get("current_decay", 0)),
            decay=int(p["decay"]), vth=int(vth), bias=self.bias, reset=p["reset"],
        )  # fmt: skip
        self.u[...] = out.u
        self.v[...] = out.v
        return out.spikes.astype(np.int64)
