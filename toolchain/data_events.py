"""Event-camera and spike datasets through ``tonic``: N-MNIST, DVS128 Gesture, CIFAR10-DVS, SHD.

Each sample is read from its file in the published format with tonic's own readers, binned into
``T`` frames with ``tonic.transforms.ToFrame(n_time_bins=T)`` (events of each polarity counted
per pixel and bin) and turned into a **binary spike train** ``[T, P, H, W]`` (``[T, 700]`` for
SHD): **[choice]** a pixel spikes in bin ``t`` when it saw at least one event of that polarity
there, because the hardware's ``spikes`` input carries 0/1 events, not counts. Optionally
``tonic.transforms.Downsample(spatial_factor=...)`` first shrinks the sensor (CIFAR10-DVS is
usually trained at 48x48, DVS Gesture at 32x32 or 64x64). tonic's time bins are half-open,
``[t₀ + k·w, t₀ + (k+1)·w)`` with ``w = (t_last - t₀)/T``, so the recording's very last event
falls in no bin (tonic 1.7.0; the tests pin it).

:class:`EventFrames` is lazy, like :class:`toolchain.data_images.ImageFiles`: it has the
``shape`` ``[N, T, *frame]`` of the tensor it stands for and indexing reads and bins only the
files asked for, so a DataLoader's workers bin in parallel and a dataset of 60,000 recordings
never sits in memory.

Layouts (those tonic's dataset classes read, which are the published archives unpacked):

- ``nmnist`` (frame 2x34x34, 10 classes): ``Train/<digit>/*.bin``, ``Test/<digit>/*.bin``
  (Orchard's 40-bit events, ``tonic.io.read_mnist_file``).
- ``dvs_gesture`` (2x128x128, 11 classes): ``ibmGestureTrain/user<NN>_<light>/<label>.npy`` and
  ``ibmGestureTest/...`` (tonic's release: ``[N, 4]`` columns x, y, p, t in ms).
- ``cifar10_dvs`` (2x128x128, 10 classes): ``<class>/*.aedat`` (the original AEDAT 2.0 release,
  DVS128 addresses) or ``<class>/*.aedat4`` (tonic's release; needs the ``aedat`` package); no
  official split, so a seeded stratified one (``test_fraction``, ``seed``).
- ``shd`` (700 units, 20 classes): ``shd_train.h5``, ``shd_test.h5`` (``spikes/times`` in s,
  ``spikes/units``, ``labels``; HDF5 read with ``h5py``).

``root`` may also be the directory tonic downloads into (``save_to``): the class-named
sub-directory (``NMNIST``, ``DVSGesture``, ``CIFAR10DVS``, ``hsd``) is looked up first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hwsim.errors import DataError
from toolchain.lazy import LazySamples

__all__ = ["EVENT_DATASETS", "EventFrames", "EventSource", "event_splits"]

SHD_UNITS = 700


@dataclass(frozen=True)
class EventSource:
    """One event dataset: its sensor ``(W, H, P)`` as tonic names it, class count, the tonic
    class whose download folder may hold it, and the reader of one recording."""

    sensor_size: tuple[int, int, int]
    num_classes: int
    tonic_folder: str
    read: Callable[[object], np.ndarray]


def _read_nmnist(path: Path) -> np.ndarray:
    from tonic.datasets import NMNIST
    from tonic.io import read_mnist_file

    return read_mnist_file(str(path), dtype=NMNIST.dtype)


def _read_gesture(path: Path) -> np.ndarray:
    from numpy.lib.recfunctions import unstructured_to_structured
    from tonic.datasets import DVSGesture

    a = np.load(path)
    if a.ndim != 2 or a.shape[1] != 4:
        raise DataError(f"{path}: array of shape {a.shape}; expected DVS Gesture events [N, 4]")
    a = a.astype(np.float64)
    a[:, 3] *= 1000  # the release stores milliseconds; tonic's events are in microseconds
    return unstructured_to_structured(a, DVSGesture.dtype)


def _read_aedat(path: Path) -> np.ndarray:
    from tonic.io import (
        get_aer_events_from_file,
        make_structured_array,
        read_aedat4,
        read_aedat_header_from_file,
    )

    if path.suffix == ".aedat4":
        try:
            events = read_aedat4(str(path))
        except ImportError:
            raise DataError(f"{path}: AEDAT4 files need the 'aedat' package") from None
        events.dtype.names = ["t", "x", "y", "p"]
        return events
    version, start, _ = read_aedat_header_from_file(str(path))
    raw = get_aer_events_from_file(str(path), version, start)
    addr = raw["address"].astype(np.int64)
    # DVS128 addresses (AEDAT 2.0, jAER's layout): bit 0 polarity, bits 1-7 x, bits 8-14 y.
    # tonic 1.7.0's read_dvs_128 is not used: it swaps x and y, and it unpacks two values from
    # read_aedat_header_from_file, which returns three.
    x, y, p = (addr >> 1) & 0x7F, (addr >> 8) & 0x7F, addr & 1
    return make_structured_array(x, y, raw["timeStamp"].astype(np.int64), p)


def _read_shd(item: tuple[Path, int]) -> np.ndarray:
    import h5py
    from tonic.datasets import SHD
    from tonic.io import make_structured_array

    path, index = item
    with h5py.File(path, "r") as f:
        times = f["spikes/times"][index].astype(np.float64) * 1e6  # s -> us, as tonic does
        units = f["spikes/units"][index]
    return make_structured_array(times, units, 1, dtype=SHD.dtype)


EVENT_DATASETS: dict[str, EventSource] = {
    "nmnist": EventSource((34, 34, 2), 10, "NMNIST", _read_nmnist),
    "dvs_gesture": EventSource((128, 128, 2), 11, "DVSGesture", _read_gesture),
    "cifar10_dvs": EventSource((128, 128, 2), 10, "CIFAR10DVS", _read_aedat),
    "shd": EventSource((SHD_UNITS, 1, 1), 20, "hsd", _read_shd),
}


class EventFrames(LazySamples):
    """A lazily binned spike-train tensor ``[N, T, *frame]`` (float32 zeros and ones).

    Args:
        items: what ``source.read`` takes for each sample (a path, or ``(file, index)``).
        source: the dataset's :class:`EventSource`.
        T: number of time bins (``ToFrame(n_time_bins=T)``).
        downsample: spatial factor in (0, 1] applied before binning (1: none).
    """

    def __init__(self, items: Sequence, source: EventSource, T: int, downsample: float = 1.0):
        import tonic.transforms as tt

        if not items:
            raise DataError("EventFrames: no recordings")
        if not 0 < downsample <= 1:
            raise DataError(f"data.downsample must be in (0, 1], got {downsample}")
        self.items, self.source, self.T = list(items), source, int(T)
        self.downsample = downsample
        w, h, p = source.sensor_size
        transforms = []
        if downsample != 1 and h > 1:
            transforms.append(tt.Downsample(spatial_factor=downsample))
            # Downsample floors x * factor: the largest coordinate is floor((w - 1) * factor)
            w, h = (int((s - 1) * downsample) + 1 for s in (w, h))
        self.sensor_size = (w, h, p)
        transforms.append(tt.ToFrame(sensor_size=self.sensor_size, n_time_bins=self.T))
        self.transform = tt.Compose(transforms)
        # SHD is 1-D (700 units): its frames [T, 1, 1, 700] become [T, 700]
        self.frame_shape = (w,) if h == 1 and p == 1 else (p, h, w)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.items), self.T, *self.frame_shape)

    def sample(self, i: int) -> torch.Tensor:
        return self.frames(self.items[i])

    def take(self, n: int) -> EventFrames:
        """The first ``n`` recordings (still lazy)."""
        return EventFrames(self.items[:n], self.source, self.T, self.downsample)

    def frames(self, item) -> torch.Tensor:
        """The binary spike train ``[T, *frame]`` of one recording."""
        events = self.source.read(item)
        if len(events) == 0:
            raise DataError(f"{item}: recording has no events; cannot bin it into frames")
        counts = self.transform(events)
        x = torch.from_numpy(np.ascontiguousarray(counts > 0)).to(torch.float32)
        return x.reshape(self.T, *self.frame_shape)


def _locate(root: Path, source: EventSource, marker: str) -> Path:
    for base in (root / source.tonic_folder, root):
        if (base / marker).exists():
            return base
    raise DataError(
        f"{root}: no {marker!r} (nor {source.tonic_folder}/{marker}); expected the unpacked "
        "dataset (see toolchain.data_events for the layout)"
    )


def _labelled_files(folder: Path, pattern: str, label: Callable[[Path], int]):
    files = sorted(folder.rglob(pattern))
    if not files:
        raise DataError(f"{folder}: no {pattern} recordings")
    return files, [label(f) for f in files]


def _nmnist(root: Path, source: EventSource):
    base = _locate(root, source, "Train")
    return [
        _labelled_files(base / split, "*.bin", lambda f: int(f.parent.name[-1]))
        for split in ("Train", "Test")
    ]


def _gesture(root: Path, source: EventSource):
    base = _locate(root, source, "ibmGestureTrain")

    def label(f: Path) -> int:
        if not f.stem.isdigit() or int(f.stem) >= source.num_classes:
            raise DataError(f"{f}: expected <label>.npy with label 0..{source.num_classes - 1}")
        return int(f.stem)

    return [
        _labelled_files(base / split, "*.npy", label)
        for split in ("ibmGestureTrain", "ibmGestureTest")
    ]


def _shd(root: Path, source: EventSource):
    import h5py

    base = _locate(root, source, "shd_train.h5")
    out = []
    for split in ("train", "test"):
        path = base / f"shd_{split}.h5"
        try:
            with h5py.File(path, "r") as f:
                labels = [int(v) for v in f["labels"][()]]
        except (OSError, KeyError) as exc:
            raise DataError(f"{path}: not an SHD HDF5 file with 'labels' ({exc})") from None
        out.append(([(path, i) for i in range(len(labels))], labels))
    return out


def _cifar10_dvs(root: Path, source: EventSource, test_fraction: float, seed: int):
    from toolchain.data import stratified_split

    base = _locate(root, source, "airplane")
    classes = sorted(p.name for p in base.iterdir() if p.is_dir())
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(f for f in (base / name).iterdir() if f.suffix in (".aedat", ".aedat4"))
        files += found
        labels += [label] * len(found)
    if len(classes) != source.num_classes or not files:
        raise DataError(f"{base}: expected 10 class folders of .aedat/.aedat4 files, got {classes}")
    train, test = stratified_split(np.array(labels), test_fraction, seed)
    return [([files[i] for i in part], [labels[i] for i in part]) for part in (train, test)]


def event_splits(
    name: str, root: Path, T: int, downsample: float, test_fraction: float, seed: int
) -> tuple[EventFrames, torch.Tensor, EventFrames, torch.Tensor]:
    """``(x_train, y_train, x_test, y_test)`` of event dataset ``name`` under ``root``."""
    source = EVENT_DATASETS[name]
    if name == "cifar10_dvs":
        splits = _cifar10_dvs(root, source, test_fraction, seed)
    else:
        splits = {"nmnist": _nmnist, "dvs_gesture": _gesture, "shd": _shd}[name](root, source)
    out: list = []
    for items, labels in splits:
        y = torch.tensor(labels, dtype=torch.int64)
        if len(y) and int(y.max()) >= source.num_classes:
            raise DataError(f"{name}: label {int(y.max())} outside 0..{source.num_classes - 1}")
        out += [EventFrames(items, source, T, downsample), y]
    return tuple(out)
