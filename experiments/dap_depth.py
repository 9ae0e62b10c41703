"""Activity propagation through a deep fully-connected SNN: DAP versus Kaiming initialisation.

Reproduces the check of Micheli et al. (Sections IV-A and IV-B; TECHNIQUES.md section 5): a
chain of ``depth`` LIF layers of ``width`` neurons (threshold θ, leak β, soft reset). Layer 1
encodes the input: its membrane receives ``I₀ ~ N(0, 1)`` (the same vector at every step);
layer ``l > 1`` receives ``W_l x_{l-1}[t]`` with ``W_l`` drawn by the initialisation and no
bias::

    u_l[t] = β (u_l[t-1] - θ x_l[t-1]) + W_l x_{l-1}[t]      x_l[t] = Θ(u_l[t] - θ)

(the paper's Eq. 13; :func:`models.neurons.lif_step` with ``tau = 1/(1-β)``). Per layer we
record ``Var[u_l[t]]`` (over neurons and samples, pre-spike membrane) and the spike count.
``T = 1`` is the first-time-step analysis (Fig. 3), ``T = 20`` the multi-step one (Fig. 6,
time-averaged).

Run: ``python -m experiments.dap_depth [--out docs/img/dap_depth.png]`` (full size:
100 layers × 1000 neurons, 10 runs: 30 s on one core, docs/results.md).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import torch

from models.init import dap_std
from models.neurons import LIFParameters, lif_step
from models.surrogates import get_surrogate

__all__ = ["DepthResult", "propagate", "main"]


@dataclass(frozen=True)
class DepthResult:
    """Per-layer statistics, index 0 = layer 1 (the input-encoding layer)."""

    init: str
    var: torch.Tensor  # [T, depth]  Var[u_l[t]]
    spikes: torch.Tensor  # [T, depth]  spikes per sample in layer l at step t

    @property
    def var_first(self) -> torch.Tensor:
        return self.var[0]

    @property
    def var_mean(self) -> torch.Tensor:
        return self.var.mean(0)

    @property
    def spikes_total(self) -> torch.Tensor:
        """Spikes per sample summed over time, per layer."""
        return self.spikes.sum(0)

    def last_active_layer(self, first_step_only: bool = False) -> int:
        """1-based index of the deepest layer that emits any spike (0 if none)."""
        s = self.spikes[0] if first_step_only else self.spikes_total
        active = torch.nonzero(s > 0)
        return int(active.max()) + 1 if len(active) else 0


def _std(init: str, fan_in: int, theta: float) -> float:
    if init == "dap":
        return dap_std(fan_in, theta)
    if init == "kaiming":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"dap_depth: init must be 'dap' or 'kaiming', got {init!r}")


@torch.no_grad()
def propagate(
    init: str,
    depth: int = 100,
    width: int = 1000,
    T: int = 1,
    leak: float = 0.5,
    theta: float = 1.0,
    batch: int = 4,
    seed: int = 0,
) -> DepthResult:
    """Run the chain once (``batch`` independent inputs) and return per-layer statistics.

    Layers are processed one at a time over all ``T`` steps (a feed-forward chain without
    synaptic delay), so memory stays ``O(T · batch · width)``.
    """
    if not 0.0 <= leak < 1.0:
        raise ValueError(f"dap_depth: leak must be in [0, 1), got {leak}")
    gen = torch.Generator().manual_seed(seed)
    params = LIFParameters(tau=1.0 / (1.0 - leak), reset="soft")
    spike_fn = get_surrogate("boxcar")  # forward only: any surrogate
    current = torch.randn(batch, width, generator=gen).expand(T, batch, width)  # constant input
    var = torch.zeros(T, depth)
    spikes = torch.zeros(T, depth)
    x = None  # the previous layer's spikes [T, batch, width]
    for layer in range(depth):
        if x is not None:
            w = torch.randn(width, width, generator=gen) * _std(init, width, theta)
            current = x @ w.T
        v = torch.zeros(batch, width)
        out = []
        for t in range(T):
            s, v, h = lif_step(current[t], v, theta, params, spike_fn)
            var[t, layer] = h.var(unbiased=False)
            spikes[t, layer] = s.sum() / batch
            out.append(s)
        x = torch.stack(out)
    return DepthResult(init, var, spikes)


def _plot(results: dict, steps: int, path: str, title: str) -> None:
    """``results[(init, T)]``: one :class:`DepthResult` per run; plots mean and min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for row, T in enumerate((1, steps)):
        for init, color in (("dap", "tab:blue"), ("kaiming", "tab:red")):
            runs = results[(init, T)]
            var = torch.stack([r.var_mean for r in runs]).clamp_min(1e-6)
            spk = torch.stack([r.spikes.mean(0) for r in runs])
            layers = list(range(1, var.shape[1] + 1))
            for ax, y in ((axes[row, 0], var), (axes[row, 1], spk)):
                ax.plot(layers, y.mean(0), color=color, label=init)
                ax.fill_between(layers, y.min(0).values, y.max(0).values, color=color, alpha=0.25)
        axes[row, 0].set_yscale("log")
        lab = "first step" if T == 1 else f"T={T}, time-averaged"
        axes[row, 0].set_ylabel(f"Var[u_l] ({lab}; 0 drawn at 1e-6)")
        axes[row, 1].set_ylabel(f"spikes per sample ({lab})")
        axes[row, 0].legend()
    for ax in axes[1]:
        ax.set_xlabel("layer l")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _first_below(v: torch.Tensor, level: float) -> int:
    """1-based index of the first layer whose value is below ``level`` (0 if none)."""
    idx = torch.nonzero(v < level)
    return int(idx.min()) + 1 if len(idx) else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=100)
    p.add_argument("--width", type=int, default=1000)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=4, help="independent inputs per run")
    p.add_argument("--runs", type=int, default=10, help="runs (fresh weights and inputs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/img/dap_depth.png", help="PNG to write")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    results: dict[tuple[str, int], list[DepthResult]] = {}
    for init in ("dap", "kaiming"):
        for T in (1, a.steps):
            results[(init, T)] = [
                propagate(init, a.depth, a.width, T, batch=a.batch, seed=a.seed + k)
                for k in range(a.runs)
            ]
    print(f"{a.depth} layers x {a.width} neurons, {a.runs} runs x {a.batch} inputs; worst run:")
    for (init, T), runs in results.items():
        v = torch.stack([r.var_mean for r in runs])  # T = 1: the first step itself
        ratio = v[:, -1] / v[:, 9]
        print(
            f"{init:8s} T={T:<3d} Var[u_l] min {float(v.min()):.3g} max {float(v.max()):.3g} | "
            f"Var[u_{a.depth}]/Var[u_10] in [{float(ratio.min()):.3g}, {float(ratio.max()):.3g}]"
            f" | first layer with Var < 1e-2: "
            f"{max(_first_below(r.var_mean, 1e-2) for r in runs)} | "
            f"deepest spiking layer: {min(r.last_active_layer() for r in runs)}"
            f"..{max(r.last_active_layer() for r in runs)}"
        )
    title = f"{a.depth} layers × {a.width} neurons, θ=1, β=0.5, soft reset, input N(0,1)"
    _plot(results, a.steps, a.out, title)
    print(f"plot: {a.out}")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
