"""A density over a model's latent codes: what sampling, traversal and outlier scores stand on.

It follows scikit-learn's shape (``fit`` returns ``self``, fitted state ends in ``_``) and saves
as safetensors arrays + a JSON header in the model folder, never pickle.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import LatentfolioError
from ..models import Autoencoder
from .encode import encode_pixels, require_vector_latent

DENSITY_WEIGHTS, DENSITY_JSON = "density.safetensors", "density.json"


# --- density --------------------------------------------------------------------------------
class LatentDensity:
    """A Gaussian mixture over latent codes, plus per-dimension mean and std.

    This is the "ex-post density" of Ghosh et al. 2020 ("From variational to deterministic
    autoencoders"): sampling a plain autoencoder from it gives images, where sampling N(0, I)
    gives garbage. The per-dimension std ranks dimensions for traversal.
    """

    def __init__(self, n_components: int = 10, covariance_type: str = "full", seed: int = 0):
        self.n_components, self.covariance_type, self.seed = n_components, covariance_type, seed

    def fit(self, z: np.ndarray, max_fit: int = 20000) -> "LatentDensity":
        from sklearn.mixture import GaussianMixture

        z = np.asarray(z, dtype=np.float64)
        if len(z) < 2:
            raise LatentfolioError("fitting a latent density needs at least 2 images")
        self.mean_ = z.mean(0)
        self.std_ = z.std(0) + 1e-8
        rng = np.random.default_rng(self.seed)
        fit_on = z[rng.choice(len(z), max_fit, replace=False)] if len(z) > max_fit else z
        k = max(1, min(self.n_components, len(fit_on) // 10 or 1))
        gmm = GaussianMixture(k, covariance_type=self.covariance_type, reg_covar=1e-5,
                              random_state=self.seed, max_iter=200)
        gmm.fit(fit_on)
        self.weights_, self.means_, self.covariances_ = gmm.weights_, gmm.means_, gmm.covariances_
        self.n_fit_ = int(len(z))
        self._gmm = gmm
        return self

    def _check(self) -> None:
        if not hasattr(self, "weights_"):
            raise RuntimeError("LatentDensity is not fitted")

    @property
    def gmm(self):
        """The scikit-learn mixture, rebuilt from the saved arrays when loaded."""
        self._check()
        if getattr(self, "_gmm", None) is None:
            from sklearn.mixture import GaussianMixture
            from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

            g = GaussianMixture(len(self.weights_), covariance_type=self.covariance_type)
            g.weights_, g.means_, g.covariances_ = self.weights_, self.means_, self.covariances_
            g.precisions_cholesky_ = _compute_precision_cholesky(self.covariances_, self.covariance_type)
            self._gmm = g
        return self._gmm

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        """``n`` codes; ``temperature`` scales each component's spread (1 = as fitted)."""
        self._check()
        rng = np.random.default_rng(seed)
        comp = rng.choice(len(self.weights_), size=n, p=self.weights_ / self.weights_.sum())
        d = self.means_.shape[1]
        eps = rng.standard_normal((n, d)) * temperature
        if self.covariance_type == "full":
            chol = np.linalg.cholesky(self.covariances_)  # (K, D, D)
            out = self.means_[comp] + np.einsum("nij,nj->ni", chol[comp], eps)
        elif self.covariance_type == "diag":
            out = self.means_[comp] + np.sqrt(self.covariances_[comp]) * eps
        else:
            raise ValueError(f"sampling is not implemented for covariance_type {self.covariance_type!r}")
        return out.astype(np.float32)

    def score_samples(self, z: np.ndarray) -> np.ndarray:
        """Log density of each code (higher = more typical)."""
        return self.gmm.score_samples(np.asarray(z, dtype=np.float64))

    # --- arrays + JSON, no pickle --------------------------------------------------------
    def save(self, folder: str | os.PathLike, extra: dict | None = None) -> None:
        from safetensors.numpy import save_file

        self._check()
        folder = Path(folder)
        arrays = {k: np.ascontiguousarray(getattr(self, k)) for k in
                  ("weights_", "means_", "covariances_", "mean_", "std_")}
        _io.atomic_write(folder / DENSITY_WEIGHTS, lambda p: save_file(arrays, str(p)))
        _io.write_json(folder / DENSITY_JSON, {
            "kind": "gaussian_mixture", "n_components": int(len(self.weights_)),
            "covariance_type": self.covariance_type, "n_fit": self.n_fit_, "seed": self.seed,
            **(extra or {})})

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "LatentDensity":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder = Path(folder)
        if not (folder / DENSITY_WEIGHTS).exists():
            raise LatentfolioError(
                f"{folder}: no latent density ({DENSITY_WEIGHTS}); fit one with "
                f"`latentfolio fit-density {folder} DATA`")
        head = _io.read_json(folder / DENSITY_JSON, "density header")
        ok = (isinstance(head, dict) and type(head.get("n_components", 10)) is int
              and head.get("covariance_type", "full") in ("full", "diag") and type(head.get("seed", 0)) is int)
        if not ok:
            raise LatentfolioError(f"{folder / DENSITY_JSON}: not a latent density header; refit it with "
                                   f"`latentfolio fit-density {folder} DATA --force`")
        try:
            arrays = load_file(str(folder / DENSITY_WEIGHTS))
        except (SafetensorError, OSError, ValueError) as e:
            raise LatentfolioError(f"{folder / DENSITY_WEIGHTS}: corrupt density file ({e})") from None
        need = {"weights_", "means_", "covariances_", "mean_", "std_"}
        if set(arrays) != need or not all(np.isfinite(v).all() for v in arrays.values()):
            raise LatentfolioError(f"{folder / DENSITY_WEIGHTS}: corrupt density file (arrays "
                                   f"{sorted(arrays)}); refit it with `latentfolio fit-density`")
        self = cls(head.get("n_components", 10), head.get("covariance_type", "full"), head.get("seed", 0))
        for k, v in arrays.items():
            setattr(self, k, v.astype(np.float64))
        self.n_fit_ = int(head.get("n_fit", 0))
        self._gmm = None
        return self


def fit_model_density(model: Autoencoder, pixels: np.ndarray, n_components: int = 10, seed: int = 0,
                save_to: str | os.PathLike | None = None, extra: dict | None = None) -> LatentDensity:
    """Encode ``pixels`` and fit a :class:`LatentDensity`; optionally save it in a model folder."""
    require_vector_latent(model, "a latent density")
    dens = LatentDensity(n_components, seed=seed).fit(encode_pixels(model, pixels))
    if save_to is not None:
        dens.save(save_to, extra)
    return dens


# --- 2-D projection --------------------------------------------------------------------------


# --- clustering metrics ----------------------------------------------------------------------


