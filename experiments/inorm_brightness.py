"""I-Norm and error centring under a brightness shift (Eyono et al.; TECHNIQUES.md section 3).

A rate E-I MLP (2 hidden layers) on mnist5k with an additive brightness shift ``Δ ~ U(-ε, ε)``
per image (clamped to [0, 1], train and test): hard-coded LayerNorm (``LN``), I-Norm (inhibitory
populations trained by the local loss), I-Norm with GradNorm ``center`` and I-Norm with the
``lateral`` inhibitory error centring, over several seeds on a small budget.

Two training settings (:data:`SETTINGS`):

- ``paper``: the paper's section 4.4 — plain SGD (no momentum, no weight decay) at a constant
  rate, the local loss at its default weight ``λ_var = 1e-2``, and separate learning rates by
  parameter group (``train.param_groups``): ``η_exc`` for the excitatory weights and biases,
  ``η_wix`` for ``W_IX`` and ``B_IX`` (the inhibitory populations' input weights; in hidden
  layers only the local loss reaches them), ``η_wei`` for ``W_EI`` (the readout's; a hidden
  layer's ``W_EI`` is fixed). The rates lie inside the paper's sampling ranges (``η_exc`` in
  [1e-3, 1e-1], ``η_wix`` in [1e-2, 1], ``η_wei`` in [1e-5, 1e-2]).
- ``shared``: one learning rate for every parameter with a cosine decay, ``λ_var`` as given —
  what the trainer could do before it had parameter groups (``λ_var`` then doubles as the
  inhibitory rate's multiplier).

Prints markdown tables of the mean ± std test accuracy (and every seed's number).

Run: ``python -m experiments.inorm_brightness [--seeds 5 --epochs 8 --extra]``
(docs/results.md).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from experiments.results import md_table
from models.architectures import build_model
from toolchain.data import load_dataset
from toolchain.train import TrainConfig, TrainingDiverged, fit

__all__ = ["VARIANTS", "SETTINGS", "train_config", "measure", "run", "render", "main"]

VARIANTS: dict[str, dict] = {
    "LN": {"variant": "ln"},
    "I-Norm": {"variant": "inorm"},
    "I-Norm+center": {"variant": "inorm", "grad_norm": "center"},
    "I-Norm+lateral": {"variant": "inorm", "grad_norm": "lateral"},
}
EXTRA_VARIANTS: dict[str, dict] = {
    "DANN (no norm)": {"variant": "dann"},
    "I-Norm+full": {"variant": "inorm", "grad_norm": "full"},
}

#: setting -> λ_var and the train section (learning rates by parameter group)
SETTINGS: dict[str, dict] = {
    "paper": {
        "lambda_var": 1e-2,
        "train": {
            "optimizer": "sgd",
            "momentum": 0.0,
            "lr": 0.05,  # η_exc
            "schedule": "constant",
            "param_groups": [
                {"match": "*.w_ix", "lr": 1.0},  # η_wix
                {"match": "*.b_ix", "lr": 1.0},  # η_wix (the divisive population's)
                {"match": "*.w_ei", "lr": 1e-3},  # η_wei
            ],
        },
    },
    "shared": {
        "lambda_var": 1.0,
        "train": {"optimizer": "sgd", "momentum": 0.0, "lr": 0.05, "schedule": "cosine"},
    },
}
BASE = {"batch_size": 32, "T": 1, "encoding": "direct"}
FULL = {"settings": ("paper", "shared"), "seeds": 5, "epochs": 8, "eps": (0.0, 0.75), "extra": True}
QUICK = {"settings": ("paper",), "seeds": 1, "epochs": 1, "eps": (0.75,), "extra": False,
         "hidden": 32, "limit": 600}  # fmt: skip


def train_config(setting: str, variant: dict, **kw) -> TrainConfig:
    """The setting's train section for one variant (groups that match nothing are dropped:
    the LN and DANN nets have no ``b_ix``)."""
    train = dict(SETTINGS[setting]["train"])
    if variant.get("variant") != "inorm" and "param_groups" in train:
        train["param_groups"] = [g for g in train["param_groups"] if g["match"] != "*.b_ix"]
    return TrainConfig(**BASE, **train, **kw)


def run_one(setting: str, opts: dict, data, eps: float, seed: int, epochs: int, hidden: int):
    """Test accuracy of one run, or ``None`` when the loss became non-finite."""
    torch.manual_seed(seed)
    if opts.get("variant") == "inorm":
        opts = {**opts, "lambda_var": SETTINGS[setting]["lambda_var"]}
    net = build_model(
        {
            "arch": "inorm_mlp",
            "in_shape": list(data.in_shape),
            "num_classes": 10,
            "hidden": [hidden, hidden],
            **opts,
        }
    )
    cfg = train_config(
        setting, opts, epochs=epochs, seed=seed, augment_brightness=eps, progress=False
    )
    try:
        return float(fit(net, data, cfg)["test_accuracy"])
    except TrainingDiverged:
        return None


def measure(
    settings, seeds: int, epochs: int, eps, extra: bool, hidden: int = 128, limit=None
) -> dict:
    data = load_dataset("mnist5k", seed=0, limit=limit)
    variants = {**VARIANTS, **(EXTRA_VARIANTS if extra else {})}
    t0 = time.perf_counter()
    results = []
    for setting in settings:
        for e in eps:
            for label, opts in variants.items():
                accs = [run_one(setting, opts, data, e, s, epochs, hidden) for s in range(seeds)]
                results.append({"setting": setting, "eps": e, "variant": label, "acc": accs})
    return {
        "config": {"seeds": seeds, "epochs": epochs, "hidden": hidden, "limit": limit,
                   "settings": {k: SETTINGS[k] for k in settings}, "base": BASE},
        "results": results,
        "seconds": round(time.perf_counter() - t0),
    }  # fmt: skip


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`)."""
    torch.set_num_threads(1)
    return measure(**(QUICK if budget.quick else FULL))


def _cell(accs: list) -> str:
    ok = [a for a in accs if a is not None]
    each = "/".join("div." if a is None else f"{100 * a:.1f}" for a in accs)
    if not ok:
        return f"diverged ({each})"
    sd = statistics.stdev(ok) if len(ok) > 1 else 0.0
    return f"{100 * statistics.mean(ok):.1f} ± {100 * sd:.1f} ({each})"


def _mean(accs: list) -> float:
    ok = [a for a in accs if a is not None]
    return statistics.mean(ok) if ok else float("nan")


def render(data: dict) -> dict[str, str]:
    cfg = data["config"]
    out = {}
    for setting in cfg["settings"]:
        rs = [r for r in data["results"] if r["setting"] == setting]
        variants = list(dict.fromkeys(r["variant"] for r in rs))
        eps = list(dict.fromkeys(r["eps"] for r in rs))
        cell = {(r["eps"], r["variant"]): r["acc"] for r in rs}
        table = md_table(
            ["ε", *variants], [[f"{e:g}", *(_cell(cell[(e, v)]) for v in variants)] for e in eps]
        )
        # the paper's ordering, checked on the numbers: LN ≈ +center ≈ +lateral > I-Norm
        claims = []
        for e in eps:
            m = {v: _mean(cell[(e, v)]) for v in variants}
            if "I-Norm+center" in m and "I-Norm" in m:
                lift_c = 100 * (m["I-Norm+center"] - m["I-Norm"])
                lift_l = 100 * (m["I-Norm+lateral"] - m["I-Norm"])
                claims.append(
                    f"at ε = {e:g} error centring changes I-Norm's mean by {lift_c:+.1f} pp "
                    f"(`center`) and {lift_l:+.1f} pp (`lateral`), LN − I-Norm+center "
                    f"{100 * (m['LN'] - m['I-Norm+center']):+.1f} pp"
                )
        s = cfg["settings"][setting]
        head = (
            f"`{setting}` setting (λ_var = {s['lambda_var']:g}, train "
            f"`{_train_repr(s['train'])}`), hidden "
            f"[{cfg['hidden']}, {cfg['hidden']}], {cfg['epochs']} epochs, seeds "
            f"0-{cfg['seeds'] - 1}"
            + (f", {cfg['limit']} images" if cfg["limit"] else "")
            + ". Test accuracy in %, mean ± std (each seed):"
        )
        body = f"{head}\n\n{table}"
        if claims:
            body += "\n\nMeasured: " + "; ".join(claims) + "."
        out[f"inorm.{setting}"] = body
    return out


def _train_repr(train: dict) -> str:
    parts = [f"{k}: {v}" for k, v in train.items() if k != "param_groups"]
    for g in train.get("param_groups", []):
        parts.append(f"{g['match']}: lr {g['lr']:g}")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", nargs="+", default=list(FULL["settings"]), choices=SETTINGS)
    ap.add_argument("--seeds", type=int, default=FULL["seeds"])
    ap.add_argument("--epochs", type=int, default=FULL["epochs"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--eps", type=float, nargs="*", default=list(FULL["eps"]))
    ap.add_argument("--extra", action="store_true", help="also DANN without norm, GradNorm full")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = measure(args.settings, args.seeds, args.epochs, args.eps, args.extra, args.hidden)
    for body in render(data).values():
        print(body, "\n")
    print(f"({data['seconds']} s)")


if __name__ == "__main__":
    main()
