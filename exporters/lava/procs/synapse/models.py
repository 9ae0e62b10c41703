"""ProcessModels of ``Synapse``: :mod:`hwsim.arith` accumulations (fixed), float64 (float)."""

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
from exporters.lava.procs.synapse.process import Synapse
from hwsim import arith, simops


class _AbstractSynapseModel(PyLoihiProcessModel):
    s_in = None
    a_out = None
    weight = None
    bias = None
    a_buf = None

    def accumulate(self, s: np.ndarray) -> np.ndarray:
        """The accumulation of one Lava-layout sample, without the bias."""
        raise NotImplementedError

    def run_spk(self) -> None:
        _, t = sample_step(self.time_step, self.proc_params["period"])
        if t == 0:
            self.a_buf[...] = 0  # the zero input "before the first arrival"
        # bias per output unit; the unit axis is the last one of Lava's layout
        self.a_out.send(self.a_buf + self.bias)
        self.a_buf[...] = self.accumulate(self.s_in.recv())


@implements(proc=Synapse, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySynapseModelFloat(_AbstractSynapseModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    weight: np.ndarray = LavaPyType(np.ndarray, np.float64)
    bias: np.ndarray = LavaPyType(np.ndarray, np.float64)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.float64)

    def accumulate(self, s):
        p = self.proc_params
        if p["kind"] == "conv":
            conv = dict(stride=p["stride"], padding=p["padding"], groups=p["groups"])
            return from_batch(simops.conv_sum(to_batch(s), self.weight, **conv))
        return arith.dense_float(self.weight, s)  # dense, or mix over the last (channel) axis


@implements(proc=Synapse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySynapseModelFixed(_AbstractSynapseModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=32)
    weight: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=8)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def accumulate(self, s):
        p = self.proc_params
        if p["kind"] == "conv":
            acc = arith.conv_accumulate(
                self.weight, to_batch(s), p["stride"], p["padding"], p["groups"], p["weight_exp"]
            )
            return from_batch(acc)
        # dense: [1, d]; mix: [1, C, H, W], contracted over the channel axis 1
        return from_batch(arith.dense_accumulate(self.weight, to_batch(s), p["weight_exp"]))
