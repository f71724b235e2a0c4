"""The IDX format of MNIST and Fashion-MNIST (LeCun et al.), read from the original .gz files."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import LatentfolioError

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def read_idx(path: str | Path) -> np.ndarray:
    """Images -> (N, 28, 28) uint8; labels -> (N,) uint8. Plain or gzipped."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise LatentfolioError(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 8:
        raise LatentfolioError(f"{path}: not an IDX file (too short)")
    magic, n = struct.unpack(">II", raw[:8])
    if magic == IMAGES_MAGIC:
        rows, cols = struct.unpack(">II", raw[8:16])
        shape, offset = (n, rows, cols), 16
    elif magic == LABELS_MAGIC:
        shape, offset = (n,), 8
    else:
        raise LatentfolioError(f"{path}: not an IDX file (magic {magic})")
    count = int(np.prod(shape))
    if len(raw) - offset < count:
        raise LatentfolioError(f"{path}: truncated IDX file ({len(raw) - offset} of {count} bytes)")
    return np.frombuffer(raw, dtype=np.uint8, count=count, offset=offset).reshape(shape)


IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def load_idx_folder(folder: str | Path):
    """The four standard files of a folder -> (images (N,28,28,1), labels, n_train)."""
    folder = Path(folder)
    parts = {}
    for key, name in IDX_FILES.items():
        p = folder / name
        if not p.exists() and (folder / name[:-3]).exists():
            p = folder / name[:-3]  # already gunzipped
        parts[key] = read_idx(p)
    images = np.concatenate([parts["train_images"], parts["test_images"]])[..., None]
    labels = np.concatenate([parts["train_labels"], parts["test_labels"]]).astype(np.int64)
    if len(images) != len(labels):
        raise LatentfolioError(f"{folder}: image and label counts differ")
    return images, labels, len(parts["train_images"])


def is_idx_folder(folder: Path) -> bool:
    return folder.is_dir() and any((folder / n).exists() or (folder / n[:-3]).exists()
                                   for n in IDX_FILES.values())
