"""Two organize commands on a catalog: ``map`` and ``anomalies`` (``index``, ``similar``,
``duplicates`` and ``cluster`` have modules of their own)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import _io
from ..catalog import Catalog
from ..catalog.features import space_name, use_space
from ..catalog.store import row_summary, with_catalog
from ..errors import ArgumentError, LatentfolioError
from ..imaging import PICTURE_FORMATS, auto_scale, make_grid, save_picture
from ..latent.anomaly import knn_distance, score_table
from ..latent.project import PROJECTIONS, project_2d
from ..render.figures import scatter_png, thumbnail_map
from ..render.interactive import map_html


# --- map ---------------------------------------------------------------------------------------
@with_catalog
def map(catalog, out, *, method: str = "umap", color: str = "auto", thumbnails: bool = False,
        limit: int = 20000, seed: int = 0, force: bool = False, features: str | None = None) -> dict:
    """A 2-D map of the catalog: a picture (dots or thumbnails; .png, .jpg or .webp) or a
    self-contained interactive HTML page."""
    out = Path(out)
    suffix = out.suffix.lower()
    html = suffix in (".html", ".htm")
    if not html and (not suffix or suffix not in PICTURE_FORMATS):
        raise ArgumentError("out", str(out), "use a .png, .jpg, .webp or .html file")
    if method not in PROJECTIONS:
        raise ArgumentError("method", method, f"use one of {', '.join(PROJECTIONS)}")
    if limit < 3:
        raise ArgumentError("limit", limit, "a map needs at least 3 images")
    if color not in ("auto", "label", "cluster"):
        raise ArgumentError("color", color, "use auto, label or cluster")
    _io.check_writable(out, force)
    cat: Catalog = use_space(catalog, features)
    rows = cat.rows("id, path, label, cluster, row")
    n = len(rows)
    pick = np.sort(np.random.default_rng(seed).permutation(n)[:limit]) if n > limit else np.arange(n)
    lat = np.asarray(cat.latents()[pick])
    print(f"map: {method} of {len(pick)} images ({space_name(cat)})", file=sys.stderr, flush=True)
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
        if thumbnails:
            show = np.sort(np.random.default_rng(seed).permutation(len(pick))[:2000])
            img = thumbnail_map(xy[show], cat.thumbnails([sel[i] for i in show]),
                                groups=None if groups is None else groups[show])
        else:
            img = scatter_png(xy, groups, gnames, f"{cat.path.name}: {method} of {len(pick)} images")
        save_picture(img, out)
    else:
        _io.write_text(out, map_html(xy, cat.thumbnails(sel), [r["path"] for r in sel], groups, gnames,
                                     title=f"{cat.path.name}: {method} map"))
    return {"out": str(out), "space": space_name(cat), "method": method, "points": int(len(pick)), "color": use}


# --- anomalies ---------------------------------------------------------------------------------


def outlier_inputs(cat: Catalog) -> dict:
    """What the outlier scores are computed from, read from the catalog: its rows, the model's
    codes, errors, complexities, whether the model trained on each image (``groups``), and, when
    the catalog is set to content features (``use_space``), each image's distance to its nearest
    ones there (``knn``)."""
    rows = cat.rows("id, path, label, split, recon_error, ssim_error, complexity, row")
    if len(rows) < 3:
        raise LatentfolioError(f"{cat.path}: anomaly scores need at least 3 images")

    def column(k):
        return np.array([np.nan if r[k] is None else r[k] for r in rows], np.float64)
    ss, cx = column("ssim_error"), column("complexity")
    codes = cat.model_latents() if cat.space is not None else cat.latents()
    feats = cat.latents() if cat.space is not None else None
    return {"rows": rows, "recon_error": column("recon_error"), "z": np.asarray(codes, np.float64),
            "knn": None if feats is None else knn_distance(np.asarray(feats, np.float32)),
            "ssim_error": None if np.isnan(ss).any() else ss,
            "complexity": None if np.isnan(cx).any() else cx,
            "groups": np.array([r["split"] == "train" for r in rows])}


def anomaly_table(inputs: dict, score: str = "both", seed: int = 0) -> dict:
    """:func:`outlier_inputs` -> {total, parts, reason} (see :func:`score_table`)."""
    keys = ("ssim_error", "complexity", "groups", "knn")
    return score_table(inputs["recon_error"], inputs["z"], score, seed, **{k: inputs[k] for k in keys})


@with_catalog
def anomalies(catalog, out=None, *, top: int = 20, score: str = "both", seed: int = 0, force: bool = False,
              features: str | None = None) -> dict:
    if top < 1:
        raise ArgumentError("top", top, "must be at least 1")
    if out:
        _io.check_writable(out, force)
    cat: Catalog = use_space(catalog, features)
    inputs = outlier_inputs(cat)
    table = anomaly_table(inputs, score, seed)
    rows, s, err, ss, cx = (inputs["rows"], table["total"], inputs["recon_error"],
                            inputs["ssim_error"], inputs["complexity"])
    order = np.argsort(-s, kind="stable")[:top]

    def rounded(v, i):
        return None if v is None or np.isnan(v[i]) else round(float(v[i]), 6)
    res = [row_summary(rows[i]) | {"rank": n + 1, "score": round(float(s[i]), 6), "reason": table["reason"][i],
                                   "recon_error": rounded(err, i), "ssim_error": rounded(ss, i),
                                   "complexity": rounded(cx, i)}
           for n, i in enumerate(order)]
    if out:
        thumbs = cat.thumbnails([rows[i] for i in order])
        save_picture(make_grid(thumbs, 8, scale=auto_scale(thumbs.shape[1], 72),
                                captions=[f"#{r['rank']} {r['score']:.3g}" for r in res]), out)
    return {"catalog": str(cat.path), "space": space_name(cat), "score": score, "top": res,
            "out": str(out) if out else None}
