"""CIFAR-10's python-pickle batches, read with an unpickler that cannot run code.

The batches are Python pickles. A normal ``pickle.load`` of a file someone hands us can run
arbitrary code, so :class:`_ArraysOnly` resolves only the handful of NumPy names a batch
needs and refuses everything else.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import LatentfolioError

TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"


class _ArraysOnly(pickle.Unpickler):
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles from Python 3 spell bytes: str -> bytes only
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch -> ((N, 32, 32, 3) uint8, (N,) int64)."""
    try:
        d = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except FileNotFoundError:
        raise LatentfolioError(f"{path}: CIFAR batch not found") from None
    except Exception as e:  # any malformed pickle, wrong keys or shapes
        raise LatentfolioError(f"{path}: not a CIFAR-10 batch ({e})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise LatentfolioError(f"{path}: not a CIFAR-10 batch (data shape {data.shape})")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_meta(folder: Path) -> list[str]:
    try:
        d = _ArraysOnly(io.BytesIO((folder / "batches.meta").read_bytes()), encoding="bytes").load()
        return [n.decode() for n in d[b"label_names"]]
    except Exception:
        return ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def load_cifar_folder(folder: str | Path):
    """``cifar-10-batches-py`` -> (images (60000,32,32,3), labels, n_train, classes)."""
    folder = Path(folder)
    parts = [read_batch(folder / b) for b in TRAIN_BATCHES + [TEST_BATCH]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    n_train = sum(len(p[1]) for p in parts[:-1])
    return images, labels, n_train, read_meta(folder)


def is_cifar_folder(folder: Path) -> bool:
    return folder.is_dir() and (folder / TEST_BATCH).exists()
