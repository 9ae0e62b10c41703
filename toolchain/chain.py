"""``spikefold run``: the whole chain on one run directory, resumable.

    result = run_chain("configs/osr_ots_mnist5k.yaml")     # or a run directory
    result.ok        # every rung that was run (or is on disk, unchanged) passed

Stages, in order (:data:`STAGES`): ``train`` -> ``fold`` -> ``quantize`` -> ``verify`` (rungs 0
and 1) -> ``lava`` (+ rung 2) -> ``onnx`` (+ rung 3) -> ``nir`` (+ rung 4) -> ``report``.

* **Resumable.** A stage whose artifacts are on disk, were made with the options asked for now,
  and whose inputs are unchanged (:func:`toolchain.provenance.is_current`) is skipped and says
  so; a stage whose inputs changed is rebuilt, and so is everything after it. An interrupted
  training resumes from its checkpoint.
* **Training is never thrown away silently.** A run directory trained with a different config
  (anything but more epochs) is refused unless ``overwrite``.
* **A target that refuses the network** (NIR for a soft-reset net) is reported with its reason
  and the chain goes on; the refusal is remembered while the inputs are unchanged. Any other
  error of a target is reported and the chain goes on to the next; an error in train, fold,
  quantize or verify stops it (everything after depends on them).
* ``runs/<name>/summary.json`` holds every stage's status, seconds and headline numbers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hwsim.errors import ConfigError, SpikefoldError
from hwsim.io import atomic_write_text
from hwsim.verify import read_verify_json, remove_rungs
from toolchain import provenance, rundir
from toolchain.exports import (
    REFUSALS,
    TARGETS,
    export_lava_run,
    export_nir_run,
    export_onnx_run,
    lava_options,
    nir_options,
    onnx_options,
    rung_options,
)

__all__ = ["STAGES", "ChainOptions", "StageResult", "ChainResult", "run_chain"]

STAGES = ("train", "fold", "quantize", "verify", *TARGETS, "report")


@dataclass(frozen=True)
class ChainOptions:
    """How ``spikefold run`` runs each stage. ``n``: test samples of rungs 0, 1, 3, 4 and the
    report (None: the whole test split); ``lava_n``: samples of rung 2 (Lava's simulator is
    slow); ``reference_samples``: of those, run in ``onnx.reference`` too."""

    targets: tuple[str, ...] = TARGETS
    until: str = "report"
    weight_bits: int = 8
    n: int | None = None
    lava_n: int = 32
    reference_samples: int = 8
    seed: int = 0
    overwrite: bool = False
    progress: bool = False


@dataclass(frozen=True)
class StageResult:
    """``status``: ``ran``, ``skipped`` (inputs unchanged), ``refused`` (the target cannot
    express the network; ``message`` says why), ``error``; ``passed`` whether its rungs passed
    (None for a stage without rungs); ``detail`` its headline numbers."""

    name: str
    status: str
    seconds: float = 0.0
    message: str = ""
    passed: bool | None = None
    detail: dict = field(default_factory=dict)

    def line(self) -> str:
        head = f"{self.name:<8} {self.status}"
        if self.status == "ran":
            head += f" in {self.seconds:.1f} s"
        return f"{head}: {self.message}" if self.message else head


@dataclass(frozen=True)
class ChainResult:
    run_dir: Path
    stages: tuple[StageResult, ...]
    summary: dict

    @property
    def ok(self) -> bool:
        """No stage failed and every rung passed (refused targets do not count against)."""
        return _ok(self.stages)


def _ok(stages) -> bool:
    return all(s.status != "error" and s.passed is not False for s in stages)


# ---------------------------------------------------------------------------------------------
# the stages after train: what each makes (with its options) and how


@dataclass(frozen=True)
class _Ctx:
    run_dir: Path
    opts: ChainOptions
    n_test: int  # samples in the run's test split
    graph_only: bool = False  # a float graph without a checkpoint (e.g. imported from NIR)

    @property
    def n(self) -> int:
        return self.n_test if self.opts.n is None else min(self.opts.n, self.n_test)


@dataclass(frozen=True)
class _Stage:
    name: str
    wanted: Callable[[_Ctx], dict[str, dict]]
    make: Callable[[_Ctx], object]
    rungs: tuple[int, ...] = ()


def _fold(c: _Ctx):
    from toolchain.fold import fold_run

    return fold_run(c.run_dir)


def _quantize_options(c: _Ctx) -> dict:
    from toolchain.quantize.run import quantize_options

    return quantize_options(c.opts.weight_bits)


def _quantize(c: _Ctx):
    from toolchain.quantize import quantize_run

    return quantize_run(c.run_dir, c.opts.weight_bits)


def _rungs(c: _Ctx) -> tuple[int, ...]:
    return (1,) if c.graph_only else (0, 1)  # rung 0 compares against the torch network


def _verify(c: _Ctx):
    from toolchain.verify import verify_run

    return verify_run(c.run_dir, n=c.n, rungs=_rungs(c), seed=c.opts.seed, progress=c.opts.progress)


def _report_options(c: _Ctx) -> dict:
    from toolchain.report import report_options

    return report_options(n=c.n, seed=c.opts.seed)


def _report(c: _Ctx):
    from toolchain.report import report_run

    return report_run(c.run_dir, n=c.n, seed=c.opts.seed, progress=c.opts.progress)


def _both(keys, options: dict) -> dict[str, dict]:
    return {k: options for k in keys}


_AFTER_TRAIN = (
    _Stage(
        "fold",
        lambda c: _both((rundir.GRAPH_FLOAT, rundir.FOLD_JSON), _fold_options()),
        _fold,
    ),
    _Stage(
        "quantize",
        lambda c: _both((rundir.GRAPH_FIXED, rundir.QUANTIZE_REPORT), _quantize_options(c)),
        _quantize,
    ),
    _Stage(
        "verify",
        lambda c: _both([provenance.rung_key(r) for r in _rungs(c)], _verify_options(c)),
        _verify,
        (0, 1),
    ),
    _Stage(
        "lava",
        lambda c: {
            rundir.LAVA_JSON: lava_options(),
            provenance.rung_key(2): rung_options(c.opts.lava_n, c.opts.seed),
        },
        lambda c: export_lava_run(
            c.run_dir,
            verify_n=min(c.opts.lava_n, c.n_test),
            seed=c.opts.seed,
            progress=c.opts.progress,
        ),  # fmt: skip
        (2,),
    ),
    _Stage(
        "onnx",
        lambda c: {
            **_both(rundir.ONNX_MODELS.values(), onnx_options()),
            provenance.rung_key(3): rung_options(
                c.n, c.opts.seed, reference_samples=c.opts.reference_samples
            ),
        },
        lambda c: export_onnx_run(
            c.run_dir,
            verify_n=c.n,
            reference_samples=c.opts.reference_samples,
            seed=c.opts.seed,
            progress=c.opts.progress,
        ),  # fmt: skip
        (3,),
    ),
    _Stage(
        "nir",
        lambda c: {
            rundir.MODEL_NIR: nir_options(),
            provenance.rung_key(4): rung_options(c.n, c.opts.seed, dt=1.0),
        },
        lambda c: export_nir_run(c.run_dir, verify_n=c.n, seed=c.opts.seed),
        (4,),
    ),
    _Stage(
        "report",
        lambda c: _both(rundir.REPORT_FILES, _report_options(c)),
        _report,
    ),
)


def _fold_options() -> dict:
    from toolchain.fold.run import fold_options

    return fold_options()


def _verify_options(c: _Ctx) -> dict:
    from toolchain.verify import verify_options

    return verify_options(c.n, c.opts.seed)


# ---------------------------------------------------------------------------------------------
# train


def _load_source(source: Path, runs_root: Path):
    """(run config, run directory) of a config file or a run directory."""
    from toolchain.config import RunConfig, load_config

    if source.is_dir():
        if not (source / rundir.CONFIG).is_file():
            raise ConfigError(
                f"{source}: not a run directory (no {rundir.CONFIG}); give a config file"
            )
        return RunConfig.from_dict(load_config(source / rundir.CONFIG)), source
    cfg = RunConfig.from_dict(load_config(source))
    return cfg, runs_root / cfg.name


def _train(cfg, run_dir: Path, opts: ChainOptions) -> str:
    """Train, resume or keep the run's training; returns what was done."""
    from toolchain.pipeline import (
        RESUMABLE_CHANGES,
        TRAIN_OUTPUTS,
        config_changes,
        train_options,
        train_run,
    )
    from toolchain.train import load_checkpoint

    ckpt_path = run_dir / rundir.CHECKPOINT
    if not ckpt_path.is_file():
        train_run(cfg, runs_root=run_dir.parent, overwrite=True)
        return "trained"
    ckpt = load_checkpoint(ckpt_path)
    saved = ckpt.get("meta", {}).get("run_config", {})
    changed = {
        k: v for k, v in config_changes(saved, cfg.to_dict()).items() if k not in RESUMABLE_CHANGES
    }
    records = provenance.read_manifest(run_dir)
    if not changed and int(ckpt["epoch"]) < cfg.train.epochs:
        train_run(cfg, runs_root=run_dir.parent, resume=True)
        return f"resumed from epoch {ckpt['epoch']}"
    same_epochs = saved.get("train", {}).get("epochs") == cfg.train.epochs
    if not changed and same_epochs and rundir.CHECKPOINT not in records:
        # a run trained before provenance existed, with this very config: adopt it
        provenance.record(run_dir, "train", "spikefold run {run} --until train", TRAIN_OUTPUTS,
                          options=train_options(cfg))  # fmt: skip
        return "kept the existing training (same config), recorded its provenance"
    if not opts.overwrite:
        what = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        why = f"was trained with a different config ({what})" if changed else (
            "holds a checkpoint that is not the one its training recorded"
        )  # fmt: skip
        raise ConfigError(
            f"{run_dir} {why}; pass --overwrite to retrain it (deletes its artifacts), or give "
            "the config another name"
        )
    train_run(cfg, runs_root=run_dir.parent, overwrite=True)
    return "retrained (--overwrite)"


# ---------------------------------------------------------------------------------------------
# the chain


def run_chain(
    source: str | Path,
    runs_root: str | Path = "runs",
    options: ChainOptions = ChainOptions(),
    say: Callable[[str], None] = print,
) -> ChainResult:
    """Run the chain on ``source`` (a config file: into ``runs_root/<name>``; or a run
    directory) as described in the module docstring, reporting each stage through ``say``;
    writes ``summary.json`` into the run directory."""
    from toolchain.pipeline import TRAIN_OUTPUTS, train_options

    opts = options
    if opts.until not in STAGES:
        raise ConfigError(f"--until {opts.until!r}: valid stages are {', '.join(STAGES)}")
    if opts.until in TARGETS and opts.until not in opts.targets:
        raise ConfigError(f"--until {opts.until} names a target that --targets leaves out")
    unknown = set(opts.targets) - set(TARGETS)
    if unknown:
        raise ConfigError(f"--targets: unknown {sorted(unknown)}; valid: {', '.join(TARGETS)}")
    t_start = time.perf_counter()
    cfg, run_dir = _load_source(Path(source), Path(runs_root))
    cfg.train.progress = opts.progress
    results: list[StageResult] = []
    graph_only = (
        not (run_dir / rundir.CHECKPOINT).exists() and (run_dir / rundir.GRAPH_FLOAT).exists()
    )
    with provenance.run_lock(run_dir, f"spikefold run {source}"):
        wanted = _both(TRAIN_OUTPUTS, train_options(cfg))
        if graph_only:
            message = "graph-only run (a float graph, no checkpoint): nothing to train or fold"
            results.append(StageResult("train", "skipped", message=message))
        elif provenance.is_current(run_dir, wanted):
            results.append(StageResult("train", "skipped", message="inputs unchanged"))
        else:
            say(f"train    ... ({run_dir})")
            t0 = time.perf_counter()
            done = _train(cfg, run_dir, opts)
            results.append(StageResult("train", "ran", time.perf_counter() - t0, done))
        results[-1] = replace(results[-1], detail=_train_detail(run_dir))
        say(results[-1].line())
        ctx = _Ctx(run_dir, opts, _test_size(cfg), graph_only)
        stages = [s for s in _AFTER_TRAIN if s.name not in TARGETS or s.name in opts.targets]
        if graph_only:
            stages = [s for s in stages if s.name != "fold"]
        for stage in stages[: _stop_index(stages, opts.until)]:
            if stage.name == "report":
                _drop_stale(ctx, say)
            result = _run_stage(stage, ctx, say)
            results.append(result)
            say(result.line())
            if result.status == "error" and stage.name not in (*TARGETS, "report"):
                break  # the stages after it read what it failed to make
        summary = _summary(run_dir, cfg, results, time.perf_counter() - t_start)
        atomic_write_text(run_dir / rundir.SUMMARY, json.dumps(summary, indent=2) + "\n")
    return ChainResult(run_dir, tuple(results), summary)


def _drop_stale(c: _Ctx, say) -> None:
    """Artifacts of a target this run does not build (``--targets``) that an earlier run left
    stale are removed (its files and its rung's entry), each with a line saying so: the report
    then shows only what holds for the graphs on disk."""
    from toolchain.report import TARGETS as TARGET_FILES  # target -> (files, rung, timing)

    rungs, keys = [], []
    for target in sorted(set(TARGETS) - set(c.opts.targets)):
        files, rung, _ = TARGET_FILES[target]
        for key in (*files, provenance.rung_key(rung)):
            found = provenance.stale(c.run_dir, key)
            if found is None:
                continue
            say(f"removed {key}: stale ({found.why}) and {target} is not in --targets")
            keys.append(key)
            if "#" in key:
                rungs.append(rung)
            else:
                (c.run_dir / key).unlink(missing_ok=True)
    if rungs:
        remove_rungs(c.run_dir / rundir.VERIFY_JSON, rungs)
    provenance.forget(c.run_dir, keys)


def _stop_index(stages, until: str) -> int:
    if until == "train":
        return 0
    return next(i for i, s in enumerate(stages) if s.name == until) + 1


def _test_size(cfg) -> int:
    from toolchain.pipeline import load_run_data

    return int(len(load_run_data(cfg).y_test))


def _run_stage(stage: _Stage, c: _Ctx, say) -> StageResult:
    why = provenance.why_rebuild(c.run_dir, stage.wanted(c))
    if why is None:
        refused = provenance.refusals(c.run_dir)
        reason = next((refused[k] for k in stage.wanted(c) if k in refused), None)
        message = "inputs unchanged" + (f"; refused: {reason}" if reason else "")
        return _with_rungs(StageResult(stage.name, "skipped", message=message), stage, c)
    say(f"{stage.name:<8} ... ({why})")
    t0 = time.perf_counter()
    try:
        stage.make(c)
    except REFUSALS as exc:
        if stage.name not in TARGETS:
            raise
        return StageResult(stage.name, "refused", time.perf_counter() - t0, str(exc))
    except SpikefoldError as exc:
        return StageResult(stage.name, "error", time.perf_counter() - t0, str(exc))
    return _with_rungs(StageResult(stage.name, "ran", time.perf_counter() - t0), stage, c)


def _with_rungs(result: StageResult, stage: _Stage, c: _Ctx) -> StageResult:
    """The stage's rung verdicts and headline numbers, read back from disk (the same whether
    it ran now or is unchanged from an earlier run)."""
    rungs = read_verify_json(c.run_dir / rundir.VERIFY_JSON)["rungs"]
    detail = _DETAILS.get(stage.name, lambda run_dir: {})(c.run_dir)
    mine = {  # a refusal is no verdict (the stage says it was refused)
        f"rung{r}": rungs[str(r)]
        for r in stage.rungs
        if str(r) in rungs and rungs[str(r)].get("status") != "refused"
    }
    passed = None
    if mine:
        passed = all(bool(e.get("passed")) for e in mine.values())
        detail.update({k: {"passed": e.get("passed"), "summary": e.get("summary")}
                       for k, e in mine.items()})  # fmt: skip
    message = result.message
    if mine and result.status == "ran":
        message = "; ".join(e.get("summary", "") for e in mine.values())
    return replace(result, passed=passed, detail=detail, message=message)


def _json(path: Path) -> dict | list:
    return provenance.read_json(path, (dict, list)) if path.is_file() else {}


def _train_detail(run_dir: Path) -> dict:
    history = _json(run_dir / rundir.METRICS)
    last = history[-1] if history else {}
    return {"epochs": last.get("epoch"), "test_accuracy": last.get("test_accuracy")}


def _verify_detail(run_dir: Path) -> dict:
    r1 = read_verify_json(run_dir / rundir.VERIFY_JSON)["rungs"].get("1", {})
    m = r1.get("metrics", {})
    return {"float_test_accuracy": m.get("accuracy_float"),
            "fixed_test_accuracy": m.get("accuracy_fixed")}  # fmt: skip


def _report_detail(run_dir: Path) -> dict:
    rep = _json(run_dir / rundir.REPORT_FILES[0])
    h = rep.get("headline", {})
    return {
        "html": str(run_dir / rundir.REPORT_FILES[2]),
        "spikes_per_sample": h.get("spikes_per_sample"),
        "synaptic_ops_per_sample": h.get("synaptic_ops_per_sample"),
        "energy_per_sample": {k: e.get("snn") for k, e in h.get("energy", {}).items()},
    }


_DETAILS: dict[str, Callable[[Path], dict]] = {
    "fold": lambda d: {"nodes": _json(d / rundir.FOLD_JSON).get("nodes")},
    "quantize": lambda d: {
        "weight_bits": _json(d / rundir.QUANTIZE_REPORT).get("settings", {}).get("weight_bits")
    },
    "verify": _verify_detail,
    "report": _report_detail,
}


def _summary(run_dir: Path, cfg, results: list[StageResult], wall: float) -> dict:
    stages = {
        r.name: {
            "status": r.status,
            "seconds": round(r.seconds, 2),
            "message": r.message,
            "passed": r.passed,
            **r.detail,
        }  # fmt: skip
        for r in results
    }
    return {
        "run_dir": str(run_dir),
        "name": cfg.name,
        "dataset": cfg.data.dataset,
        "arch": cfg.model.get("arch"),
        "T": cfg.train.T,
        "passed": _ok(results),
        "test_accuracy": stages["train"].get("test_accuracy"),
        "fixed_test_accuracy": stages.get("verify", {}).get("fixed_test_accuracy"),
        "wall_seconds": round(wall, 2),
        "stages": stages,
    }
