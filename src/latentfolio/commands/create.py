"""The create commands: ``sample``, ``interpolate``, ``blend``, ``traverse`` and ``fit-density``.

A VAE is sampled from its prior N(0, I). A plain autoencoder is sampled from the Gaussian mixture
fitted to its training codes (saved in the model folder by ``train``), because random points of
a plain AE's latent space decode to garbage (Ghosh et al. 2020).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .. import _io
from ..data import decode_inputs
from ..errors import ArgumentError, LatentfolioError
from ..imaging import auto_scale, gif_bytes, make_grid, save_picture, to_pil
from ..latent.density import DENSITY_WEIGHTS, LatentDensity, fit_model_density
from ..latent.encode import decode_latents, encode_pixels, require_vector_latent
from ..latent.generate import MAX_STEPS, interpolate_latents, parse_dims, parse_weights, sample_latents, traverse_latents
from ..saved import fit_of, load_for_model, load_model


def _load(model_dir):
    model = load_model(model_dir)
    require_vector_latent(model, "this command")
    return model


def _encode_files(model, inputs) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    c = model.config
    pixels, used = decode_inputs(inputs, c.image_size, c.channels, fit_of(model), strict=True)
    return encode_pixels(model, pixels), pixels, used


def _scale(model) -> int:
    return auto_scale(model.config.image_size, 64)


def sample(model_dir, out, *, n: int = 64, temperature: float = 1.0, seed: int = 0, source: str = "auto",
           force: bool = False, ncol: int | None = None) -> dict:
    """Decode ``n`` sampled codes into one grid PNG."""
    _io.check_writable(out, force)
    model = _load(model_dir)
    z, used = sample_latents(model, n, temperature, seed, source)
    images = decode_latents(model, z)
    save_picture(make_grid(images, ncol or int(np.ceil(np.sqrt(n))), scale=_scale(model)), out)
    return {"out": str(out), "n": n, "from": used, "temperature": temperature, "seed": seed}


def interpolate(model_dir, a, b, out, *, steps: int = 10, method: str = "linear", gif=None,
                force: bool = False) -> dict:
    """A strip from image A to image B through the latent space (and optionally a GIF)."""
    _io.check_writable(out, force)
    if gif:
        if os.path.splitext(str(gif))[1].lower() != ".gif":
            raise ArgumentError("gif", str(gif), "the animation is a GIF; name it .gif")
        _io.check_writable(gif, force)
    for p in (a, b):
        if Path(p).is_dir():
            raise LatentfolioError(f"{p}: interpolate takes two image files, not a folder")
    model = _load(model_dir)
    z, _, used = _encode_files(model, [a, b])
    path = interpolate_latents(z[0], z[1], steps, method)
    frames = decode_latents(model, path)
    save_picture(make_grid(frames, steps, scale=_scale(model)), out)
    if gif:
        _io.write_bytes(gif, gif_bytes(frames, _scale(model)))
    return {"out": str(out), "gif": str(gif) if gif else None, "steps": steps, "method": method,
            "a": str(used[0]), "b": str(used[1])}


def blend(model_dir, inputs, out, *, weights: str | None = None, sheet=None, force: bool = False) -> dict:
    """Decode the weighted mix of several images' codes into one image (model resolution)."""
    _io.check_writable(out, force)
    if sheet:
        _io.check_writable(sheet, force)
    model = _load(model_dir)
    if len(inputs) < 2:
        raise LatentfolioError("blend needs at least two images")
    z, pixels, used = _encode_files(model, inputs)
    w = parse_weights(weights, len(used))
    mix = decode_latents(model, (w[:, None] * z).sum(0, keepdims=True))
    save_picture(to_pil(mix[0]), out)
    if sheet:
        caps = [f"w={v:.2f}" for v in w] + ["blend"]
        save_picture(make_grid(np.concatenate([pixels, mix]), len(used) + 1, scale=_scale(model),
                               captions=caps), sheet)
    return {"out": str(out), "sheet": str(sheet) if sheet else None,
            "images": [str(p) for p in used], "weights": [float(v) for v in w]}


def traverse(model_dir, image, out, *, dims: str = "top5", span: float = 3.0, steps: int = 9,
             force: bool = False) -> dict:
    """One row per latent dimension, varied in steps of its training-set std."""
    _io.check_writable(out, force)
    if not 2 <= steps <= MAX_STEPS:
        raise ArgumentError("steps", steps, f"must be from 2 to {MAX_STEPS:,}")
    if not 0 < span < math.inf:
        raise ArgumentError("span", span, "must be > 0")
    model = _load(model_dir)
    std = LatentDensity.load(model.model_dir).std_
    chosen = parse_dims(dims, std)
    z, _, used = _encode_files(model, [image])
    if len(used) != 1:
        raise LatentfolioError(f"traverse: {image} must be one image file")
    frames = decode_latents(model, traverse_latents(z[0].astype(np.float64), std, chosen, span, steps))
    offsets = np.linspace(-span, span, steps)
    caps = [f"d{d} {o:+.1f}sd" if j == 0 or j == steps - 1 else f"{o:+.1f}"
            for d in chosen for j, o in enumerate(offsets)]
    save_picture(make_grid(frames, steps, scale=max(_scale(model), 2), captions=caps), out)
    return {"out": str(out), "image": str(used[0]), "dims": chosen, "range": span, "steps": steps,
            "std": [float(std[d]) for d in chosen]}


def fit_density(model_dir, data, *, data_root=None, components: int = 10, split: str = "train",
                force: bool = False) -> dict:
    """``latentfolio fit-density``: (re)fit the sampling density of a model on ``data``."""
    if components < 1:
        raise ArgumentError("components", components, "must be at least 1")
    model = load_model(model_dir)
    if (Path(model_dir) / DENSITY_WEIGHTS).exists() and not force:
        raise LatentfolioError(f"{model_dir}: already has a latent density (use --force to refit it)")
    ds = load_for_model(model, data, data_root)
    idx = ds.indices(split)
    idx = idx if len(idx) else np.arange(len(ds))
    dens = fit_model_density(model, ds.images[idx], components, save_to=model_dir,
                             extra={"data": str(data), "split": split})
    return {"model": str(model_dir), "n_fit": dens.n_fit_, "n_components": int(len(dens.weights_)),
            "out": str(Path(model_dir) / DENSITY_WEIGHTS)}
