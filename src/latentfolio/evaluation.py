"""Measure a model (``evaluate``) and show it (``reconstruct``) on real images."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from .data import ImageSet, load_data
from .data.decode import BadImage, decode_image, header
from .errors import LatentfolioError
from .imaging import auto_scale, make_grid, save_picture
from .metrics import psnr, ssim
from .models import Autoencoder
from .training.losses import to_unit


@torch.no_grad()
def reconstruct_pixels(model: Autoencoder, pixels: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """uint8 (N, H, W, C) -> reconstructed uint8 (N, H, W, C)."""
    dev = next(model.parameters()).device
    out = []
    for s in range(0, len(pixels), batch_size):
        x = model.preprocess(torch.from_numpy(np.ascontiguousarray(pixels[s:s + batch_size])).to(dev))
        out.append(model.postprocess(model.reconstruct(x)).cpu().numpy())
    return np.concatenate(out)


@torch.no_grad()
def evaluate_model(model: Autoencoder, ds: ImageSet, split: str = "test", batch_size: int = 512,
                   noise: str | None = None, seed: int = 0) -> dict:
    """mse, psnr_db (mean of per-image PSNR) and ssim on one split, in [0, 1] pixel units.

    With ``noise`` (a spec), inputs are corrupted (seeded) and scored against the clean images;
    the PSNR/SSIM of the noisy inputs themselves are reported too.
    """
    idx = ds.indices(split)
    if len(idx) == 0:
        raise LatentfolioError(f"{ds.name}: the {split} split is empty")
    dev = next(model.parameters()).device
    model.eval()
    norm = model.config.norm
    corrupt = None
    if noise:
        from .tools.noise import Noise

        try:
            corrupt = Noise(noise)
        except ValueError as e:
            raise LatentfolioError(f"--noise: {e}") from None
        g = torch.Generator(device=dev).manual_seed(seed)
    se, ps, ss, nps, nss = [], [], [], [], []
    for s in range(0, len(idx), batch_size):
        x = model.preprocess(torch.from_numpy(np.ascontiguousarray(ds.images[idx[s:s + batch_size]])).to(dev))
        t = to_unit(x, norm)
        inp = x
        if corrupt is not None:
            noisy = corrupt(t, g)
            nps.append(psnr(noisy, t).cpu())
            nss.append(ssim(noisy, t).cpu())
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


def _model(model_or_dir) -> Autoencoder:
    if isinstance(model_or_dir, Autoencoder):
        return model_or_dir
    from .saved import load_model

    return load_model(model_or_dir)


def load_for_model(model: Autoencoder, data, data_root=None, fit: str | None = None) -> ImageSet:
    """Load ``data`` at the model's image size and channel count."""
    c = model.config
    fit = fit or getattr(model, "meta", {}).get("data", {}).get("fit", "squash")
    return load_data(data, image_size=c.image_size, channels=c.channels, fit=fit, data_root=data_root)


def evaluate(model_dir, data, split: str = "test", data_root=None, batch_size: int = 512,
             noise: str | None = None, seed: int = 0) -> dict:
    """Load a model folder and report mse, psnr_db, ssim and n on ``split`` of ``data``."""
    if split not in ("train", "val", "test", "all"):
        raise LatentfolioError(f"--split {split!r}: use train, val, test or all")
    model = _model(model_dir)
    ds = load_for_model(model, data, data_root)
    return {"model": str(model_dir), "data": str(data), "split": split,
            **evaluate_model(model, ds, split, batch_size, noise=noise, seed=seed)}


def collect_images(inputs: list[str | os.PathLike]) -> list[Path]:
    """Files named directly, plus every non-hidden file below named folders (sorted)."""
    files: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif p.exists():
            files.append(p)
        else:
            raise LatentfolioError(f"{p}: no such file or folder")
    if not files:
        raise LatentfolioError("no input images: " + ", ".join(map(str, inputs)))
    return files


def decode_inputs(inputs, size: int, channels: int, fit: str = "squash",
                  strict: bool = False) -> tuple[np.ndarray, list[Path]]:
    """Decode user-named image files; bad ones are named in a warning and skipped.

    ``strict``: a bad file is an error naming it (for commands where each input has a role).
    """
    arrays, used = [], []
    files = collect_images(inputs)
    for f in files:
        try:
            arrays.append(decode_image(str(f), size, channels, fit))
            used.append(f)
        except BadImage as e:
            if strict:
                raise LatentfolioError(f"{f}: {e}") from None
            warnings.warn(f"skipped {f}: {e}", stacklevel=2)
    if not arrays:
        raise LatentfolioError(f"no readable image among {len(files)} input file(s)")
    if channels == 1:  # said once, so a grey result from colour art is not a surprise
        colour = sum(header(str(f))[0] == 3 for f in used)
        if colour:
            warnings.warn(f"the model is greyscale: {colour} colour input(s) read as grey", stacklevel=2)
    return np.stack(arrays), used


def reconstruct(model_dir, inputs: list, out, force: bool = False, ncol: int = 8) -> dict:
    """Grid of originals over reconstructions (PSNR under each) for image files or folders."""
    from . import _io

    _io.check_writable(out, force)
    model = _model(model_dir)
    c = model.config
    pixels, used = decode_inputs(inputs, c.image_size, c.channels)
    recon = reconstruct_pixels(model, pixels)
    p = psnr(torch.from_numpy(recon).float() / 255, torch.from_numpy(pixels).float() / 255).numpy()
    tiles, caps = [], []
    for s in range(0, len(pixels), ncol):
        tiles += [pixels[s:s + ncol], recon[s:s + ncol]]
        k = len(pixels[s:s + ncol])
        caps += [""] * k + [f"{v:.1f} dB" for v in p[s:s + ncol]]
        if k < ncol:  # pad rows so originals and reconstructions stay aligned
            blank = np.full((ncol - k, *pixels.shape[1:]), 255, np.uint8)
            tiles.insert(-1, blank)
            tiles.append(blank)
            caps = caps[:-k] + [""] * (ncol - k) + caps[-k:] + [""] * (ncol - k)
    grid = make_grid(np.concatenate(tiles), ncol=ncol, scale=auto_scale(c.image_size, 72),
                     captions=caps)
    save_picture(grid, out)
    return {"out": str(out), "images": [str(f) for f in used],
            "psnr_db": [round(float(v), 3) for v in p], "mean_psnr_db": float(p.mean())}
