"""Pixels <-> codes with a trained model, in batches: encode, decode, reconstruct."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import LatentfolioError
from ..models import Autoencoder, DiagonalGaussian


def is_vector_latent(model: Autoencoder) -> bool:
    """True for models whose code is one flat vector (fc, conv, vae, resnet)."""
    x = torch.zeros(1, *model.input_shape, device=next(model.parameters()).device)
    with torch.no_grad():
        return model.embed(x.to(next(model.parameters()).dtype)).dim() == 2


def require_vector_latent(model: Autoencoder, what: str) -> None:
    if not is_vector_latent(model):
        raise LatentfolioError(f"{getattr(model, 'model_dir', 'model')}: {what} needs a model with a "
                               f"vector latent (fc, conv, vae, resnet), not {model.type_name}"
                               + (" with a latent map" if getattr(model.config, "latent_map", False) else ""))


@torch.no_grad()
def encode_pixels(model: Autoencoder, pixels: np.ndarray, batch_size: int = 512,
                  sample: bool = False, seed: int = 0) -> np.ndarray:
    """uint8 (N, H, W, C) -> float32 (N, D) codes.

    Deterministic (the posterior mean for a VAE) unless ``sample``: then a VAE's codes are drawn
    from q(z|x), which is what its decoder saw in training (the aggregate posterior).
    """
    dev = next(model.parameters()).device
    model.eval()
    g = torch.Generator(device=dev).manual_seed(seed)
    out = []
    for s in range(0, len(pixels), batch_size):
        x = model.preprocess(torch.from_numpy(np.ascontiguousarray(pixels[s:s + batch_size])).to(dev))
        q = model.encode(x) if sample else None
        z = q.sample(g) if isinstance(q, DiagonalGaussian) else model.embed(x)
        out.append(z.float().flatten(1).cpu().numpy())
    if not out:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


@torch.no_grad()
def decode_latents(model: Autoencoder, z: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """float (N, D) codes -> uint8 (N, H, W, C) images."""
    dev = next(model.parameters()).device
    model.eval()
    out = []
    for s in range(0, len(z), batch_size):
        zt = torch.from_numpy(np.ascontiguousarray(z[s:s + batch_size], dtype=np.float32)).to(dev)
        out.append(model.postprocess(model.decode(zt).float()).cpu().numpy())
    return np.concatenate(out)


@torch.no_grad()
def reconstruct_pixels(model: Autoencoder, pixels: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """uint8 (N, H, W, C) -> reconstructed uint8 (N, H, W, C)."""
    dev = next(model.parameters()).device
    out = []
    for s in range(0, len(pixels), batch_size):
        x = model.preprocess(torch.from_numpy(np.ascontiguousarray(pixels[s:s + batch_size])).to(dev))
        out.append(model.postprocess(model.reconstruct(x)).cpu().numpy())
    return np.concatenate(out)
