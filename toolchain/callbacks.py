"""Epoch callbacks for :func:`toolchain.train.fit`.

:class:`AdaLiCallback` drives the AdaLi surrogate (TECHNIQUES.md section 6, :mod:`models.adali`):
at the start of epoch ``k`` it sets the window ``[V⁻_k, V⁺_k]`` of every AdaLi surrogate of the
model from the linear or logarithmic schedule over ``N = num_epochs`` epochs and clears their
compute-density meters; at the end of the epoch it returns the logged metrics
``adali_compute_density`` (fraction of the training membrane potentials inside the window,
pooled over all AdaLi layers and, in a data-parallel run, over all processes),
``adali_v_minus`` and ``adali_v_plus``. The window depends on the epoch only, so every process
sets the same one.
"""

from __future__ import annotations

from torch import nn

from hwsim.errors import ConfigError
from models.adali import (
    SCHEDULES,
    adali_counts,
    adali_surrogates,
    adali_window,
    reset_adali_meters,
    set_adali_window,
)
from toolchain.distributed import all_reduce_sums, init_context
from toolchain.train import Callback

__all__ = ["AdaLiCallback"]


class AdaLiCallback(Callback):
    """Set the AdaLi window per epoch and log the compute density.

    Args:
        num_epochs: ``N``, the epoch at which the window reaches its final size.
        schedule: ``"linear"`` or ``"log"``.
        theta, v_minus_1, v_plus_1, p: window parameters (:func:`models.adali.adali_window`).
    """

    def __init__(
        self,
        num_epochs: int,
        schedule: str = "linear",
        theta: float = 1.0,
        v_minus_1: float = -0.5,
        v_plus_1: float = 2.5,
        p: float = 0.2,
    ) -> None:
        if int(num_epochs) < 1:
            raise ConfigError(f"AdaLiCallback: num_epochs must be >= 1, got {num_epochs}")
        if schedule not in SCHEDULES:
            raise ConfigError(
                f"AdaLiCallback: schedule must be one of {SCHEDULES}, got {schedule!r}"
            )
        self.num_epochs = int(num_epochs)
        self.schedule = schedule
        self.params = {"theta": theta, "v_minus_1": v_minus_1, "v_plus_1": v_plus_1, "p": p}
        self.window: tuple[float, float] | None = None

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        if not adali_surrogates(model):
            raise ConfigError("AdaLiCallback: the model has no AdaLi surrogate (surrogate 'adali')")
        k = min(int(epoch), self.num_epochs)  # past N the window stays at its final size
        self.window = adali_window(k, self.num_epochs, self.schedule, **self.params)
        set_adali_window(model, *self.window)
        reset_adali_meters(model)

    def on_epoch_end(self, epoch: int, model: nn.Module, metrics: dict) -> dict:
        v_minus, v_plus = self.window if self.window is not None else (float("nan"),) * 2
        device = next(model.parameters()).device
        inside, total = all_reduce_sums(
            list(adali_counts(model)),
            init_context(device.type),
            device if device.type == "cuda" else None,
        )
        return {
            "adali_compute_density": inside / total if total else float("nan"),
            "adali_v_minus": v_minus,
            "adali_v_plus": v_plus,
        }
