"""``Probe``: a sink that writes every step's input into a memory-mapped ``.npy`` file."""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess, LogConfig


class Probe(AbstractProcess):
    """Records its input ``a_in`` at every step into ``path``, an ``.npy`` file of shape
    ``[n_samples, period, *shape]`` created beforehand by the runner (int64 or float64): the
    input of step ``t`` of sample ``s`` goes to ``[s, t]``.

    Why not Lava's ``io.sink.RingBuffer`` + ``Var.get``: in lava-nc 0.10 ``Var.get`` sends one
    float64 message per element (measured: 2.3 s for 100,000 values), far too slow for probing
    every layer of every step. The model instead writes into a shared (``MAP_SHARED``) mapping
    of the file, which the parent reads after the run; Linux's page cache makes the writes
    visible to the parent's own mapping without a flush.

    Ports: ``a_in``.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        path: str,
        n_samples: int,
        period: int,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(
            shape=shape,
            path=path,
            n_samples=n_samples,
            period=period,
            name=name,
            log_config=log_config,
        )
        self.a_in = InPort(shape=shape)
