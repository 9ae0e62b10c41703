"""hwsim fixed against the torch eval network and against hwsim's previous implementation,
side by side in one run.

Three digits nets (T = 8, direct input), each trained briefly, folded
(``toolchain.fold.fold_model``) and quantised (``toolchain.quantize.quantize``):

* MLP  64-128-10;
* VGG  conv32-pool-conv64-pool-128-10 (3x3 convolutions, 2x2 pools);
* E-I  the demo's E-I MLP (``ei_mlp``, 128 hidden, DeepEISNN's E-I circuits).

For batch 1, 32 and 256 it prints the per-sample time of the torch eval network (float32),
of hwsim fixed as it is now, and of hwsim fixed at ``OLD_REF`` (the per-step simulator before
the block engine: its ``hwsim`` package is checked out into a temporary folder with ``git
archive``), the throughput ratio hwsim fixed / torch and the speed-up new / old, and checks
that the new and the old simulator give the same readout bit for bit. Then the cost growth
of hwsim fixed (and torch) with T, the hidden width and the batch on the MLP, and the peak
memory of a recorded VGG run at batch 2048, old against new (each in a fresh process: the
growth of the peak RSS, and the tracemalloc peak of numpy's allocations).

Everything runs single-threaded (torch, BLAS), in two measuring subprocesses (the new hwsim
with torch, and the old hwsim) that set ``OMP/OPENBLAS/MKL_NUM_THREADS=1`` before numpy
loads. The main process interleaves their runs (torch, new, old, torch, new, old, ...) so a
change of the shared machine's load hits all three alike; times are the best of
``REPEATS``. The last line is the summary ``hwsim fixed / torch throughput: R x`` (the MLP at
batch 256).

Run: ``python -m bench hwsim`` (or ``python -m bench.bench_hwsim``); ``HWSIM_BENCH_OLD=<git
ref>`` compares against another revision, ``HWSIM_BENCH_OLD=none`` skips the old one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

T, EPOCHS, REPEATS = 8, 2, 3
OLD_REF = "4e6800d52bdf201de15ec578aeff6658a631038e"
"""main just before the block engine (hwsim.sim per step, int64 records)."""
NETS = {
    "MLP": {"arch": "mlp", "hidden": [128]},
    "VGG": {"arch": "vgg", "layers": [32, "M", 64, "M"], "hidden": [128]},
    "E-I": {"arch": "ei_mlp", "hidden": [128]},
}
BATCHES = (1, 32, 256)
SAMPLES = {1: 24, 32: 128, 256: 512}  # samples timed per batch size (the test set tiled)
MEM_BATCH = 2048
REPO = Path(__file__).resolve().parent.parent

# The measuring process: imports hwsim from the folder given (the repository, or an old
# checkout of its hwsim package), single-threaded. "serve" mode answers one JSON request per
# line (time one simulate_dataset run, or one torch eval pass), so that the main process can
# interleave torch, new and old measurements in time (the machine's load varies); "mem" mode
# measures one recorded run in a fresh process.
WORKER = r"""
import os, sys, json, time
for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
hwsim_dir, inputs, mode = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, hwsim_dir)
import numpy as np
import torch
torch.set_num_threads(1)
import hwsim
assert os.path.dirname(os.path.dirname(hwsim.__file__)) == hwsim_dir, hwsim.__file__
from hwsim.io import load_graph
from hwsim.sim import simulate, simulate_dataset
data = np.load(inputs)
if mode == "mem":
    import resource, tracemalloc
    g, x = load_graph(sys.argv[4]), data[sys.argv[5]]
    simulate(g, x[:2], record=True)  # warm up imports and caches
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    r = simulate(g, x, record=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rec = sum(a.nbytes for a in r.records.values())
    grow = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(json.dumps({"rss_growth": grow * 1024, "traced_peak": peak, "records": rec}))
    sys.exit(0)
graphs, models, readouts = {}, {}, {}
print("ready", flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "quit":
        np.savez(req["path"], **readouts)
        print("{}", flush=True)
        break
    x = data[req["x"]]
    t0 = time.perf_counter()
    if req["op"] == "hwsim":
        if req["graph"] not in graphs:
            graphs[req["graph"]] = load_graph(req["graph"])
        g = graphs[req["graph"]]
        t0 = time.perf_counter()
        readouts[req["key"]] = simulate_dataset(g, x, req["batch"]).readout
    else:
        if req["model"] not in models:
            models[req["model"]] = torch.load(req["model"], weights_only=False).eval()
        m, b, T = models[req["model"]], req["batch"], req["T"]
        xt = torch.as_tensor(x)
        seq = xt.unsqueeze(0).expand(T, *xt.shape)
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(x), b):
                m(seq[:, s : s + b]).sum(0).argmax(-1)
    print(json.dumps({"sec": time.perf_counter() - t0}), flush=True)
"""


class _Worker:
    """A measuring process (``WORKER`` in serve mode) on the hwsim in ``hwsim_dir``."""

    def __init__(self, tmp: Path, hwsim_dir: Path, inputs: Path) -> None:
        script = tmp / "worker.py"
        script.write_text(WORKER)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "PYTHONPATH": ""}  # fmt: skip
        self.p = subprocess.Popen(
            [sys.executable, str(script), str(hwsim_dir), str(inputs), "serve"], cwd=tmp,
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"hwsim bench worker on {hwsim_dir} did not start")

    def ask(self, **req) -> dict:
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"hwsim bench worker died on {req}")
        return json.loads(line)

    def close(self, path: Path) -> dict:
        self.ask(op="quit", path=str(path), x="")
        self.p.wait()
        return dict(np.load(path))


def _mem(tmp: Path, hwsim_dir: Path, inputs: Path, graph: Path, key: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONPATH": ""}  # fmt: skip
    p = subprocess.run([sys.executable, str(tmp / "worker.py"), str(hwsim_dir), str(inputs),
                        "mem", str(graph), key], capture_output=True, text=True, cwd=tmp,
                       env=env)  # fmt: skip
    if p.returncode:
        raise RuntimeError(f"hwsim memory worker failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _old_checkout(tmp: Path) -> Path | None:
    ref = os.environ.get("HWSIM_BENCH_OLD", OLD_REF)
    if ref.lower() == "none":
        return None
    dest = tmp / "old"
    dest.mkdir()
    try:
        tar = subprocess.run(["git", "-C", str(REPO), "archive", ref, "hwsim"], check=True,
                             capture_output=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"(no old hwsim: git archive {ref} failed: {e}; old columns skipped)")
        return None
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest


def _build(name: str, cfg: dict, data, epochs: int, T_: int = T):
    """Train ``cfg`` briefly, fold and quantise it: (model, fixed graph)."""
    from models import build_model
    from toolchain.fold import fold_model
    from toolchain.quantize import quantize
    from toolchain.train import TrainConfig, fit

    model = build_model({**cfg, "in_shape": list(data.in_shape), "num_classes": 10})
    if epochs:
        fit(model, data, TrainConfig(epochs=epochs, T=T_, progress=False, device="cpu",
                                     threads=1))  # fmt: skip
    model.eval()
    graph_f = fold_model(model, data.in_shape, T_, "direct", name).graph
    return model, quantize(graph_f, data.x_train[:256].numpy()).graph


def _tile(x: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([x] * (n // len(x) + 1))[:n]


def main() -> None:
    import torch

    from hwsim.io import save_graph
    from toolchain.data import load_dataset

    torch.set_num_threads(1)
    data = load_dataset("digits")
    x_test = data.x_test.numpy()
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        old_dir = _old_checkout(tmp)
        models, arrays, jobs = {}, {}, []
        for name, cfg in NETS.items():
            model, graph = _build(name, cfg, data, EPOCHS)
            models[name] = model
            save_graph(graph, tmp / f"{name}.json")
            for b in BATCHES:
                key = f"{name}@{b}"
                arrays[key] = _tile(x_test, SAMPLES[b])
                jobs.append({"key": key, "graph": str(tmp / f"{name}.json"), "batch": b})
        # cost growth (MLP): T, hidden width, batch
        growth = []
        for t_ in (4, 16, 32):
            growth.append(("T", t_, {"arch": "mlp", "hidden": [128]}, t_, 256))
        for h in (512, 2048):
            growth.append(("width", h, {"arch": "mlp", "hidden": [h]}, T, 256))
        for b in (8, 1024):
            growth.append(("batch", b, {"arch": "mlp", "hidden": [128]}, T, b))
        gmodels = {}
        for axis, val, cfg, t_, b in growth:
            key = f"grow-{axis}-{val}"
            if axis == "batch":
                model, gpath = models["MLP"], tmp / "MLP.json"
            else:
                model, graph = _build(key, cfg, data, 0, t_)
                gpath = tmp / f"{key}.json"
                save_graph(graph, gpath)
            gmodels[key] = (model, t_, b)
            arrays[key] = _tile(x_test, max(2 * b, 256))
            jobs.append({"key": key, "graph": str(gpath), "batch": b})
        arrays["mem"] = _tile(x_test, MEM_BATCH)
        inputs = tmp / "inputs.npz"
        np.savez(inputs, **arrays)
        for key, (model, _, _) in {**{n: (m, 0, 0) for n, m in models.items()},
                                   **gmodels}.items():  # fmt: skip
            torch.save(model, tmp / f"{key}.pt")

        new = _Worker(tmp, REPO, inputs)
        old = _Worker(tmp, old_dir, inputs) if old_dir is not None else None
        best: dict = {}
        for job in jobs:  # interleaved: torch, new, old, torch, new, old, ...
            key, b = job["key"], job["batch"]
            model_key = key.split("@")[0]
            t_ = gmodels[key][1] if key in gmodels else T
            n = len(arrays[key])
            for _ in range(REPEATS):
                runs = [("torch", new, {"op": "torch", "model": str(tmp / f"{model_key}.pt"),
                                        "T": t_}),
                        ("new", new, {"op": "hwsim", "graph": job["graph"]})]  # fmt: skip
                if old is not None and not key.startswith("grow-"):
                    runs.append(("old", old, {"op": "hwsim", "graph": job["graph"]}))
                for tag, w, req in runs:
                    sec = w.ask(key=key, x=key, batch=b, **req)["sec"] / n
                    best[tag, key] = min(best.get((tag, key), float("inf")), sec)
        new_ro = new.close(tmp / "ro_new.npz")
        old_ro = old.close(tmp / "ro_old.npz") if old is not None else None
        new_mem = _mem(tmp, REPO, inputs, tmp / "VGG.json", "mem")
        old_mem = _mem(tmp, old_dir, inputs, tmp / "VGG.json", "mem") if old_dir else None

        print(f"digits, T={T}, direct input, 1 thread; per-sample time in us (best of "
              f"{REPEATS}, interleaved); old = hwsim at "
              f"{os.environ.get('HWSIM_BENCH_OLD', OLD_REF)[:10]}")  # fmt: skip
        print(f"  {'net':<4} {'batch':>5} {'torch eval':>11} {'hwsim new':>10} "
              f"{'hwsim old':>10} {'new/torch thr.':>15} {'new vs old':>11} {'bit-exact':>9}")
        ratios = {}
        for name in NETS:
            for b in BATCHES:
                key = f"{name}@{b}"
                t_torch, t_new = best["torch", key], best["new", key]
                ratios[key] = t_torch / t_new
                if old is not None:
                    t_old = best["old", key]
                    same = np.array_equal(new_ro[key], old_ro[key])
                    cols = (f"{t_old * 1e6:10.1f} {ratios[key]:14.2f}x {t_old / t_new:10.1f}x "
                            f"{same!s:>9}")  # fmt: skip
                else:
                    cols = f"{'-':>10} {ratios[key]:14.2f}x {'-':>11} {'-':>9}"
                print(f"  {name:<4} {b:5d} {t_torch * 1e6:11.1f} {t_new * 1e6:10.1f} {cols}")
        print("cost growth of hwsim fixed (MLP 64-H-10; per-sample us, hwsim / torch time):")
        base = best["new", "MLP@256"]
        print(f"  T=8 H=128 batch=256 (reference): {base * 1e6:.1f} us")
        for axis, val, *_ in growth:
            key = f"grow-{axis}-{val}"
            t_new, t_torch = best["new", key], best["torch", key]
            print(f"  {axis:<5} = {val:<5} {t_new * 1e6:9.1f} us  ({t_new / base:5.2f}x the "
                  f"reference; torch {t_torch * 1e6:8.1f} us, hwsim/torch time "
                  f"{t_new / t_torch:.2f})")  # fmt: skip
        print(f"peak memory of a recorded VGG run at batch {MEM_BATCH} (fresh process each):")

        def mb(v):
            return f"{v / 2**20:8.1f} MiB"

        for tag, m in (("new", new_mem), ("old", old_mem)):
            if m:
                print(f"  {tag}: peak RSS growth {mb(m['rss_growth'])}, numpy tracemalloc peak "
                      f"{mb(m['traced_peak'])}, records {mb(m['records'])}")
        if old_mem:
            o, n = old_mem, new_mem
            print(f"  new / old: RSS growth {n['rss_growth'] / o['rss_growth']:.2f}, tracemalloc "
                  f"peak {n['traced_peak'] / o['traced_peak']:.2f}, records "
                  f"{n['records'] / o['records']:.2f}")
        for name in NETS:
            r = ratios[name + "@256"]
            print(f"{name}: hwsim fixed / torch throughput at batch 256: {r:.2f}x")
        print(f"hwsim fixed / torch throughput: {ratios['MLP@256']:.2f}x")


if __name__ == "__main__":
    main()
