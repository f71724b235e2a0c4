"""How unusual each image is: reconstruction errors and latent density, as robust z-scores."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from .density import LatentDensity


def _robust_z(v: np.ndarray) -> np.ndarray:
    """(v - median) / (1.4826 MAD): a z-score that the outliers themselves cannot mask."""
    med = np.median(v)
    mad = 1.4826 * np.median(np.abs(v - med)) or (np.std(v) or 1.0)
    return (v - med) / mad


BOTH_TERMS = ("mse", "ssim", "density")


def anomaly_scores(recon_error: np.ndarray, z: np.ndarray, score: str = "both", seed: int = 0,
                   density: LatentDensity | None = None, ssim_error: np.ndarray | None = None,
                   terms: tuple[str, ...] = BOTH_TERMS) -> np.ndarray:
    """Higher = more unusual.

    recon: the reconstruction's MSE. density: -log p(z) under a GMM fitted on the codes. both:
    robust z-scores of ``terms`` added: the log MSE, the log structural error 1 - SSIM (when
    given) and -log p(z). Each catches what the others miss. SSIM's error separates shapes best
    (Bergmann et al. 2019) but is bounded, so a page of noise scores little more than a hard
    drawing; the MSE is not bounded. A latent density alone ranks such a page as ordinary (its
    code lands among the others), and ranks simple images as likely (Nalisnick et al. 2019).
    """
    if score not in ("recon", "density", "both"):
        raise ArgumentError("score", score, "use recon, density or both")
    if score == "recon":
        return np.asarray(recon_error, np.float64)
    nll = -density.score_samples(z) if density is not None else density_nll(z, seed)
    if score == "density":
        return nll
    return sum(anomaly_parts(recon_error, nll, ssim_error, terms).values(), np.zeros(len(nll)))


REASONS = {"mse": "reconstruction", "ssim": "structure", "density": "density"}


def anomaly_parts(recon_error: np.ndarray, nll: np.ndarray, ssim_error: np.ndarray | None = None,
                  terms: tuple[str, ...] = BOTH_TERMS) -> dict[str, np.ndarray]:
    """The robust z-score of each term that ``both`` adds up, by term: the log MSE, the log
    1 - SSIM (when given) and -log p(z). The largest is an image's reason for being unusual."""
    parts = {"mse": recon_error, "ssim": ssim_error, "density": nll}
    out = {}
    for t in terms:
        if parts[t] is not None:
            v = np.asarray(parts[t], np.float64)
            out[t] = _robust_z(v if t == "density" else np.log(np.maximum(v, 0) + 1e-6))
    return out


def density_nll(z: np.ndarray, seed: int = 0) -> np.ndarray:
    """-log p(z) under a mixture fitted on the codes: about 100 images per component, so a small
    group of odd images cannot claim one of its own."""
    return -LatentDensity(n_components=min(10, max(1, len(z) // 100)), seed=seed).fit(z).score_samples(z)
