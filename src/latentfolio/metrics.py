"""Image quality metrics on float images in [0, 1], one value per image."""

from __future__ import annotations

import torch
from torch import Tensor


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio in dB per image -> (B,). Identical images are capped at 100 dB."""
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(data_range**2 / mse.clamp_min(1e-10))).clamp_max(100.0)


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
