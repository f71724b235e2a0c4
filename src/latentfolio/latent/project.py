"""Codes -> 2-D (or a few dimensions): PCA, UMAP and t-SNE, for maps and clustering."""

from __future__ import annotations

import sys
import warnings

import numpy as np

from ..errors import ArgumentError, LatentfolioError


PROJECTIONS = ("pca", "umap", "tsne")


def project_2d(z: np.ndarray, method: str = "umap", seed: int = 0, progress: bool | None = None) -> np.ndarray:
    """(N, D) -> (N, 2) float32 with PCA, UMAP (McInnes et al. 2018) or t-SNE."""
    if method not in PROJECTIONS:
        raise ArgumentError("method", method, f"use one of {', '.join(PROJECTIONS)}")
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
    return umap_embed(z, 2, seed, progress=progress)


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


def umap_embed(z: np.ndarray, dims: int, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1,
               progress: bool | None = None) -> np.ndarray:
    """UMAP of ``z``; on a terminal (or with ``progress``) each step is said, and the layout's
    epochs, most of the time, have a bar with the time left."""
    red = projector("umap", seed, dims, n_neighbors, min_dist, n=len(z))
    show = sys.stderr.isatty() if progress is None else progress
    red.tqdm_kwds = {"disable": not show, "leave": False, "file": sys.stderr, "desc": f"UMAP: laying out {len(z):,} images",
                     "bar_format": "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} epochs [{elapsed}<{remaining}]"}
    if show:
        print(f"UMAP: finding each of {len(z):,} images' {red.n_neighbors} nearest neighbours "
              "(the first run also compiles UMAP's code)", file=sys.stderr, flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return red.fit_transform(z).astype(np.float32)
