"""The one exception hierarchy of spikefold.

It lives in ``hwsim`` because ``hwsim`` is the lowest package that ``exporters`` and
``toolchain`` both import (DESIGN.md section 1: ``models`` and ``hwsim`` import neither each
other nor the higher packages). ``models`` is torch-only training code and raises the standard
``ValueError``/``TypeError`` for bad arguments, as PyTorch modules do.

Every message names the file, node, layer or tensor concerned and says what to do.
"""

from __future__ import annotations

__all__ = [
    "SpikefoldError",
    "ConfigError",
    "DataError",
    "GraphError",
    "QuantizationError",
    "OverflowBoundError",
    "ExportError",
    "VerificationError",
    "DesignRuleError",
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


class DesignRuleError(SpikefoldError, ValueError):
    """A design rule of a target (fan-in, widths, node kinds) is violated."""
