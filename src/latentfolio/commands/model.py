"""The model commands ``evaluate``, ``reconstruct``, ``info`` and ``models`` (``train`` has a module
of its own: it needs Lightning, and these should start fast)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from .. import _io
from ..codec.describe import describe
from ..data import decode_inputs
from ..errors import ArgumentError
from ..imaging import auto_scale, make_grid, save_picture
from ..latent.encode import reconstruct_pixels
from ..latent.evaluate import evaluate_model
from ..metrics import psnr
from ..models import MODELS
from ..models.info import model_info
from ..saved import as_model, fit_of, load_for_model, load_model


SPLITS = ("train", "val", "test", "all")


def evaluate(model_dir, data, *, split: str = "test", data_root=None, batch_size: int = 512,
             noise: str | None = None, seed: int = 0) -> dict:
    """Report mse, psnr_db, ssim and n of the model in ``model_dir`` on ``split`` of ``data``."""
    if split not in SPLITS:
        raise ArgumentError("split", split, f"use {', '.join(SPLITS)}")
    model = as_model(model_dir)
    ds = load_for_model(model, data, data_root)
    return {"model": str(model_dir), "data": str(data), "split": split,
            **evaluate_model(model, ds, split, batch_size, noise=noise, seed=seed)}


def reconstruct(model_dir, inputs: list, out, *, force: bool = False, ncol: int = 8) -> dict:
    """Grid of originals over reconstructions (PSNR under each) for image files or folders."""
    _io.check_writable(out, force)
    model = as_model(model_dir)
    c = model.config
    pixels, used = decode_inputs(inputs, c.image_size, c.channels, fit_of(model))
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


def info(path) -> dict:
    """Layers, output shapes, parameter counts, latent size and compression ratio of a model; or,
    for an .lfz file or .lfa archive, what it holds and which model decodes it."""
    if Path(path).is_file():
        return describe(path)
    return model_info(load_model(path))


def models() -> dict:
    """The registered model types and their config fields with defaults."""
    return {name: {f.name: f.default for f in dataclasses.fields(cls.Config)}
            for name, cls in sorted(MODELS.items())}
