"""Lava's simulator (``fixed_pt``) against hwsim on the same networks and inputs.

For the Lava exporter's four example families (``exporters.lava.examples``: plain MLP, plain
conv net, OSR+OTS-style MLP, E-I conv net; fixed point, ``lava`` timing) and, when
``runs/fold_ladder/mlp`` exists, the trained digits MLP of ``experiments.fold_ladder``
(its 8-bit graph), the same encoded inputs run in

* hwsim, batched (``run_steps`` on all samples at once),
* hwsim, one sample at a time (as Lava runs them),
* Lava, ``run_lava_steps`` (one runtime; the time excludes building, compiling and starting
  it, which is reported apart),

with the spikes of every LIF layer recorded on both sides and checked bit-exact. Times are per
sample, best of 2, on one CPU thread for hwsim (Lava runs one OS process per Lava process). The
ratio is Lava / hwsim per sample.

Run: ``python -m bench lava`` (or ``python -m bench.bench_lava``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

N, REPEATS = 32, 2
TRAINED = Path("runs/fold_ladder/mlp")


def _networks():
    from exporters.lava.examples import FAMILIES, example_graph, example_input

    for fam in FAMILIES:
        g = example_graph(fam, "fixed")
        yield fam, g, example_input(g, N, seed=1)
    if (TRAINED / "graph.fixed.npz").exists():
        from hwsim.io import load_graph
        from toolchain.fold import to_lava_timing
        from toolchain.pipeline import load_trained

        g = to_lava_timing(load_graph(TRAINED / "graph.fixed.npz"))
        _model, _cfg, data = load_trained(TRAINED)
        yield "digits MLP (trained)", g, data.x_test[:N].numpy().astype(np.float64)


def _best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    import torch

    from exporters.lava import run_lava_steps, translate
    from hwsim.graph import LIF
    from hwsim.sim import encode_inputs, run_steps

    torch.set_num_threads(1)
    print(
        "| network | Lava processes | steps | hwsim batched ms/sample | hwsim 1-by-1 ms/sample "
        "| Lava ms/sample | Lava build s | Lava / hwsim 1-by-1 | bit-exact |"
    )
    print("|" + "---|" * 9)
    for name, g, x in _networks():
        inputs = encode_inputs(g, x, np.random.default_rng(0))
        lifs = [k for k, v in g.nodes.items() if isinstance(v, LIF)]
        spec = translate(g)
        ref = run_steps(g, inputs, record=lifs)
        t_batch = _best(lambda: run_steps(g, inputs, record=lifs)) / N  # noqa: B023

        def one_by_one() -> None:
            for i in range(N):
                run_steps(g, {k: v[:, i : i + 1] for k, v in inputs.items()}, record=lifs)  # noqa: B023

        t_one = _best(one_by_one) / N
        runs = [run_lava_steps(spec, inputs, record=lifs) for _ in range(REPEATS)]
        best = min(runs, key=lambda r: r.timings["run_s"])
        t_lava = best.timings["run_s"] / N
        exact = all(np.array_equal(best.records[k], ref.records[k]) for k in lifs)
        exact = exact and np.array_equal(best.readout, ref.readout)
        print(
            f"| {name} | {len(spec.processes)} | {spec.steps} | {1e3 * t_batch:.3f} | "
            f"{1e3 * t_one:.3f} | {1e3 * t_lava:.1f} | {best.timings['build_s']:.2f} | "
            f"{t_lava / t_one:.0f}x | {'yes' if exact else 'NO'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
