"""Feeding uint8 pixels to the trainer with no per-image Python work.

The tutorial loop turns each image into a float tensor through PIL in ``__getitem__``; that
costs more than the model on a CPU. Here a batch is one NumPy fancy-index into the decoded
uint8 array (``__getitems__``), and the float conversion happens on the device, in the model's
``preprocess``. Samplers stay standard, so Lightning still shards them for DDP.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class PixelBatches(Dataset):
    """Rows ``indices`` of a (N, H, W, C) uint8 array, fetched a whole batch at a time.
    ``flips``: each row flipped left-right and top-bottom at random (patch training)."""

    def __init__(self, images: np.ndarray, indices: np.ndarray, flips: bool = False, seed: int = 0):
        self.images, self.indices = images, np.asarray(indices)
        self.rng = np.random.default_rng(seed) if flips else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.images[self.indices[i]]))

    def __getitems__(self, idx: list[int]) -> torch.Tensor:
        rows = self.indices[np.asarray(idx)]
        batch = self.images[np.sort(rows)]  # sorted: a memmap reads forward (the sampler shuffled)
        if self.rng is not None:
            lr, tb = self.rng.random((2, len(batch))) < 0.5
            batch[lr] = batch[lr, :, ::-1]
            batch[tb] = batch[tb, ::-1]
        return torch.from_numpy(np.ascontiguousarray(batch))  # (B, H, W, C) uint8


def passthrough(batch):
    """``__getitems__`` already returns the collated batch."""
    return batch


def loader(images: np.ndarray, indices: np.ndarray, batch_size: int, shuffle: bool,
           seed: int = 0, flips: bool = False) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(PixelBatches(images, indices, flips, seed), batch_size=batch_size, shuffle=shuffle,
                      drop_last=shuffle and len(indices) >= 2 * batch_size, collate_fn=passthrough,
                      num_workers=0, generator=g if shuffle else None)
