"""Data: every source (image folder, IDX, CIFAR pickles, named datasets, digits) -> ImageSet,
the files a user names, and the scan-damage model that corrupts them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, LatentfolioError
from .cifar import is_cifar_folder, load_cifar_folder
from .decode import FITS, resize_array
from .folder import BadFileWarning, load_folder
from .idx import is_idx_folder, load_idx_folder
from .inputs import collect_images, decode_inputs
from .imageset import SPLITS, TEST, TRAIN, VAL, ImageSet, hash_splits, official_splits
from .named import DATASETS, FASHION_CLASSES, NAMES, data_root, ensure

__all__ = ["ImageSet", "load_data", "TRAIN", "VAL", "TEST", "SPLITS", "NAMES", "FITS",
           "BadFileWarning", "data_root", "collect_images", "decode_inputs"]


def _digits() -> ImageSet:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (1797, 8, 8, 1)
    return ImageSet(images=images, split=hash_splits([f"digits/{i}" for i in range(len(images))]),
                    name="digits", labels=d.target.astype(np.int64),
                    classes=[str(i) for i in range(10)])


def _arrays(name: str, images, labels, n_train, classes) -> ImageSet:
    return ImageSet(images=images, split=official_splits(n_train, len(images) - n_train),
                    name=name, labels=labels, classes=classes)


def load_data(source: str | os.PathLike, image_size: int | None = None, channels: int | None = None,
              fit: str = "squash", data_root: str | os.PathLike | None = None, download: bool = True,
              max_pixels: int | None = None, quiet: bool = False) -> ImageSet:
    """Load any supported source as an :class:`ImageSet` of uint8 pixels.

    ``source`` is an :class:`ImageSet` (used as it is), a dataset name (``mnist``, ``fashion-mnist``, ``cifar10``, ``digits``), a folder
    of the original IDX files, a ``cifar-10-batches-py`` folder, or any folder of images.
    ``image_size``/``channels`` default to the source's own (for image folders: 64 px, or the
    images' median shorter side when that is smaller).
    """
    if fit not in FITS:
        raise ArgumentError("fit", fit, f"use one of {', '.join(FITS)}")
    if image_size is not None and not 4 <= image_size <= 1024:
        raise ArgumentError("image_size", image_size, "must be between 4 and 1024")
    if channels not in (None, 1, 3):
        raise ArgumentError("channels", channels, "must be 1 or 3")
    if isinstance(source, ImageSet):  # the Python API: pixels already in memory
        ds = source
        size, ch = image_size or ds.image_size, channels or ds.channels
        if (size, ch) != (ds.image_size, ds.channels):
            ds.images = resize_array(ds.images, size, ch, fit)
        return ds
    name = str(source)
    if name == "digits":
        ds = _digits()
    elif name in DATASETS:
        folder = ensure(name, data_root, download=download)
        ds = _from_known_folder(folder, name)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise LatentfolioError(f"{path}: no such folder, and not a dataset name "
                                   f"({', '.join(NAMES)})")
        ds = _from_known_folder(path, path.name)
        if ds is None:
            return load_folder(path, image_size, channels, fit,
                               max_pixels=max_pixels, quiet=quiet)
    size = image_size or ds.image_size
    ch = channels or ds.channels
    if (size, ch) != (ds.image_size, ds.channels):
        ds.images = resize_array(ds.images, size, ch, fit)
    return ds


def is_array_source(source) -> bool:
    """True when ``source`` holds its images in arrays (a named dataset, digits, an IDX or CIFAR
    folder), not as image files."""
    name = str(source)
    if name == "digits" or name in DATASETS:
        return True
    p = Path(name).expanduser()
    return p.is_dir() and (is_idx_folder(p) or is_cifar_folder(p) or is_cifar_folder(p / "cifar-10-batches-py"))


def _from_known_folder(path: Path, name: str) -> ImageSet | None:
    if is_idx_folder(path):
        images, labels, n_train = load_idx_folder(path)
        classes = FASHION_CLASSES if "fashion" in name else [str(i) for i in range(10)]
        return _arrays(name, images, labels, n_train, classes)
    for p in (path, path / "cifar-10-batches-py"):
        if is_cifar_folder(p):
            images, labels, n_train, classes = load_cifar_folder(p)
            return _arrays("cifar10" if name in ("cifar-10-batches-py", "cifar10") else name,
                           images, labels, n_train, classes)
    return None
