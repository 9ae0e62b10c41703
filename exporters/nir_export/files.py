"""NIR files (HDF5, via ``nir.write``/``nir.read``): written atomically, read with errors that
name the file. HDF5 holds arrays and strings only; nothing is ever unpickled."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nir

from hwsim.errors import ExportError
from hwsim.graph import HardwareGraph
from hwsim.io import write_error

from .export import DEFAULT_DT, to_nir
from .importer import from_nir

__all__ = ["write_nir", "read_nir", "save_nir_graph", "load_nir_graph"]


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


def load_nir_graph(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a NIR file (``nir.read``); a missing, truncated or malformed file is an
    :class:`ExportError` naming it. A graph that fails only nir's type check is read without
    it: Norse and Rockpool write their ``Input`` with a batch axis (``[1, 64]``) that the type
    check compares with the next node's per-sample ``[64]``; :func:`~.importer.import_nir`
    infers every shape itself and reads the batch axis as such."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such NIR file")
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
