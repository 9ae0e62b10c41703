"""Readers for the on-disk dataset formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10/100 batches.

Both readers treat the file as untrusted input: every header field, size and type is checked,
and every failure is a :class:`hwsim.errors.DataError` naming the path and the format that was
expected (DESIGN.md section 8), never a traceback from deep inside numpy or pickle.

IDX (LeCun's MNIST format)::

    magic : uint32, big-endian = 0x0000 | dtype code (0x08 = uint8) | ndim
            -> 2051 (0x00000803) for images [N, rows, cols], 2049 (0x00000801) for labels [N]
    dims  : ndim x uint32, big-endian
    data  : prod(dims) bytes (uint8), row-major

CIFAR-10 python batches are pickles of ``{b'data': uint8 [10000, 3072], b'labels': [int]*10000,
...}``; CIFAR-100's ``train``/``test`` files hold ``b'fine_labels'`` (100 classes) and
``b'coarse_labels'`` (20 superclasses) instead of ``b'labels'``. ``pickle.load`` on an
untrusted file runs arbitrary code (any global can be called while unpickling), so
:class:`SafeUnpickler` resolves only the few globals an array of numbers needs and refuses
every other one.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zlib
from pathlib import Path

import numpy as np

from hwsim.errors import DataError

__all__ = [
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "ForbiddenGlobalError",
    "SafeUnpickler",
    "read_idx",
    "CIFAR_LABELS",
    "cifar_format",
    "read_cifar_batch",
    "safe_unpickle",
]

IDX_IMAGES_MAGIC = 2051  # 0x00000803: uint8, 3 dims
IDX_LABELS_MAGIC = 2049  # 0x00000801: uint8, 1 dim
_IDX_FORMATS = {
    IDX_IMAGES_MAGIC: "IDX images file, magic 2051, big-endian uint32 dims [N, rows, cols]",
    IDX_LABELS_MAGIC: "IDX labels file, magic 2049, big-endian uint32 dims [N]",
}
#: CIFAR variant -> (label key, number of classes)
CIFAR_LABELS = {"cifar10": ("labels", 10), "cifar100": ("fine_labels", 100)}


def cifar_format(variant: str = "cifar10") -> str:
    key, k = CIFAR_LABELS[variant]
    return (
        f"CIFAR-{k} python batch: a pickled dict with b'data' (uint8 [N, 3072]) and "
        f"b'{key}' (N ints in 0..{k - 1})"
    )


_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path, fmt: str) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (``.gz`` or not)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; expected a {fmt}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc}); expected a {fmt}") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        # A truncated .gz raises EOFError, a corrupt one BadGzipFile (an OSError) or zlib.error.
        raise DataError(f"{path}: broken gzip stream ({exc}); expected a gzipped {fmt}") from None


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read an uint8 IDX file whose magic number must be ``magic`` (2051 or 2049).

    Returns a read-only uint8 array of shape ``dims``. Raw or gzip-compressed files are both
    accepted (detected by content, not by name). The payload must be exactly ``prod(dims)``
    bytes: a truncated file and trailing garbage are both errors.
    """
    path = Path(path)
    if magic not in _IDX_FORMATS:
        raise ValueError(f"magic must be one of {sorted(_IDX_FORMATS)}, got {magic}")
    fmt = _IDX_FORMATS[magic]
    ndim = magic & 0xFF
    data = _read_bytes(path, fmt)
    if len(data) < 4:
        raise DataError(
            f"{path}: {len(data)} bytes, too short for a magic number; expected a {fmt}"
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"{path}: magic number {found} (0x{found:08x}), expected a {fmt}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: {len(data)} bytes, shorter than the {header}-byte header of a {fmt}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(data) - header
    if payload != expected:
        what = "truncated" if payload < expected else "trailing bytes"
        raise DataError(
            f"{path}: {what}: {payload} data bytes for dims {list(dims)} "
            f"(expected {expected}); expected a {fmt}"
        )
    # frombuffer over immutable bytes gives a read-only array: callers copy before writing.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


class ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global (or a codec) outside :class:`SafeUnpickler`'s allowlist."""


def _latin1_encode(obj: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` restricted to latin-1, the only codec pickle uses for bytes.

    Python 3 writes ``bytes`` at pickle protocol <= 2 as ``_codecs.encode(str, 'latin1')``; any
    other codec name (``zlib_codec``, ``hex``, ...) is refused rather than run.
    """
    # A fixed spelling list, not codecs.lookup: a lookup may import arbitrary encodings modules.
    if encoding not in ("latin1", "latin-1") or not isinstance(obj, str):
        raise ForbiddenGlobalError(f"_codecs.encode with codec {encoding!r} is not allowed")
    return obj.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], object]:
    """(module, name) -> the object an array pickle may reference; nothing else resolves.

    numpy 1.x writes ``numpy.core...`` and numpy 2.x ``numpy._core...``; both spellings map to
    this interpreter's own functions so a file written under either version loads.
    ``_frombuffer`` is what ``ndarray.__reduce_ex__`` emits at protocol 5 (it only wraps
    ``np.frombuffer(...).reshape``).
    """
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer

    table: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = _reconstruct
        table[(f"{core}.numeric", "_frombuffer")] = _frombuffer
    return table


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only numpy array reconstruction globals.

    Plain containers (dict, list, tuple), numbers, str and bytes need no globals at all; numpy
    arrays need ``_reconstruct``/``_frombuffer``, ``ndarray`` and ``dtype``. Any other global
    (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) raises
    :class:`ForbiddenGlobalError` before it is ever looked up, so it cannot run.
    """

    _ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise ForbiddenGlobalError(f"forbidden global {module}.{name}") from None


def safe_unpickle(path: str | Path, fmt: str) -> object:
    """Unpickle ``path`` with :class:`SafeUnpickler`; every failure becomes a DataError.

    ``encoding='bytes'`` reads the Python 2 ``str`` objects of the original CIFAR files as
    ``bytes`` (their dict keys are ``b'data'``, ``b'labels'``).
    """
    path = Path(path)
    data = _read_bytes(path, fmt)
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except ForbiddenGlobalError as exc:
        raise DataError(f"{path}: refused to unpickle: {exc}; expected a {fmt}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as exc:
        # What a truncated or garbled pickle stream raises from inside the unpickler.
        raise DataError(
            f"{path}: unreadable pickle ({type(exc).__name__}: {exc}); expected a {fmt}"
        ) from None


def _field(batch: dict, key: str) -> object:
    """``batch[b'key']`` (original files) or ``batch['key']`` (re-pickled by Python 3)."""
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    return None


def read_cifar_batch(path: str | Path, variant: str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR python batch: images uint8 [N, 3, 32, 32] and labels int64 [N].

    ``variant`` is ``"cifar10"`` (labels under ``b'labels'``, 0..9) or ``"cifar100"`` (the fine
    labels under ``b'fine_labels'``, 0..99). Each row of ``b'data'`` is 1024 red, then 1024
    green, then 1024 blue values, each plane row-major 32x32, so a reshape to [N, 3, 32, 32] is
    the channels-first image.
    """
    path = Path(path)
    if variant not in CIFAR_LABELS:
        raise ValueError(f"variant must be one of {sorted(CIFAR_LABELS)}, got {variant!r}")
    fmt = cifar_format(variant)
    label_key, num_classes = CIFAR_LABELS[variant]
    batch = safe_unpickle(path, fmt)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: pickle holds a {type(batch).__name__}; expected a {fmt}")
    data, labels = _field(batch, "data"), _field(batch, label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        if data is None:
            got = "missing"
        elif isinstance(data, np.ndarray):
            got = f"a {data.dtype} array of shape {data.shape}"
        else:
            got = f"a {type(data).__name__}"
        raise DataError(f"{path}: b'data' is {got}; expected a {fmt}")
    if data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: b'data' has {data.shape[1]} columns; expected a {fmt}")
    # Real files hold a list of Python ints; an array of integers is accepted too. Anything
    # else (floats, strings, ragged lists) is refused instead of silently truncated by a cast.
    y = np.asarray(labels) if isinstance(labels, (list, np.ndarray)) else np.empty(0, object)
    valid = y.dtype.kind in "iu" and y.shape == (data.shape[0],)
    if not valid or (y.size > 0 and (y.min() < 0 or y.max() >= num_classes)):
        raise DataError(
            f"{path}: b'{label_key}' is not {data.shape[0]} ints in 0..{num_classes - 1}; "
            f"expected a {fmt}"
        )
    return data.reshape(-1, 3, 32, 32), y.astype(np.int64)
