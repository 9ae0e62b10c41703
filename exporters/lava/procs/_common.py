"""Helpers shared by the custom process models (not a Process package: Lava never scans it)."""

from __future__ import annotations

__all__ = ["sample_step"]


def sample_step(time_step: int, period: int) -> tuple[int, int]:
    """``(sample, t)`` of Lava's 1-based ``time_step`` in a run of samples of ``period``
    steps each: ``divmod(time_step - 1, period)``."""
    return divmod(int(time_step) - 1, int(period))
