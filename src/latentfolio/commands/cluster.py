"""The ``cluster`` command: clusters of a catalog's codes, and a folder per cluster on request
(written by :mod:`latentfolio.commands.folders`, which keeps the originals safe)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import _io
from ..catalog import Catalog
from ..catalog.store import with_catalog
from ..errors import ArgumentError, LatentfolioError
from ..latent.cluster import LatentClusterer, cluster_metrics
from .folders import check_out, clear_previous, write_cluster_folders


@with_catalog
def cluster(catalog, out=None, *, method: str = "kmeans", k: int | None = None, mode: str = "symlink",
            seed: int = 0, force: bool = False, sheet_max: int = 64) -> dict:
    """Cluster the catalog's codes and store a cluster id per row; with ``out``, one folder per
    cluster there (links or copies of its images) and a contact sheet each."""
    if mode not in ("symlink", "copy"):
        raise ArgumentError("mode", mode, "use symlink or copy")
    LatentClusterer(method, 10 if k is None else k, seed)  # check the flags before any work
    cat: Catalog = catalog
    if out:
        out = Path(out)
        check_out(catalog, out, force)
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
    if out:
        clear_previous(out)
        res["organize"] = write_cluster_folders(cat, cl.labels_, out, mode, sheet_max)
    return res
