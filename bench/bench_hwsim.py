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

Everything runs single-threaded (torch, BLAS): each hwsim measurement in a subprocess that
sets ``OMP/OPENBLAS/MKL_NUM_THREADS=1`` before numpy loads; times are the best of
``REPEATS`` runs. The last line is the summary ``hwsim fixed / torch throughput: R x`` (the
MLP at batch 256).

Run: ``python -m bench hwsim`` (or ``python -m bench.bench_hwsim``); ``HWSIM_BENCH_OLD=<git
ref>`` compares against another revision, ``HWSIM_BENCH_OLD=none`` skips the old one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
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
# checkout of its hwsim package), single-threaded, and times ``simulate_dataset``.
WORKER = r"""
import os, sys, json, time
for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
spec = json.load(open(sys.argv[1]))
sys.path.insert(0, spec["hwsim_dir"])
import numpy as np
import torch
torch.set_num_threads(1)
import hwsim
assert os.path.dirname(os.path.dirname(hwsim.__file__)) == spec["hwsim_dir"], hwsim.__file__
from hwsim.io import load_graph
from hwsim.sim import simulate, simulate_dataset
out = {"times": {}, "mem": None}
data = np.load(spec["inputs"])
if spec["mem"]:
    import resource, tracemalloc
    g = load_graph(spec["mem"]["graph"])
    x = data[spec["mem"]["x"]]
    simulate(g, x[:2], record=True)  # warm up imports and caches
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    r = simulate(g, x, record=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rec = sum(a.nbytes for a in r.records.values())
    grow = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    out["mem"] = {"rss_growth": grow * 1024, "traced_peak": peak, "records": rec}
readouts = {}
for job in spec["jobs"]:
    g = load_graph(job["graph"])
    x = data[job["x"]]
    best = float("inf")
    for _ in range(job["repeats"]):
        t0 = time.perf_counter()
        r = simulate_dataset(g, x, job["batch"])
        best = min(best, time.perf_counter() - t0)
    out["times"][job["key"]] = best / len(x)
    readouts[job["key"]] = r.readout
np.savez(spec["readouts"], **readouts)
print(json.dumps(out))
"""


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


def _run_worker(tmp: Path, hwsim_dir: Path, tag: str, jobs: list, mem: dict | None, inputs):
    spec = {"hwsim_dir": str(hwsim_dir), "inputs": str(inputs), "jobs": jobs, "mem": mem,
            "readouts": str(tmp / f"readouts_{tag}.npz")}  # fmt: skip
    path = tmp / f"spec_{tag}.json"
    path.write_text(json.dumps(spec))
    script = tmp / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONPATH": ""}  # fmt: skip
    p = subprocess.run([sys.executable, str(script), str(path)], capture_output=True,
                       text=True, cwd=tmp, env=env)  # fmt: skip
    if p.returncode:
        raise RuntimeError(f"hwsim worker ({tag}) failed:\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    return out, dict(np.load(spec["readouts"]))


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


def _torch_per_sample(model, x: np.ndarray, batch: int, T_: int = T) -> float:
    import torch

    xt = torch.as_tensor(x)
    seq = xt.unsqueeze(0).expand(T_, *xt.shape)
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(x), batch):
                model(seq[:, s : s + batch]).sum(0).argmax(-1)
        best = min(best, time.perf_counter() - t0)
    return best / len(x)


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
                jobs.append({"key": key, "graph": str(tmp / f"{name}.json"), "x": key,
                             "batch": b, "repeats": REPEATS})  # fmt: skip
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
            jobs.append({"key": key, "graph": str(gpath), "x": key, "batch": b,
                         "repeats": REPEATS})  # fmt: skip
        arrays["mem"] = _tile(x_test, MEM_BATCH)
        np.savez(tmp / "inputs.npz", **arrays)
        mem = {"graph": str(tmp / "VGG.json"), "x": "mem"}

        new, new_ro = _run_worker(tmp, REPO, "new", jobs, None, tmp / "inputs.npz")
        new_mem, _ = _run_worker(tmp, REPO, "newmem", [], mem, tmp / "inputs.npz")
        old = old_ro = old_mem = None
        if old_dir is not None:
            main_jobs = [j for j in jobs if not j["key"].startswith("grow-")]
            old, old_ro = _run_worker(tmp, old_dir, "old", main_jobs, None, tmp / "inputs.npz")
            old_mem, _ = _run_worker(tmp, old_dir, "oldmem", [], mem, tmp / "inputs.npz")

        print(f"digits, T={T}, direct input, 1 thread; per-sample time in us (best of "
              f"{REPEATS}); old = hwsim at {os.environ.get('HWSIM_BENCH_OLD', OLD_REF)[:10]}")
        print(f"  {'net':<4} {'batch':>5} {'torch eval':>11} {'hwsim new':>10} "
              f"{'hwsim old':>10} {'new/torch thr.':>15} {'new vs old':>11} {'bit-exact':>9}")
        ratios = {}
        for name in NETS:
            for b in BATCHES:
                key = f"{name}@{b}"
                t_torch = _torch_per_sample(models[name], arrays[key], b)
                t_new = new["times"][key]
                ratios[key] = t_torch / t_new
                if old is not None:
                    t_old = old["times"][key]
                    same = np.array_equal(new_ro[key], old_ro[key])
                    cols = f"{t_old * 1e6:10.1f} {ratios[key]:14.2f}x {t_old / t_new:10.1f}x {same!s:>9}"
                else:
                    cols = f"{'-':>10} {ratios[key]:14.2f}x {'-':>11} {'-':>9}"
                print(f"  {name:<4} {b:5d} {t_torch * 1e6:11.1f} {t_new * 1e6:10.1f} {cols}")
        print("cost growth of hwsim fixed (MLP 64-H-10; per-sample us, hwsim / torch time):")
        base = new["times"]["MLP@256"]
        print(f"  T=8 H=128 batch=256 (reference): {base * 1e6:.1f} us")
        for axis, val, _, t_, b in growth:
            key = f"grow-{axis}-{val}"
            model, t_, b = gmodels[key]
            t_new = new["times"][key]
            t_torch = _torch_per_sample(model, arrays[key], b, t_)
            print(f"  {axis:<5} = {val:<5} {t_new * 1e6:9.1f} us  ({t_new / base:5.2f}x the "
                  f"reference; torch {t_torch * 1e6:8.1f} us, hwsim/torch time {t_new / t_torch:.2f})")
        print(f"peak memory of a recorded VGG run at batch {MEM_BATCH} (fresh process each):")

        def mb(v):
            return f"{v / 2**20:8.1f} MiB"

        for tag, m in (("new", new_mem["mem"]), ("old", old_mem["mem"] if old_mem else None)):
            if m:
                print(f"  {tag}: peak RSS growth {mb(m['rss_growth'])}, numpy tracemalloc peak "
                      f"{mb(m['traced_peak'])}, records {mb(m['records'])}")
        if old_mem:
            o, n = old_mem["mem"], new_mem["mem"]
            print(f"  new / old: RSS growth {n['rss_growth'] / o['rss_growth']:.2f}, tracemalloc "
                  f"peak {n['traced_peak'] / o['traced_peak']:.2f}, records "
                  f"{n['records'] / o['records']:.2f}")
        for name in NETS:
            print(f"{name}: hwsim fixed / torch throughput at batch 256: {ratios[name + '@256']:.2f}x")
        print(f"hwsim fixed / torch throughput: {ratios['MLP@256']:.2f}x")


if __name__ == "__main__":
    main()
