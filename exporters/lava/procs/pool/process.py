"""``Pool``: window sums (fixed and float) or means (float) with zero latency."""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig


class Pool(AbstractProcess):
    """Pooling over ``kernel`` windows with ``stride``, no padding, at zero latency (the
    graph's pools take no step in ``lava`` timing, :func:`hwsim.graph.latency`): ``mode``
    ``sum`` (:func:`hwsim.arith.sum_pool2d`, graded counts) or ``avg`` (float graphs only,
    :func:`hwsim.arith.avg_pool2d_float`). Lava layout ``(W, H, C)`` in and out.

    Ports: ``s_in``, ``s_out``.
    """

    def __init__(
        self,
        *,
        in_shape: tuple[int, int, int],
        out_shape: tuple[int, int, int],
        kernel: tuple[int, int],
        stride: tuple[int, int],
        mode: str = "sum",
        name: str | None = None,
        log_config: LogConfig | None = None,
    ) -> None:
        super().__init__(
            in_shape=in_shape,
            out_shape=out_shape,
            kernel=tuple(kernel),
            stride=tuple(stride),
            mode=mode,
            name=name,
            log_config=log_config,
        )
        if mode not in ("sum", "avg"):
            raise ValueError(f"Pool: mode must be 'sum' or 'avg', got {mode!r}")
        self.s_in = InPort(shape=in_shape)
        self.s_out = OutPort(shape=out_shape)
