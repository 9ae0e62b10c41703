"""Peak training memory of online training versus BPTT as T grows (TECHNIQUES.md section 4).

The same VGG-style network (conv 16-32-64 with OSR + OTS, 28×28 input, batch 16) is trained
for a few iterations by :func:`toolchain.train.fit` with ``mode="bptt"`` and with
``mode="online"`` at T = 2, 4, 8, 16. Each configuration runs in a fresh subprocess, which
reports ``peak RSS - RSS before fit()`` (``VmHWM`` of ``/proc/self/status``, CPU): BPTT keeps
every step's activations for one backward pass, so its extra memory grows with T; online
training back-propagates every step at once and frees its graph, so its memory stays flat.

RSS is noisy at this size (the allocator keeps pools; a repeat run measured 15x and 24x at
T = 16, another 2.2x), so every child also reports an exact, allocator-independent figure: the
peak number of bytes held by tensors that autograd saved for backward
(``torch.autograd.graph.saved_tensors_hooks``; each saved tensor counted at its own size, so
views of one storage count more than once — an upper bound, the same rule for both modes).

Run: ``python -m bench memory`` (or ``python -m bench.bench_memory_online_vs_bptt``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

STEPS = (2, 4, 8, 16)
MODES = ("bptt", "online")
BATCH, ITERS = 16, 3


def _peak_rss_mb() -> float:
    """Peak resident set size of this process's memory map in MiB (``VmHWM``). Not
    ``getrusage().ru_maxrss``: Linux carries that across ``fork`` + ``exec``, so a child
    started by a large parent (the results generator) would report the parent's size."""
    with open("/proc/self/status") as f:
        line = next(ln for ln in f if ln.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # kB


def _rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class SavedBytes:
    """Live and peak bytes of the tensors autograd holds for backward."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0

    def pack(self, t):
        meter = self

        class Held:  # released when autograd frees the saved tensor
            __slots__ = ("t", "n")

            def __init__(self, t):
                self.t, self.n = t, t.numel() * t.element_size()
                meter.live += self.n
                meter.peak = max(meter.peak, meter.live)

            def __del__(self):
                meter.live -= self.n

        return Held(t)

    @staticmethod
    def unpack(held):
        return held.t


def child(mode: str, T: int) -> dict:
    import torch

    from models import build_model
    from toolchain.data import Dataset
    from toolchain.train import TrainConfig, fit

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    n = BATCH * ITERS
    x = torch.rand(n + 4, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n + 4,), generator=g)
    data = Dataset("random", x[:n], y[:n], x[n:], y[n:], (1, 28, 28), 10)

    def run(T: int, mode: str, data: Dataset) -> None:
        net = build_model(
            {
                "arch": "vgg",
                "in_shape": [1, 28, 28],
                "num_classes": 10,
                "layers": [16, "M", 32, "M", 64, "M"],
                "norm": "osr_ots",
                "T": T,
                "neuron": {"online": mode == "online"},
            }
        )
        cfg = TrainConfig(
            epochs=1,
            batch_size=BATCH,
            T=T,
            mode=mode,
            progress=False,
            eval_batch_size=4,
            device="cpu",
        )
        fit(net, data, cfg)

    # warm-up: one online iteration at T = 1 loads lazy imports and the allocator's pools, so
    # the baseline below holds everything that does not depend on T or on the mode
    run(1, "online", Dataset("warm", x[:BATCH], y[:BATCH], x[n:], y[n:], (1, 28, 28), 10))
    before = _rss_mb()
    saved = SavedBytes()
    with torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack):
        run(T, mode, data)
    peak = _peak_rss_mb()
    return {"mode": mode, "T": T, "extra_mb": peak - before, "saved_mb": saved.peak / 2**20}


def measure(steps=STEPS) -> dict:
    """Every (mode, T) in a fresh subprocess; MiB of RSS above baseline and of saved tensors."""
    rows = []
    for T in steps:
        for mode in MODES:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_memory_online_vs_bptt",
                    "--child",
                    mode,
                    str(T),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"mode": mode, "T": T, "rss_mb": r["extra_mb"], "saved_mb": r["saved_mb"]})
    return {"batch": BATCH, "iters": ITERS, "rows": rows}


def run(budget) -> dict:
    """The results generator's entry (:mod:`experiments.all`)."""
    return measure((2, 4) if budget.quick else STEPS)


def render(data: dict) -> dict[str, str]:
    from experiments.results import md_table

    by = {(r["mode"], r["T"]): r for r in data["rows"]}
    steps = sorted({r["T"] for r in data["rows"]})
    tables = []
    for key, what in (("rss_mb", "peak RSS above the pre-training baseline"),
                      ("saved_mb", "peak bytes autograd saved for backward (exact)")):  # fmt: skip
        rows = []
        for T in steps:
            b, o = by[("bptt", T)][key], by[("online", T)][key]
            rows.append([T, f"{b:.2f}", f"{o:.2f}", f"{b / o:.2f}"])
        tables.append(
            f"{what}, MiB:\n\n" + md_table(["T", "BPTT", "online", "BPTT / online"], rows)
        )
    return {"memory.table": "\n\n".join(tables)}


def main() -> None:
    print(render(measure())["memory.table"])


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
