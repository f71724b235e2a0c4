"""The organize commands on a catalog: ``similar``, ``duplicates``, ``map`` and ``anomalies``
(``index`` and ``cluster`` have modules of their own: the encoding pass needs Lightning, and
the cluster folders need their guards)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import _io
from ..catalog import Catalog
from ..catalog.features import query_vector, use_space
from ..catalog.store import with_catalog
from ..data import decode_inputs
from ..errors import ArgumentError, LatentfolioError
from ..imaging import PICTURE_FORMATS, auto_scale, make_grid, save_picture
from ..latent.anomaly import score_table
from ..latent.duplicates import duplicate_components, group_members, neighbour_graph
from ..latent.encode import encode_pixels
from ..latent.project import PROJECTIONS, project_2d
from .dedupe import TIERS, annotate
from ..render.figures import scatter_png, thumbnail_map
from ..render.interactive import map_html


def _row_dict(r, distance: float | None = None) -> dict:
    d = {"id": r["id"], "path": r["path"], "label": r["label"]}
    if distance is not None:
        d["distance"] = round(float(distance), 5)
    return d


# --- similar ---------------------------------------------------------------------------------
@with_catalog
def similar(catalog, query: str, out=None, *, k: int = 12, model_dir=None, force: bool = False,
            features: str | None = None) -> dict:
    """The ``k`` nearest images to QUERY: a catalog path or id, or any image file (encoded now)."""
    if k < 1:
        raise ArgumentError("k", k, "must be at least 1")
    if out:
        _io.check_writable(out, force)
    cat: Catalog = use_space(catalog, features)
    row = cat.find(str(query))
    if row is not None:
        z = np.array(cat.latents()[row["row"]])
        qdesc = {"id": row["id"], "path": row["path"], "in_catalog": True}
        qpix = None
    else:
        if not Path(query).is_file():
            raise LatentfolioError(f"{query}: not in the catalog, and no such image file")
        qpix, _ = decode_inputs([query], int(cat.meta["image_size"]), int(cat.meta["channels"]),
                                cat.fit, strict=True)
        z = query_vector(cat, lambda emb: emb.decode(query)[None],
                         lambda: encode_pixels(cat.model(model_dir), qpix))[0]
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
@with_catalog
def duplicates(catalog, *, threshold: float | None = None, neighbours: int = 16, keep: str = "largest",
               same_psnr: float = 32.0, features: str | None = None) -> dict:
    """Groups of near-duplicates: codes closer than ``threshold`` (L2), joined transitively, and
    identical files whatever the threshold. Default threshold: :func:`default_threshold`. Each
    group has a tier and a suggested keeper (:mod:`.dedupe`: ``keep`` is the rule, ``same_psnr``
    the test of "the same picture")."""
    annotate(catalog, [], {}, keep, same_psnr)  # the flags, checked before any work
    cat: Catalog = use_space(catalog, features)
    n = len(cat)
    if n < 2:
        if threshold is not None and not threshold >= 0:
            raise ArgumentError("threshold", threshold, "must be >= 0")
        return {"threshold": threshold, "groups": [], "images_in_groups": 0}
    lat = cat.latents()
    dist, rows = neighbour_graph(lat, neighbours)
    same: dict[str, list[int]] = {}  # identical files, in one query
    for h, r in cat.db.execute("SELECT hash, row FROM images WHERE hash IN (SELECT hash FROM images "
                               "GROUP BY hash HAVING COUNT(*) > 1) ORDER BY hash, row"):
        same.setdefault(h, []).append(r)
    comp, t = duplicate_components(dist, rows, list(same.values()), threshold)
    del dist, rows
    members_of = group_members(comp)  # one sort, not a scan of every code per group
    wanted = np.concatenate(members_of) if members_of else np.zeros(0, np.int64)
    by_row = cat.rows_at(wanted, "id, path, label, hash, bytes, mtime_ns, row")
    groups = []
    for members in members_of:
        v = np.asarray(lat[np.sort(members)])
        spread = float(np.linalg.norm(v - v.mean(0), axis=1).max())
        groups.append({"size": int(len(members)), "spread": round(spread, 5),
                       "exact": len({by_row[int(m)]["hash"] for m in members}) == 1,
                       "images": [_row_dict(by_row[int(m)]) for m in members]})
    annotate(cat, groups, {r["id"]: r for r in by_row.values()}, keep, same_psnr)
    groups.sort(key=lambda g: (TIERS.index(g["tier"]), -g["size"], g["spread"]))
    return {"threshold": round(t, 6), "keep": keep, "same_psnr": same_psnr, "groups": groups,
            "images_in_groups": int(sum(g["size"] for g in groups))}


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
    return {"out": str(out), "method": method, "points": int(len(pick)), "color": use}


# --- anomalies ---------------------------------------------------------------------------------


def outlier_inputs(cat: Catalog) -> dict:
    """What the outlier scores are computed from, read from the catalog: its rows, codes, errors,
    complexities, and whether the model trained on each image (``groups``)."""
    rows = cat.rows("id, path, label, split, recon_error, ssim_error, complexity, row")
    if len(rows) < 3:
        raise LatentfolioError(f"{cat.path}: anomaly scores need at least 3 images")

    def column(k):
        return np.array([np.nan if r[k] is None else r[k] for r in rows], np.float64)
    ss, cx = column("ssim_error"), column("complexity")
    return {"rows": rows, "recon_error": column("recon_error"), "z": np.asarray(cat.latents(), np.float64),
            "ssim_error": None if np.isnan(ss).any() else ss,
            "complexity": None if np.isnan(cx).any() else cx,
            "groups": np.array([r["split"] == "train" for r in rows])}


def anomaly_table(inputs: dict, score: str = "both", seed: int = 0) -> dict:
    """:func:`outlier_inputs` -> {total, parts, reason} (see :func:`score_table`)."""
    keys = ("ssim_error", "complexity", "groups")
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
    res = [_row_dict(rows[i]) | {"rank": n + 1, "score": round(float(s[i]), 6), "reason": table["reason"][i],
                                   "recon_error": rounded(err, i), "ssim_error": rounded(ss, i),
                                   "complexity": rounded(cx, i)}
           for n, i in enumerate(order)]
    if out:
        thumbs = cat.thumbnails([rows[i] for i in order])
        save_picture(make_grid(thumbs, 8, scale=auto_scale(thumbs.shape[1], 72),
                                captions=[f"#{r['rank']} {r['score']:.3g}" for r in res]), out)
    return {"catalog": str(cat.path), "score": score, "top": res, "out": str(out) if out else None}
