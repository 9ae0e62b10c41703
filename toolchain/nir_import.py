"""``import_nir_run``: a NIR file another library wrote -> a run directory that every stage after
the fold accepts (DESIGN.md section 2, "import"; ``docs/interop.md``).

    run = import_nir_run("model.nir", "digits", T=8, source="snntorch", name="snn")

writes ``runs/<name>/``:

* ``config.yaml`` — ``data`` (the dataset, and ``shape``: the graph's per-sample input shape,
  which frames are reshaped to), ``model: {arch: imported, format: nir, file: source.nir}``,
  ``train: {T, encoding}``; there is no checkpoint (rung 0 is skipped, rung S takes its place);
* ``graph.float.npz`` — the imported float graph (:func:`exporters.nir_export.import_nir`);
* ``source.nir`` — the file as given (its SHA-256 in ``import.json``);
* ``import.json`` — the import record: origin library, time step and where it came from, the
  node names (hwsim -> NIR), inserted nodes, every decision and every assumption (the lossy
  readings, also printed as warnings).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import nir

from exporters.nir_export import LossyImportWarning, NirImport, import_nir, load_nir_graph
from hwsim.errors import ConfigError, ExportError
from hwsim.io import atomic_write_text, save_graph
from toolchain import provenance
from toolchain.config import DataConfig, RunConfig, dump_config
from toolchain.encoding import canonical_encoding
from toolchain.pipeline import load_run_data
from toolchain.rundir import ARTIFACTS, CONFIG, GRAPH_FLOAT, IMPORT_JSON, SOURCE_NIR
from toolchain.train import TrainConfig

__all__ = ["ImportedRun", "import_nir_run", "import_options", "read_import_record"]


@dataclass(frozen=True)
class ImportedRun:
    run_dir: Path
    imported: NirImport
    warnings: tuple[str, ...]


def import_options(dataset: str, T, dt, source, encoding: str, data_root=None) -> dict:
    """The options of an import (its provenance record): what changes the graph and config."""
    return {"dataset": dataset, "data_root": data_root, "T": T, "dt": dt, "source": source,
            "encoding": encoding}  # fmt: skip


def import_nir_run(
    path: str | Path,
    dataset: str,
    *,
    T: int | None = None,
    dt: float | None = None,
    source: str | None = None,
    encoding: str = "direct",
    name: str | None = None,
    runs_root: str | Path = "runs",
    data_root: str | None = None,
    overwrite: bool = False,
) -> ImportedRun:
    """Import the NIR file ``path`` (trained on ``dataset``) into ``runs_root/name`` (default
    the file's stem). ``T``, ``dt``, ``source`` as :func:`exporters.nir_export.import_nir`
    takes them; ``encoding`` ``direct`` or ``rate`` (how the frames drive the Input). A run
    directory that already holds a run is refused unless ``overwrite`` (which deletes every
    artifact of the old run first, as ``spikefold train --overwrite`` does). The directory is
    locked while writing and every file is recorded in its provenance (inputs: ``source.nir``),
    so a later stage refuses a graph changed by hand."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such NIR file")
    ng = load_nir_graph(path)
    run_dir = Path(runs_root) / (name or path.stem)
    enc = canonical_encoding(encoding)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LossyImportWarning)
        try:
            imp = import_nir(ng, T=T, dt=dt, source=source, encoding=enc)
        except ExportError as exc:  # the message names the file the user gave
            raise ExportError(f"{path}: {exc}") from exc
    lossy = tuple(str(w.message) for w in caught if issubclass(w.category, LossyImportWarning))
    for msg in lossy:  # re-raised for the caller, once each
        warnings.warn(msg, LossyImportWarning, stacklevel=2)
    (inp,) = imp.graph.input_names()
    shape = [int(s) for s in imp.graph.nodes[inp].shape]
    cfg = RunConfig(
        name=run_dir.name,
        data=DataConfig(dataset=dataset, root=data_root, shape=shape),
        model={"arch": "imported", "format": "nir", "file": SOURCE_NIR},
        train=TrainConfig(T=imp.record.T, encoding=enc),
    )
    load_run_data(cfg)  # the dataset exists and its frames fit the graph's input
    data = path.read_bytes()
    command = f"spikefold import nir {path.resolve()} --dataset {dataset} --name {run_dir.name}"
    with provenance.run_lock(run_dir, command):
        existing = [n for n in ARTIFACTS if (run_dir / n).is_file()]
        if existing and not overwrite:
            raise ConfigError(
                f"{run_dir} already holds a run ({', '.join(existing)}): pass --overwrite to "
                "replace it (deletes these files), or give another --name"
            )
        provenance.clear_run(run_dir)
        (run_dir / SOURCE_NIR).write_bytes(data)
        save_graph(imp.graph, run_dir / GRAPH_FLOAT)
        atomic_write_text(run_dir / CONFIG, dump_config(cfg))
        record = {
            "source_file": str(path),
            "sha256": hashlib.sha256(data).hexdigest(),
            "nir_version": nir.__version__,
            **imp.record.to_dict(),
        }
        atomic_write_text(run_dir / IMPORT_JSON, json.dumps(record, indent=2) + "\n")
        opts = import_options(dataset, T, dt, source, enc, data_root)
        provenance.record(run_dir, "import", command, [SOURCE_NIR], options=opts)
        provenance.record(run_dir, "import", command, [CONFIG, GRAPH_FLOAT, IMPORT_JSON],
                          inputs=[SOURCE_NIR], options=opts)  # fmt: skip
    return ImportedRun(run_dir, imp, lossy)


def read_import_record(run_dir: str | Path):
    """The :class:`~exporters.nir_export.ImportRecord` of an imported run (None for a trained
    run, which has no ``import.json``)."""
    from exporters.nir_export import ImportRecord

    p = Path(run_dir) / IMPORT_JSON
    if not p.exists():
        return None
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        fields = set(ImportRecord.__dataclass_fields__)
        d = {k: v for k, v in d.items() if k in fields}
        d["decisions"], d["assumptions"] = tuple(d["decisions"]), tuple(d["assumptions"])
        return ImportRecord(**d)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{p}: not a readable import record ({exc}); re-run the import") from exc
