"""spikefold's hardware model: graph IR, integer arithmetic, simulator, counters, verification.

Imports numpy (and torch for batched convolutions) only; never ``models``, ``exporters`` or
``toolchain``.
"""

from hwsim.errors import (
    ConfigError,
    DataError,
    DesignRuleError,
    ExportError,
    GraphError,
    OverflowBoundError,
    QuantizationError,
    SpikefoldError,
    VerificationError,
    Violation,
)

__all__ = [
    "ConfigError",
    "DataError",
    "DesignRuleError",
    "ExportError",
    "GraphError",
    "OverflowBoundError",
    "QuantizationError",
    "SpikefoldError",
    "VerificationError",
    "Violation",
]
