"""``make_report``: the report of a run directory — the deployment story and its energy.

    paths = make_report("runs/demo")          # -> ReportPaths(json, md, html) inside the run

Reads what the stages wrote (``metrics.json``, ``verify.json``, the graphs, the exported
models) into the stage table; counts the run's hardware graph (``graph.fixed.npz`` when
present, else ``graph.float.npz``) on its dataset's test split with hwsim
(:func:`hwsim.counters.count_run`) **in the timing of each exported target**: ``ideal`` (hwsim,
ONNX, NIR) and, when the network was exported to Lava, ``lava`` (Lava's Dense/Conv deliver one
step late: ``T + depth`` steps per sample) — the Lava deployment's energy is priced on the
timing it runs in, and the difference is shown. Prices the counts under the built-in models and
any user TOML tables (:mod:`hwsim.energy`, :mod:`hwsim.pricing`), and writes ``report.json``,
``report.md`` and ``report.html`` (:mod:`hwsim.report`). A target that has neither an artifact
nor a rung is asked whether it can express the network at all; its refusal (the exporter's
:class:`~hwsim.errors.ExportError`) is shown with the reason. With ``lava_samples`` the first
samples also run in Lava and its probes are counted with the same code (a cross-check).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from hwsim.counters import count_result, count_run, needed_records
from hwsim.energy import BUILTIN_MODELS, PriceModel, load_price_model
from hwsim.errors import ConfigError, ExportError
from hwsim.graph import HardwareGraph
from hwsim.pricing import price
from hwsim.report import PricedRun, ReportPaths, build_report, stage_table, write_report
from toolchain import rundir

__all__ = [
    "GRAPH_CHOICES",
    "TIMING_CHOICES",
    "resolve_models",
    "resolve_graph",
    "exported_targets",
    "make_report",
    "report_run",
    "report_options",
    "lava_crosscheck",
]

GRAPH_CHOICES = ("auto", "fixed", "float")
TIMING_CHOICES = ("auto", "ideal", "lava")

# target -> (its files in a run directory, its rung, the timing it runs in)
TARGETS = {
    "lava": ((rundir.LAVA_JSON, rundir.LAVA_FLOAT_JSON), "2", "lava"),
    "onnx": (tuple(rundir.ONNX_MODELS.values()), "3", "ideal"),
    "nir": ((rundir.MODEL_NIR,), "4", "ideal"),
}


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


def resolve_graph(run_dir: str | Path, which: str = "auto") -> Path:
    """The graph file of ``run_dir``: ``fixed`` (``graph.fixed.npz``), ``float``
    (``graph.float.npz``) or ``auto`` (fixed when quantised, else float). Raises
    :class:`ConfigError` naming the missing file and the command that writes it."""
    run_dir = Path(run_dir)
    if which not in GRAPH_CHOICES:
        raise ConfigError(f"graph must be one of {GRAPH_CHOICES}, got {which!r}")
    fixed, flt = run_dir / rundir.GRAPH_FIXED, run_dir / rundir.GRAPH_FLOAT
    if which == "fixed" or (which == "auto" and fixed.exists()):
        if not fixed.exists():
            raise ConfigError(f"{fixed} is missing: run `spikefold quantize {run_dir}` first")
        return fixed
    if not flt.exists():
        raise ConfigError(f"{flt} is missing: run `spikefold fold {run_dir}` first")
    return flt


def _artifact(run_dir: Path, files: Sequence[str]) -> str | None:
    return next((f for f in files if (run_dir / f).exists()), None)


def exported_targets(run_dir: str | Path, verify: dict) -> list[str]:
    """The targets this run was exported to: their file exists or their rung ran (a refusal
    recorded in ``verify.json`` is no export)."""
    run_dir, rungs = Path(run_dir), verify.get("rungs", {})
    out = []
    for target, (files, rung, _) in TARGETS.items():
        entry = rungs.get(rung)
        refused = entry is not None and entry.get("status") == "refused"
        if not refused and (_artifact(run_dir, files) or entry is not None):
            out.append(target)
    return out


def _probe_lava(run_dir: Path) -> None:
    from exporters.lava.translate import translate
    from toolchain.fold.timing import to_lava_timing

    translate(to_lava_timing(_load(run_dir, "fixed")))


def _probe_onnx(run_dir: Path) -> None:
    from exporters.onnx import export_onnx

    export_onnx(_load(run_dir, "fixed"))


def _probe_nir(run_dir: Path) -> None:
    from exporters.nir_export import to_nir

    to_nir(_load(run_dir, "float"))


_PROBES: dict[str, Callable[[Path], None]] = {
    "lava": _probe_lava, "onnx": _probe_onnx, "nir": _probe_nir,
}  # fmt: skip


def _load(run_dir: Path, which: str) -> HardwareGraph:
    from hwsim.io import load_graph

    return load_graph(resolve_graph(run_dir, which))


def _refusals(run_dir: Path, verify: dict) -> dict[str, str]:
    """Per target neither exported nor checked: the exporter's reason for refusing the network
    (targets that would accept it, or whose graph is not there yet, are not listed)."""
    done = set(exported_targets(run_dir, verify)) | {
        t for t, (_, rung, _) in TARGETS.items() if rung in verify.get("rungs", {})
    }
    out = {}
    for target, probe in _PROBES.items():
        if target in done:
            continue
        try:
            probe(run_dir)
        except ExportError as exc:
            out[target] = str(exc)
        except ConfigError:  # its graph is not written yet: nothing to ask
            continue
    return out


def _commands(run_dir: Path) -> dict[str, str]:
    quantised = (run_dir / rundir.GRAPH_FIXED).exists()
    return {
        "float": f"spikefold verify {run_dir}",
        "fixed": f"spikefold {'verify' if quantised else 'quantize'} {run_dir}",
        "lava": f"spikefold export lava {run_dir} --verify",
        "onnx": f"spikefold export onnx {run_dir} --verify",
        "nir": f"spikefold export nir {run_dir} --verify",
    }


def _torch_accuracy(run_dir: Path, test_samples: int) -> tuple[float, int] | None:
    """The trained network's final test accuracy (``metrics.json``) and the test set size."""
    path = run_dir / rundir.METRICS
    if not path.exists():
        return None
    history = json.loads(path.read_text(encoding="utf-8"))
    acc = history[-1].get("test_accuracy") if isinstance(history, list) and history else None
    return None if acc is None else (float(acc), test_samples)


def _timings(requested: str, stored: str, exported: list[str]) -> list[str]:
    """The timings to price, primary first (module docstring)."""
    if requested not in TIMING_CHOICES:
        raise ConfigError(f"--timing must be one of {TIMING_CHOICES}, got {requested!r}")
    if requested == "ideal" and stored == "lava":
        raise ConfigError("the graph is stored in lava timing; it has no ideal-timing run")
    if requested != "auto":
        return [requested]
    if stored == "lava":
        return ["lava"]
    return ["lava", "ideal"] if "lava" in exported else ["ideal"]


def lava_crosscheck(graph, x: np.ndarray, samples: int, seed: int = 0) -> dict:
    """Count the first ``samples`` of ``x`` from a Lava run's probes and from hwsim (both in
    ``lava`` timing, same encoded inputs) with the same counting code; returns per-node totals
    of both and whether every count agrees."""
    from exporters.lava import run_lava_steps
    from hwsim.sim import encode_inputs, run_steps
    from toolchain.fold import to_lava_timing

    g = graph if graph.metadata.timing == "lava" else to_lava_timing(graph)
    spikes = g.nodes[g.input_names()[0]].encoding == "spikes"  # samples on axis 1 of [T, N, ...]
    head = x[:, :samples] if spikes else x[:samples]
    inputs = encode_inputs(g, head, np.random.default_rng(seed))
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
    timing: str = "auto",
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

    ``n`` first test samples counted (all by default); ``graph`` ``auto`` (fixed if quantised,
    else float), ``fixed`` or ``float``; ``timing`` ``auto`` (``lava`` when the run was
    exported to Lava, and ``ideal``; the first is the primary), ``ideal`` or ``lava``;
    ``models`` built-in names or :class:`PriceModel` objects (default: all built-in),
    ``tables`` user TOML price tables; ``seed`` of rate-encoded inputs; ``lava_samples`` > 0
    adds a Lava cross-check of the counts on that many samples. Raises :class:`ConfigError`
    for a missing graph, unknown model or timing, or a bad table.
    """
    from hwsim.io import load_graph
    from hwsim.verify import read_verify_json
    from toolchain.config import RunConfig, load_config
    from toolchain.fold.timing import to_lava_timing
    from toolchain.pipeline import load_run_data

    run_dir = Path(run_dir)
    priced = resolve_models(models, tables)
    gpath = resolve_graph(run_dir, graph)
    g = load_graph(gpath)
    verify = read_verify_json(run_dir / rundir.VERIFY_JSON)
    exported = exported_targets(run_dir, verify)
    timings = _timings(timing, g.metadata.timing, exported)
    cfg = RunConfig.from_dict(load_config(run_dir / rundir.CONFIG))
    data = load_run_data(cfg)
    x = data.inputs("test", n)  # frames [n, ...] or spike trains [T, n, ...]
    y = data.y_test[:n].numpy()
    runs, t0 = [], time.perf_counter()
    for t in timings:
        gt = to_lava_timing(g) if t == "lava" else g
        counts, preds, _ = count_run(
            gt, x, batch_size, generator=np.random.default_rng(seed), progress=progress,
            with_result=True,
        )  # fmt: skip
        targets = ("lava",) if t == "lava" else ("hwsim", *(e for e in exported if e != "lava"))
        acc = None if preds is None else float(np.mean(preds == y))
        runs.append(PricedRun(t, targets, gt, counts, tuple(price(counts, m) for m in priced), acc))
    wall = time.perf_counter() - t0
    meta = {
        "run_dir": str(run_dir),
        "run_name": cfg.name,
        "graph": gpath.name,
        "format": g.metadata.format,
        "T": g.metadata.T,
        "dataset": cfg.data.dataset,
        "samples": runs[0].counts.samples,
        "accuracy": runs[0].accuracy,
        "counted_by": "hwsim",
        "count_seconds": round(wall, 2),
        "command": f"spikefold report {run_dir}" + (f" --n {n}" if n else ""),
    }
    weight_bits = g.metadata.widths.weight_bits if g.metadata.widths is not None else None
    stages = stage_table(
        verify,
        artifacts={
            "torch": _artifact(run_dir, (rundir.CHECKPOINT,)),
            "float": _artifact(run_dir, (rundir.GRAPH_FLOAT,)),
            "fixed": _artifact(run_dir, (rundir.GRAPH_FIXED,)),
            **{t: _artifact(run_dir, files) for t, (files, _, _) in TARGETS.items()},
        },
        refusals=_refusals(run_dir, verify),
        torch_accuracy=_torch_accuracy(run_dir, len(data.y_test)),
        commands=_commands(run_dir),
        weight_bits=weight_bits,
    )
    extra = {}
    if lava_samples:
        extra["lava_crosscheck"] = lava_crosscheck(g, x, lava_samples, seed)
    rep = build_report(runs, stages=stages, verify=verify if verify["rungs"] else None,
                       meta=meta, extra=extra)  # fmt: skip
    return write_report(run_dir if out_dir is None else out_dir, rep)


def report_options(
    n: int | None = None,
    graph: str = "auto",
    timing: str = "auto",
    models: Sequence[str] | None = None,
    tables: Sequence[str | Path] = (),
    seed: int = 0,
    lava_samples: int = 0,
) -> dict:
    """The options that change a report (its provenance record)."""
    return {
        "n": n,
        "graph": graph,
        "timing": timing,
        "models": None if models is None else list(models),
        "tables": [str(Path(t).resolve()) for t in tables],
        "seed": seed,
        "lava_samples": lava_samples,
    }


def report_run(run_dir: str | Path, **kwargs) -> ReportPaths:
    """:func:`make_report` (same keyword arguments, ``models`` by name) on a run directory
    under its lock: what it shows — the graph it counts, ``config.yaml``, ``metrics.json``, the
    exported models and every rung of ``verify.json`` — is refused when stale, and the report's
    files record what they were made from (the user's price tables included, by content)."""
    from hwsim.verify import read_verify_json
    from toolchain import provenance

    run_dir = Path(run_dir)
    names = ("n", "graph", "timing", "models", "tables", "seed", "lava_samples")
    opts = report_options(**{k: kwargs[k] for k in names if k in kwargs})
    with provenance.run_lock(run_dir, "spikefold report"):
        gpath = resolve_graph(run_dir, opts["graph"])
        rungs = read_verify_json(run_dir / rundir.VERIFY_JSON)["rungs"]
        shown = [rundir.CONFIG, rundir.METRICS, *(f for fs, _, _ in TARGETS.values() for f in fs)]
        inputs = [
            gpath.name,
            *(f for f in shown if (run_dir / f).is_file()),
            *(provenance.rung_key(r) for r in rungs),
            *opts["tables"],
        ]
        provenance.require_fresh(run_dir, inputs)
        paths = make_report(run_dir, **kwargs)
        if kwargs.get("out_dir") is None:
            flags = "" if opts["n"] is None else f" --n {opts['n']}"
            provenance.record(
                run_dir, "report", "spikefold report {run}" + flags, rundir.REPORT_FILES,
                inputs, opts,
            )  # fmt: skip
    return paths
