"""The ``cluster`` command: clusters of a catalog's codes, and a folder per cluster on request."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np

from .. import _io
from ..catalog import Catalog
from ..catalog.store import with_catalog
from ..errors import ArgumentError, LatentfolioError
from ..imaging import auto_scale, make_grid, save_picture, to_pil
from ..latent.cluster import LatentClusterer, cluster_metrics


def _contact_sheet(images: np.ndarray, out, ncol: int = 8) -> None:
    save_picture(make_grid(images, ncol, scale=auto_scale(images.shape[1], 64)), out)


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
        if out.exists() and any(out.iterdir()) and not force:
            raise LatentfolioError(f"{out}: already exists (use --force to overwrite)")
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
        res["organize"] = write_cluster_folders(cat, cl.labels_, out, mode, sheet_max)
    return res


def write_cluster_folders(cat: Catalog, labels: np.ndarray, out: Path, mode: str, sheet_max: int = 64) -> dict:
    """OUT/cluster-XX/ holds links (or copies) of its images, OUT/cluster-XX.png a contact sheet.

    Originals are only read. Images from a dataset (no file) are written as PNGs.
    """
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
