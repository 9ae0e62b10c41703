"""Overflow checks: one worst-case (or calibrated) bound of an accumulator or state against
the width it must fit (DESIGN.md section 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Check", "Mode"]

Mode = Literal["static", "calibrated", "unbounded"]


@dataclass(frozen=True)
class Check:
    """``quantity`` of a node (``acc``, ``a``, ``v``, ``payload``, ...) with its bound
    ``max(|lo|, |hi|)`` against ``limit`` (the largest magnitude its width holds).

    ``mode``: ``static`` a worst case over every admissible input; ``calibrated`` the
    calibration maximum times the safety margin (where no finite static bound exists, e.g.
    an E-I division, or when saturation was allowed); ``unbounded`` no finite bound at all.
    """

    quantity: str
    bound: int | None
    limit: int
    width: str
    mode: Mode = "static"

    @property
    def ok(self) -> bool:
        return self.bound is not None and self.bound <= self.limit

    def to_dict(self) -> dict:
        return {
            "quantity": self.quantity,
            "bound": self.bound,
            "limit": self.limit,
            "width": self.width,
            "mode": self.mode,
            "ok": self.ok,
        }

    def describe(self) -> str:
        b = "unbounded" if self.bound is None else f"{self.bound}"
        return f"{self.quantity}: {self.mode} bound {b} > {self.limit} ({self.width})"
