"""``fold_run``: a trained run directory -> ``graph.float.npz`` (and ``fold.json``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from hwsim.errors import ConfigError
from hwsim.graph import EICircuit
from hwsim.io import atomic_write_text, save_graph
from toolchain import provenance
from toolchain.fold.calibrate import calibrate_floor
from toolchain.fold.rules import check_design_rules
from toolchain.fold.trace import FoldResult, fold_model
from toolchain.rundir import CHECKPOINT, CONFIG, FOLD_JSON, GRAPH_FLOAT

__all__ = ["GRAPH_FLOAT", "FOLD_JSON", "FOLD_OUTPUTS", "fold_run", "fold_options"]

FOLD_OUTPUTS = (GRAPH_FLOAT, FOLD_JSON)


def fold_options(
    ei_floor: float | None = None, calib_samples: int = 256, constant_thresholds: bool = False
) -> dict:
    """The options that change a fold (its provenance record)."""
    opts = {"ei_floor": ei_floor, "calib_samples": None if ei_floor is None else calib_samples}
    if constant_thresholds:  # absent when off: records made before the option stay current
        opts["constant_thresholds"] = True
    return opts


def fold_run(
    run_dir: str | Path,
    ei_floor: float | None = None,
    calib_samples: int = 256,
    constant_thresholds: bool = False,
) -> FoldResult:
    """Fold the trained model of ``run_dir`` (``toolchain.pipeline.load_trained``) with the
    run's ``T`` and encoding, check the ``hwsim`` design rules, and write
    ``run_dir/graph.float.npz`` and ``run_dir/fold.json`` (probes, rules, node count, E-I
    stabilisation), recording their provenance. E-I circuits keep the training semantics
    (``exact`` stabilisation) unless ``ei_floor`` is a quantile: then :func:`calibrate_floor`
    sets a per-layer floor from the first ``calib_samples`` training images (and rung 0
    against torch is no longer exact). A stale checkpoint or config is refused.
    ``constant_thresholds``: every threshold schedule whose values are all equal becomes that
    one value (exact; :func:`~toolchain.fold.thresholds.constant_thresholds` refuses, listing
    every layer, where a schedule has different values)."""
    from toolchain.pipeline import load_trained

    run_dir = Path(run_dir)
    command = "spikefold fold {run}" + ("" if ei_floor is None else f" --ei-floor {ei_floor}")
    command += " --constant-thresholds" if constant_thresholds else ""
    with provenance.run_lock(run_dir, command):
        model, cfg, data = load_trained(run_dir)
        res = fold_model(model, data.in_shape, cfg.train.T, cfg.train.encoding, cfg.name)
        digest = hashlib.sha256((run_dir / CONFIG).read_bytes()).hexdigest()[:16]
        origin = dict(res.graph.metadata.origin)
        origin.update(arch=str(cfg.model.get("arch", "")), config_hash=digest, run_dir=str(run_dir))
        meta = dataclasses.replace(res.graph.metadata, origin=origin)
        graph = dataclasses.replace(res.graph, metadata=meta)
        if ei_floor is not None:
            if not any(
                isinstance(v, EICircuit) and v.variant == "divisive" for v in graph.nodes.values()
            ):
                raise ConfigError(
                    f"--ei-floor {ei_floor}: the network of {run_dir} (arch "
                    f"{cfg.model.get('arch')!r}) has no divisive E-I circuit to stabilise; "
                    "fold without --ei-floor"
                )
            calib = data.inputs("train", calib_samples)
            graph = calibrate_floor(graph, calib, quantile=ei_floor)
        if constant_thresholds:
            from toolchain.fold.thresholds import constant_thresholds as _constant

            graph, _rewritten = _constant(graph)
        rules = check_design_rules(graph, "hwsim")
        save_graph(graph, run_dir / GRAPH_FLOAT)
        info = {
            "graph": GRAPH_FLOAT,
            "nodes": len(graph.nodes),
            "T": graph.metadata.T,
            "probes": res.probes,
            "design_rules": {"target": "hwsim", "passed": rules},
            "ei_stabilisation": {
                n: {"mode": v.stabilisation, "floor": float(v.floor)}
                for n, v in graph.nodes.items()
                if isinstance(v, EICircuit) and v.variant == "divisive"
            },
        }
        atomic_write_text(run_dir / FOLD_JSON, json.dumps(info, indent=2))
        provenance.record(
            run_dir,
            "fold",
            command,
            FOLD_OUTPUTS,
            inputs=(CONFIG, CHECKPOINT),
            options=fold_options(ei_floor, calib_samples, constant_thresholds),
        )
    return FoldResult(graph, res.probes)
