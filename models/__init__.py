"""spikefold's training-time networks (torch only): neurons, surrogates, initialisations,
E-I layers, I-Norm, OSR/OTS and architectures.

``models`` never imports ``hwsim``, ``exporters`` or ``toolchain``.
"""

from models.architectures import ARCHITECTURES, build_model
from models.base import TimeDistributed, finish_sequences, reset_states, set_step_mode
from models.neurons import LIF, LIFParameters, lif_step
from models.surrogates import SURROGATES, get_surrogate

__all__ = [
    "ARCHITECTURES",
    "LIF",
    "LIFParameters",
    "SURROGATES",
    "TimeDistributed",
    "build_model",
    "finish_sequences",
    "get_surrogate",
    "lif_step",
    "reset_states",
    "set_step_mode",
]
