"""Image files decoded on demand: ImageNet-style class folders and TinyImageNet.

A dataset of a million JPEGs does not fit in memory, so :class:`ImageFiles` stands where an
image tensor ``[N, C, H, W]`` would: it has a ``shape``, a length, and indexing (an int, a
slice, a list or a tensor of indices) decodes just those files with Pillow and returns a
float32 tensor in [0, 1] (or normalised, see ``mean``/``std``). Everything that slices
``data.x_test[:n]`` therefore works unchanged, and the training DataLoader's workers decode
their own samples in parallel.

Decoding: ``PIL.Image.open(path).convert("RGB")`` (or ``"L"`` for one channel); with
``size`` the shorter side is resized to ``size`` (bilinear) and the centre ``size x size`` is
cropped, the usual evaluation transform of ImageNet models; without it every image must
already have the shape of the first one (a different one is a :class:`DataError` naming the
file). Random crops and flips are training augmentations (:mod:`toolchain.augment`), applied
after decoding.

Layouts (what :func:`class_folder_items` and :func:`tinyimagenet_items` read):

- class folders (torchvision's ``ImageFolder``): ``root/<class>/**/<image>``; classes are the
  sorted sub-directory names, images the files with an image suffix, sorted.
- TinyImageNet-200 (``tiny-imagenet-200/``): ``wnids.txt`` (one class id a line, 200),
  ``train/<wnid>/images/*.JPEG`` and ``val/images/*.JPEG`` labelled by
  ``val/val_annotations.txt`` (tab-separated ``file wnid x0 y0 x1 y1``). The official test
  split has no labels, so the validation split is the test set here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from hwsim.errors import DataError
from toolchain.lazy import LazySamples

__all__ = ["IMAGE_SUFFIXES", "ImageFiles", "class_folder_items", "tinyimagenet_items"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff")


def class_folder_items(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """``(paths, labels, classes)`` of an ImageNet-style ``root/<class>/...`` directory."""
    if not root.is_dir():
        raise DataError(f"{root}: not a directory; expected class sub-directories of images")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root}: no class sub-directories (expected root/<class>/<image>)")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) in {classes}")
    return paths, labels, classes


def tinyimagenet_items(root: Path, split: str) -> tuple[list[Path], list[int], list[str]]:
    """``(paths, labels, wnids)`` of TinyImageNet's ``train`` or ``val`` split."""
    if (root / "tiny-imagenet-200").is_dir():
        root = root / "tiny-imagenet-200"
    wnids_file = root / "wnids.txt"
    if not wnids_file.is_file():
        raise DataError(f"{wnids_file}: not found; expected TinyImageNet's class list")
    wnids = [w.strip() for w in wnids_file.read_text().split() if w.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    if split == "train":
        paths, labels = [], []
        for w in wnids:
            files = sorted((root / "train" / w / "images").glob("*.JPEG"))
            paths += files
            labels += [index[w]] * len(files)
        return paths, labels, wnids
    ann = root / "val" / "val_annotations.txt"
    if not ann.is_file():
        raise DataError(f"{ann}: not found; expected TinyImageNet's validation labels")
    paths, labels = [], []
    for n, line in enumerate(ann.read_text().splitlines(), 1):
        cols = line.split("\t")
        if not line.strip():
            continue
        if len(cols) < 2 or cols[1] not in index:
            raise DataError(f"{ann}:{n}: expected 'file<TAB>wnid<TAB>box', wnid in wnids.txt")
        paths.append(root / "val" / "images" / cols[0])
        labels.append(index[cols[1]])
    return paths, labels, wnids


class ImageFiles(LazySamples):
    """A lazily decoded image tensor ``[N, C, H, W]`` (float32) over a list of files.

    Args:
        paths: the image files, in sample order.
        channels: 3 (RGB) or 1 (grey).
        size: resize the shorter side to ``size`` and centre-crop ``size x size``; ``None``
            keeps the files' own size (which must then be the same for all).
        mean, std: per-channel normalisation ``(x - mean) / std`` after scaling to [0, 1].
    """

    def __init__(
        self,
        paths: Sequence[Path],
        channels: int = 3,
        size: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        if not paths:
            raise DataError("ImageFiles: no image files")
        if channels not in (1, 3):
            raise DataError(f"ImageFiles: channels must be 1 or 3, got {channels}")
        self.paths = [Path(p) for p in paths]
        self.channels = channels
        self.size = size
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32)
        first = self._decode(self.paths[0], None)
        self.image_shape = tuple(first.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.image_shape)

    def sample(self, i: int) -> torch.Tensor:
        return self._decode(self.paths[i], self.image_shape)

    def with_normalization(self, mean: Sequence[float], std: Sequence[float]) -> ImageFiles:
        """The same files, normalised by ``mean``/``std`` per channel."""
        return ImageFiles(self.paths, self.channels, self.size, mean, std)

    def _decode(self, path: Path, want: tuple[int, ...] | None) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                img = img.convert("RGB" if self.channels == 3 else "L")
                if self.size is not None:
                    img = _resize_centre_crop(img, self.size)
                a = np.asarray(img, dtype=np.uint8)
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"{path}: cannot decode image ({exc})") from None
        a = a[:, :, None] if a.ndim == 2 else a
        x = torch.from_numpy(a.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0))
        if want is not None and tuple(x.shape) != want:
            raise DataError(
                f"{path}: image is {tuple(x.shape)} (C, H, W), the dataset's first is {want}; "
                "set data.image_size to resize and centre-crop every image to one size"
            )
        if self.mean is not None:
            x = (x - self.mean.view(-1, 1, 1)) / self.std.view(-1, 1, 1)
        return x


def _resize_centre_crop(img, size: int):
    from PIL import Image

    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))
