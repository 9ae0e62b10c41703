"""Activity propagation through a deep fully-connected SNN: DAP versus Kaiming initialisation.

Reproduces the check of Micheli et al. (Sections IV-A and IV-B; TECHNIQUES.md section 5): a
chain of ``depth`` LIF layers of ``width`` neurons (threshold θ, leak β, soft reset). Layer 1
encodes the input: its membrane receives ``I₀ ~ N(0, 1)`` (the same vector at every step);
layer ``l > 1`` receives ``I_l[t] = W_l x_{l-1}[t]`` with ``W_l`` drawn by the initialisation
and no bias. Two soft-reset conventions (``RESETS``), with ``x_l[t] = Θ(u_l[t] - θ)``::

    "eq13"       u_l[t] = β u_l[t-1] + I_l[t] - θ x_l[t-1]      the paper's Eq. 13 (default):
                                                                 the reset is not leaked
    "spikefold"  u_l[t] = β (u_l[t-1] - θ x_l[t-1]) + I_l[t]    spikefold's LIF
                                                                 (:func:`models.neurons.lif_step`,
                                                                 ``tau = 1/(1-β)``): leaked reset

They differ only from the second step on (a spike's reset costs θ under Eq. 13, βθ under
spikefold's convention, so Eq. 13 fires less). Per layer we record ``Var[u_l[t]]`` (over
neurons and samples, pre-spike membrane) and the spike count. ``T = 1`` is the first-time-step
analysis (Fig. 3), ``T = 20`` the multi-step one (Fig. 6, time-averaged).

Run: ``python -m experiments.dap_depth [--out docs/img/dap_depth.png]`` (full size:
100 layers × 1000 neurons, 10 runs, both conventions: about a minute on one core,
docs/results.md).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from experiments.results import md_table, trend
from models.init import dap_std
from models.neurons import LIFParameters, lif_step
from models.surrogates import get_surrogate

__all__ = ["RESETS", "DepthResult", "propagate", "measure", "run", "render", "main"]


@dataclass(frozen=True)
class DepthResult:
    """Per-layer statistics, index 0 = layer 1 (the input-encoding layer)."""

    init: str
    reset: str
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


def _eq13_step(current, state, leak: float, theta: float):
    """Eq. 13: ``u[t] = β u[t-1] + I[t] - θ x[t-1]``; state ``(u[t-1], x[t-1])``."""
    u_prev, x_prev = state
    u = leak * u_prev + current - theta * x_prev
    x = (u >= theta).to(u.dtype)  # Θ(0) = 1, as spikefold's LIF
    return x, (u, x), u


def _spikefold_step(current, state, leak: float, theta: float):
    """spikefold's LIF: ``u[t] = β (u[t-1] - θ x[t-1]) + I[t]``; state ``V[t-1]``."""
    params = LIFParameters(tau=1.0 / (1.0 - leak), reset="soft")
    x, v, u = lif_step(current, state, theta, params, get_surrogate("boxcar"))
    return x, v, u


#: reset convention -> (step function, initial state for a ``[batch, width]`` layer)
RESETS = {
    "eq13": (_eq13_step, lambda z: (z, z)),
    "spikefold": (_spikefold_step, lambda z: z),
}


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
    reset: str = "eq13",
) -> DepthResult:
    """Run the chain once (``batch`` independent inputs) and return per-layer statistics.

    Layers are processed one at a time over all ``T`` steps (a feed-forward chain without
    synaptic delay), so memory stays ``O(T · batch · width)``. ``reset``: a key of
    :data:`RESETS`.
    """
    if not 0.0 <= leak < 1.0:
        raise ValueError(f"dap_depth: leak must be in [0, 1), got {leak}")
    if reset not in RESETS:
        raise ValueError(f"dap_depth: reset must be one of {list(RESETS)}, got {reset!r}")
    step, initial = RESETS[reset]
    gen = torch.Generator().manual_seed(seed)
    current = torch.randn(batch, width, generator=gen).expand(T, batch, width)  # constant input
    var = torch.zeros(T, depth)
    spikes = torch.zeros(T, depth)
    x = None  # the previous layer's spikes [T, batch, width]
    for layer in range(depth):
        if x is not None:
            w = torch.randn(width, width, generator=gen) * _std(init, width, theta)
            current = x @ w.T
        state = initial(torch.zeros(batch, width))
        out = []
        for t in range(T):
            s, state, u = step(current[t], state, leak, theta)
            var[t, layer] = u.var(unbiased=False)
            spikes[t, layer] = s.sum() / batch
            out.append(s)
        x = torch.stack(out)
    return DepthResult(init, reset, var, spikes)


RESET_LABELS = {
    "eq13": "Eq. 13 (reset not leaked)",
    "spikefold": "spikefold LIF (leaked reset)",
}
INITS = ("dap", "kaiming")
FULL = {"depth": 100, "width": 1000, "steps": 20, "runs": 10, "batch": 4}
QUICK = {"depth": 20, "width": 200, "steps": 5, "runs": 2, "batch": 2}
REF_LAYER = 10  # the paper's plots start to separate here; Var[u_100] / Var[u_10] is reported


def _plot(results: dict, steps: int, path: Path, title: str) -> None:
    """``results[(init, reset, T)]``: one :class:`DepthResult` per run; mean and min-max band
    (first step; then both reset conventions at ``T = steps``, the leaked one dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    panels = {1: [("eq13", "-")], steps: [("eq13", "-"), ("spikefold", "--")]}
    for row, T in enumerate((1, steps)):
        for init, color in (("dap", "tab:blue"), ("kaiming", "tab:red")):
            for reset, style in panels[T]:
                runs = results[(init, reset, T)]
                var = torch.stack([r.var_mean for r in runs]).clamp_min(1e-6)
                spk = torch.stack([r.spikes.mean(0) for r in runs])
                layers = list(range(1, var.shape[1] + 1))
                label = init if T == 1 else f"{init}, {RESET_LABELS[reset]}"
                for ax, y in ((axes[row, 0], var), (axes[row, 1], spk)):
                    ax.plot(layers, y.mean(0), style, color=color, label=label)
                    ax.fill_between(
                        layers, y.min(0).values, y.max(0).values, color=color, alpha=0.2
                    )
        axes[row, 0].set_yscale("log")
        lab = "first step" if T == 1 else f"T={T}, time-averaged"
        axes[row, 0].set_ylabel(f"Var[u_l] ({lab}; 0 drawn at 1e-6)")
        axes[row, 1].set_ylabel(f"spikes per sample and step ({lab})")
        axes[row, 0].legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("layer l")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _first_below(v: torch.Tensor, level: float) -> int:
    """1-based index of the first layer whose value is below ``level`` (0 if none)."""
    idx = torch.nonzero(v < level)
    return int(idx.min()) + 1 if len(idx) else 0


def _summary(init: str, reset: str, T: int, runs: list[DepthResult]) -> dict:
    var = torch.stack([r.var_mean for r in runs])  # [runs, depth]; T = 1: the first step
    spikes = torch.stack([r.spikes_total for r in runs])  # per sample, summed over time
    ref = min(REF_LAYER, var.shape[1]) - 1
    alive = var[:, ref] > 0  # a ratio only where layer `ref` still varies
    ratio = var[alive, -1] / var[alive, ref]
    return {
        "init": init,
        "reset": reset,
        "T": T,
        "var_min": float(var.min()),
        "var_max": float(var.max()),
        "var_ref": float(var[:, ref].mean()),
        "var_last": float(var[:, -1].mean()),
        "ratio_min": float(ratio.min()) if len(ratio) else None,
        "ratio_max": float(ratio.max()) if len(ratio) else None,
        "spikes_ref": float(spikes[:, ref].mean()),
        "spikes_last": float(spikes[:, -1].mean()),
        "first_below": max(_first_below(r.var_mean, 1e-2) for r in runs),
        "deepest_min": min(r.last_active_layer() for r in runs),
        "deepest_max": max(r.last_active_layer() for r in runs),
    }


def measure(
    depth: int, width: int, steps: int, runs: int, batch: int, seed: int = 0, plot=None
) -> dict:
    """Both initialisations at ``T = 1`` (no reset acts yet) and at ``T = steps`` under each
    reset convention, ``runs`` fresh draws each; the JSON data of docs/results.md's table."""
    t0 = time.perf_counter()
    results: dict[tuple[str, str, int], list[DepthResult]] = {}
    for init in INITS:
        for reset, T in [("eq13", 1)] + [(r, steps) for r in RESETS]:
            results[(init, reset, T)] = [
                propagate(init, depth, width, T, batch=batch, seed=seed + k, reset=reset)
                for k in range(runs)
            ]
    if plot is not None:
        title = f"{depth} layers × {width} neurons, θ=1, β=0.5, soft reset, input N(0,1)"
        _plot(results, steps, Path(plot), title)
    return {
        "settings": {"depth": depth, "width": width, "steps": steps, "runs": runs,
                     "batch": batch, "seed": seed, "ref_layer": min(REF_LAYER, depth)},
        "rows": [_summary(i, r, T, v) for (i, r, T), v in results.items()],
        "plot": None if plot is None else Path(plot).name,
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip


def run(budget) -> dict:
    """The generator's entry (:mod:`experiments.all`)."""
    return measure(**(QUICK if budget.quick else FULL), plot=budget.img / "dap_depth.png")


def _g(x: float) -> str:
    return "0" if x == 0 else f"{x:.3g}"


def render(data: dict) -> dict[str, str]:
    st = data["settings"]
    ref, depth = st["ref_layer"], st["depth"]
    rows = []
    for r in data["rows"]:
        reset = "— (no reset yet)" if r["T"] == 1 else RESET_LABELS[r["reset"]]
        steps = "first step" if r["T"] == 1 else f"T = {r['T']}, time-averaged"
        rows.append([
            r["init"].upper() if r["init"] == "dap" else "Kaiming", reset, steps,
            f"{_g(r['var_min'])} .. {_g(r['var_max'])}",
            f"{_g(r['var_ref'])} → {_g(r['var_last'])}",
            "— (layer silent)" if r["ratio_min"] is None
            else f"{_g(r['ratio_min'])} .. {_g(r['ratio_max'])}",
            f"{r['spikes_ref']:,.0f} → {r['spikes_last']:,.0f}",
            r["first_below"] or "none",
            f"{r['deepest_min']}" if r["deepest_min"] == r["deepest_max"]
            else f"{r['deepest_min']}-{r['deepest_max']}",
        ])  # fmt: skip
    table = md_table(
        [
            "init", "reset", "steps", "Var[u_l], min..max over layers and runs",
            f"Var[u_{ref}] → Var[u_{depth}] (mean of runs)",
            f"Var[u_{depth}] / Var[u_{ref}], range over runs",
            f"spikes per sample, layer {ref} → {depth}",
            "first layer with Var < 1e-2 (latest run)", "deepest layer with spikes",
        ],
        rows,
    )  # fmt: skip
    sentences = []
    for r in data["rows"]:
        if r["init"] != "dap" or r["T"] == 1:
            continue
        sentences.append(
            f"With {RESET_LABELS[r['reset']]} at T = {r['T']}, DAP's Var[u_l] "
            f"{trend(r['var_ref'], r['var_last'])} between layers {ref} and {depth} "
            f"({_g(r['var_ref'])} → {_g(r['var_last'])}) and its spikes "
            f"{trend(r['spikes_ref'], r['spikes_last'], plural=True)} ({r['spikes_ref']:,.0f} → "
            f"{r['spikes_last']:,.0f} per sample)."
        )
    kai = [r for r in data["rows"] if r["init"] == "kaiming"]
    sentences.append(
        "Kaiming loses the activity in every setting: no spikes beyond layer "
        f"{max(r['deepest_max'] for r in kai)} in any run."
        if all(r["deepest_max"] < depth for r in kai)
        else "Kaiming keeps spikes to the last layer in some run."
    )
    head = (
        f"{depth} layers × {st['width']} LIF neurons, θ = 1, β = 0.5, {st['runs']} runs × "
        f"{st['batch']} inputs, {data['seconds']:.0f} s:"
    )
    body = f"{head}\n\n{table}\n\n" + " ".join(sentences)
    if data.get("plot"):
        body += f"\n\n![Var[u_l] and spikes per layer, DAP vs Kaiming](img/{data['plot']})"
    return {"dap_depth.table": body}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for key, value in FULL.items():
        p.add_argument(f"--{key}", type=int, default=value)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/img/dap_depth.png", help="PNG to write")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    data = measure(**{k: getattr(a, k) for k in FULL}, seed=a.seed, plot=a.out)
    print(render(data)["dap_depth.table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
