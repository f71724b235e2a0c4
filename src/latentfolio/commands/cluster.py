"""The ``cluster`` command: clusters of a catalog's codes, and a folder per cluster on request
(written by :mod:`latentfolio.commands.folders`, which keeps the originals safe)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import _io
from ..catalog import Catalog
from ..catalog.features import CODES, space_name, use_space
from ..catalog.store import with_catalog
from ..errors import ArgumentError, LatentfolioError
from ..latent.cluster import LatentClusterer, cluster_metrics
from .folders import check_out, clear_previous, cluster_name, contact_sheet, write_cluster_folders


def scored_labels(cat: Catalog, folder_labels: bool) -> tuple[np.ndarray, list[str]]:
    """The labels clusters are scored against: a dataset's own, or a folder's first-level
    subfolder names only when the user says they are labels (``folder_labels``): a personal
    folder's subfolders are where files were put, and an NMI against them would mislead."""
    labels, names = cat.labels()
    if cat.meta.get("source", {}).get("kind") == "folder" and not folder_labels:
        return np.full_like(labels, -1), []
    return labels, names


@with_catalog
def cluster(catalog, out=None, *, method: str = "kmeans", k: int | None = None, mode: str = "symlink",
            seed: int = 0, force: bool = False, sheet_max: int = 64, features: str | None = None,
            folder_labels: bool = False) -> dict:
    """Cluster the catalog's codes and store a cluster id per row; with ``out``, one folder per
    cluster there (links or copies of its images) and a contact sheet each. NMI, ARI and accuracy
    against the labels of a dataset, or of a folder's subfolders with ``folder_labels``."""
    if mode not in ("symlink", "copy"):
        raise ArgumentError("mode", mode, "use symlink or copy")
    LatentClusterer(method, 10 if k is None else k, seed)  # check the flags before any work
    cat: Catalog = use_space(catalog, features)
    if out:
        out = Path(out)
        check_out(catalog, out, force)
    labels, names = scored_labels(cat, folder_labels)
    if k is None:
        k = len(names) if names else 10
    lat = np.asarray(cat.latents())
    if len(lat) < 2:
        raise LatentfolioError(f"{cat.path}: clustering needs at least 2 images")
    print(f"cluster: {method} on {len(lat)} images ({space_name(cat)})", file=sys.stderr, flush=True)
    cl = LatentClusterer(method, k, seed).fit(lat)
    rows = np.arange(len(lat))
    cat.set_column("cluster", rows, cl.labels_)
    ids, counts = np.unique(cl.labels_, return_counts=True)
    res = {"catalog": str(cat.path), "space": space_name(cat), "method": method, "k": k, "clusters": int(cl.n_clusters_),
           "sizes": {int(i): int(c) for i, c in zip(ids, counts)}}
    if (labels >= 0).any():
        res["metrics"] = cluster_metrics(labels, cl.labels_)
    _io.write_json(cat.path / "clusters.json", res)
    if out:
        clear_previous(out)
        res["organize"] = write_cluster_folders(cat, cl.labels_, out, mode, sheet_max)
    return res


def spaces_of(cat: Catalog) -> list[str]:
    """The vector spaces a catalog offers: its model's codes, each stored encoder, each fused."""
    names = list(cat.meta.get("features", {}))
    return [CODES, *names, *(f"fused:{n}" for n in names)]


@with_catalog
def compare(catalog, out, *, method: str = "kmeans", k: int | None = None, seed: int = 0,
            force: bool = False, sheet_max: int = 64, sample: int = 5000, folder_labels: bool = False) -> dict:
    """The same clustering in every space the catalog has (:func:`spaces_of`), side by side: NMI,
    ARI and accuracy against the labels where there are labels, and always the silhouette (on
    up to ``sample`` codes) and the cluster sizes; OUT/SPACE/cluster-XX.png, a contact sheet per
    cluster of each run. The catalog's stored clusters are left as they were."""
    from sklearn.metrics import silhouette_score

    LatentClusterer(method, 10 if k is None else k, seed)
    out = Path(out)
    _io.check_writable(out, force)
    base: Catalog = catalog
    labels, names = scored_labels(base, folder_labels)
    k = k or (len(names) if names else 10)
    runs = []
    for space in spaces_of(base):
        view = use_space(Catalog(base.path), space)
        try:
            lat = np.asarray(view.latents(), np.float32)
            print(f"cluster --compare: {method} on {space} ({lat.shape[1]}-d)", file=sys.stderr, flush=True)
            cl = LatentClusterer(method, k, seed).fit(lat)
            pick = np.random.default_rng(seed).permutation(len(lat))[:sample]
            sil = silhouette_score(lat[pick], cl.labels_[pick]) if len(set(cl.labels_[pick])) > 1 else float("nan")
            ids, counts = np.unique(cl.labels_, return_counts=True)
            run = {"space": space, "dim": int(lat.shape[1]), "clusters": int(cl.n_clusters_),
                   "silhouette": round(float(sil), 4), "sizes": {int(i): int(c) for i, c in zip(ids, counts)}}
            if (labels >= 0).any():
                run["metrics"] = cluster_metrics(labels, cl.labels_)
            folder = out / run["space"].replace(":", "-")
            folder.mkdir(parents=True, exist_ok=True)
            rows = view.rows("id, path, label, row")
            for c in ids:
                contact_sheet(view, [rows[i] for i in np.flatnonzero(cl.labels_ == c)[:sheet_max]],
                              folder / f"{cluster_name({}, int(c))}.png")
            run["sheets"] = str(folder)
            runs.append(run)
        finally:
            view.close()
    best_key = "nmi" if runs and "metrics" in runs[0] else "silhouette"
    best = max(runs, key=lambda r: r["metrics"]["nmi"] if best_key == "nmi" else r["silhouette"])
    res = {"catalog": str(base.path), "method": method, "k": k, "runs": runs, "best": best["space"],
           "judged_by": best_key, "out": str(out)}
    _io.write_json(out / "compare.json", res)
    return res
