"""Image quality metrics on float images in [0, 1], one value per image."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


PSNR_CAP = 100.0  # dB given to identical images (their MSE is 0)


def psnr_from_mse(mse, data_range: float = 1.0):
    """10·log10(range² / MSE) in dB, capped at :data:`PSNR_CAP`: the one PSNR every tool reports.
    ``mse``: a float, a numpy array or a tensor; the result is of its kind."""
    if isinstance(mse, Tensor):
        return (10 * torch.log10(data_range**2 / mse.clamp_min(1e-10))).clamp_max(PSNR_CAP)
    if isinstance(mse, np.ndarray):
        return np.minimum(PSNR_CAP, 10 * np.log10(data_range**2 / np.maximum(mse, 1e-10)))
    return min(PSNR_CAP, 10 * math.log10(data_range**2 / max(float(mse), 1e-10)))


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio in dB per image -> (B,). Identical images are capped at 100 dB."""
    return psnr_from_mse((x.float() - y.float()).pow(2).flatten(1).mean(1), data_range)


def image_psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR (dB) of two whole images as arrays (any shape, any numeric type), the MSE summed
    exactly in float64 a strip at a time, so a 50 MP image needs no float copy of itself."""
    sq, n = 0.0, 0
    for i in range(0, a.shape[0], 256):
        d = (np.asarray(a[i:i + 256], np.float64) - b[i:i + 256]).ravel()
        sq += float(np.dot(d, d))
        n += d.size
    return psnr_from_mse(sq / max(n, 1), data_range)


def ssim_window(size: int) -> int:
    """The Gaussian window of Wang et al. 2004 is 11 px; small images (8 px digits) need less."""
    k = min(11, size if size % 2 else size - 1)
    return max(3, k)


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """Structural similarity (Wang et al. 2004, Gaussian σ=1.5) per image -> (B,)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    k = ssim_window(x.shape[-1])
    return structural_similarity_index_measure(
        x.float(), y.float(), data_range=data_range, kernel_size=k, reduction="none")
