"""``similar``: the nearest images to a catalogued image, a path, or any image file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import _io
from ..catalog import Catalog
from ..catalog.features import query_vector, space_name, use_space
from ..catalog.store import row_summary, with_catalog
from ..data import decode_inputs
from ..errors import ArgumentError, LatentfolioError
from ..imaging import auto_scale, make_grid, save_picture
from ..latent.encode import encode_pixels


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
    hits = [row_summary(by_row[i], d) | {"rank": n + 1} for n, (d, i) in enumerate(found)]
    if out:
        thumbs = cat.thumbnails([by_row[i] for _, i in found])
        q = qpix if qpix is not None else cat.thumbnails([row])
        caps = ["query"] + [f"{h['distance']:.2f}" for h in hits]
        save_picture(make_grid(np.concatenate([q, thumbs]), min(7, k + 1),
                                scale=auto_scale(thumbs.shape[1], 72), captions=caps), out)
    return {"query": qdesc, "space": space_name(cat), "k": k, "results": hits, "out": str(out) if out else None}
