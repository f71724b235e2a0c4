"""A selection made on the map, exported as a list (CSV or JSON) or written as a folder of
symbolic links, with the guards of `cluster --organize` (outside the originals, new or empty,
behind a manifest)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
from starlette.responses import Response

from ..commands.folders import check_out, write_cluster_folders
from ..errors import LatentfolioError
from .state import Gallery

FIELDS = ("id", "path", "label", "cluster", "x", "y")


def _rows(g: Gallery, ids) -> list[dict]:
    rows = [g.row(int(i)) for i in ids]
    if not rows or any(r is None for r in rows):
        raise LatentfolioError("select images on the map first (some ids are not in the catalog)")
    return rows


def export_list(g: Gallery, ids, fmt: str = "csv") -> Response:
    rows = [{k: r[k] for k in FIELDS} for r in _rows(g, ids)]
    if fmt == "json":
        body, kind = json.dumps(rows, indent=1), "application/json"
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, FIELDS)
        w.writeheader()
        w.writerows(rows)
        body, kind = buf.getvalue(), "text/csv"
    else:
        raise LatentfolioError(f"format {fmt!r}: use csv or json")
    return Response(body, media_type=kind, headers={"Content-Disposition": f'attachment; filename="selection.{fmt}"'})


def absolute_folder(out: str) -> Path:
    """A folder the page names: absolute (the server's working folder is not the user's)."""
    target = Path(os.path.expanduser(str(out)))
    if not str(out).strip() or not target.is_absolute():
        raise LatentfolioError(f"{out!r}: give the folder as an absolute path")
    return target


def export_folder(g: Gallery, ids, out: str) -> dict:
    target = absolute_folder(out)
    chosen = {r["row"] for r in _rows(g, ids)}
    with g.lock:
        n = len(g.cat)
        labels = np.where(np.isin(np.arange(n), list(chosen)), 0, -1)
        check_out(g.cat, target, force=False)
        res = write_cluster_folders(g.cat, labels, target, "symlink", names={0: "selection"}, skip=-1)
    return {"out": res["out"], "images": res["folders"].get("selection", 0)}
