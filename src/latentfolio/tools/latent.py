"""The latent space as data: encode pixels, fit a density, project to 2-D, score clusterings.

Fitted objects follow scikit-learn's shape (``fit`` returns ``self``, fitted state ends in ``_``)
and save as safetensors arrays + a JSON header, never pickle.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import _io
from ..errors import LatentfolioError
from ..models import Autoencoder
from ..models.base import DiagonalGaussian

DENSITY_WEIGHTS, DENSITY_JSON = "density.safetensors", "density.json"


# --- encoding -------------------------------------------------------------------------------
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
        try:
            arrays = load_file(str(folder / DENSITY_WEIGHTS))
        except (SafetensorError, OSError, ValueError) as e:
            raise LatentfolioError(f"{folder / DENSITY_WEIGHTS}: corrupt density file ({e})") from None
        self = cls(int(head.get("n_components", 10)), head.get("covariance_type", "full"),
                   int(head.get("seed", 0)))
        for k, v in arrays.items():
            setattr(self, k, v.astype(np.float64))
        self.n_fit_ = int(head.get("n_fit", 0))
        self._gmm = None
        return self


def fit_density(model: Autoencoder, pixels: np.ndarray, n_components: int = 10, seed: int = 0,
                save_to: str | os.PathLike | None = None, extra: dict | None = None) -> LatentDensity:
    """Encode ``pixels`` and fit a :class:`LatentDensity`; optionally save it in a model folder."""
    require_vector_latent(model, "a latent density")
    dens = LatentDensity(n_components, seed=seed).fit(encode_pixels(model, pixels))
    if save_to is not None:
        dens.save(save_to, extra)
    return dens


def fit_density_cmd(model_dir, data, data_root=None, n_components: int = 10, split: str = "train",
                    force: bool = False) -> dict:
    """``latentfolio fit-density``: (re)fit the sampling density of a model on ``data``."""
    from ..evaluation import load_for_model
    from ..saved import load_model

    if n_components < 1:
        raise LatentfolioError(f"--components {n_components}: must be at least 1")
    model = load_model(model_dir)
    if (Path(model_dir) / DENSITY_WEIGHTS).exists() and not force:
        raise LatentfolioError(f"{model_dir}: already has a latent density (use --force to refit it)")
    ds = load_for_model(model, data, data_root)
    idx = ds.indices(split)
    idx = idx if len(idx) else np.arange(len(ds))
    dens = fit_density(model, ds.images[idx], n_components, save_to=model_dir,
                       extra={"data": str(data), "split": split})
    return {"model": str(model_dir), "n_fit": dens.n_fit_, "n_components": int(len(dens.weights_)),
            "out": str(Path(model_dir) / DENSITY_WEIGHTS)}


# --- 2-D projection --------------------------------------------------------------------------
PROJECTIONS = ("pca", "umap", "tsne")


def project_2d(z: np.ndarray, method: str = "umap", seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) float32 with PCA, UMAP (McInnes et al. 2018) or t-SNE."""
    if method not in PROJECTIONS:
        raise LatentfolioError(f"--method {method!r}: use one of {', '.join(PROJECTIONS)}")
    z = np.asarray(z, dtype=np.float32)
    if len(z) < 3:
        raise LatentfolioError(f"a 2-D map needs at least 3 images, not {len(z)}")
    if z.shape[1] <= 2:
        out = np.zeros((len(z), 2), np.float32)
        out[:, : z.shape[1]] = z
        return out
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(2, random_state=seed, init="pca",
                    perplexity=min(30.0, max(2.0, (len(z) - 1) / 3))).fit_transform(z).astype(np.float32)
    if method == "pca":
        return projector("pca", seed).fit_transform(z).astype(np.float32)
    return umap_embed(z, 2, seed)


def projector(method: str = "umap", seed: int = 0, dims: int = 2, n_neighbors: int = 15,
              min_dist: float = 0.1, n: int | None = None):
    """An unfitted PCA or UMAP (McInnes et al. 2018) reducer; both can ``transform`` new codes.

    ``n`` (the number of codes to fit) keeps tiny sets working: fewer neighbours, random init.
    """
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(dims, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba/umap chatter about threads and seeds
        import umap

    if n is not None:
        n_neighbors = min(n_neighbors, n - 1)
    init = "random" if n is not None and n <= dims + 1 else "spectral"
    return umap.UMAP(n_components=dims, n_neighbors=max(2, n_neighbors), min_dist=min_dist,
                     random_state=seed, init=init)


def umap_embed(z: np.ndarray, dims: int, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    red = projector("umap", seed, dims, n_neighbors, min_dist, n=len(z))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return red.fit_transform(z).astype(np.float32)


# --- clustering metrics ----------------------------------------------------------------------
def cluster_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Best one-to-one matching of clusters to labels (Hungarian algorithm), as accuracy."""
    from scipy.optimize import linear_sum_assignment

    labels, clusters = np.asarray(labels), np.asarray(clusters)
    lu, li = np.unique(labels, return_inverse=True)
    cu, ci = np.unique(clusters, return_inverse=True)
    m = np.zeros((len(cu), len(lu)), np.int64)
    np.add.at(m, (ci, li), 1)
    r, c = linear_sum_assignment(-m)
    return float(m[r, c].sum() / len(labels))


def cluster_metrics(labels: np.ndarray, clusters: np.ndarray) -> dict:
    """NMI, ARI and Hungarian accuracy against known labels (rows with label < 0 are ignored)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    labels, clusters = np.asarray(labels), np.asarray(clusters)
    keep = labels >= 0
    labels, clusters = labels[keep], clusters[keep]
    if len(labels) == 0:
        return {}
    return {"nmi": float(normalized_mutual_info_score(labels, clusters)),
            "ari": float(adjusted_rand_score(labels, clusters)),
            "acc": cluster_accuracy(labels, clusters), "n_labelled": int(len(labels))}

