"""NIR files (HDF5, via ``nir.write``/``nir.read``): written atomically, read with errors that
name the file. HDF5 holds arrays and strings only; nothing is ever unpickled."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nir
import numpy as np

from hwsim.errors import ExportError
from hwsim.graph import HardwareGraph
from hwsim.io import write_error

from .export import DEFAULT_DT, to_nir
from .importer import from_nir

__all__ = ["write_nir", "read_nir", "save_nir_graph", "load_nir_graph", "check_sizes"]


def save_nir_graph(nir_graph: nir.NIRGraph, path: str | os.PathLike) -> Path:
    """Write a NIR graph to ``path`` atomically (a temporary file in the same directory,
    ``fsync``, ``os.replace``): an interrupted write leaves any previous file intact."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(exc, path) from exc
    os.close(fd)
    try:
        nir.write(tmp, nir_graph)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        named = write_error(exc, path)
        if named is exc:
            raise
        raise named from exc
    return path


#: The largest array a NIR file may declare (as hwsim.io.MAX_ARRAY_BYTES for graph files): a
#: dataset declared bigger is refused from its HDF5 header, before nir.read allocates it.
MAX_ARRAY_BYTES = 4 << 30


def check_sizes(path: Path) -> None:
    """Refuse, naming the dataset, a NIR file (HDF5) declaring an array beyond
    :data:`MAX_ARRAY_BYTES` or of a non-numeric dtype nir would unpickle or misread; only the
    headers are read (h5py opens lazily)."""
    import h5py

    problems: list[str] = []

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            nbytes = int(np.prod(obj.shape, dtype=object) or 0) * obj.dtype.itemsize
            if nbytes > MAX_ARRAY_BYTES:
                problems.append(
                    f"dataset {name!r} declares shape {obj.shape} of {obj.dtype} "
                    f"({nbytes:,} bytes), beyond the limit of {MAX_ARRAY_BYTES:,} bytes"
                )

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError for a bad file
        what = f"{type(exc).__name__}: {exc}"
        raise ExportError(f"{path}: not a readable NIR file ({what})") from None
    if problems:
        raise ExportError(f"{path}: {problems[0]}; refused before reading it")


def load_nir_graph(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a NIR file (``nir.read``); a missing, truncated or malformed file is an
    :class:`ExportError` naming it. A graph that fails only nir's type check is read without
    it: Norse and Rockpool write their ``Input`` with a batch axis (``[1, 64]``) that the type
    check compares with the next node's per-sample ``[64]``; :func:`~.importer.import_nir`
    infers every shape itself and reads the batch axis as such."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such NIR file")
    check_sizes(path)
    try:
        try:
            return nir.read(path)
        except ValueError as exc:
            if "Type inference error" not in str(exc) and "type mismatch" not in str(exc):
                raise
            return nir.read(path, type_check=False)
    except Exception as exc:  # h5py/nir raise OSError, KeyError, ValueError, AssertionError...
        raise ExportError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})") from exc


def write_nir(graph: HardwareGraph, path: str | os.PathLike, *, dt: float = DEFAULT_DT) -> Path:
    """``to_nir(graph, dt=dt)`` written to ``path`` (conventionally ``model.nir``), atomically."""
    return save_nir_graph(to_nir(graph, dt=dt), path)


def read_nir(path: str | os.PathLike, **kwargs) -> HardwareGraph:
    """The hardware graph of a NIR file: ``from_nir(load_nir_graph(path), **kwargs)``, errors
    naming the file."""
    try:
        return from_nir(load_nir_graph(path), **kwargs)
    except ExportError as exc:
        if str(path) in str(exc):
            raise
        raise ExportError(f"{path}: {exc}") from exc
