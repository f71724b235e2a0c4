"""How well a model reconstructs a split: MSE, PSNR and SSIM, on clean or damaged inputs."""

from __future__ import annotations

import numpy as np
import torch

from ..data import ImageSet
from ..data.noise import Noise
from ..errors import ArgumentError, LatentfolioError
from ..metrics import psnr, ssim
from ..models import Autoencoder, to_unit
from .flatten import flatten_batch


EVAL_PIXELS = 1 << 21  # pixels per evaluation batch at most: 512 images of 64 px, 32 patches of 256 px
SAMPLE_PIXELS = 1 << 25  # a split is scored on at most this many pixels (512 patches of 256 px; all 10k
# FashionMNIST test images): an evenly spread, fixed sample, so the final score takes seconds


@torch.no_grad()
def bounded_sample(idx: np.ndarray, pixels_each: int, budget: int = SAMPLE_PIXELS) -> np.ndarray:
    """``idx`` itself, or an evenly spread subset of it holding at most ``budget`` pixels."""
    n = max(1, budget // max(1, pixels_each))
    return idx if len(idx) <= n else idx[np.linspace(0, len(idx) - 1, n).round().astype(np.int64)]


def evaluate_model(model: Autoencoder, ds: ImageSet, split: str = "test", batch_size: int = 512,
                   noise: str | None = None, seed: int = 0) -> dict:
    """mse, psnr_db (mean of per-image PSNR) and ssim on one split, in [0, 1] pixel units.

    With ``noise`` (a spec), inputs are corrupted (seeded) and scored against the clean images;
    the PSNR/SSIM of the noisy inputs themselves are reported too.
    """
    idx = ds.indices(split)
    if len(idx) == 0:
        raise LatentfolioError(f"{ds.name}: the {split} split is empty")
    idx = bounded_sample(idx, ds.images.shape[1] * ds.images.shape[2])
    batch_size = max(1, min(batch_size, EVAL_PIXELS // (ds.images.shape[1] * ds.images.shape[2])))
    dev = next(model.parameters()).device
    model.eval()
    norm = model.config.norm
    corrupt = None
    if noise:

        try:
            corrupt = Noise(noise)
        except ValueError as e:
            raise ArgumentError("noise", None, f"{e}") from None
        g = torch.Generator(device=dev).manual_seed(seed)
    se, ps, ss, nps, nss = [], [], [], [], []
    for s in range(0, len(idx), batch_size):
        x = model.preprocess(torch.from_numpy(np.ascontiguousarray(ds.images[idx[s:s + batch_size]])).to(dev))
        t = to_unit(x, norm)
        inp = x
        if corrupt is not None:
            noisy = corrupt(t, g)
            if corrupt.page:  # scored as `denoise --kind page` runs: on the flattened page, against the clean one
                t = flatten_batch(t)
            nps.append(psnr(noisy, t).cpu())
            nss.append(ssim(noisy, t).cpu())
            if corrupt.page:
                noisy = flatten_batch(noisy)
            inp = noisy * 2 - 1 if norm == "pm1" else noisy
        r = to_unit(model.reconstruct(inp).float(), norm).clamp(0, 1)
        se.append((r - t).pow(2).flatten(1).mean(1).cpu())
        ps.append(psnr(r, t).cpu())
        ss.append(ssim(r, t).cpu())
    out = {"mse": float(torch.cat(se).mean()), "psnr_db": float(torch.cat(ps).mean()),
           "ssim": float(torch.cat(ss).mean()), "n": int(len(idx))}
    if corrupt is not None:
        out.update(noise=noise, noisy_psnr_db=float(torch.cat(nps).mean()),
                   noisy_ssim=float(torch.cat(nss).mean()))
    return out
