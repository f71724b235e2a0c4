"""Create with a latent space: sample, interpolate, blend and traverse.

A VAE is sampled from its prior N(0, I). A plain autoencoder is sampled from the Gaussian mixture
fitted to its training codes (saved in the model folder by ``train``), because random points of
a plain AE's latent space decode to garbage (Ghosh et al. 2020).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import LatentfolioError
from ..imaging import auto_scale, make_grid, save_picture, to_pil
from .latent import LatentDensity, decode_latents, encode_pixels, require_vector_latent

SOURCES = ("auto", "prior", "density")


def _load(model_dir):
    from ..saved import load_model

    model = load_model(model_dir)
    require_vector_latent(model, "this command")
    return model


def _encode_files(model, inputs) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    from ..evaluation import decode_inputs

    c = model.config
    fit = getattr(model, "meta", {}).get("data", {}).get("fit", "squash")
    pixels, used = decode_inputs(inputs, c.image_size, c.channels, fit, strict=True)
    return encode_pixels(model, pixels), pixels, used


def _scale(model) -> int:
    return auto_scale(model.config.image_size, 64)


def sample_latents(model, n: int, temperature: float = 1.0, seed: int = 0, source: str = "auto") -> tuple[np.ndarray, str]:
    """``n`` codes from the prior (VAE, or ``source="prior"``) or the fitted mixture."""
    if source not in SOURCES:
        raise LatentfolioError(f"--from {source!r}: use auto, prior or density")
    if n < 1:
        raise LatentfolioError(f"-n {n}: must be at least 1")
    if temperature <= 0:
        raise LatentfolioError(f"--temperature {temperature}: must be > 0")
    if source == "auto":
        source = "prior" if model.type_name == "vae" else "density"
    if source == "prior":
        rng = np.random.default_rng(seed)
        return (rng.standard_normal((n, model.config.latent_dim)) * temperature).astype(np.float32), "prior"
    return LatentDensity.load(model.model_dir).sample(n, temperature, seed), "density"


def sample(model_dir, out, n: int = 64, temperature: float = 1.0, seed: int = 0, source: str = "auto",
           force: bool = False, ncol: int | None = None) -> dict:
    """Decode ``n`` sampled codes into one grid PNG."""
    _io.check_writable(out, force)
    model = _load(model_dir)
    z, used = sample_latents(model, n, temperature, seed, source)
    images = decode_latents(model, z)
    save_picture(make_grid(images, ncol or int(np.ceil(np.sqrt(n))), scale=_scale(model)), out)
    return {"out": str(out), "n": n, "from": used, "temperature": temperature, "seed": seed}


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985), as White 2016 recommends for Gaussian latents."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(np.dot(a, b) / max(na * nb, 1e-12), -1.0, 1.0)
    omega = np.arccos(cos)
    if omega < 1e-6:  # (anti)parallel: the straight line is the arc
        return (1 - t)[:, None] * a + t[:, None] * b
    s = np.sin(omega)
    return (np.sin((1 - t) * omega) / s)[:, None] * a + (np.sin(t * omega) / s)[:, None] * b


def interpolate_latents(a: np.ndarray, b: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    if steps < 2:
        raise LatentfolioError(f"--steps {steps}: must be at least 2")
    t = np.linspace(0.0, 1.0, steps)
    if method == "linear":
        return ((1 - t)[:, None] * a + t[:, None] * b).astype(np.float32)
    if method == "slerp":
        return slerp(a, b, t).astype(np.float32)
    raise LatentfolioError(f"--method {method!r}: use linear or slerp")


def _gif(frames: np.ndarray, path, scale: int, ms: int = 120) -> None:
    imgs = [to_pil(f).convert("RGB").resize((f.shape[1] * scale, f.shape[0] * scale)) for f in frames]
    seq = imgs + imgs[-2:0:-1]  # there and back again, so the loop has no jump
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=ms, loop=0)
    _io.write_bytes(path, buf.getvalue())


def interpolate(model_dir, a, b, out, steps: int = 10, method: str = "linear", gif=None,
                force: bool = False) -> dict:
    """A strip from image A to image B through the latent space (and optionally a GIF)."""
    _io.check_writable(out, force)
    if gif:
        if os.path.splitext(str(gif))[1].lower() != ".gif":
            raise LatentfolioError(f"--gif {gif}: the animation is a GIF; name it .gif")
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
        _gif(frames, gif, _scale(model))
    return {"out": str(out), "gif": str(gif) if gif else None, "steps": steps, "method": method,
            "a": str(used[0]), "b": str(used[1])}


def parse_weights(weights: str | None, n: int) -> np.ndarray:
    if not weights:
        return np.full(n, 1.0 / n)
    try:
        w = np.array([float(v) for v in str(weights).split(",") if v.strip()])
    except ValueError:
        raise LatentfolioError(f"--weights {weights!r}: expected numbers like 0.5,0.3,0.2") from None
    if len(w) != n:
        raise LatentfolioError(f"--weights: {len(w)} weight(s) for {n} image(s); give one per image")
    if abs(w.sum() - 1.0) > 1e-6:
        raise LatentfolioError(f"--weights {weights}: they sum to {w.sum():.6g}, not 1")
    return w


def blend(model_dir, inputs, out, weights: str | None = None, sheet=None, force: bool = False) -> dict:
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


def parse_dims(dims: str, std: np.ndarray) -> list[int]:
    """``top5`` (the 5 widest dimensions over the training set) or ``0,3,7``."""
    d = len(std)
    dims = dims.strip()
    if dims.startswith("top"):
        try:
            k = int(dims[3:] or 5)
        except ValueError:
            raise LatentfolioError(f"--dims {dims!r}: use topN (e.g. top5) or indices like 0,3,7") from None
        if k < 1:
            raise LatentfolioError(f"--dims {dims!r}: top1 or more")
        return [int(i) for i in np.argsort(-std)[: min(k, d)]]
    try:
        out = [int(v) for v in dims.split(",") if v.strip()]
    except ValueError:
        raise LatentfolioError(f"--dims {dims!r}: use topN (e.g. top5) or indices like 0,3,7") from None
    bad = [i for i in out if not 0 <= i < d]
    if bad or not out:
        raise LatentfolioError(f"--dims {dims!r}: the latent has {d} dimensions (0..{d - 1})")
    return out


def traverse_latents(z: np.ndarray, std: np.ndarray, dims: list[int], span: float, steps: int) -> np.ndarray:
    """Rows of codes: dimension ``d`` moved by -span..+span of its std, the others kept."""
    offsets = np.linspace(-span, span, steps)
    rows = np.repeat(z[None, None, :], len(dims), 0).repeat(steps, 1)  # (dims, steps, D)
    for r, d in enumerate(dims):
        rows[r, :, d] = z[d] + offsets * std[d]
    return rows.reshape(-1, len(z)).astype(np.float32)


def traverse(model_dir, image, out, dims: str = "top5", span: float = 3.0, steps: int = 9,
             force: bool = False) -> dict:
    """One row per latent dimension, varied in steps of its training-set std."""
    _io.check_writable(out, force)
    if steps < 2:
        raise LatentfolioError(f"--steps {steps}: must be at least 2")
    if span <= 0:
        raise LatentfolioError(f"--range {span}: must be > 0")
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
