"""``Excitatory``: the E units' dendrites of an E-I circuit, producing the E current."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


class Excitatory(AbstractProcess):
    """The excitatory population's input stage of an E-I circuit: three dendritic
    accumulations in, the E current out (into the E ``LIF``, or the ``Readout`` for the
    subtractive readout variant).

    Ports: ``a_in`` (``W_EE x``), ``a_sub_in`` (``W_EI p``), ``a_den_in`` (``W_EI q``, divisive
    variant only), ``a_out`` (the current ``I``). In Lava timing ``W_EE`` delivers one step
    late, the inhibitory path ``W_IE -> Inhibitory -> W_EI`` two steps late; so that every path
    into the neuron has the same delay, ``a_in`` is held one step in ``ee`` (the circuit's
    latency is 2, :func:`hwsim.graph.latency`). At step ``t`` (fixed,
    :func:`hwsim.arith.ei_excitatory_fixed`)::

        I = ei_excitatory_fixed(ee, a_sub_in, a_den_in, g_e, g_e_exp, b_e, variant, ...)
        ee = a_in

    float: :func:`hwsim.arith.ei_excitatory_float`. ``ee`` is cleared at the first step of
    every sample. Vars: ``g_e``, ``b_e`` (zeros for the subtractive variant), ``ee``.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        variant: str,
        g_e: np.ndarray | None = None,
        b_e: np.ndarray | None = None,
        g_e_exp: int = 0,
        stabilisation: str = "exact",
        floor: int | float = 0,
        period: int,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(
            shape=shape,
            variant=variant,
            g_e_exp=g_e_exp,
            stabilisation=stabilisation,
            floor=floor,
            period=period,
            name=name,
            log_config=log_config,
        )
        if variant not in ("divisive", "subtractive"):
            raise ValueError(f"Excitatory: unknown variant {variant!r}")
        units = shape[-1]  # the unit (channel) axis is the last one in Lava's layout
        self.a_in = InPort(shape=shape)
        self.a_sub_in = InPort(shape=shape)
        self.a_den_in = InPort(shape=shape)
        self.a_out = OutPort(shape=shape)
        self.g_e = Var(shape=(units,), init=np.zeros(units) if g_e is None else np.asarray(g_e))
        self.b_e = Var(shape=(units,), init=np.zeros(units) if b_e is None else np.asarray(b_e))
        self.ee = Var(shape=shape, init=0)
