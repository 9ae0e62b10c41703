"""spikefold's training-time networks (torch only): neurons, surrogates, initialisations,
E-I layers, I-Norm, OSR/OTS and architectures.

``models`` never imports ``hwsim``, ``exporters`` or ``toolchain``.
"""

# models.adali registers a surrogate ("adali"); models.resnet, models.vgg, models.ei_arch and
# models.inorm register architectures ("sew_resnet18", "vgg", "vgg8/11/16", "ei_mlp",
# "ei_vgg8/11/16", "ei_sew_resnet18", "inorm_mlp") when imported, so importing ``models`` fills
# the registries.
from models.adali import AdaLiSpike, adali_window
from models.architectures import ARCHITECTURES, build_model
from models.base import TimeDistributed, finish_sequences, reset_states, set_step_mode
from models.ei import EIConfig, EIConv2d, EILinear
from models.ei_arch import build_ei_mlp, build_ei_sew_resnet18, build_ei_vgg
from models.gradnorm import GradNorm, grad_norm
from models.init import INITS, apply_init
from models.inorm import DANNDense, INormDense, build_inorm_mlp
from models.neurons import LIF, LIFParameters, lif_step
from models.osr import OSR
from models.ots import OTSLIF
from models.resnet import build_sew_resnet18
from models.surrogates import SURROGATES, get_surrogate
from models.vgg import build_vgg

__all__ = [
    "DANNDense",
    "EIConfig",
    "EIConv2d",
    "EILinear",
    "GradNorm",
    "INormDense",
    "build_ei_mlp",
    "build_ei_sew_resnet18",
    "build_ei_vgg",
    "build_inorm_mlp",
    "grad_norm",
    "ARCHITECTURES",
    "AdaLiSpike",
    "INITS",
    "OSR",
    "OTSLIF",
    "adali_window",
    "apply_init",
    "build_sew_resnet18",
    "build_vgg",
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
