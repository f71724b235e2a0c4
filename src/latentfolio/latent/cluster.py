"""Clustering latent codes, and scoring a clustering against known labels.

Fitted objects follow scikit-learn's shape (``fit`` returns ``self``, fitted state ends in ``_``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ArgumentError
from .project import umap_embed


CLUSTER_METHODS = ("kmeans", "gmm", "hdbscan", "umap-gmm")


FIT_MAX = 50_000  # fit GMM / UMAP / HDBSCAN on at most this many codes, then assign the rest


class LatentClusterer:
    """Cluster latent codes: ``fit(z)`` returns ``self`` with ``labels_`` (and ``n_clusters_``).

    ``umap-gmm`` is N2D (McConville et al. 2019): UMAP of the codes down to ``umap_dims``
    dimensions (min_dist 0, 20 neighbours), then a full-covariance Gaussian mixture.
    """

    def __init__(self, method: str = "kmeans", k: int = 10, seed: int = 0, umap_dims: int = 10):
        if method not in CLUSTER_METHODS:
            raise ArgumentError("method", method, f"use one of {', '.join(CLUSTER_METHODS)}")
        if k < 1:
            raise ArgumentError("k", k, "must be at least 1")
        self.method, self.k, self.seed, self.umap_dims = method, k, seed, umap_dims

    def fit(self, z: np.ndarray) -> "LatentClusterer":
        z = np.asarray(z, dtype=np.float32)
        n = len(z)
        k = min(self.k, n)
        if k < self.k and self.method in ("kmeans", "gmm", "umap-gmm"):
            warnings.warn(f"--k {self.k} is more than the {n} images: making {n} clusters")
        rng = np.random.default_rng(self.seed)
        sub = np.sort(rng.choice(n, FIT_MAX, replace=False)) if n > FIT_MAX else np.arange(n)
        if self.method == "kmeans":
            from sklearn.cluster import KMeans, MiniBatchKMeans

            km = (KMeans(k, n_init=4, random_state=self.seed) if n <= 200_000
                  else MiniBatchKMeans(k, batch_size=4096, n_init=3, random_state=self.seed))
            self.labels_ = km.fit_predict(z)
            self.cluster_centers_ = km.cluster_centers_
        elif self.method == "gmm":
            from sklearn.mixture import GaussianMixture

            g = GaussianMixture(k, covariance_type="full", random_state=self.seed, reg_covar=1e-4).fit(z[sub])
            self.labels_ = np.concatenate([g.predict(z[s:s + 65536]) for s in range(0, n, 65536)])
            self.cluster_centers_ = g.means_
        elif self.method == "hdbscan":
            from sklearn.cluster import HDBSCAN

            lab = HDBSCAN(min_cluster_size=max(5, len(sub) // 200), copy=True).fit_predict(z[sub])
            self.labels_ = self._spread(z, sub, lab)
        else:  # umap-gmm
            from sklearn.mixture import GaussianMixture

            emb = umap_embed(z[sub], min(self.umap_dims, max(2, z.shape[1])), self.seed, n_neighbors=20, min_dist=0.0)
            g = GaussianMixture(k, covariance_type="full", random_state=self.seed).fit(emb)
            self.labels_ = self._spread(z, sub, g.predict(emb))
        self.labels_ = np.asarray(self.labels_, np.int64)
        self.n_clusters_ = int(len(np.unique(self.labels_[self.labels_ >= 0])))
        return self

    @staticmethod
    def _spread(z: np.ndarray, sub: np.ndarray, lab: np.ndarray) -> np.ndarray:
        """Labels for the codes not in the fitted subset: the label of their nearest fitted code."""
        if len(sub) == len(z):
            return lab
        import faiss

        idx = faiss.IndexFlatL2(z.shape[1])
        idx.add(np.ascontiguousarray(z[sub]))
        out = np.empty(len(z), np.int64)
        for s in range(0, len(z), 65536):
            _, i = idx.search(np.ascontiguousarray(z[s:s + 65536]), 1)
            out[s:s + 65536] = lab[i[:, 0]]
        out[sub] = lab
        return out


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
