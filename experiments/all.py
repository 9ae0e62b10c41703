"""The results generator: run every experiment, rewrite docs/results.md and README's figures.

``python -m experiments.all`` (``make results``) runs each registered experiment at its
documented size, stores its data in ``docs/results-data/<key>.json``, writes its plots to
``docs/img/`` and rewrites the marked regions of ``docs/results.md`` and ``README.md`` (see
:mod:`experiments.results`); every rendered region is also printed. ``--quick`` (``make results
QUICK=1``) runs CI-sized versions and, unless ``--out`` says otherwise, writes everything —
data, plots and rewritten *copies* of the two documents — under ``runs/results-quick/``, so
quick numbers never replace the documented ones by accident. ``--render-only`` re-renders the
documents from the stored data without running anything. ``--only``/``--skip`` pick
experiments by key.

Full size takes about an hour on 2 shared CPU cores (most of it the E-I ablation and the
Lava rung); ``--quick`` a few minutes.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from experiments.results import Budget, load_data, rewrite, save_data
from hwsim.errors import ConfigError

__all__ = ["EXPERIMENTS", "DOCS", "render_all", "main"]

#: key -> module providing ``run(budget) -> dict`` and ``render(data) -> {region: markdown}``;
#: every region a module renders is named ``<key>.<part>``. Run in this order.
EXPERIMENTS: dict[str, str] = {
    "demo": "experiments.demo",
    "dap_depth": "experiments.dap_depth",
    "adali": "experiments.adali_digits",
    "adali_bench": "bench.bench_adali",
    "osr_mnist": "experiments.osr_mnist",
    "memory": "bench.bench_memory_online_vs_bptt",
    "ei_init_stats": "experiments.ei_init_stats",
    "ei_ablation": "experiments.ei_ablation",
    "error_centring": "experiments.error_centring",
    "inorm": "experiments.inorm_brightness",
    "fold_ladder": "experiments.fold_ladder",
    "onnx_rung3": "experiments.onnx_rung3",
    "lava_rung2": "experiments.lava_rung2",  # after the two above: it runs their trained nets
}
REPO = Path(__file__).resolve().parents[1]
#: the documents whose marked regions the generator owns (paths relative to the repository)
DOCS = ("docs/results.md", "README.md")
DATA_DIR = Path("docs/results-data")


def _module(key: str):
    return importlib.import_module(EXPERIMENTS[key])


def render_all(data_dir: Path, keys=None) -> dict[str, str]:
    """Every region of the experiments ``keys`` (default: all) rendered from stored data."""
    out: dict[str, str] = {}
    for key in keys or EXPERIMENTS:
        rendered = _module(key).render(load_data(data_dir, key))
        bad = [name for name in rendered if name.split(".")[0] != key]
        if bad:
            raise ConfigError(f"experiment {key!r} renders regions {bad} outside its key")
        out.update(rendered)
    return out


def _rewrite_docs(docs: dict[str, Path], rendered: dict[str, str]) -> dict[str, set[str]]:
    written: dict[str, set[str]] = {}
    for name, path in docs.items():
        text, done = rewrite(path.read_text(encoding="utf-8"), rendered)
        path.write_text(text, encoding="utf-8")
        written[name] = done
    missing = set(rendered) - set().union(*written.values())
    if missing:
        raise ConfigError(
            f"regions {sorted(missing)} are rendered but marked in none of {list(docs)}: add "
            "'<!-- results: NAME -->' / '<!-- /results: NAME -->' where they belong"
        )
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.all", description=__doc__)
    p.add_argument("--quick", action="store_true", help="CI-sized runs (minutes)")
    p.add_argument("--only", nargs="+", choices=list(EXPERIMENTS), metavar="KEY")
    p.add_argument("--skip", nargs="+", choices=list(EXPERIMENTS), default=[], metavar="KEY")
    p.add_argument(
        "--out",
        type=Path,
        help="write data, plots and rewritten copies of the documents here (default: in place "
        "for full runs, runs/results-quick for --quick)",
    )
    p.add_argument("--render-only", action="store_true", help="re-render from stored data")
    a = p.parse_args(argv)
    keys = [k for k in (a.only or EXPERIMENTS) if k not in a.skip]
    out = a.out if a.out is not None else (Path("runs/results-quick") if a.quick else None)
    if out is None:
        data_dir, img, runs = REPO / DATA_DIR, REPO / "docs/img", Path("runs/results")
        docs = {d: REPO / d for d in DOCS}
    else:
        data_dir, img, runs = out / "results-data", out / "img", out / "runs"
        out.mkdir(parents=True, exist_ok=True)
        docs = {}
        for d in DOCS:  # copies: the committed documents stay as they are
            docs[d] = out / Path(d).name
            if not docs[d].exists():
                shutil.copyfile(REPO / d, docs[d])
    budget = Budget(quick=a.quick, runs=runs, img=img)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if not a.render_only:
        for key in tqdm(keys, desc="experiments", disable=not sys.stderr.isatty()):
            t = time.perf_counter()
            data = _module(key).run(budget)
            save_data(data_dir, key, data)
            print(f"[results] {key}: {time.perf_counter() - t:.0f} s", flush=True)
    rendered = render_all(data_dir, keys)
    written = _rewrite_docs(docs, rendered)
    for name, body in rendered.items():
        print(f"\n<!-- results: {name} -->\n{body.rstrip()}\n<!-- /results: {name} -->")
    for doc, names in written.items():
        print(f"[results] {docs[doc]}: {len(names)} region(s) rewritten: {sorted(names)}")
    print(f"[results] data in {data_dir}; {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
