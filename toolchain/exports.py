"""The export stages on a run directory: Lava, ONNX, NIR and NetX, each with its rung.

    export_lava_run("runs/x", verify_n=32)    # model.lava.json + rung 2 -> verify.json
    export_onnx_run("runs/x", verify_n=256)   # model.fixed.onnx, model.float.onnx + rung 3
    export_nir_run("runs/x", verify_n=256)    # model.nir + rung 4
    export_netx_run("runs/x", verify_n=8)     # model.netx.h5 + rung 2N (NetX in Lava)

Each stage refuses stale inputs (:func:`toolchain.provenance.require_fresh`), writes its files
and its rung's entry of ``verify.json``, and records their provenance. A target that cannot
express the network (its translation raises :class:`~hwsim.errors.ExportError` or
:class:`~hwsim.errors.DesignRuleError`: NIR for a soft-reset net) has the refusal recorded
with its reason before the error propagates, so ``spikefold run`` reports it and need not ask
again while the inputs are unchanged. The verification samples are the first ``verify_n`` of
the run's test split (its ``config.yaml``; the checkpoint is not needed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwsim.errors import ConfigError, DesignRuleError, ExportError
from hwsim.graph import HardwareGraph
from hwsim.io import load_graph
from hwsim.verify import refusal_entry, write_verify_json
from toolchain import provenance
from toolchain.rundir import (
    CONFIG,
    GRAPH_FIXED,
    GRAPH_FLOAT,
    LAVA_FLOAT_JSON,
    LAVA_JSON,
    MODEL_NIR,
    NETX_H5,
    ONNX_MODELS,
    VERIFY_JSON,
)

__all__ = [
    "Exported",
    "TARGETS",
    "export_lava_run",
    "export_onnx_run",
    "export_nir_run",
    "export_netx_run",
    "netx_options",
    "lava_options",
    "onnx_options",
    "nir_options",
    "rung_options",
]

TARGETS = ("lava", "onnx", "nir")  # spikefold run; netx: `spikefold export netx`
REFUSALS = (ExportError, DesignRuleError)  # what a target's translation raises to refuse
_MAKES = {GRAPH_FLOAT: "spikefold fold", GRAPH_FIXED: "spikefold quantize"}


@dataclass(frozen=True)
class Exported:
    """What an export stage wrote: ``files`` (role -> path), ``info`` (sizes, timing...),
    the rung's ``verify.json`` entry when verified, and lines for a person."""

    files: dict[str, str]
    info: dict = field(default_factory=dict)
    rung: dict | None = None
    lines: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.rung is None or bool(self.rung.get("passed"))


def _key(run_dir: Path, path: Path) -> str:
    """A provenance key: relative to the run directory when inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path.resolve())


def _read_graph(run_dir: Path, path: Path) -> HardwareGraph:
    if not path.is_file():
        make = _MAKES.get(path.name, "spikefold fold")
        raise ConfigError(f"{path} is missing: run `{make} {run_dir}` first")
    provenance.require_fresh(run_dir, [_key(run_dir, path)])
    return load_graph(path)


def _test_split(run_dir: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test inputs (as hwsim takes them: frames, or spike trains time-first)
    and labels of the run's dataset (``config.yaml``)."""
    from toolchain.config import RunConfig, load_config
    from toolchain.pipeline import load_run_data

    provenance.require_fresh(run_dir, [CONFIG])
    data = load_run_data(RunConfig.from_dict(load_config(run_dir / CONFIG)))
    return data.inputs("test", n), np.asarray(data.y_test[:n])


#: rung -> the title of its verify.json entry when the target refuses the network
RUNG_TITLES = {
    2: "fixed graph in hwsim (lava timing) ↔ Lava",
    3: "hwsim ↔ ONNX IR",
    4: "float graph (hwsim) ↔ NIR in Norse",
}


def _translate(run_dir: Path, wanted: dict[str, dict], inputs: Sequence[str], command: str,
               fn: Callable):  # fmt: skip
    """``fn()``; a refusal (:data:`REFUSALS`) is written into ``verify.json`` as the rung's
    refusal entry (the report shows it with its reason) and recorded for each key of
    ``wanted`` (with the options it was wanted with), then re-raised."""
    try:
        return fn()
    except REFUSALS as exc:
        rung = next(k for k in wanted if "#" in k).split("#")[1]
        entry = refusal_entry(int(rung), RUNG_TITLES[int(rung)], str(exc))
        write_verify_json(run_dir / VERIFY_JSON, {rung: entry})
        for key, options in wanted.items():
            provenance.record(run_dir, "export", command, [key], inputs, options, refused=str(exc))
        raise


def _wanted(model_key: str, model_options: dict, rung: int, verify_n: int | None,
            rung_opts: dict) -> dict[str, dict]:  # fmt: skip
    """The artifacts an export makes, with their options: the model file, and the rung's
    entry (its options are the rung's when verifying; a refusal without ``--verify`` is still
    the rung's entry)."""
    return {model_key: model_options,
            provenance.rung_key(rung): rung_opts if verify_n is not None else {}}  # fmt: skip


def _record_rung(run_dir: Path, rung: int, entry, command: str, inputs, options) -> dict:
    write_verify_json(run_dir / VERIFY_JSON, {str(rung): entry} if isinstance(entry, dict)
                      else entry)  # fmt: skip
    key = provenance.rung_key(rung)
    provenance.record(run_dir, "verify", command, [key], [*inputs, CONFIG], options)
    return entry if isinstance(entry, dict) else entry.to_dict()


def _verify_flags(n: int, seed: int, extra: str = "") -> str:
    return f" --verify --n {n}" + ("" if seed == 0 else f" --seed {seed}") + extra


# ---------------------------------------------------------------------------------------------
# Lava


def lava_options(float_graph: bool = False) -> dict:
    """The options of ``model.lava.json`` (rung 2's are :func:`rung_options`)."""
    return {"float_graph": float_graph}


def rung_options(n: int, seed: int = 0, **extra) -> dict:
    """The options of a rung's entry: samples, seed and the target's own (``dt``...)."""
    return {"n": n, "seed": seed, **extra}


def export_lava_run(
    run_dir: str | os.PathLike,
    *,
    float_graph: bool = False,
    graph: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    verify_n: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Exported:
    """``graph.fixed.npz`` (``graph.float.npz`` with ``float_graph``; or the file ``graph``)
    as a Lava process graph in ``model.lava.json`` (or ``out``); with ``verify_n`` rung 2 on
    that many test samples: hwsim against Lava ``fixed_pt`` (and ``floating_pt`` for the run's
    own float graph when it exists), merged into ``verify.json``."""
    from exporters.lava import export_lava
    from toolchain.fold import to_lava_timing

    run_dir = Path(run_dir)
    src = Path(graph) if graph else run_dir / (GRAPH_FLOAT if float_graph else GRAPH_FIXED)
    dst = Path(out) if out else run_dir / (LAVA_FLOAT_JSON if float_graph else LAVA_JSON)
    flags = (" --float" if float_graph else "") + (f" --graph {src}" if graph else "")
    command = "spikefold export lava {run}" + flags + (f" --out {dst}" if out else "")
    with provenance.run_lock(run_dir, command):
        g = to_lava_timing(_read_graph(run_dir, src))
        inputs, outputs = [_key(run_dir, src)], [_key(run_dir, dst)]
        opts, ropts = lava_options(float_graph), rung_options(verify_n, seed)
        wanted = _wanted(outputs[0], opts, 2, verify_n, ropts)
        spec = _translate(run_dir, wanted, inputs, command, lambda: export_lava(g, dst))
        provenance.record(run_dir, "export", command, outputs, inputs, opts)
        stock = sum(p.kind.startswith("lava.") for p in spec.processes.values())
        info = {"processes": len(spec.processes), "lava_processes": stock,
                "select_tag": spec.select_tag, "T": spec.T, "steps": spec.steps}  # fmt: skip
        lines = [
            f"wrote {dst} ({len(spec.processes)} Lava processes: {stock} Lava's own, "
            f"{len(spec.processes) - stock} spikefold; {spec.select_tag}; T={spec.T}, "
            f"{spec.steps} steps per sample)"
        ]
        if verify_n is None:
            return Exported({"lava": str(dst)}, info, None, tuple(lines))
        entry, summaries, used = _rung2(run_dir, g, spec, src, bool(graph), verify_n, seed,
                                        progress)  # fmt: skip
        entry = _record_rung(run_dir, 2, entry, command + _verify_flags(verify_n, seed),
                             [*used, outputs[0]], ropts)  # fmt: skip
    lines += [*summaries, f"wrote {run_dir / VERIFY_JSON}"]
    return Exported({"lava": str(dst)}, info, entry, tuple(lines))


def _rung2(run_dir, g, spec, src, foreign, n, seed, progress):
    """Rung 2 on the exported ``spec``: the fixed half, and the float half on the run's own
    float graph when the fixed graph is the run's too (a ``--graph`` from elsewhere has no
    float twin here). Returns the entry, summary lines and the graph keys used."""
    from exporters.lava.rung2 import rung2_entry, rung2_fixed, rung2_float
    from toolchain.fold import to_lava_timing

    x, y = _test_split(run_dir, n)
    gen = np.random.default_rng
    used = [_key(run_dir, src)]
    if g.metadata.format != "fixed":
        flt = rung2_float(g, x, generator=gen(seed), spec=spec, labels=y, progress=progress)
        return rung2_entry(flt), [flt.summary()], used
    fixed = rung2_fixed(g, x, generator=gen(seed), spec=spec, labels=y, progress=progress)
    flt = None
    if not foreign and (run_dir / GRAPH_FLOAT).is_file():
        gf = to_lava_timing(_read_graph(run_dir, run_dir / GRAPH_FLOAT))
        flt = rung2_float(gf, x, generator=gen(seed), labels=y)
        used.append(GRAPH_FLOAT)
    return rung2_entry(fixed, flt), [r.summary() for r in (fixed, flt) if r is not None], used


# ---------------------------------------------------------------------------------------------
# ONNX


def onnx_options() -> dict:
    """The options of an ONNX step model (none: the graph decides everything)."""
    return {}


def export_onnx_run(
    run_dir: str | os.PathLike,
    *,
    formats: Sequence[str] = ("fixed", "float"),
    graph: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    verify_n: int | None = None,
    reference_samples: int = 16,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = False,
) -> Exported:
    """The run's graphs of ``formats`` that exist as ONNX step models (``model.fixed.onnx``,
    ``model.float.onnx``; or the file ``graph`` to ``out``); with ``verify_n`` rung 3 on the
    fixed graph when exported, else the float one: hwsim against onnxruntime (and
    ``onnx.reference`` on the first ``reference_samples``)."""
    from exporters.onnx import export_onnx, rung3, save_onnx

    run_dir = Path(run_dir)
    if graph is not None:
        if out is None:
            raise ConfigError("--graph needs --out (the ONNX file to write)")
        jobs = {"given": (Path(graph), Path(out))}
    else:
        paths = {"fixed": GRAPH_FIXED, "float": GRAPH_FLOAT}
        jobs = {
            f: (run_dir / paths[f], run_dir / ONNX_MODELS[f])
            for f in formats
            if (run_dir / paths[f]).is_file()
        }
        if not jobs:
            wanted = ", ".join(str(run_dir / paths[f]) for f in formats)
            raise ConfigError(
                f"none of {wanted} exists: run `spikefold fold {run_dir}` (and `spikefold "
                f"quantize {run_dir}`) first"
            )
    command = "spikefold export onnx {run}" + (f" --graph {graph} --out {out}" if graph else "")
    ropts = rung_options(verify_n, seed, reference_samples=reference_samples)
    verified = next(k for k in ("fixed", "float", "given") if k in jobs)
    graphs, lines, files = {}, [], {}
    with provenance.run_lock(run_dir, command):
        for key, (src, dst) in jobs.items():
            g = _read_graph(run_dir, src)
            inputs, outputs = [_key(run_dir, src)], [_key(run_dir, dst)]
            rung_n = verify_n if key == verified else None
            wanted = _wanted(outputs[0], onnx_options(), 3, rung_n, ropts)
            model = _translate(run_dir, wanted, inputs, command, lambda g=g: export_onnx(g))
            save_onnx(model, dst)
            provenance.record(run_dir, "export", command, outputs, inputs, onnx_options())
            graphs[key], files[key] = (g, src), str(dst)
            md = g.metadata
            lines.append(
                f"wrote {dst} (ONNX step model, {md.format}, {md.timing} timing, T={md.T})"
            )
        if verify_n is None:
            return Exported(files, {}, None, tuple(lines))
        g, src = graphs[verified]
        x, y = _test_split(run_dir, verify_n)
        res = rung3(g, x, labels=y, batch_size=batch_size, reference_samples=reference_samples,
                    seed=seed, progress=progress)  # fmt: skip
        extra = f" --reference-samples {reference_samples}"
        entry = _record_rung(run_dir, 3, res, command + _verify_flags(verify_n, seed, extra),
                             [_key(run_dir, src)], ropts)  # fmt: skip
    lines += [res.summary(), f"wrote {run_dir / VERIFY_JSON}"]
    return Exported(files, {}, entry, tuple(lines))


# ---------------------------------------------------------------------------------------------
# NIR


def nir_options(dt: float = 1.0, portable: bool = False) -> dict:
    """The options of ``model.nir``: the NIR time step of one hwsim step, and the portable
    mode (``R = 1``, gains in the weights: for readers that ignore ``R``)."""
    return {"dt": dt, "portable": portable}


def export_nir_run(
    run_dir: str | os.PathLike,
    *,
    dt: float = 1.0,
    portable: bool = False,
    graph: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    verify_n: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
) -> Exported:
    """The run's float graph (or the file ``graph``) as NIR in ``model.nir`` (or ``out``);
    with ``verify_n`` rung 4 (the NIR graph executed by Norse against hwsim). A network NIR
    cannot express is refused (:class:`ExportError` naming the node), the refusal recorded
    for ``model.nir`` and for rung 4."""
    from exporters.nir_export import rung4, to_nir
    from exporters.nir_export.files import save_nir_graph

    run_dir = Path(run_dir)
    src = Path(graph) if graph else run_dir / GRAPH_FLOAT
    dst = Path(out) if out else run_dir / MODEL_NIR
    flags = (f" --graph {src}" if graph else "") + (f" --out {dst}" if out else "")
    flags += " --portable" if portable else ""
    command = "spikefold export nir {run}" + flags + ("" if dt == 1.0 else f" --dt {dt}")
    with provenance.run_lock(run_dir, command):
        g = _read_graph(run_dir, src)
        inputs, outputs = [_key(run_dir, src)], [_key(run_dir, dst)]
        ropts = rung_options(verify_n, seed, dt=dt)
        opts = nir_options(dt, portable)
        wanted = _wanted(outputs[0], opts, 4, verify_n, ropts)
        nir_graph = _translate(run_dir, wanted, inputs, command,
                               lambda: to_nir(g, dt=dt, portable=portable))  # fmt: skip
        save_nir_graph(nir_graph, dst)
        provenance.record(run_dir, "export", command, outputs, inputs, opts)
        kind = "portable NIR (R = 1)" if portable else "NIR"
        lines = [f"wrote {dst} ({kind}, {len(g.nodes)} hardware nodes, dt={dt:g})"]
        info = {"nodes": len(g.nodes), "dt": dt, "portable": portable}
        if verify_n is None:
            return Exported({"nir": str(dst)}, info, None, tuple(lines))
        x, _y = _test_split(run_dir, verify_n)
        res = rung4(g, x, nir_graph=nir_graph, dt=dt, batch_size=batch_size,
                    generator=np.random.default_rng(seed))  # fmt: skip
        entry = _record_rung(run_dir, 4, res, command + _verify_flags(verify_n, seed),
                             inputs, ropts)  # fmt: skip
    lines += [res.summary(), f"wrote {run_dir / VERIFY_JSON}"]
    return Exported({"nir": str(dst)}, info, entry, tuple(lines))


# ---------------------------------------------------------------------------------------------
# NetX (lava-dl): the file a Loihi 2 deployment loads


def netx_options() -> dict:
    """The options of ``model.netx.h5`` (none: the graph decides everything)."""
    return {}


def export_netx_run(
    run_dir: str | os.PathLike,
    *,
    graph: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    verify_n: int | None = None,
    seed: int = 0,
) -> Exported:
    """``graph.fixed.npz`` (or the file ``graph``) as a lava-dl NetX HDF5 file in
    ``model.netx.h5`` (or ``out``, :func:`exporters.netx.write_netx`); with ``verify_n`` rung
    2N on that many test samples: the file loaded by NetX and run in Lava's ``fixed_pt``
    simulator against hwsim (NetX timing), bit for bit, merged into ``verify.json``. A graph
    NetX cannot express is refused with every reason (``spikefold check RUN --target loihi``
    lists the same), the refusal recorded for the file and rung 2N."""
    from exporters.netx import RUNG, TITLE, rung2n, write_netx

    run_dir = Path(run_dir)
    src = Path(graph) if graph else run_dir / GRAPH_FIXED
    dst = Path(out) if out else run_dir / NETX_H5
    flags = (f" --graph {src}" if graph else "") + (f" --out {dst}" if out else "")
    command = "spikefold export netx {run}" + flags
    with provenance.run_lock(run_dir, command):
        g = _read_graph(run_dir, src)
        inputs, outputs = [_key(run_dir, src)], [_key(run_dir, dst)]
        ropts = rung_options(verify_n, seed)
        wanted = _wanted(outputs[0], netx_options(), RUNG, verify_n, ropts)
        try:
            write_netx(g, dst)
        except REFUSALS as exc:
            write_verify_json(run_dir / VERIFY_JSON, {RUNG: refusal_entry(RUNG, TITLE, str(exc))})
            for key, options in wanted.items():
                provenance.record(run_dir, "export", command, [key], inputs, options,
                                  refused=str(exc))  # fmt: skip
            raise
        provenance.record(run_dir, "export", command, outputs, inputs, netx_options())
        n_layers = sum(1 for v in g.nodes.values() if v.kind in ("Dense", "Conv2d"))
        info = {"layers": n_layers, "T": g.metadata.T}
        lines = [f"wrote {dst} (lava-dl NetX HDF5, {n_layers} layers, T={g.metadata.T}; "
                 "load with lava.lib.dl.netx.hdf5.Network(net_config=...))"]  # fmt: skip
        if verify_n is None:
            return Exported({"netx": str(dst)}, info, None, tuple(lines))
        x, y = _test_split(run_dir, verify_n)
        res = rung2n(g, x, path=dst, generator=np.random.default_rng(seed), labels=y)
        entry = _record_rung(run_dir, RUNG, res, command + _verify_flags(verify_n, seed),
                             [*inputs, outputs[0]], ropts)  # fmt: skip
    lines += [res.summary(), f"wrote {run_dir / VERIFY_JSON}"]
    return Exported({"netx": str(dst)}, info, entry, tuple(lines))
