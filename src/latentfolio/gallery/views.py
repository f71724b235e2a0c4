"""What the gallery's pages show, as JSON: the summary, the map's points, an image with its
neighbours and reconstruction, a search by an uploaded image, the outliers, the clusters."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from urllib.parse import unquote
from pathlib import Path

import numpy as np

from .. import _io
from ..catalog.features import query_vector
from ..data.decode import BadImage, decode_image
from ..errors import LatentfolioError
from ..imaging import png_bytes, to_pil
from ..metrics import image_psnr
from ..commands.folders import cluster_name
from ..commands.organize import anomaly_table, outlier_inputs
from ..latent.anomaly import REASONS
from ..latent.encode import encode_pixels, reconstruct_pixels
from .state import Gallery

MAX_UPLOAD = 256 << 20  # bytes: a 50 MP PSD fits; a bigger body is refused before it is read whole
CLUSTER_NAMES = "cluster_names.json"
_DECODING = threading.Lock()  # the pixel budget of queries: one decode (at most the pixel limit) at a time


def _name(g: Gallery, path: str) -> str:
    """What a tile is captioned with: a file's name, or a dataset row's own name."""
    return Path(path).name if g.cat.meta["source"].get("kind") == "folder" else path


def _image(g: Gallery, r: dict, distance: float | None = None) -> dict:
    d = {"id": r["id"], "name": _name(g, r["path"]),
         "path": r["path"], "label": r["label"], "cluster": r["cluster"]}
    if distance is not None:
        d["distance"] = round(float(distance), 4)
    return d


def summary(g: Gallery) -> dict:
    labels = sorted({r["label"] for r in g.by_id.values() if r["label"] is not None})
    clusters = sorted({r["cluster"] for r in g.by_id.values() if r["cluster"] is not None})
    m = g.cat.meta
    with g.lock:
        bad = g.cat.db.execute("SELECT COUNT(*) FROM bad").fetchone()[0]
    return {"catalog": g.path.name, "images": len(g.by_id), "dim": m["dim"], "model_type": m.get("model_type"),
            "source": m["source"].get("kind"), "labels": labels, "clusters": len(clusters),
            "cluster_names": {str(c): cluster_name(cluster_names(g), c) for c in clusters}, "unreadable": int(bad),
            "rescan": m["source"].get("kind") == "folder",  # a dataset has no folder to look in again
            "tasks": {k: t.as_dict() for k, t in g.tasks.items()}}


def points_json(g: Gallery) -> bytes:
    """:func:`points` serialized, once per catalog state: a 100k map is 2.5 MB of JSON and half a
    second of Python to build, which every page load would otherwise wait for."""
    have = g.points_json
    if have is None or have[0] is not g.scores:
        have = g.points_json = (g.scores, json.dumps(points(g), separators=(",", ":")).encode())
    return have[1]


def points(g: Gallery) -> dict:
    """Every image with map coordinates, as columns (one array each)."""
    rows = [r for r in g.by_id.values() if r["x"] is not None]
    labels = sorted({r["label"] for r in rows if r["label"] is not None})
    ix = {lab: i for i, lab in enumerate(labels)}
    out = {"ids": [r["id"] for r in rows], "x": [round(r["x"], 4) for r in rows], "y": [round(r["y"], 4) for r in rows],
           "names": [_name(g, r["path"]) for r in rows],
           "label": [ix.get(r["label"], -1) for r in rows], "labels": labels,
           "cluster": [-1 if r["cluster"] is None else r["cluster"] for r in rows]}
    if g.scores is not None:
        s = g.scores["total"]
        out["outlier"] = [round(float(s[r["row"]]), 3) for r in rows]
    return out


RECON_FLOOR_DB = 20.0  # below this a reconstruction shows nothing of the picture: it is described, not shown


def neighbours(g: Gallery, z: np.ndarray, k: int, own: int = -1, cat=None) -> list[dict]:
    """The ``k`` nearest to ``z`` in ``cat``'s space (default: the model's codes)."""
    with g.lock:
        dist, rows = (cat or g.cat).search(z[None], k + (own >= 0))
    found = [(float(d), int(i)) for d, i in zip(dist[0], rows[0]) if i >= 0 and i != own][:k]
    return [_image(g, g.by_id[g.by_row[i]], d) for d, i in found if i in g.by_row]


def reconstruction(g: Gallery, id_: int) -> tuple[bytes, float]:
    """The model's input (at its resolution) beside its reconstruction, as PNG, and the PSNR."""
    hit = g.pictures.get(("recon", id_))
    if hit is not None:
        return hit
    r, model = g.row(id_), g.model()
    if r is None:
        raise LatentfolioError(f"image {id_}: not in the catalog")
    c = model.config
    if g.cat.meta["source"].get("kind") == "folder":
        if not _io.inside(r["path"], g.cat.meta["source"]["root"]):  # a crafted row: nothing outside is read
            raise BadImage(f"{r['path']}: not under the catalogued folder")
        x = np.array(decode_image(r["path"], c.image_size, c.channels, g.cat.fit)[None])
    else:
        with g.lock:
            x = g.cat.thumbnails([r])
    y = reconstruct_pixels(model, x)
    pair = np.concatenate([x[0], y[0]], axis=1)
    return g.pictures.put(("recon", id_), (png_bytes(to_pil(pair)), round(image_psnr(x, y), 2)))


def image_page(g: Gallery, id_: int, k: int = 12) -> dict:
    r = g.row(id_)
    if r is None:
        raise LatentfolioError(f"image {id_}: not in the catalog")
    with g.lock:
        z = np.array(g.cat.latents()[r["row"]])
    info = _image(g, r) | {"split": r["split"], "bytes": r["bytes"], "recon_error": r["recon_error"],
                           "neighbours": neighbours(g, z, k, own=r["row"])}
    content = g.content()
    if content is not None:  # neighbours by what the pictures show, beside those by the codes
        with g.lock:
            f = np.array(content.latents()[r["row"]])
        info["content_space"] = content.space
        info["content_neighbours"] = neighbours(g, f, k, own=r["row"], cat=content)
    try:
        info["psnr"] = reconstruction(g, id_)[1]
    except (BadImage, LatentfolioError) as e:
        info["psnr"], info["recon_note"] = None, str(e)
    else:  # a few minutes of training cannot redraw a painting: say so rather than show a brown square
        info["recon_shown"] = info["psnr"] >= RECON_FLOOR_DB
        info["recon_note"] = (f"the collection's model keeps what it learned of colour and layout ({info['psnr']} dB)"
                              if info["recon_shown"] else
                              f"{info['psnr']} dB: below {RECON_FLOOR_DB:g} dB the model's reconstruction shows little "
                              "of the picture, so it is not shown (train longer or larger for a better one)")
    sc = outlier_scores(g)
    if sc is None:  # scored once, in the background: the next page shows it
        g.start("outliers", lambda task: outlier_scores(g, compute=True) is not None and "scored")
    else:
        info["outlier"] = {"score": round(float(sc["total"][r["row"]]), 3),
                           "rank": int((sc["total"] > sc["total"][r["row"]]).sum()) + 1,
                           "reason": sc["reason"][r["row"]]}
    return info


def search_upload(g: Gallery, data: bytes, filename: str, k: int = 12) -> dict:
    """Encode an uploaded image now and find its neighbours; a bad upload is one line."""
    name = os.path.basename(unquote(filename or "upload"))
    name = "".join(c for c in name if c.isprintable())[:200] or "upload"  # shown, never opened
    if not data:
        raise LatentfolioError(f"{name}: empty file (0 bytes)")
    with tempfile.TemporaryDirectory(prefix="latentfolio-query-") as tmp:
        p = Path(tmp) / ("query" + Path(name).suffix[:16])
        p.write_bytes(data)
        return search_file(g, p, k, shown=name)


def search_file(g: Gallery, path: Path, k: int = 12, shown: str | None = None) -> dict:
    shown = shown or str(path)
    if not path.is_file():
        raise LatentfolioError(f"{shown}: no such file on the server")
    model = g.model()
    c = model.config
    try:
        with _DECODING:  # one query image at a time: three huge uploads never decode together
            x = np.array(decode_image(str(path), c.image_size, c.channels, g.cat.fit)[None])
    except BadImage as e:
        raise LatentfolioError(f"{shown}: {e}") from None
    content = g.content()
    if content is not None:  # by what the picture shows, with the encoder the catalog's features came from
        try:
            with _DECODING:
                f = query_vector(content, lambda emb: emb.decode(str(path))[None], lambda: encode_pixels(model, x))[0]
        except BadImage as e:
            raise LatentfolioError(f"{shown}: {e}") from None
        return {"query": shown, "space": content.space, "results": neighbours(g, f, k, cat=content)}
    z = encode_pixels(model, x)[0]
    return {"query": shown, "space": "codes", "results": neighbours(g, z, k)}


def outlier_scores(g: Gallery, compute: bool = False) -> dict | None:
    """Per row: the score of `anomalies --score both`, its parts, and the largest part's name
    (the reason). Fitted once per catalog state; None until asked for with ``compute``."""
    if g.scores is None and compute:
        with g.lock:
            try:
                inputs = outlier_inputs(g.content() or g.cat)  # as `anomalies` scores: content terms too
            except LatentfolioError:  # fewer than 3 images
                return None
        g.scores = anomaly_table(inputs)
    return g.scores


def outliers(g: Gallery, top: int = 100) -> dict:
    sc = outlier_scores(g, compute=True)
    if sc is None:
        return {"top": []}
    order = np.argsort(-sc["total"], kind="stable")[:top]
    out = []
    for n, i in enumerate(order):
        r = g.by_id.get(g.by_row.get(int(i)))
        if r is None:
            continue
        out.append(_image(g, r) | {"rank": n + 1, "score": round(float(sc["total"][i]), 3), "reason": sc["reason"][i],
                                   "parts": {REASONS[k]: round(float(v[i]), 2) for k, v in sc["parts"].items()}})
    return {"top": out}


def cluster_names(g: Gallery) -> dict[str, str]:
    p = g.path / CLUSTER_NAMES
    if not p.exists():
        return {}
    names = _io.read_json(p, "cluster names")
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}


def _members(g: Gallery) -> dict[int, list[dict]]:
    members: dict[int, list[dict]] = {}
    for r in g.by_id.values():
        if r["cluster"] is not None:
            members.setdefault(int(r["cluster"]), []).append(r)
    return members


def clusters(g: Gallery, per: int = 24) -> dict:
    names = cluster_names(g)
    return {"clusters": [{"cluster": c, "name": cluster_name(names, c), "size": len(m),
                          "images": [_image(g, r) for r in m[:per]]} for c, m in sorted(_members(g).items())]}


def cluster_images(g: Gallery, c: int, offset: int = 0, limit: int = 200) -> dict:
    """More of one cluster's images ("show more")."""
    m = _members(g).get(int(c))
    if m is None:
        raise LatentfolioError(f"cluster {c}: no such cluster (compute the clusters again?)")
    return {"cluster": int(c), "size": len(m), "offset": offset, "images": [_image(g, r) for r in m[offset:offset + limit]]}
