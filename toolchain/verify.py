"""Rungs 0 and 1 of the verification ladder on a trained model (DESIGN.md section 6).

* :func:`record_torch` runs the torch eval network (multi-step) with forward hooks on the
  probe modules of a fold (``FoldResult.probes``: graph node -> module name) and returns each
  probed node's per-step output ``[T, B, ...]``;
* :func:`run_rung0` feeds the same input sequences to torch and to the float graph and calls
  :func:`hwsim.verify.rung0`; :func:`run_rung1` calls :func:`hwsim.verify.rung1`;
* :func:`verify_run` does both on a run directory and writes ``verify.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwsim.errors import ConfigError, VerificationError
from hwsim.graph import HardwareGraph
from hwsim.verify import RungResult, rung0, rung1, write_verify_json
from models.base import reset_states, set_step_mode
from toolchain import provenance
from toolchain.encoding import get_encoder
from toolchain.fold.run import FOLD_JSON, GRAPH_FLOAT
from toolchain.quantize.run import GRAPH_FIXED

__all__ = [
    "GRAPH_FLOAT",
    "GRAPH_FIXED",
    "VERIFY_JSON",
    "encode_sequence",
    "record_torch",
    "run_rung0",
    "run_rung1",
    "verify_run",
    "RUNGS",
    "Skipped",
    "ExportRung",
]

from toolchain.rundir import CHECKPOINT, CONFIG, VERIFY_JSON


def encode_sequence(
    x: torch.Tensor, graph: HardwareGraph, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The input sequence ``[T, B, ...]`` the torch network sees for samples ``x``, by the
    graph's Input encoding: ``direct`` repeats the frame ``x [B, ...]``, ``rate`` draws Bernoulli
    spikes with ``generator``, ``spikes`` puts the spike trains ``x [B, T, ...]`` time-first
    (:mod:`toolchain.encoding` has the same names)."""
    (name,) = graph.input_names()
    enc = graph.nodes[name].encoding
    return get_encoder(enc)(x, graph.metadata.T, generator=generator)


@torch.no_grad()
def record_torch(
    model: nn.Module, x_seq: torch.Tensor, probes: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """Run ``model`` (eval mode, multi-step, fresh state) on ``x_seq [T, B, ...]`` and return
    ``{node: output of module probes[node] as float32 [T, B, ...]}``.

    A probe may name a module applied to the merged ``[T*B, ...]`` batch (the module inside
    a ``TimeDistributed``): its output is split back into ``[T, B, ...]``. A probe module
    that does not exist or is not called exactly once raises :class:`VerificationError`.
    The model's training flag is restored afterwards.
    """
    modules = dict(model.named_modules())
    missing = sorted(set(probes.values()) - set(modules))
    if missing:
        raise VerificationError(f"probe modules {missing} are not in the model")
    T, B = int(x_seq.shape[0]), int(x_seq.shape[1])
    outs: dict[str, list[torch.Tensor]] = {n: [] for n in probes}
    handles = []
    for node, mod_name in probes.items():

        def hook(_m, _inp, out, node=node):
            outs[node].append(out.detach())

        handles.append(modules[mod_name].register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        set_step_mode(model, "m")
        reset_states(model)
        model(x_seq)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    result = {}
    for node, got in outs.items():
        if len(got) != 1:
            raise VerificationError(
                f"probe {probes[node]!r} (node {node!r}) was called {len(got)} times in one "
                "multi-step forward; expected once"
            )
        y = got[0]
        if tuple(y.shape[:2]) != (T, B) and y.shape[0] == T * B:  # a merged [T*B, ...] call
            y = y.reshape(T, B, *y.shape[1:])
        if tuple(y.shape[:2]) != (T, B):
            raise VerificationError(
                f"probe {probes[node]!r} (node {node!r}) returned {tuple(y.shape)}, not [T, B, ...]"
            )
        result[node] = y.float().cpu().numpy()
    return result


def _batches(x: torch.Tensor, batch_size: int):
    for s in range(0, x.shape[0], batch_size):
        yield x[s : s + batch_size]


def run_rung0(
    model: nn.Module,
    fold,
    x: torch.Tensor,
    *,
    tie_tol: float | None = None,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> RungResult:
    """Rung 0 on frames ``x [N, ...]``: each batch is encoded once (``rate``: drawn with
    ``generator``), run through torch with :func:`record_torch` on ``fold.probes``, and the
    same sequence goes to :func:`hwsim.verify.rung0` with ``fold.graph`` (tqdm bars over the
    batches of both with ``progress``)."""
    from tqdm.auto import tqdm

    graph: HardwareGraph = fold.graph
    seqs, refs = [], {n: [] for n in fold.probes}
    batches = _batches(torch.as_tensor(x, dtype=torch.float32), batch_size)
    total = -(-len(x) // batch_size)
    bar = tqdm(batches, total=total, desc="rung 0 torch", disable=not progress, leave=False)
    for xb in bar:
        seq = encode_sequence(xb, graph, generator)
        for node, out in record_torch(model, seq, fold.probes).items():
            refs[node].append(out)
        seqs.append(seq.numpy())
    seq_all = np.concatenate(seqs, axis=1)
    ref_all = {n: np.concatenate(v, axis=1) for n, v in refs.items()}
    return rung0(graph, seq_all, ref_all, tie_tol=tie_tol, batch_size=batch_size, progress=progress)


def _graph(obj) -> HardwareGraph:
    return obj if isinstance(obj, HardwareGraph) else obj.graph


def run_rung1(
    fold,
    quant,
    x,
    y,
    *,
    batch_size: int = 256,
    seed: int = 0,
    max_accuracy_drop: float = 0.01,
    progress: bool = False,
) -> RungResult:
    """Rung 1: ``fold`` (a FoldResult or float graph) against ``quant`` (a QuantResult or
    fixed graph) on ``x`` as hwsim takes it (frames ``[N, ...]``, spike trains ``[T, N, ...]``)
    with labels ``y``; rate draws seeded by ``seed``."""
    return rung1(
        _graph(fold),
        _graph(quant),
        np.asarray(x, dtype=np.float64),
        np.asarray(y),
        batch_size=batch_size,
        generator=np.random.default_rng(seed),
        max_accuracy_drop=max_accuracy_drop,
        progress=progress,
    )


RUNGS = ("0", "1", "2", "3", "4", "S")
"""The rungs :func:`verify_run` runs: 0 needs the trained model (a checkpoint; a run without
one records it as skipped), 1 only the graphs and data, 2-4 are the export stages' rungs
(``spikefold export lava|onnx|nir --verify``, :mod:`toolchain.exports`: they write the
exported model too), S an imported run and the source library's reference spikes."""

LAVA_N = 32  # rung 2's samples when no n is given (Lava's simulator is slow), as spikefold run


@dataclass(frozen=True)
class ExportRung:
    """A rung 2-4 run through its export stage: the ``verify.json`` entry it wrote."""

    rung: int
    entry: dict

    @property
    def passed(self) -> bool:  # a refusal (the target cannot express the net) is no failure
        return self.entry.get("status") == "refused" or bool(self.entry.get("passed"))

    def summary(self) -> str:
        return str(self.entry.get("summary") or f"rung {self.rung}")

    def to_dict(self) -> dict:
        return self.entry


@dataclass(frozen=True)
class Skipped:
    """A rung that was not run, and why (``verify.json`` records it; it neither passes nor
    fails the ladder)."""

    rung: int | str
    reason: str
    passed: bool = True

    def summary(self) -> str:
        return f"rung {self.rung} skipped: {self.reason}"

    def to_dict(self) -> dict:
        return {"rung": self.rung, "status": "skipped", "skipped": self.reason,
                "passed": True, "summary": self.summary()}  # fmt: skip


def _rung_keys(rungs) -> list[int | str]:
    """``rungs`` as :func:`provenance.rung_key` takes them: 0-4 as ints, ``"S"``."""
    keys: list[int | str] = []
    for r in rungs:
        k = str(r).strip().upper()
        if k not in RUNGS:
            raise ConfigError(f"unknown rung {r!r}; spikefold verify runs {', '.join(RUNGS)}")
        key = k if k == "S" else int(k)
        if key not in keys:
            keys.append(key)
    if not keys:
        raise ConfigError(f"no rung to run; spikefold verify runs {', '.join(RUNGS)}")
    return keys


def _export_rung(run_dir: Path, rung: int, n, batch_size: int, seed: int, progress: bool):
    """Rung 2, 3 or 4 through its export stage (which writes the model file too)."""
    from hwsim.errors import DesignRuleError, ExportError
    from hwsim.verify import read_verify_json
    from toolchain import exports

    try:
        if rung == 2:
            exports.export_lava_run(run_dir, verify_n=n or LAVA_N, seed=seed, progress=progress)
        elif rung == 3:
            exports.export_onnx_run(run_dir, verify_n=n, batch_size=min(batch_size, 64),
                                    seed=seed, progress=progress)  # fmt: skip
        else:
            exports.export_nir_run(run_dir, verify_n=n, batch_size=batch_size, seed=seed)
    except (ExportError, DesignRuleError):
        pass  # the refusal entry is in verify.json (toolchain.exports._translate)
    entry = read_verify_json(run_dir / VERIFY_JSON)["rungs"][str(rung)]
    return ExportRung(rung, entry)


def verify_run(
    run_dir: str | Path,
    *,
    n: int | None = None,
    rungs: tuple = (0, 1),
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
    reference: str | Path | None = None,
) -> list[RungResult | Skipped | ExportRung]:
    """Rungs of the ladder on the artifacts of a run directory, trained or imported (``spikefold
    import nir``: a graph and no checkpoint), on the first ``n`` test samples (all by default;
    rung S: the reference's samples), with tqdm bars when ``progress``:

    * 0: the trained model (:func:`toolchain.pipeline.load_trained`) against
      ``graph.float.npz`` with the probes of ``fold.json``; a run without a checkpoint records
      it as skipped, with the reason (rung S replaces it for an imported run);
    * 1: ``graph.float.npz`` against ``graph.fixed.npz`` (``spikefold quantize``);
    * 2, 3, 4: Lava, ONNX, NIR in Norse, run by their export stage (:mod:`toolchain.exports`,
      which writes the model file too; rung 2 on ``n`` or :data:`LAVA_N` samples);
    * S: an imported graph against the source library's spikes in ``reference`` (an ``.npz``
      keyed by NIR node name, :func:`exporters.nir_export.rung_s`).

    Writes ``run_dir/verify.json`` (merged) and the rungs' provenance, and returns the
    results. Missing or stale inputs are refused, naming the command to run."""
    from toolchain.rundir import IMPORT_JSON

    run_dir = Path(run_dir)
    keys = _rung_keys(rungs)
    exported = [k for k in keys if k in (2, 3, 4)]
    keys = [k for k in keys if k not in exported]
    need: dict = {
        0: [CONFIG, CHECKPOINT, GRAPH_FLOAT, FOLD_JSON],
        1: [CONFIG, GRAPH_FLOAT, GRAPH_FIXED],
        "S": [GRAPH_FLOAT, IMPORT_JSON],
    }
    graph_only = not (run_dir / CHECKPOINT).exists() and (run_dir / GRAPH_FLOAT).exists()
    skipped = {}
    if 0 in keys and graph_only:
        why = f"no {CHECKPOINT}: a graph-only run (e.g. imported) has no torch model to compare"
        why += " with (rung S compares an import with its source library)"
        skipped[0] = Skipped(0, why)
    if "S" in keys and not (run_dir / IMPORT_JSON).exists():
        why = f"not an imported run (no {IMPORT_JSON}): rung 0 checks the fold"
        skipped["S"] = Skipped("S", why)
    if "S" in keys and "S" not in skipped and reference is None:
        raise ConfigError(
            "rung S needs the source library's spikes: pass --reference FILE.npz (arrays keyed "
            "by NIR node name, the input sequence under the Input node's name)"
        )
    with provenance.run_lock(run_dir, "spikefold verify"):
        for r in keys:
            if r in skipped:
                continue
            for f in need[r]:
                if not (run_dir / f).exists():
                    stage = {GRAPH_FIXED: "quantize", GRAPH_FLOAT: "fold", FOLD_JSON: "fold"}
                    cmd = f"spikefold {stage.get(f, 'train')} {run_dir}"
                    raise ConfigError(f"{run_dir / f} is missing: run `{cmd}` first")
            provenance.require_fresh(run_dir, need[r])
        ran = [r for r in keys if r not in skipped]
        done = _verify(run_dir, n, ran, batch_size, seed, progress, reference)
        results = [skipped[r] if r in skipped else done[r] for r in keys]
        write_verify_json(run_dir / VERIFY_JSON, {str(r.rung): r.to_dict() for r in results})
        options = verify_options(n, seed)
        command = "spikefold verify {run}" + _flags(n, seed)
        for r in ran:
            inputs, opts, cmd = need[r], options, command + f" --rungs {r}"
            if r == "S":
                ref = Path(reference).resolve()
                inputs, opts = [*need[r], str(ref)], {"reference": str(ref)}
                cmd = f"spikefold verify {{run}} --rungs S --reference {ref}"
            provenance.record(run_dir, "verify", cmd, [provenance.rung_key(r)],
                              inputs=inputs, options=opts)  # fmt: skip
    for r in exported:
        results.append(_export_rung(run_dir, r, n, batch_size, seed, progress))
    return results


def verify_options(n: int | None = None, seed: int = 0) -> dict:
    """The options that change rungs 0 and 1 (their provenance records)."""
    return {"n": n, "seed": seed}


def _flags(n: int | None, seed: int) -> str:
    return ("" if n is None else f" --n {n}") + ("" if seed == 0 else f" --seed {seed}")


def _verify(run_dir: Path, n, rungs, batch_size, seed, progress, reference) -> dict:
    from hwsim.io import load_graph
    from toolchain.fold import FoldResult
    from toolchain.pipeline import load_run_dataset, load_trained

    results: dict = {}
    if not rungs:
        return results
    graph_float = load_graph(run_dir / GRAPH_FLOAT)
    if "S" in rungs:
        from exporters.nir_export import load_reference, rung_s
        from toolchain.nir_import import read_import_record

        record = read_import_record(run_dir)
        ref = load_reference(reference)
        results["S"] = rung_s(graph_float, record, ref, batch_size=batch_size)
    if 0 in rungs:
        model, _cfg, data = load_trained(run_dir)
    elif 1 in rungs:
        _cfg, data = load_run_dataset(run_dir)
    else:
        return results
    x, y = torch.as_tensor(data.x_test[:n]), data.y_test[:n]
    if 0 in rungs:
        fold_cmd = f"spikefold fold {run_dir}"
        probes = provenance.read_json(run_dir / FOLD_JSON, dict, fold_cmd).get("probes")
        if not isinstance(probes, dict) or not all(
            isinstance(k, str) and k in graph_float.nodes and isinstance(v, str)
            for k, v in probes.items()
        ):
            raise ConfigError(
                f"{run_dir / FOLD_JSON}: no valid 'probes' mapping (graph node -> torch module); "
                f"re-run `{fold_cmd}`"
            )
        gen = torch.Generator().manual_seed(seed)
        fold = FoldResult(graph_float, probes)
        results[0] = run_rung0(
            model, fold, x, batch_size=batch_size, generator=gen, progress=progress
        )
    if 1 in rungs:
        graph_fixed = load_graph(run_dir / GRAPH_FIXED)
        x_hw = data.inputs("test", n)  # spike trains time-first, as hwsim takes them
        results[1] = run_rung1(
            graph_float, graph_fixed, x_hw, y, batch_size=batch_size, seed=seed,
            progress=progress,
        )  # fmt: skip
    return results
