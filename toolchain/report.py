"""``make_report``: the spikes/operations/energy report of a run directory (DESIGN.md section 7).

    paths = make_report("runs/demo")          # -> ReportPaths(json, md, html) inside the run

Counts the run's hardware graph (``graph.fixed.npz`` when present, else ``graph.float.npz``)
on its dataset's test split with hwsim (:func:`hwsim.counters.count_run`), prices the counts
under the built-in models and any user TOML tables (:mod:`hwsim.energy`), reads
``verify.json``, and writes ``report.json``, ``report.md`` and ``report.html``
(:mod:`hwsim.report`). With ``lava_samples`` it also runs the first samples in Lava and counts
its probes with the same code (a cross-check of the counts on a second simulator).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hwsim.counters import Counts, count_result, count_run, needed_records
from hwsim.energy import BUILTIN_MODELS, PriceModel, load_price_model, price
from hwsim.errors import ConfigError
from hwsim.report import ReportPaths, build_report, write_report

__all__ = ["GRAPH_CHOICES", "resolve_models", "make_report", "lava_crosscheck"]

GRAPH_CHOICES = ("auto", "fixed", "float")


def resolve_models(
    models: Sequence[str | PriceModel] | None = None, tables: Sequence[str | Path] = ()
) -> list[PriceModel]:
    """Built-in model names (:data:`hwsim.energy.BUILTIN_MODELS`; all when None) or models,
    plus user TOML tables (:func:`hwsim.energy.load_price_model`)."""
    out: list[PriceModel] = []
    for m in BUILTIN_MODELS if models is None else models:
        if isinstance(m, PriceModel):
            out.append(m)
        elif m in BUILTIN_MODELS:
            out.append(BUILTIN_MODELS[m])
        else:
            raise ConfigError(f"unknown price model {m!r}; built-in: {sorted(BUILTIN_MODELS)}")
    out += [load_price_model(t) for t in tables]
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"price models must have distinct names, got {names}")
    return out


def _graph_path(run_dir: Path, which: str) -> Path:
    from toolchain.verify import GRAPH_FIXED, GRAPH_FLOAT

    if which not in GRAPH_CHOICES:
        raise ConfigError(f"graph must be one of {GRAPH_CHOICES}, got {which!r}")
    fixed, flt = run_dir / GRAPH_FIXED, run_dir / GRAPH_FLOAT
    if which == "fixed" or (which == "auto" and fixed.exists()):
        if not fixed.exists():
            raise ConfigError(f"{fixed} is missing: run `spikefold quantize {run_dir}` first")
        return fixed
    if not flt.exists():
        raise ConfigError(f"{flt} is missing: run `spikefold fold {run_dir}` first")
    return flt


def lava_crosscheck(graph, x: np.ndarray, samples: int, seed: int = 0) -> dict:
    """Count the first ``samples`` of ``x`` from a Lava run's probes and from hwsim (both in
    ``lava`` timing, same encoded inputs) with the same counting code; returns per-node totals
    of both and whether every count agrees."""
    from exporters.lava import run_lava_steps
    from hwsim.sim import encode_inputs, run_steps
    from toolchain.fold import to_lava_timing

    g = graph if graph.metadata.timing == "lava" else to_lava_timing(graph)
    inputs = encode_inputs(g, x[:samples], np.random.default_rng(seed))
    rec = needed_records(g)
    t0 = time.perf_counter()
    lava = count_result(g, run_lava_steps(g, inputs, record=rec))
    wall = time.perf_counter() - t0
    ours = count_result(g, run_steps(g, inputs, record=rec))
    diff = {}
    for name, la in ours.layers.items():
        for k, v in la.steps.items():
            other = lava.layers[name].steps.get(k)
            if other is not None and not np.array_equal(v, other):
                diff[f"{name}/{k}"] = [int(v.sum()), int(other.sum())]
    return {
        "samples": samples,
        "timing": "lava",
        "counts_equal": not diff,
        "differences": diff,
        "lava_seconds": round(wall, 1),
        "spikes_hwsim": ours.per_sample("out_events"),
        "spikes_lava": lava.per_sample("out_events"),
        "synops_hwsim": ours.per_sample("acs") + ours.per_sample("macs"),
        "synops_lava": lava.per_sample("acs") + lava.per_sample("macs"),
    }


def make_report(
    run_dir: str | Path,
    *,
    n: int | None = None,
    graph: str = "auto",
    models: Sequence[str | PriceModel] | None = None,
    tables: Sequence[str | Path] = (),
    batch_size: int = 64,
    seed: int = 0,
    lava_samples: int = 0,
    progress: bool = False,
    out_dir: str | Path | None = None,
) -> ReportPaths:
    """Write the report of ``run_dir`` (into ``out_dir``, default ``run_dir``) and return the
    paths of ``report.json``, ``report.md`` and ``report.html``.

    ``n`` first test samples (all by default); ``graph`` ``auto`` (fixed if quantised, else
    float), ``fixed`` or ``float``; ``models`` built-in names or :class:`PriceModel` objects
    (default: all built-in), ``tables`` user TOML price tables; ``seed`` of rate-encoded
    inputs; ``lava_samples`` > 0 adds a Lava cross-check of the counts on that many samples.
    Raises :class:`ConfigError` for a missing graph, unknown model or bad table.
    """
    from hwsim.io import load_graph
    from hwsim.verify import read_verify_json
    from toolchain.config import RunConfig, load_config
    from toolchain.pipeline import CONFIG, load_run_data
    from toolchain.verify import VERIFY_JSON

    run_dir = Path(run_dir)
    priced = resolve_models(models, tables)
    gpath = _graph_path(run_dir, graph)
    g = load_graph(gpath)
    cfg = RunConfig.from_dict(load_config(run_dir / CONFIG))
    data = load_run_data(cfg)
    x = data.x_test[:n].numpy().astype(np.float64)
    y = data.y_test[:n].numpy()
    (inp,) = g.input_names()
    if g.nodes[inp].encoding == "spikes":
        raise ConfigError(f"input {inp!r} takes spike trains; a dataset of frames cannot feed it")
    t0 = time.perf_counter()
    counts: Counts
    counts, preds, _ = count_run(
        g, x, batch_size, generator=np.random.default_rng(seed), progress=progress,
        with_result=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    pricings = [price(counts, m) for m in priced]
    meta = {
        "run_dir": str(run_dir),
        "graph": gpath.name,
        "format": g.metadata.format,
        "timing": g.metadata.timing,
        "T": g.metadata.T,
        "dataset": cfg.data.dataset,
        "samples": counts.samples,
        "accuracy": None if preds is None else round(float(np.mean(preds == y)), 4),
        "counted_by": "hwsim",
        "count_seconds": round(wall, 2),
        "command": f"spikefold report {run_dir}" + (f" --n {n}" if n else ""),
    }
    extra = {}
    if lava_samples:
        extra["lava_crosscheck"] = lava_crosscheck(g, x, lava_samples, seed)
    verify_path = run_dir / VERIFY_JSON
    verify = read_verify_json(verify_path) if verify_path.exists() else None
    rep = build_report(counts, pricings, verify=verify, meta=meta, extra=extra)
    return write_report(run_dir if out_dir is None else out_dir, rep)
