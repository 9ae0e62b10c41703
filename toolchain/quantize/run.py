"""``quantize_run``: a run directory's ``graph.float.npz`` -> ``graph.fixed.npz`` and
``quantize_report.json``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from hwsim.errors import ConfigError
from hwsim.io import atomic_write_text, load_graph, save_graph
from toolchain import provenance
from toolchain.quantize.core import DEFAULT_MARGIN, QuantResult, quantize
from toolchain.rundir import CONFIG, GRAPH_FIXED, GRAPH_FLOAT, QUANTIZE_REPORT

__all__ = [
    "GRAPH_FIXED",
    "QUANTIZE_REPORT",
    "QUANTIZE_OUTPUTS",
    "quantize_run",
    "quantize_options",
    "write_quantized",
]

QUANTIZE_OUTPUTS = (GRAPH_FIXED, QUANTIZE_REPORT)


def quantize_run(
    run_dir: str | Path,
    weight_bits: int = 8,
    allow_saturation: bool = False,
    *,
    calib_samples: int = 256,
    payload_bits: int = 16,
    input_bits: int = 8,
    margin: float = DEFAULT_MARGIN,
    target: str = "hwsim",
) -> QuantResult:
    """Quantise ``run_dir/graph.float.npz`` (written by ``spikefold fold``) with the first
    ``calib_samples`` training images of the run's dataset as calibration data; writes
    ``run_dir/graph.fixed.npz`` and ``run_dir/quantize_report.json`` (settings, per-tensor
    report, overflow analysis). Raises what :func:`quantize` raises; nothing is written then."""
    from toolchain.config import RunConfig, load_config
    from toolchain.pipeline import load_run_data

    run_dir = Path(run_dir)
    path = run_dir / GRAPH_FLOAT
    if not path.is_file():
        raise ConfigError(f"{path} is missing: run `spikefold fold {run_dir}` first")
    if calib_samples < 1:
        raise ConfigError(f"calib_samples must be >= 1, got {calib_samples}")
    options = quantize_options(
        weight_bits,
        allow_saturation,
        calib_samples=calib_samples,
        payload_bits=payload_bits,
        input_bits=input_bits,
        margin=margin,
        target=target,
    )
    with provenance.run_lock(run_dir, "spikefold quantize"):
        provenance.require_fresh(run_dir, (GRAPH_FLOAT, CONFIG))
        graph = load_graph(path)
        data = load_run_data(RunConfig.from_dict(load_config(run_dir / CONFIG)))
        calib = data.inputs("train", calib_samples)
        res = quantize(
            graph,
            calib,
            weight_bits,
            allow_saturation,
            payload_bits=payload_bits,
            input_bits=input_bits,
            margin=margin,
            target=target,
        )
        write_quantized(run_dir, res, {**options, "calib_samples": int(len(calib))})
        provenance.record(
            run_dir,
            "quantize",
            _command(options),
            QUANTIZE_OUTPUTS,
            inputs=(GRAPH_FLOAT, CONFIG),
            options=options,
        )
    return res


def quantize_options(*args, **kwargs) -> dict:
    """The options that change a quantisation (its provenance record and its report's
    settings): :func:`quantize_run`'s arguments after ``run_dir``, given the same way, with
    its defaults for the rest (its signature is the one place they are written)."""
    bound = inspect.signature(quantize_run).bind(None, *args, **kwargs)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k != "run_dir"}


def _command(options: dict) -> str:
    """The ``spikefold quantize`` command line that makes a graph with ``options``."""
    flags = {
        "weight_bits": "--weight-bits",
        "payload_bits": "--payload-bits",
        "input_bits": "--input-bits",
        "calib_samples": "--calib-samples",
        "target": "--target",
    }
    default = quantize_options()
    cmd = "spikefold quantize {run}"
    cmd += "".join(f" {f} {options[k]}" for k, f in flags.items() if options[k] != default[k])
    if options["allow_saturation"]:
        cmd += " --allow-saturation"
    return cmd


def write_quantized(run_dir: str | Path, res: QuantResult, settings: dict) -> None:
    """Write a quantisation result into a run directory: ``graph.fixed.npz`` and
    ``quantize_report.json`` (``settings`` — the arguments it was made with — per-tensor
    report, overflow analysis)."""
    run_dir = Path(run_dir)
    save_graph(res.graph, run_dir / GRAPH_FIXED)
    out = {"graph": GRAPH_FIXED, "settings": settings, **res.to_dict()}
    atomic_write_text(run_dir / QUANTIZE_REPORT, json.dumps(out, indent=2, allow_nan=False))
