"""Organize a catalog: similar images, near-duplicates, clusters (+ folders), maps, anomalies."""

from __future__ import annotations

import functools
import os
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import LatentfolioError
from ..imaging import PICTURE_FORMATS, auto_scale, make_grid, save_picture
from .catalog import Catalog
from .latent import LatentDensity, cluster_metrics, umap_embed

CLUSTER_METHODS = ("kmeans", "gmm", "hdbscan", "umap-gmm")
FIT_MAX = 50_000  # fit GMM / UMAP / HDBSCAN on at most this many codes, then assign the rest


def _with_catalog(fn):
    """Let ``fn`` take an open :class:`Catalog` or a path; a catalog opened here is closed here."""

    @functools.wraps(fn)
    def wrapper(catalog, *args, **kwargs):
        if isinstance(catalog, Catalog):
            return fn(catalog, *args, **kwargs)
        cat = Catalog(catalog)
        try:
            return fn(cat, *args, **kwargs)
        finally:
            cat.close()

    return wrapper


def _row_dict(r, distance: float | None = None) -> dict:
    d = {"id": r["id"], "path": r["path"], "label": r["label"]}
    if distance is not None:
        d["distance"] = round(float(distance), 5)
    return d


# --- similar ---------------------------------------------------------------------------------
@_with_catalog
def similar(catalog, query: str, k: int = 12, out=None, model_dir=None, force: bool = False) -> dict:
    """The ``k`` nearest images to QUERY: a catalog path or id, or any image file (encoded now)."""
    if k < 1:
        raise LatentfolioError(f"-k {k}: must be at least 1")
    if out:
        _io.check_writable(out, force)
    cat: Catalog = catalog
    row = cat.find(str(query))
    if row is not None:
        z = np.array(cat.latents()[row["row"]])
        qdesc = {"id": row["id"], "path": row["path"], "in_catalog": True}
        qpix = None
    else:
        if not Path(query).is_file():
            raise LatentfolioError(f"{query}: not in the catalog, and no such image file")
        from ..evaluation import decode_inputs
        from .latent import encode_pixels

        model = cat.model(model_dir)
        qpix, _ = decode_inputs([query], int(cat.meta["image_size"]), int(cat.meta["channels"]),
                                cat.meta.get("fit", "squash"), strict=True)
        z = encode_pixels(model, qpix)[0]
        qdesc = {"path": str(query), "in_catalog": False}
    # A catalogued query is not its own neighbour: one more is asked for and itself left out
    # (a duplicate of it, another file, still comes first).
    own = -1 if row is None else int(row["row"])
    dist, rows = cat.search(z[None], k + (own >= 0))
    found = [(float(d), int(i)) for d, i in zip(dist[0], rows[0]) if i >= 0 and i != own][:k]
    by_row = {r["row"]: r for r in cat.db.execute(
        f"SELECT * FROM images WHERE row IN ({','.join(str(i) for _, i in found) or '-1'})")}
    hits = [_row_dict(by_row[i], d) | {"rank": n + 1} for n, (d, i) in enumerate(found)]
    if out:
        thumbs = cat.thumbnails([by_row[i] for _, i in found])
        q = qpix if qpix is not None else cat.thumbnails([row])
        caps = ["query"] + [f"{h['distance']:.2f}" for h in hits]
        save_picture(make_grid(np.concatenate([q, thumbs]), min(7, k + 1),
                                scale=auto_scale(thumbs.shape[1], 72), captions=caps), out)
    return {"query": qdesc, "k": k, "results": hits, "out": str(out) if out else None}


# --- duplicates ------------------------------------------------------------------------------
@_with_catalog
def duplicates(catalog, threshold: float | None = None, neighbours: int = 16) -> dict:
    """Groups of near-duplicates: codes closer than ``threshold`` (L2), joined transitively.

    Default threshold: a quarter of the median distance between an image and its nearest other
    image, so "duplicate" means much closer than two typical different neighbours.
    """
    if threshold is not None and not threshold >= 0:
        raise LatentfolioError(f"--threshold {threshold}: must be >= 0")
    cat: Catalog = catalog
    n = len(cat)
    if n < 2:
        return {"threshold": threshold, "groups": [], "images_in_groups": 0}
    lat = cat.latents()
    parent = np.arange(n)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs_d, pairs = [], []
    nn1 = []
    for s in range(0, n, 8192):
        d, i = cat.search(np.ascontiguousarray(lat[s:s + 8192]), min(neighbours, n))
        for a in range(len(d)):
            me = s + a
            others = [(dd, ii) for dd, ii in zip(d[a], i[a]) if ii != me and ii >= 0]
            if others:
                nn1.append(others[0][0])
            pairs += [(me, int(ii)) for dd, ii in others]
            pairs_d += [dd for dd, ii in others]
    t = float(threshold) if threshold is not None else 0.25 * float(np.median(nn1))
    for (a, b), d in zip(pairs, pairs_d):
        if d <= t:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[rb] = ra
    # the same bytes are duplicates whatever the threshold
    for (h,) in cat.db.execute("SELECT hash FROM images GROUP BY hash HAVING COUNT(*) > 1"):
        rs = [r[0] for r in cat.db.execute("SELECT row FROM images WHERE hash = ?", (h,))]
        for r in rs[1:]:
            ra, rb = root(rs[0]), root(r)
            if ra != rb:
                parent[rb] = ra
    roots = np.array([root(i) for i in range(n)])
    uniq, counts = np.unique(roots, return_counts=True)
    multi = uniq[counts > 1]
    by_row = {r["row"]: r for r in cat.rows("id, path, label, hash, row")}
    groups = []
    for g in multi:
        members = np.flatnonzero(roots == g)
        centre = lat[members].mean(0)
        spread = float(np.linalg.norm(lat[members] - centre, axis=1).max())
        groups.append({"size": int(len(members)), "spread": round(spread, 5),
                       "exact": len({by_row[int(m)]["hash"] for m in members}) == 1,
                       "images": [_row_dict(by_row[int(m)]) for m in members]})
    groups.sort(key=lambda g: (-g["size"], g["spread"]))
    return {"threshold": round(t, 6), "groups": groups,
            "images_in_groups": int(sum(g["size"] for g in groups))}


# --- clustering ------------------------------------------------------------------------------
class LatentClusterer:
    """Cluster latent codes: ``fit(z)`` returns ``self`` with ``labels_`` (and ``n_clusters_``).

    ``umap-gmm`` is N2D (McConville et al. 2019): UMAP of the codes down to ``umap_dims``
    dimensions (min_dist 0, 20 neighbours), then a full-covariance Gaussian mixture.
    """

    def __init__(self, method: str = "kmeans", k: int = 10, seed: int = 0, umap_dims: int = 10):
        if method not in CLUSTER_METHODS:
            raise LatentfolioError(f"--method {method!r}: use one of {', '.join(CLUSTER_METHODS)}")
        if k < 1:
            raise LatentfolioError(f"--k {k}: must be at least 1")
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


def _contact_sheet(images: np.ndarray, out, ncol: int = 8) -> None:
    save_picture(make_grid(images, ncol, scale=auto_scale(images.shape[1], 64)), out)


@_with_catalog
def cluster(catalog, method: str = "kmeans", k: int | None = None, organize=None, mode: str = "symlink",
            seed: int = 0, force: bool = False, sheet_max: int = 64) -> dict:
    """Cluster the catalog's codes, store a cluster id per row; optionally one folder per cluster."""
    if mode not in ("symlink", "copy"):
        raise LatentfolioError(f"--mode {mode!r}: use symlink or copy")
    LatentClusterer(method, 10 if k is None else k, seed)  # check the flags before any work
    cat: Catalog = catalog
    if organize:
        organize = Path(organize)
        if organize.exists() and any(organize.iterdir()) and not force:
            raise LatentfolioError(f"{organize}: already exists (use --force to overwrite)")
    labels, names = cat.labels()
    if k is None:
        k = len(names) if names else 10
    lat = np.asarray(cat.latents())
    if len(lat) < 2:
        raise LatentfolioError(f"{cat.path}: clustering needs at least 2 images")
    print(f"cluster: {method} on {len(lat)} codes", file=sys.stderr, flush=True)
    cl = LatentClusterer(method, k, seed).fit(lat)
    rows = np.arange(len(lat))
    cat.set_column("cluster", rows, cl.labels_)
    ids, counts = np.unique(cl.labels_, return_counts=True)
    res = {"catalog": str(cat.path), "method": method, "k": k, "clusters": int(cl.n_clusters_),
           "sizes": {int(i): int(c) for i, c in zip(ids, counts)}}
    if (labels >= 0).any():
        res["metrics"] = cluster_metrics(labels, cl.labels_)
    _io.write_json(cat.path / "clusters.json", res)
    if organize:
        res["organize"] = write_cluster_folders(cat, cl.labels_, organize, mode, sheet_max)
    return res


def write_cluster_folders(cat: Catalog, labels: np.ndarray, out: Path, mode: str, sheet_max: int = 64) -> dict:
    """OUT/cluster-XX/ holds links (or copies) of its images, OUT/cluster-XX.png a contact sheet.

    Originals are only read. Images from a dataset (no file) are written as PNGs.
    """
    from ..imaging import to_pil

    out.mkdir(parents=True, exist_ok=True)
    rows = cat.rows("id, path, label, row")
    folder_kind = cat.meta["source"]["kind"] == "folder"
    written = {}
    for c in np.unique(labels):
        name = "noise" if c < 0 else f"cluster-{int(c):02d}"
        d = out / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        members = [rows[i] for i in np.flatnonzero(labels == c)]
        used = set()
        for r in members:
            src = Path(r["path"]) if folder_kind else None
            base = src.name if src else r["path"].replace(":", "_") + ".png"
            dest = d / (base if base not in used else f"{r['id']}-{base}")
            used.add(dest.name)
            if src is None:
                save_picture(to_pil(cat.thumbnails([r])[0]), dest)
            elif mode == "symlink":
                os.symlink(src.resolve(), dest)
            else:
                shutil.copy2(src, dest)
        _contact_sheet(cat.thumbnails(members[:sheet_max]), out / f"{name}.png")
        written[name] = len(members)
    return {"out": str(out), "mode": mode, "folders": written}


# --- map ---------------------------------------------------------------------------------------
@_with_catalog
def latent_map(catalog, out, method: str = "umap", color: str = "auto", thumbnails: bool = False,
               limit: int = 20000, seed: int = 0, force: bool = False) -> dict:
    """A 2-D map of the catalog: a picture (dots or thumbnails; .png, .jpg or .webp) or a
    self-contained interactive HTML page."""
    from .latent import PROJECTIONS, project_2d

    out = Path(out)
    suffix = out.suffix.lower()
    html = suffix in (".html", ".htm")
    if not html and (not suffix or suffix not in PICTURE_FORMATS):
        raise LatentfolioError(f"--out {out}: use a .png, .jpg, .webp or .html file")
    if method not in PROJECTIONS:
        raise LatentfolioError(f"--method {method!r}: use one of {', '.join(PROJECTIONS)}")
    if limit < 3:
        raise LatentfolioError(f"--limit {limit}: a map needs at least 3 images")
    if color not in ("auto", "label", "cluster"):
        raise LatentfolioError(f"--color {color!r}: use auto, label or cluster")
    _io.check_writable(out, force)
    cat: Catalog = catalog
    rows = cat.rows("id, path, label, cluster, row")
    n = len(rows)
    pick = np.sort(np.random.default_rng(seed).permutation(n)[:limit]) if n > limit else np.arange(n)
    lat = np.asarray(cat.latents()[pick])
    print(f"map: {method} of {len(pick)} codes", file=sys.stderr, flush=True)
    xy = project_2d(lat, method, seed)
    cat.set_column("x", pick, xy[:, 0])
    cat.set_column("y", pick, xy[:, 1])
    labels, names = cat.labels()
    clusters = np.array([r["cluster"] if r["cluster"] is not None else -1 for r in rows], np.int64)
    use = color if color != "auto" else ("label" if (labels >= 0).any() else "cluster")
    groups = (labels if use == "label" else clusters)[pick]
    gnames = names if use == "label" else None
    if use == "cluster" and (groups < 0).all():
        groups = None
    sel = [rows[i] for i in pick]
    if not html:
        from ..reports.figures import scatter_png, thumbnail_map

        if thumbnails:
            show = np.sort(np.random.default_rng(seed).permutation(len(pick))[:2000])
            img = thumbnail_map(xy[show], cat.thumbnails([sel[i] for i in show]),
                                groups=None if groups is None else groups[show])
        else:
            img = scatter_png(xy, groups, gnames, f"{cat.path.name}: {method} of {len(pick)} images")
        save_picture(img, out)
    else:
        from ..reports.interactive import map_html

        _io.write_text(out, map_html(xy, cat.thumbnails(sel), [r["path"] for r in sel], groups, gnames,
                                     title=f"{cat.path.name}: {method} map"))
    return {"out": str(out), "method": method, "points": int(len(pick)), "color": use}


# --- anomalies ---------------------------------------------------------------------------------
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
        raise LatentfolioError(f"--score {score!r}: use recon, density or both")
    if score == "recon":
        return np.asarray(recon_error, np.float64)
    # about 100 images per component, so a small group of odd images cannot claim one of its own
    dens = density or LatentDensity(n_components=min(10, max(1, len(z) // 100)), seed=seed).fit(z)
    nll = -dens.score_samples(z)
    if score == "density":
        return nll
    parts = {"mse": recon_error, "ssim": ssim_error, "density": nll}
    total = np.zeros(len(nll))
    for t in terms:
        if parts[t] is not None:
            v = np.asarray(parts[t], np.float64)
            total += _robust_z(v if t == "density" else np.log(np.maximum(v, 0) + 1e-6))
    return total


@_with_catalog
def anomalies(catalog, top: int = 20, score: str = "both", out=None, seed: int = 0, force: bool = False) -> dict:
    if top < 1:
        raise LatentfolioError(f"--top {top}: must be at least 1")
    if out:
        _io.check_writable(out, force)
    cat: Catalog = catalog
    rows = cat.rows("id, path, label, recon_error, ssim_error, row")
    if len(rows) < 3:
        raise LatentfolioError(f"{cat.path}: anomaly scores need at least 3 images")
    err = np.array([r["recon_error"] for r in rows], np.float64)
    ss = np.array([np.nan if r["ssim_error"] is None else r["ssim_error"] for r in rows], np.float64)
    s = anomaly_scores(err, np.asarray(cat.latents(), np.float64), score, seed,
                       ssim_error=None if np.isnan(ss).any() else ss)
    order = np.argsort(-s, kind="stable")[:top]
    res = [_row_dict(rows[i]) | {"rank": n + 1, "score": round(float(s[i]), 6),
                                   "recon_error": round(float(err[i]), 6),
                                   "ssim_error": None if np.isnan(ss[i]) else round(float(ss[i]), 6)}
           for n, i in enumerate(order)]
    if out:
        thumbs = cat.thumbnails([rows[i] for i in order])
        save_picture(make_grid(thumbs, 8, scale=auto_scale(thumbs.shape[1], 72),
                                captions=[f"#{r['rank']} {r['score']:.3g}" for r in res]), out)
    return {"catalog": str(cat.path), "score": score, "top": res, "out": str(out) if out else None}
