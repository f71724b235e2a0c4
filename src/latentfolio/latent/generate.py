"""Latent arithmetic for creating: sampled codes, paths between codes, mixtures, traversals.

A VAE is sampled from its prior N(0, I). A plain autoencoder is sampled from the Gaussian mixture
fitted to its training codes (saved in the model folder by ``train``), because random points of
a plain AE's latent space decode to garbage (Ghosh et al. 2020).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ArgumentError
from .density import LatentDensity

SOURCES = ("auto", "prior", "density")
MAX_SAMPLES = 100_000  # codes in one call: a grid of 100k images is already 80 MP at 28 px
MAX_STEPS = 1_000  # frames of an interpolation or a traversal row


def sample_latents(model, n: int, temperature: float = 1.0, seed: int = 0, source: str = "auto") -> tuple[np.ndarray, str]:
    """``n`` codes from the prior (VAE, or ``source="prior"``) or the fitted mixture."""
    if source not in SOURCES:
        raise ArgumentError("source", source, "use auto, prior or density")
    if not 1 <= n <= MAX_SAMPLES:
        raise ArgumentError("n", n, f"must be from 1 to {MAX_SAMPLES:,}")
    if not 0 < temperature < math.inf:
        raise ArgumentError("temperature", temperature, "must be > 0")
    if source == "auto":
        source = "prior" if model.type_name == "vae" else "density"
    if source == "prior":
        rng = np.random.default_rng(seed)
        return (rng.standard_normal((n, model.config.latent_dim)) * temperature).astype(np.float32), "prior"
    return LatentDensity.load(model.model_dir).sample(n, temperature, seed), "density"


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
    if not 2 <= steps <= MAX_STEPS:
        raise ArgumentError("steps", steps, f"must be from 2 to {MAX_STEPS:,}")
    t = np.linspace(0.0, 1.0, steps)
    if method == "linear":
        return ((1 - t)[:, None] * a + t[:, None] * b).astype(np.float32)
    if method == "slerp":
        return slerp(a, b, t).astype(np.float32)
    raise ArgumentError("method", method, "use linear or slerp")


def parse_weights(weights: str | None, n: int) -> np.ndarray:
    if not weights:
        return np.full(n, 1.0 / n)
    try:
        w = np.array([float(v) for v in str(weights).split(",") if v.strip()])
    except ValueError:
        raise ArgumentError("weights", weights, "expected numbers like 0.5,0.3,0.2") from None
    if len(w) != n:
        raise ArgumentError("weights", None, f"{len(w)} weight(s) for {n} image(s); give one per image")
    if not np.isfinite(w).all():
        raise ArgumentError("weights", weights, "every weight must be a finite number")
    if abs(w.sum() - 1.0) > 1e-6:
        raise ArgumentError("weights", weights, f"they sum to {w.sum():.6g}, not 1")
    return w


def parse_dims(dims: str, std: np.ndarray) -> list[int]:
    """``top5`` (the 5 widest dimensions over the training set) or ``0,3,7``."""
    d = len(std)
    dims = dims.strip()
    if dims.startswith("top"):
        try:
            k = int(dims[3:] or 5)
        except ValueError:
            raise ArgumentError("dims", dims, "use topN (e.g. top5) or indices like 0,3,7") from None
        if k < 1:
            raise ArgumentError("dims", dims, "top1 or more")
        return [int(i) for i in np.argsort(-std)[: min(k, d)]]
    try:
        out = [int(v) for v in dims.split(",") if v.strip()]
    except ValueError:
        raise ArgumentError("dims", dims, "use topN (e.g. top5) or indices like 0,3,7") from None
    bad = [i for i in out if not 0 <= i < d]
    if bad or not out:
        raise ArgumentError("dims", dims, f"the latent has {d} dimensions (0..{d - 1})")
    return out


def traverse_latents(z: np.ndarray, std: np.ndarray, dims: list[int], span: float, steps: int) -> np.ndarray:
    """Rows of codes: dimension ``d`` moved by -span..+span of its std, the others kept."""
    offsets = np.linspace(-span, span, steps)
    rows = np.repeat(z[None, None, :], len(dims), 0).repeat(steps, 1)  # (dims, steps, D)
    for r, d in enumerate(dims):
        rows[r, :, d] = z[d] + offsets * std[d]
    return rows.reshape(-1, len(z)).astype(np.float32)


