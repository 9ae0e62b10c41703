"""``spikefold quantize RUN_DIR``: ``graph.float.npz`` -> ``graph.fixed.npz`` +
``quantize_report.json``."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory holding graph.float.npz (spikefold fold)")
    p.add_argument("--weight-bits", type=int, default=8, help="weight mantissa bits, 2..8")
    p.add_argument(
        "--allow-saturation",
        action="store_true",
        help="accept layers that can overflow: scale them on calibration data, count saturations",
    )
    p.add_argument("--payload-bits", type=int, default=16, help="E-I graded payload bits (<=24)")
    p.add_argument("--input-bits", type=int, default=8, help="direct input bits")
    p.add_argument("--calib-samples", type=int, default=256, help="training images to calibrate")
    p.add_argument(
        "--target",
        default="hwsim",
        choices=["hwsim", "lava", "onnx"],
        help="lava: Conv2d layers keep weight_exp=0 (Lava's Conv ignores it)",
    )


def run(args: argparse.Namespace) -> int:
    from toolchain.quantize import quantize_run

    res = quantize_run(
        args.run_dir,
        args.weight_bits,
        args.allow_saturation,
        calib_samples=args.calib_samples,
        payload_bits=args.payload_bits,
        input_bits=args.input_bits,
        target=args.target,
    )
    worst = max((t["err_max_steps"] for t in res.report["tensors"].values()), default=0.0)
    print(json.dumps({
        "graph": f"{args.run_dir}/graph.fixed.npz",
        "report": f"{args.run_dir}/quantize_report.json",
        "weight_bits": args.weight_bits,
        "static_ok": res.overflow["static_ok"],
        "saturation": res.overflow["saturation"],
        "calibration_prediction_agreement": res.report["calibration"]["prediction_agreement"],
        "max_rounding_error_steps": worst,
    }, indent=2))  # fmt: skip
    return 0
