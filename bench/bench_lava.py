"""Lava's simulator (``fixed_pt``): the runner against the method it replaced, and against hwsim.

Networks (fixed point, ``lava`` timing): the demo E-I net (``runs/demo``, written by ``make
demo``; when it is missing, trained into a temporary directory from the demo's own config
``configs/demo.yaml`` by ``spikefold run``'s chain up to the quantised graph), the Lava
exporter's four example families (``exporters.lava.examples``) and, when
``runs/fold_ladder/mlp`` exists, the trained digits MLP of ``experiments.fold_ladder``.
On the same encoded inputs of ``N`` samples:

* **hwsim**, batched (``run_steps`` on all samples at once, one CPU thread);
* **Lava, runner**: ``run_lava_steps``, one runtime, one ``run()`` per chunk of samples, every
  process resetting itself at the sample boundaries;
* **Lava, per-sample resets**: the method the runner replaced (issue 12), on the same compiled
  process graph: one ``run()`` of ``T + depth`` steps per sample and ``Var.set`` zeroing every
  stock process's state (``LIF.v``, ``Dense.a_buff``, ``Conv.a_buf``) between samples.

Both Lava methods record the spikes of every LIF layer (as ``spikefold run-lava`` does) and are
checked bit-exact against hwsim (every step from each layer's arrival offset, and the readout).
Times are per sample, the best of ``REPEATS`` runs with the two Lava methods interleaved (the
machine is shared), excluding building, compiling and starting a runtime (reported apart).

Run: ``python -m bench lava`` (or ``python -m bench.bench_lava``). The last line is the summary
``Lava per-sample resets / runner (demo net): R x``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

N, REPEATS = 32, 3
DEMO = Path("runs/demo")
DEMO_CONFIG = Path("configs/demo.yaml")
TRAINED = Path("runs/fold_ladder/mlp")

# the state the replaced method zeroed between samples, per stock process kind
STOCK_STATE = {"lava.LIFReset": ("v",), "lava.Dense": ("a_buff",), "lava.Conv": ("a_buf",)}


def _run_graph(run_dir: Path):
    from hwsim.io import load_graph
    from toolchain.fold import to_lava_timing
    from toolchain.pipeline import load_trained

    g = to_lava_timing(load_graph(run_dir / "graph.fixed.npz"))
    _model, _cfg, data = load_trained(run_dir)
    return g, data.x_test[:N].numpy().astype(np.float64)


def _demo_graph(tmp: Path):
    if (DEMO / "graph.fixed.npz").exists():
        return _run_graph(DEMO)
    from toolchain.chain import ChainOptions, run_chain

    print(f"({DEMO} missing: training the demo net, {DEMO_CONFIG}, in {tmp})", flush=True)
    run_chain(DEMO_CONFIG, tmp, ChainOptions(until="quantize"), say=lambda _line: None)
    return _run_graph(tmp / "demo")


def _networks(tmp: Path):
    from exporters.lava.examples import FAMILIES, example_graph, example_input

    yield "demo E-I net (trained)", *_demo_graph(tmp)
    for fam in FAMILIES:
        g = example_graph(fam, "fixed")
        yield fam, g, example_input(g, N, seed=1)
    if (TRAINED / "graph.fixed.npz").exists():
        yield "digits MLP (trained)", *_run_graph(TRAINED)


def _per_sample_resets(spec, inputs, record: list[str]) -> tuple[float, dict, np.ndarray]:
    """The replaced method: per-sample ``run()`` and ``Var.set`` resets (module docstring).
    Returns the run time per sample, the records and the readout totals."""
    from exporters.lava.build import build
    from exporters.lava.lifecycle import lava_runtime
    from exporters.lava.runner import read_probes

    x = inputs[spec.input_node]
    n = x.shape[1]
    with tempfile.TemporaryDirectory(prefix="bench-lava-") as tmp:
        net = build(spec, x, tmp, record)
        with lava_runtime(net.source, spec.select_tag) as runtime:
            state = [
                getattr(net.processes[name], var)
                for name, p in spec.processes.items()
                for var in STOCK_STATE.get(p.kind, ())
            ]
            zeros = [np.zeros(var.shape) for var in state]
            t0 = time.perf_counter()
            for s in range(n):
                if s:
                    for var, z in zip(state, zeros):
                        var.set(z)
                runtime.run(spec.steps)
            seconds = (time.perf_counter() - t0) / n
        records, total = read_probes(net)
    return seconds, records, total


def _exact(records, total, ref, offsets) -> bool:
    same = all(
        np.array_equal(a[offsets[k] :], ref.records[k][offsets[k] :]) for k, a in records.items()
    )
    return same and np.array_equal(total, ref.readout)


def main() -> None:
    import torch

    from exporters.lava import run_lava_steps, translate
    from hwsim.graph import LIF
    from hwsim.sim import encode_inputs, run_steps

    torch.set_num_threads(1)
    print(
        "| network | Lava processes | steps | hwsim batched ms/sample | Lava runner ms/sample "
        "| Lava per-sample resets ms/sample | resets / runner | Lava / hwsim | build s "
        "| bit-exact |"
    )
    print("|" + "---|" * 10)
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="bench-lava-runs-") as tmp:
        for name, g, x in _networks(Path(tmp)):
            inputs = encode_inputs(g, x, np.random.default_rng(0))
            lifs = [k for k, v in g.nodes.items() if isinstance(v, LIF)]
            spec = translate(g)
            offsets = g.arrival_offsets()
            ref = run_steps(g, inputs, record=lifs)
            t_hwsim = min(_timed(lambda: run_steps(g, inputs, record=lifs)) for _ in range(REPEATS))  # noqa: B023
            new, old, exact = [], [], True
            for _ in range(REPEATS):
                res = run_lava_steps(spec, inputs, record=lifs)
                new.append(res)
                t_old, rec_old, total_old = _per_sample_resets(spec, inputs, lifs)
                old.append(t_old)
                exact = exact and _exact(res.records, res.readout, ref, offsets)
                exact = exact and _exact(rec_old, total_old, ref, offsets)
            best = min(new, key=lambda r: r.timings["run_s"])
            t_new = best.timings["run_s"] / N
            t_batch = t_hwsim / N
            ratios[name] = min(old) / t_new
            print(
                f"| {name} | {len(spec.processes)} | {spec.steps} | {1e3 * t_batch:.3f} | "
                f"{1e3 * t_new:.1f} | {1e3 * min(old):.1f} | {ratios[name]:.2f}x | "
                f"{t_new / t_batch:.0f}x | {best.timings['build_s']:.2f} | "
                f"{'yes' if exact else 'NO'} |",
                flush=True,
            )
    demo = next(iter(ratios))
    print(f"Lava per-sample resets / runner ({demo}): {ratios[demo]:.2f} x")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
