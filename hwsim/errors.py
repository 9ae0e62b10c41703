"""The one exception hierarchy of spikefold.

It lives in ``hwsim`` because ``hwsim`` is the lowest package that ``exporters`` and
``toolchain`` both import (DESIGN.md section 1: ``models`` and ``hwsim`` import neither each
other nor the higher packages). ``models`` is torch-only training code and raises the standard
``ValueError``/``TypeError`` for bad arguments, as PyTorch modules do.

Every message names the file, node, layer or tensor concerned and says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Violation",
    "SpikefoldError",
    "ConfigError",
    "DataError",
    "GraphError",
    "QuantizationError",
    "OverflowBoundError",
    "ExportError",
    "VerificationError",
    "DesignRuleError",
    "StaleArtifactError",
    "RunLockedError",
]


class SpikefoldError(Exception):
    """Base class of every error spikefold raises on purpose."""


class ConfigError(SpikefoldError, ValueError):
    """A configuration file or option is malformed, unknown or inconsistent."""


class DataError(SpikefoldError, ValueError):
    """A dataset file is missing, truncated or not in the expected format."""


class GraphError(SpikefoldError, ValueError):
    """A hardware graph (in memory or on disk) is malformed."""


class QuantizationError(SpikefoldError, ValueError):
    """A float graph cannot be quantised as asked (NaN weights, widths out of range, ...)."""


class OverflowBoundError(QuantizationError):
    """A worst-case bound or a calibration run exceeds a documented hardware width."""


class ExportError(SpikefoldError, ValueError):
    """A graph cannot be expressed in, or read back from, an export format."""


class VerificationError(SpikefoldError):
    """A rung of the verification ladder failed where the caller asked it to be fatal."""


@dataclass(frozen=True)
class Violation:
    """One design-rule violation: ``rule`` broken on ``target`` by ``layer`` (a node name),
    ``what`` is wrong, and ``fix`` the remedy that exists (an option, a fold pass, another
    target), or ``None`` where there is none. Rule checkers return lists of these, so a user
    sees every violation at once (``spikefold check``)."""

    rule: str
    target: str
    layer: str
    what: str
    fix: str | None = None

    def __str__(self) -> str:
        s = f"design rule {self.rule!r} (target {self.target}): layer {self.layer!r}: {self.what}"
        return s if self.fix is None else f"{s}; fix: {self.fix}"


class DesignRuleError(SpikefoldError, ValueError):
    """A design rule of a target (fan-in, widths, node kinds) is violated. ``violations``
    holds every :class:`Violation` found (empty where the raiser checked one rule only)."""

    def __init__(self, message: str, violations: tuple[Violation, ...] | list = ()) -> None:
        super().__init__(message)
        self.violations = tuple(violations)


class StaleArtifactError(SpikefoldError):
    """An artifact of a run directory is stale: an input changed after it was made, or it was
    changed after its stage wrote it (``toolchain.provenance``). ``key`` names the artifact
    the caller asked for; the message names the first stale file and the commands that
    rebuild it."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class RunLockedError(SpikefoldError):
    """Another process is writing the same run directory."""
