"""hwsim throughput against the torch eval network, side by side in one run.

A digits MLP (64-128-10, T = 8, direct input) is trained briefly; it is folded into a float
graph (``toolchain.fold.fold_model``) and quantised to the fixed format
(``toolchain.quantize.quantize`` when it is installed, else the small per-layer quantiser
below, which handles exactly this Dense/LIF chain). The same test set (359 samples, batch
256) then runs in the torch eval network, in hwsim's float simulator and in hwsim's fixed
simulator (ideal timing). Throughput is in samples·steps per second, the best of 3 runs, on
one CPU thread; the ratio hwsim-fixed / torch is printed, with each path's accuracy.

Run: ``python -m bench hwsim`` (or ``python -m bench.bench_hwsim``).
"""

from __future__ import annotations

import time

import numpy as np

T, HIDDEN, EPOCHS, BATCH, REPEATS = 8, 128, 3, 256, 3


def _hand_quantize(graph):
    """Per-layer fixed-point scales for an Input -> Flatten -> (Dense -> LIF)* -> Dense ->
    Readout graph: input 8-bit (scale 1/127); each LIF's activation unit ``s_a = θ / 1024``
    (vth = 1024), weights and biases in activation units by :func:`hwsim.arith
    .quantize_weights`, decay ``4096·a``; the readout weights at their own 8-bit scale."""
    from hwsim import arith
    from hwsim.graph import LIF, Dense, GraphMetadata, HardwareGraph, Input

    order = graph.topological_order()
    nodes = dict(graph.nodes)
    in_scale = 1 / 127
    unit = in_scale  # real value of one unit of the current synapse's input
    for i, name in enumerate(order):
        node = graph.nodes[name]
        if isinstance(node, Input):
            nodes[name] = Input(node.shape, "direct", scale=in_scale)
        elif isinstance(node, Dense):
            nxt = graph.nodes[order[i + 1]]
            if isinstance(nxt, LIF):
                s_a = float(nxt.threshold) / 1024
                nodes[order[i + 1]] = LIF(int(round(4096 * float(nxt.decay))), 1024, nxt.reset)
            else:
                s_a = float(np.abs(node.weight).max()) * unit / 254
            q = arith.quantize_weights(node.weight * unit / s_a, 8)
            bias = None if node.bias is None else np.rint(node.bias / s_a).astype(np.int64)
            nodes[name] = Dense(q.mantissa, bias, weight_exp=q.weight_exp)
            unit = 1.0  # spikes
    meta = GraphMetadata(T=graph.metadata.T, format="fixed", widths=arith.FixedWidths())
    return HardwareGraph(nodes, graph.edges, meta)


def _quantize(graph, x_calib):
    try:
        from toolchain.quantize import quantize
    except ImportError:
        return _hand_quantize(graph), "bench hand quantiser"
    return quantize(graph, x_calib).graph, "toolchain.quantize"


def _best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    import torch

    from hwsim.sim import simulate_dataset
    from models import build_model
    from toolchain.data import load_dataset
    from toolchain.fold import fold_model
    from toolchain.train import TrainConfig, fit

    torch.set_num_threads(1)
    data = load_dataset("digits")
    model = build_model({"arch": "mlp", "in_shape": [1, 8, 8], "num_classes": 10,
                         "hidden": [HIDDEN]})  # fmt: skip
    cfg = TrainConfig(epochs=EPOCHS, T=T, progress=False, device="cpu")
    fit(model, data, cfg)
    model.eval()
    graph_f = fold_model(model, data.in_shape, T, "direct", "bench").graph
    x = data.x_test.numpy()
    graph_q, how = _quantize(graph_f, data.x_train[:256].numpy())
    n, y = x.shape[0], data.y_test.numpy()

    x_seq = torch.as_tensor(x).unsqueeze(0).expand(T, *x.shape)
    out: dict = {}

    def run_torch():
        with torch.no_grad():
            preds = [model(x_seq[:, s : s + BATCH]).sum(0).argmax(-1) for s in range(0, n, BATCH)]
        out["torch"] = torch.cat(preds).numpy()

    def run(graph, key):
        def fn():
            out[key] = simulate_dataset(graph, x, BATCH).predictions

        return fn

    rows = [
        ("torch eval (float32)", _best(run_torch), "torch"),
        ("hwsim float64", _best(run(graph_f, "float")), "float"),
        ("hwsim fixed int64", _best(run(graph_q, "fixed")), "fixed"),
    ]
    print(f"digits MLP 64-{HIDDEN}-10, T={T}, {n} test samples, batch {BATCH}, 1 thread; "
          f"fixed graph by {how}")  # fmt: skip
    for label, sec, key in rows:
        rate = n * T / sec
        acc = float(np.mean(out[key] == y))
        print(f"  {label:<22} {sec * 1e3:8.1f} ms  {rate:12.0f} samples·steps/s  acc {acc:.2%}")
    ratio = rows[0][1] / rows[2][1]
    print(f"hwsim fixed / torch throughput: {ratio:.2f}x "
          f"(hwsim float / torch: {rows[0][1] / rows[1][1]:.2f}x)")  # fmt: skip
    agree = float(np.mean(out["fixed"] == out["torch"]))
    print(f"fixed vs torch prediction agreement: {agree:.2%}")


if __name__ == "__main__":
    main()
