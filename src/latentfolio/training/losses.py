"""Reconstruction losses, found by name, plus the VAE's β-weighted KL term.

Every loss takes (recon, target) as float (B, C, H, W) in [0, 1] and returns a scalar mean.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..metrics import ssim
from ..models.base import to_unit

LOSSES: dict[str, Callable[..., Tensor]] = {}


def register_loss(name: str):
    def deco(fn):
        LOSSES[name] = fn
        return fn

    return deco


@register_loss("mse")
def mse(recon: Tensor, target: Tensor, **_) -> Tensor:
    return F.mse_loss(recon, target)


@register_loss("l1")
def l1(recon: Tensor, target: Tensor, **_) -> Tensor:
    return F.l1_loss(recon, target)


@register_loss("bce")
def bce(recon: Tensor, target: Tensor, **_) -> Tensor:
    # Pixels are intensities in [0, 1], read as Bernoulli means (Kingma & Welling 2014, App. C).
    return F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), target)


@register_loss("ssim")
def ssim_loss(recon: Tensor, target: Tensor, ssim_weight: float = 0.84, **_) -> Tensor:
    """α·(1 − SSIM) + (1 − α)·MSE (Zhao et al. 2017, "Loss Functions for Image Restoration").

    ``ssim_weight=1`` gives pure SSIM; the default mix keeps flat regions' brightness right.
    """
    s = 1.0 - ssim(recon, target).mean()
    return s if ssim_weight >= 1.0 else ssim_weight * s + (1.0 - ssim_weight) * F.mse_loss(recon, target)


def get_loss(name: str):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; use one of {', '.join(LOSSES)}")
    return LOSSES[name]


def objective(out, target: Tensor, norm: str, loss: str, kl_weight: float = 0.0,
              ssim_weight: float = 0.84, lmbda: float = 0.01) -> tuple[Tensor, dict[str, Tensor]]:
    """Total loss and its parts.

    VAE: recon + β·KL, with KL per pixel so β is scale-free. Codec (rate-distortion, Ballé et al.
    2017): λ·255²·distortion + bits per pixel, the rate estimated by the entropy model.
    """
    with torch.autocast(device_type=target.device.type, enabled=False):  # losses in fp32
        recon = to_unit(out.recon.float(), norm)
        tgt = to_unit(target.float(), norm)
        rec = get_loss(loss)(recon, tgt, ssim_weight=ssim_weight)
        parts = {"recon": rec}
        total = rec
        if out.posterior is not None:
            kl = out.posterior.kl().mean() / tgt[0].numel()  # nats per pixel
            parts["kl"] = kl
            total = total + kl_weight * kl
        if out.likelihoods is not None:
            pixels = tgt.shape[0] * tgt.shape[-2] * tgt.shape[-1]
            bpp = -torch.log2(out.likelihoods.float()).sum() / pixels
            parts["bpp"] = bpp
            total = lmbda * 255.0**2 * rec + bpp
    return total, parts
