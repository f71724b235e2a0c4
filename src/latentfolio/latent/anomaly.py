"""How unusual each image is: reconstruction errors, latent density, distance to the nearest images
in a pretrained encoder's feature space, and input complexity, as robust z-scores."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from .density import LatentDensity


def _robust_z(v: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    """(v - median) / (1.4826 MAD): a z-score that the outliers themselves cannot mask. The
    median and MAD are those of the values ``ref`` when given, else of ``v``."""
    r = v if ref is None else np.asarray(ref, np.float64)
    med = np.median(r)
    mad = 1.4826 * np.median(np.abs(r - med)) or (np.std(r) or 1.0)
    return (v - med) / mad


MIN_GROUP = 10  # a smaller group is scored with the rest


def _grouped_z(v: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Robust z-scores within each group. A model reconstructs the images it trained on far better
    than those it held out (docs/experiments.md): scored together, the held-out images
    fill the top of the list whatever they show."""
    out = _robust_z(v)
    if groups is None:
        return out
    for g in np.unique(groups):
        m = groups == g
        if MIN_GROUP <= m.sum() <= len(v) - MIN_GROUP:
            out[m] = _robust_z(v[m])
    return out


BOTH_TERMS = ("mse", "ssim", "density")
SCORES = ("recon", "density", "complexity", "model", "both")
REASONS = {"mse": "reconstruction", "ssim": "structure", "density": "density", "knn": "content",
           "complexity": "complexity"}
KNN = 2  # neighbours averaged (PANDA's baseline, Reiss et al. 2021, uses 2)


def knn_distance(feats: np.ndarray, k: int = KNN, ref: np.ndarray | None = None) -> np.ndarray:
    """Each image's mean L2 distance to its ``k`` nearest reference images in feature space
    (itself left out): the reference images are ``ref`` (a mask), else all of them."""
    import faiss

    f = np.ascontiguousarray(feats, np.float32)
    rows = np.flatnonzero(ref) if ref is not None and np.sum(ref) > k else np.arange(len(f))
    index = faiss.IndexFlatL2(f.shape[1])
    index.add(f[rows])
    want = min(k + 1, len(rows))
    d2, nn = index.search(f, want)
    nn = np.where(nn >= 0, rows[np.maximum(nn, 0)], -1)
    own = nn == np.arange(len(f))[:, None]
    own[:, -1] &= ~own[:, :-1].any(1)  # at most one own match a row
    keep = ~own
    keep[np.cumsum(keep, 1) > k] = False  # the k nearest others
    d = np.sqrt(np.maximum(d2, 0))
    return (d * keep).sum(1) / np.maximum(keep.sum(1), 1)


def anomaly_scores(recon_error: np.ndarray, z: np.ndarray, score: str = "both", seed: int = 0,
                   density: LatentDensity | None = None, ssim_error: np.ndarray | None = None,
                   terms: tuple[str, ...] = BOTH_TERMS, complexity: np.ndarray | None = None,
                   groups: np.ndarray | None = None, complexity_ref: np.ndarray | None = None,
                   knn: np.ndarray | None = None) -> np.ndarray:
    """Higher = more unusual: the ``total`` of :func:`score_table`."""
    return score_table(recon_error, z, score, seed, density, ssim_error, terms, complexity, groups,
                       complexity_ref, knn)["total"]


def score_table(recon_error: np.ndarray, z: np.ndarray, score: str = "both", seed: int = 0,
                density: LatentDensity | None = None, ssim_error: np.ndarray | None = None,
                terms: tuple[str, ...] = BOTH_TERMS, complexity: np.ndarray | None = None,
                groups: np.ndarray | None = None, complexity_ref: np.ndarray | None = None,
                knn: np.ndarray | None = None) -> dict:
    """How unusual each image is -> {total (higher = more unusual), parts, reason (per image, the
    term that put it there)}.

    recon: the reconstruction's MSE. density: -log p(z) under a GMM fitted on the codes.
    complexity: how far an image's complexity (lossless bits per value, see
    :func:`latentfolio.imaging.complexity`) is from a typical one, either way
    (:func:`complexity_z`). both: see :func:`outlier_table`. model: ``both`` without the
    complexity, for a model of one kind scoring a list that is mostly of others (one-class
    FashionMNIST: benchmarks/results/anomaly.json). ``groups`` (one value per image:
    whether the model trained on it) scores the model's terms within each group. ``knn`` (see
    :func:`knn_distance`, on content features) joins the terms of ``both`` and ``model``.
    """
    if score not in SCORES:
        raise ArgumentError("score", score, "use " + ", ".join(SCORES[:-1]) + " or both")
    if score == "complexity" and complexity is None:
        raise ArgumentError("score", score, "this catalog has no complexity measures; run `index` again")
    if score == "recon":
        return _single("mse", np.asarray(recon_error, np.float64))
    if score == "complexity":
        return _single("complexity", one_sided(complexity_z(complexity, groups, complexity_ref)))
    nll = -density.score_samples(z) if density is not None else density_nll(z, seed)
    if score == "density":
        return _single("density", nll)
    if score == "model":  # the model's own terms, without the collection's typical complexity
        complexity = None
    return outlier_table(recon_error, nll, ssim_error, terms, complexity, groups, complexity_ref, knn)


def _single(term: str, v: np.ndarray) -> dict:
    return {"total": v, "parts": {term: v}, "reason": [REASONS[term]] * len(v)}


def complexity_z(complexity: np.ndarray, groups: np.ndarray | None = None,
                 ref: np.ndarray | None = None) -> np.ndarray:
    """|robust z| of the complexity against a typical one: a blank page and a page of noise are
    both far from it, on either side (a typicality test, Nalisnick et al. 2019).

    Typical is ``ref`` (the complexities of the images the model learned from) when given, else
    that of the images the model trained on (``groups`` true) when there are enough, else the
    whole list's. Against a list that is mostly of another kind (a one-class test), the list's
    own median would make the model's kind look atypical (one-class FashionMNIST: mean AUROC
    0.94 -> 0.6)."""
    v = np.asarray(complexity, np.float64)
    if ref is None and groups is not None and np.sum(groups) >= MIN_GROUP:
        ref = v[np.asarray(groups, bool)]
    return np.abs(_robust_z(v, ref))


def one_sided(abs_z: np.ndarray) -> np.ndarray:
    """|z| of a two-sided test -> the z of a one-sided test with the same p-value (at least -7).
    A plain |z| is never below 0, so in a maximum with the model's signed z it would lift every
    ordinary image over the model's own ordering of the rest."""
    from scipy.special import ndtr, ndtri

    a = np.asarray(abs_z, np.float64)
    p = np.clip(2 * ndtr(-a), 1e-300, 1 - 1e-12)  # the two-sided p-value
    return np.where(a > 8, a, -ndtri(p))  # past 8 they differ by under 0.1: keep the order


def anomaly_parts(recon_error: np.ndarray, nll: np.ndarray, ssim_error: np.ndarray | None = None,
                  terms: tuple[str, ...] = BOTH_TERMS, groups: np.ndarray | None = None,
                  knn: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The robust z-score of each term that ``both`` adds up, by term: the log MSE, the log
    1 - SSIM (when given) and -log p(z), each within its group (the images the model trained on,
    and the rest); and the log distance to the nearest images in feature space (``knn``, when
    given: a pretrained encoder has trained on none of them, so all are one group)."""
    parts = {"mse": recon_error, "ssim": ssim_error, "density": nll}
    out = {}
    for t in terms:
        if parts[t] is not None:
            v = np.asarray(parts[t], np.float64)
            out[t] = _grouped_z(v if t == "density" else np.log(np.maximum(v, 0) + 1e-6), groups)
    if knn is not None:
        out["knn"] = _robust_z(np.log(np.maximum(np.asarray(knn, np.float64), 0) + 1e-6))
    return out


def outlier_table(recon_error: np.ndarray, nll: np.ndarray, ssim_error: np.ndarray | None = None,
                  terms: tuple[str, ...] = BOTH_TERMS, complexity: np.ndarray | None = None,
                  groups: np.ndarray | None = None, complexity_ref: np.ndarray | None = None,
                  knn: np.ndarray | None = None) -> dict:
    """``both``: the model's terms added (and the distance in feature space, ``knn``) (each catches what the others miss), as a robust z, or
    the complexity's (:func:`complexity_z`, as :func:`one_sided`) where that is larger ->
    {total, parts, reason}.

    SSIM's error separates shapes best (Bergmann et al. 2019) but is bounded, so a page of noise
    scores little more than a hard drawing; the MSE is not bounded. A latent density ranks noisy
    or simple images as likely (Nalisnick et al. 2019), and a model that has trained on a page of
    noise reconstructs it well. Neither fools the complexity, measured at a fixed scale of the
    file: it is corrected for as Serrà et al. (2020) do, by looking at it directly.
    """
    parts = anomaly_parts(recon_error, nll, ssim_error, terms, groups, knn)
    total = _robust_z(sum(parts.values(), np.zeros(len(nll))))
    names = np.array([REASONS[n] for n in parts] or [""])
    reason = names[np.stack(list(parts.values())).argmax(0)] if parts else np.repeat(names, len(nll))
    if complexity is not None:
        # the two-sided test as a one-sided z, the model's scale: |z| 0.67 -> 0, 2 -> 1.7, 3 -> 2.8
        parts["complexity"] = cz = one_sided(complexity_z(complexity, groups, complexity_ref))
        odd = cz > total
        total, reason = np.where(odd, cz, total), np.where(odd, REASONS["complexity"], reason)
    return {"total": total, "parts": parts, "reason": reason.tolist()}


def density_nll(z: np.ndarray, seed: int = 0) -> np.ndarray:
    """-log p(z) under a mixture fitted on the codes: about 100 images per component, so a small
    group of odd images cannot claim one of its own."""
    return -LatentDensity(n_components=min(10, max(1, len(z) // 100)), seed=seed).fit(z).score_samples(z)
