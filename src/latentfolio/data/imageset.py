"""The in-memory (or memory-mapped) form every data source is turned into."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

TRAIN, VAL, TEST = 0, 1, 2
SPLITS = {"train": TRAIN, "val": VAL, "test": TEST}


@dataclass
class ImageSet:
    """A decoded collection: uint8 pixels plus labels and a deterministic split.

    ``images`` is (N, H, W, C) uint8 and may be a read-only memmap of the decode cache,
    so a collection larger than RAM is paged in on demand.
    """

    images: np.ndarray  # (N, H, W, C) uint8
    split: np.ndarray  # (N,) uint8, TRAIN/VAL/TEST
    name: str
    labels: np.ndarray | None = None  # (N,) int64, -1 = unknown; None = unlabelled source
    classes: list[str] = field(default_factory=list)
    paths: list[str] | None = None  # source files (folders only)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    patches_from: int = 0  # > 0: the rows are native-resolution crops of this many images (data.patches)
    padded: int = 0  # of those images, how many were smaller than a patch and padded

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def indices(self, split: str | None) -> np.ndarray:
        if split is None or split == "all":
            return np.arange(len(self))
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use train, val, test or all")
        return np.flatnonzero(self.split == SPLITS[split])

    def split_sizes(self) -> dict[str, int]:
        return {name: int((self.split == code).sum()) for name, code in SPLITS.items()}

    def fingerprint(self) -> str:
        """A short hash of what the model saw: shapes, labels and a pixel sample."""
        h = hashlib.sha256()
        h.update(repr((self.name, self.images.shape)).encode())
        step = max(1, len(self) // 256)  # sample rows: hashing 60k images costs too much
        h.update(np.ascontiguousarray(self.images[::step]).tobytes())
        h.update(self.split.tobytes())
        if self.labels is not None:
            h.update(self.labels.astype(np.int64).tobytes())
        return h.hexdigest()[:16]


def hash_splits(keys: list[str], val: float = 0.1, test: float = 0.1) -> np.ndarray:
    """Split by a hash of each file's relative path: stable when files are added or removed."""
    out = np.empty(len(keys), dtype=np.uint8)
    for i, k in enumerate(keys):
        u = int.from_bytes(hashlib.sha1(k.encode()).digest()[:8], "big") / 2**64
        out[i] = TEST if u < test else VAL if u < test + val else TRAIN
    return out


def official_splits(n_train: int, n_test: int, val: float = 0.1, seed: int = 0) -> np.ndarray:
    """Keep the official test split; carve a fixed, seeded validation set out of train."""
    split = np.full(n_train + n_test, TRAIN, dtype=np.uint8)
    split[n_train:] = TEST
    rng = np.random.default_rng(seed)
    split[rng.permutation(n_train)[: int(round(n_train * val))]] = VAL
    return split
