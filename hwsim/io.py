"""Hardware graphs as dicts and as files: one generic ``to_dict``/``from_dict`` pair, one format.

``to_dict`` and ``from_dict`` are driven by the dataclass fields and their type hints (as NIR's
serialisation is), so a new node kind or field needs no serialisation code: nodes, the nested
:class:`~hwsim.graph.FastInhibitory` of an E-I circuit, :class:`~hwsim.arith.FixedWidths`,
:class:`~hwsim.graph.GraphMetadata` and :class:`~hwsim.graph.HardwareGraph` all go through
the same two functions. The writer and the reader use them and add only the file layout.

File format (``.npz``, schema :data:`hwsim.graph.SCHEMA_VERSION`)
-----------------------------------------------------------------
An uncompressed numpy ``.npz`` (a zip of ``.npy`` members, CRC-checked) holding:

* ``__header__``: a uint8 array, the UTF-8 bytes of a JSON object ``{"magic":
  "spikefold-hardware-graph", "schema_version": 1, "graph": <to_dict(graph)>}`` in which
  every array is replaced by ``{"$array": "a<k>"}``;
* ``a0, a1, ...``: the arrays, with their exact dtypes and shapes.

Read with ``np.load(allow_pickle=False)`` (never unpickles), written atomically (a temporary
file in the same directory, ``fsync``, ``os.replace``). Every problem, from a truncated zip to
a tampered shape, is a :class:`~hwsim.errors.GraphError` naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import types
import typing
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import GraphError
from hwsim.graph import NODE_KINDS, SCHEMA_VERSION, HardwareGraph, Node

__all__ = [
    "FILE_MAGIC",
    "to_dict",
    "from_dict",
    "save_graph",
    "load_graph",
    "graphs_equal",
    "atomic_write_text",
    "write_error",
]

FILE_MAGIC = "spikefold-hardware-graph"
_HEADER = "__header__"
_REF = "$array"


# ---------------------------------------------------------------------------------------------
# Generic dataclass <-> dict
# ---------------------------------------------------------------------------------------------


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass instance as a tree of dicts, lists, plain scalars and numpy arrays.

    Fields in declaration order; a :class:`~hwsim.graph.Node` also gets ``"kind"`` (its class
    name); tuples become lists, nested dataclasses dicts, numpy scalars Python scalars; arrays
    stay arrays (the writer stores them apart).
    """
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"to_dict takes a dataclass instance, got {type(obj).__name__}")
    out: dict[str, Any] = {"kind": type(obj).__name__} if isinstance(obj, Node) else {}
    for f in dataclasses.fields(obj):
        out[f.name] = _encode(getattr(obj, f.name))
    return out


def _encode(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return to_dict(v)
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (tuple, list)):
        return [_encode(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _encode(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


def from_dict(cls: type, d: dict[str, Any], where: str = "") -> Any:
    """Rebuild an instance of dataclass ``cls`` from :func:`to_dict`'s tree.

    Each field is converted by its type hint (arrays, ints, floats, strings, Literals,
    tuples, dicts, unions, nested dataclasses). For ``cls`` :class:`~hwsim.graph.Node` (or a
    hint naming it) the class is looked up by ``d["kind"]`` in
    :data:`~hwsim.graph.NODE_KINDS`. Unknown kinds, unknown or missing fields and values of
    the wrong type raise :class:`GraphError` naming ``where`` (e.g. ``nodes['fc1'].bias``).
    """
    where = where or cls.__name__
    if not isinstance(d, dict):
        raise GraphError(f"{where}: expected an object, got {type(d).__name__}")
    d = dict(d)
    if issubclass(cls, Node):
        kind = d.pop("kind", None)
        if kind not in NODE_KINDS:
            raise GraphError(
                f"{where}: unknown node kind {kind!r}; known kinds: {', '.join(NODE_KINDS)}"
            )
        if cls is not Node and NODE_KINDS[kind] is not cls:
            raise GraphError(f"{where}: expected a {cls.__name__}, got a {kind}")
        cls = NODE_KINDS[kind]
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(d) - names)
    if unknown:
        raise GraphError(f"{where}: unknown field(s) {unknown} for {cls.__name__}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name not in d:
            no_default = f.default is dataclasses.MISSING
            if no_default and f.default_factory is dataclasses.MISSING:
                raise GraphError(f"{where}: missing field {f.name!r} of {cls.__name__}")
            continue
        kwargs[f.name] = _convert(d[f.name], hints[f.name], f"{where}.{f.name}")
    try:
        return cls(**kwargs)
    except GraphError:
        raise
    except (TypeError, ValueError) as e:
        raise GraphError(f"{where}: cannot build {cls.__name__}: {e}") from None


def _convert(v: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return v
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(v, arg, where)
            except GraphError:
                continue
        raise GraphError(f"{where}: {v!r:.60} matches none of {hint}")
    if origin is typing.Literal:
        if v not in args:
            raise GraphError(f"{where}: {v!r} is not one of {list(args)}")
        return v
    if hint is np.ndarray:
        if isinstance(v, (list, np.ndarray)) and not isinstance(v, bool):
            a = np.asarray(v)
            if a.dtype.kind not in "biuf":
                raise GraphError(f"{where}: array of dtype {a.dtype} is not numeric")
            return a
        raise GraphError(f"{where}: expected an array, got {type(v).__name__}")
    if hint is bool:
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        raise GraphError(f"{where}: expected a bool, got {v!r:.60}")
    if hint is int:
        if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            return int(v)
        raise GraphError(f"{where}: expected an int, got {v!r:.60}")
    if hint is float:
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            return float(v)
        raise GraphError(f"{where}: expected a number, got {v!r:.60}")
    if hint is str:
        if isinstance(v, str):
            return v
        raise GraphError(f"{where}: expected a string, got {v!r:.60}")
    if origin is tuple:
        if not isinstance(v, (list, tuple)):
            raise GraphError(f"{where}: expected a list, got {type(v).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(x, args[0], f"{where}[{i}]") for i, x in enumerate(v))
        if len(v) != len(args):
            raise GraphError(f"{where}: expected {len(args)} items, got {len(v)}")
        return tuple(_convert(x, a, f"{where}[{i}]") for i, (x, a) in enumerate(zip(v, args)))
    if origin is dict:
        if not isinstance(v, dict):
            raise GraphError(f"{where}: expected an object, got {type(v).__name__}")
        kt, vt = args
        return {_convert(k, kt, where): _convert(x, vt, f"{where}[{k!r}]") for k, x in v.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(v, hint):
            return v
        return from_dict(hint, v, where)
    raise GraphError(f"{where}: no conversion for the type hint {hint!r}")  # a bug, not data


# ---------------------------------------------------------------------------------------------
# The file format
# ---------------------------------------------------------------------------------------------


def save_graph(graph: HardwareGraph, path: str | os.PathLike) -> Path:
    """Write ``graph`` to ``path`` (conventionally ``*.graph.npz``) atomically; returns it."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}

    def pull(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            key = f"a{len(arrays)}"
            arrays[key] = x
            return {_REF: key}
        if isinstance(x, dict):
            return {k: pull(v) for k, v in x.items()}
        if isinstance(x, list):
            return [pull(v) for v in x]
        return x

    tree = pull(to_dict(graph))
    header = {"magic": FILE_MAGIC, "schema_version": SCHEMA_VERSION, "graph": tree}
    text = json.dumps(header, allow_nan=False, ensure_ascii=False)
    arrays[_HEADER] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    fd, tmp = _mkstemp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        named = write_error(exc, path)
        if named is exc:
            raise
        raise named from exc
    return path


def _mkstemp(path: Path) -> tuple[int, str]:
    """A temporary file beside ``path`` (its failure names ``path``)."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(exc, path) from exc


def write_error(exc: BaseException, path: str | os.PathLike) -> BaseException:
    """The error of a failed write of ``path``, naming ``path``: an ``OSError`` raised while
    writing its temporary file (a full disk, a read-only directory) names the temporary file
    or nothing; the one returned names the file the user knows (same errno and class)."""
    if isinstance(exc, OSError) and exc.errno is not None and exc.filename != str(path):
        return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))
    return exc


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, as :func:`save_graph` writes a graph (a
    temporary file in the same directory, ``fsync``, ``os.replace``; the parent directory is
    created): an interrupted write leaves any previous file intact. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        named = write_error(exc, path)
        if named is exc:
            raise
        raise named from exc
    return path


def load_graph(path: str | os.PathLike) -> HardwareGraph:
    """Read and validate a graph written by :func:`save_graph`.

    Raises :class:`GraphError` naming ``path`` for a missing, truncated or corrupt file, a
    foreign or newer schema, and every validation problem of the graph itself.
    """
    path = Path(path)
    _check_members(path)  # sizes from the headers, before anything is allocated
    try:
        with np.load(path, allow_pickle=False) as z:
            members = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise GraphError(f"{path}: no such graph file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise GraphError(
            f"{path}: not a readable spikefold graph file (truncated or corrupt?): {e}"
        ) from None
    if _HEADER not in members:
        raise GraphError(f"{path}: no {_HEADER} member; not a spikefold graph file")
    try:
        header = json.loads(members.pop(_HEADER).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GraphError(f"{path}: corrupt header: {e}") from None
    if not isinstance(header, dict) or header.get("magic") != FILE_MAGIC:
        raise GraphError(f"{path}: not a spikefold graph file (magic {FILE_MAGIC!r} missing)")
    version = header.get("schema_version")
    if version != SCHEMA_VERSION:
        raise GraphError(
            f"{path}: schema version {version!r}; this spikefold reads version "
            f"{SCHEMA_VERSION} (re-export the graph with a matching spikefold)"
        )

    def push(x: Any) -> Any:
        if isinstance(x, dict):
            if set(x) == {_REF}:
                key = x[_REF]
                if key not in members:
                    raise GraphError(f"{path}: the header refers to a missing array {key!r}")
                return members[key]
            return {k: push(v) for k, v in x.items()}
        if isinstance(x, list):
            return [push(v) for v in x]
        return x

    try:
        return from_dict(HardwareGraph, push(header.get("graph")), "graph")
    except GraphError as e:
        raise GraphError(f"{path}: {e}") from None


#: The largest array a graph file may hold (a VGG-16's biggest weight is ~10 MB): an array
#: declared bigger is refused from its header, before numpy allocates it.
MAX_ARRAY_BYTES = 4 << 30
MAX_HEADER_BYTES = 64 << 20  # the JSON header of a graph (a few kB for any real network)


def _check_members(path: Path) -> None:
    """Read every ``.npy`` member's header (shape, dtype) and refuse, naming the member, an
    array whose declared size exceeds :data:`MAX_ARRAY_BYTES` or differs from the bytes the
    member holds (a forged header declaring 8 TiB in a file of a few kB), an object dtype, or
    a member that is not an ``.npy``; nothing is allocated from a declared size."""
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise GraphError(f"{path}: no such graph file") from None
    except IsADirectoryError:
        raise GraphError(f"{path}: is a directory, not a graph file") from None
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise GraphError(
            f"{path}: not a readable spikefold graph file (truncated or corrupt?): {e}"
        ) from None
    with zf:
        for info in zf.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                raise GraphError(f"{path}: member {name!r} is not a .npy array")
            try:
                with zf.open(info) as fh:
                    major, _minor = np.lib.format.read_magic(fh)
                    read = {
                        1: np.lib.format.read_array_header_1_0,
                        2: np.lib.format.read_array_header_2_0,
                    }.get(major)
                    if read is None:
                        raise ValueError(f"npy format version {major}")
                    shape, _fortran, dtype = read(fh, max_header_size=1 << 16)
                    header_len = fh.tell()
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, SyntaxError) as e:
                raise GraphError(f"{path}: array {name!r}: unreadable .npy header ({e})") from None
            if dtype.hasobject:
                raise GraphError(f"{path}: array {name!r}: object dtype (never unpickled)")
            if any((not isinstance(d, int)) or d < 0 for d in shape):
                raise GraphError(f"{path}: array {name!r}: invalid shape {shape}")
            declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
            limit = MAX_HEADER_BYTES if name == f"{_HEADER}.npy" else MAX_ARRAY_BYTES
            if declared > limit:
                raise GraphError(
                    f"{path}: array {name!r} declares shape {shape} of {dtype} "
                    f"({declared:,} bytes), beyond the limit of {limit:,} bytes; refused "
                    "before reading it"
                )
            if info.file_size != header_len + declared:
                raise GraphError(
                    f"{path}: array {name!r} declares shape {shape} of {dtype} "
                    f"({declared:,} bytes) but holds {info.file_size - header_len:,} bytes "
                    "(forged or truncated)"
                )


def graphs_equal(a: HardwareGraph, b: HardwareGraph) -> bool:
    """Exact equality: same structure, scalars, and arrays of the same dtype, shape, values."""
    return _tree_equal(to_dict(a), to_dict(b))


def _tree_equal(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return (
            isinstance(x, np.ndarray)
            and isinstance(y, np.ndarray)
            and x.dtype == y.dtype
            and x.shape == y.shape
            and bool(np.array_equal(x, y))
        )
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_tree_equal(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_tree_equal(u, v) for u, v in zip(x, y))
    return type(x) is type(y) and x == y
