"""``EncodedSource``: the network's input, the encoded dataset one sample after another."""

from __future__ import annotations

from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig


class EncodedSource(AbstractProcess):
    """Graded (or binary) input from the encoded dataset, read from an ``.npy`` file.

    ``path`` holds ``data [N, T_in, *shape]`` in Lava layout, written by the runner before the
    run (:func:`exporters.lava.build.write_source`): ``T_in = T`` for spike trains (``spikes``
    or ``rate`` inputs, Bernoulli-drawn by :func:`hwsim.sim.encode_inputs`) or ``T_in = 1`` for
    a ``direct`` frame (already quantised for a fixed graph) that enters every step. Sample
    ``s`` occupies the steps ``s·period .. s·period + period - 1`` of the run; at its step
    ``t`` the source sends ``data[s, min(t, T_in - 1)]`` for ``t < T`` and zeros for ``T <= t <
    period`` (hwsim: input steps ``t >= T`` are zero), and zeros once the samples are
    exhausted.

    Why a file and not a Var: the model maps it read-only in the Lava worker, so the dataset
    is neither copied into the process graph nor held twice in memory, and one compiled
    runtime serves any number of samples (a Var's data would be fixed when it is compiled).

    Ports: ``s_out`` (shape ``shape``).
    """

    def __init__(
        self,
        *,
        path: str,
        shape: tuple[int, ...],
        T: int,
        period: int,
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(path=path, shape=shape, T=T, period=period, name=name,
                         log_config=log_config)  # fmt: skip
        self.s_out = OutPort(shape=tuple(shape))
