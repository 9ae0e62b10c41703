"""``spikefold quantize RUN_DIR``: ``graph.float.npz`` -> ``graph.fixed.npz`` +
``quantize_report.json``."""

from __future__ import annotations

import argparse

from toolchain.console import (
    INPUT_BITS,
    PAYLOAD_BITS,
    WEIGHT_BITS,
    Outcome,
    int_range,
    positive_int,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory holding graph.float.npz (spikefold fold)")
    p.add_argument(
        "--weight-bits", type=int_range(*WEIGHT_BITS), default=8, help="weight mantissa bits, 2..8"
    )
    p.add_argument(
        "--allow-saturation",
        action="store_true",
        help="accept layers that can overflow: scale them on calibration data, count saturations",
    )
    p.add_argument(
        "--payload-bits",
        type=int_range(*PAYLOAD_BITS),
        default=16,
        help="E-I graded payload bits (1..24)",
    )
    p.add_argument(
        "--input-bits", type=int_range(*INPUT_BITS), default=8, help="direct input bits (1..24)"
    )
    p.add_argument(
        "--calib-samples", type=positive_int, default=256, help="training images to calibrate"
    )
    p.add_argument(
        "--target",
        default="hwsim",
        choices=["hwsim", "lava", "onnx", "loihi"],
        help="lava: Conv2d layers keep weight_exp=0 (Lava's Conv ignores it); loihi (NetX, "
        "`spikefold export netx`): every synapse keeps weight_exp=0 and biases bias_exp=6",
    )


def run(args: argparse.Namespace) -> Outcome:
    from toolchain.quantize import quantize_run
    from toolchain.rundir import GRAPH_FIXED, QUANTIZE_REPORT

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
    agreement = res.report["calibration"]["prediction_agreement"]
    data = {
        "graph": f"{args.run_dir}/{GRAPH_FIXED}",
        "report": f"{args.run_dir}/{QUANTIZE_REPORT}",
        "weight_bits": args.weight_bits,
        "static_ok": res.overflow["static_ok"],
        "saturation": res.overflow["saturation"],
        "calibration_prediction_agreement": agreement,
        "max_rounding_error_steps": worst,
    }
    sat = ", ".join(f"{n}: {ev}" for n, ev in res.overflow["saturation"].items()) or "none"
    text = "\n".join(
        [
            f"wrote {data['graph']} and {data['report']} ({args.weight_bits}-bit weights)",
            f"overflow: worst-case bounds {'within' if data['static_ok'] else 'beyond'} the "
            f"widths; saturation events on calibration data: {sat}",
            f"calibration: float/fixed prediction agreement {agreement:.2%}; "
            f"largest rounding error {worst:.3g} quantisation steps",
        ]
    )
    return Outcome(data, text)
