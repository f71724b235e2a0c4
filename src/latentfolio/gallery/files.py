"""The gallery's file browser: the folder tree, a folder's images sorted and paged, a file's facts
(the metadata panel), the original's own bytes, and the files the index could not read.

Images are named by catalog id and folders by the tree's own names: no path a client sends is
opened. The one file read is a catalog row's, and only where it lies below the catalogued folder
once every link is followed (a crafted row or a planted link reads nothing outside).
"""

from __future__ import annotations

import mimetypes
import os
from datetime import datetime, timezone
from pathlib import PurePosixPath

from .. import _io
from ..data.decode import BadImage
from ..data.formats import FormatError
from ..data.metadata import file_facts
from ..errors import LatentfolioError
from .state import Gallery
from .views import _image

SORTS = ("name", "date", "size")
PAGE = 200  # images a browse request returns at most; the page asks for more as the user scrolls
UNREADABLE_SHOWN = 1000
REASONS_PROBED = 100  # unreadable files whose header is read again to say why


def is_folder_catalog(g: Gallery) -> bool:
    return g.cat.meta["source"].get("kind") == "folder"


def relative(g: Gallery, path: str) -> str:
    """A row's path below the catalogued folder, with '/' (a dataset's rows are named already)."""
    if not is_folder_catalog(g):
        return path
    try:
        return PurePosixPath(os.path.relpath(path, g.cat.meta["source"]["root"]).replace(os.sep, "/")).as_posix()
    except ValueError:  # another drive
        return path


def folder_of(g: Gallery, path: str) -> str:
    parent = PurePosixPath(relative(g, path)).parent.as_posix()
    return "" if parent == "." else parent


def _modified(ns) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).astimezone().isoformat(timespec="seconds")


def folders(g: Gallery) -> list[dict]:
    """Every folder with images below it, parents before children: its name ('' is the top), its
    depth, the images directly in it and all below it."""
    direct: dict[str, int] = {}
    for r in g.by_id.values():
        f = folder_of(g, r["path"])
        direct[f] = direct.get(f, 0) + 1
    total = dict.fromkeys([""], 0)
    for f, n in direct.items():
        parts = f.split("/") if f else []
        for k in range(len(parts) + 1):
            a = "/".join(parts[:k])
            total[a] = total.get(a, 0) + n
    return [{"folder": f, "depth": 0 if not f else f.count("/") + 1, "images": direct.get(f, 0), "total": total[f]}
            for f in sorted(total, key=lambda f: f.split("/"))]


def browse(g: Gallery, folder: str = "", sort: str = "name", descending: bool = False, offset: int = 0,
           limit: int = PAGE, below: bool = True) -> dict:
    """A folder's images (with those in its subfolders unless ``below`` is False), sorted by name,
    date or size, from ``offset``: each with its folder, bytes and modification time."""
    if sort not in SORTS:
        raise LatentfolioError(f"sort={sort!r}: use one of {', '.join(SORTS)}")
    folder = folder.strip("/")
    rows = []
    for r in g.by_id.values():
        f = folder_of(g, r["path"])
        if f == folder or (below and (folder == "" or f.startswith(folder + "/"))):
            rows.append((f, r))
    if not rows and folder:
        raise LatentfolioError(f"{folder}: no such folder in this catalog")
    key = {"name": lambda fr: (PurePosixPath(fr[1]["path"]).name.lower(), fr[1]["path"]),
           "date": lambda fr: (fr[1]["mtime_ns"] or 0, fr[1]["path"]),
           "size": lambda fr: (fr[1]["bytes"] or 0, fr[1]["path"])}[sort]
    rows.sort(key=key, reverse=descending)
    page = rows[offset:offset + limit]
    return {"folder": folder, "sort": sort, "descending": descending, "total": len(rows), "offset": offset,
            "images": [_image(g, r) | {"folder": f, "bytes": r["bytes"], "modified": _modified(r["mtime_ns"])}
                       for f, r in page]}


def _row(g: Gallery, id_: int) -> dict:
    r = g.row(id_)
    if r is None:
        raise LatentfolioError(f"image {id_}: not in the catalog")
    return r


def original_path(g: Gallery, id_: int) -> str:
    """The real path of an image's own file: below the catalogued folder, and a regular file."""
    r = _row(g, id_)
    if not is_folder_catalog(g):
        raise LatentfolioError(f"{g.path.name} catalogs a dataset: its images have no files of their own")
    root = g.cat.meta["source"]["root"]
    if not _io.inside(r["path"], root):
        raise LatentfolioError(f"{r['path']}: not under the catalogued folder; it is not served")
    real = os.path.realpath(r["path"])
    if not os.path.isfile(real):
        raise LatentfolioError(f"{r['path']}: no longer there (moved or deleted since it was indexed)")
    return real


def media_type(path: str) -> str:
    """What the browser is told the original is: an image type it can show, else a download."""
    kind = mimetypes.guess_type(path)[0] or ""
    return kind if kind.startswith("image/") and kind != "image/svg+xml" else "application/octet-stream"


def facts(g: Gallery, id_: int) -> dict:
    """The metadata panel: the image's place (its folder, to copy) and its file's facts."""
    r = _row(g, id_)
    out = _image(g, r) | {"folder": folder_of(g, r["path"]), "bytes": r["bytes"], "modified": _modified(r["mtime_ns"])}
    if not is_folder_catalog(g):
        m = g.cat.meta
        return out | {"format": "dataset image", "width": m.get("image_size"), "height": m.get("image_size"),
                      "mode": "L" if m.get("channels") == 1 else "RGB", "location": None}
    out["location"] = os.path.dirname(r["path"])  # "show in folder": the path to copy
    try:
        path = original_path(g, id_)
        out |= file_facts(path)
    except LatentfolioError as e:
        out["problem"] = str(e)
    except (OSError, BadImage, FormatError, ValueError, SyntaxError) as e:
        out["problem"] = f"{r['path']}: {e}"
    return out


def unreadable(g: Gallery) -> dict:
    """The files the index found and could not read (it tries them again once they change)."""
    with g.lock:
        rows = g.cat.db.execute("SELECT path, bytes FROM bad ORDER BY path").fetchall()
    out = []
    for n, (p, b) in enumerate(rows[:UNREADABLE_SHOWN]):
        why = _why_unreadable(g, p) if n < REASONS_PROBED else None
        out.append({"path": p, "name": os.path.basename(p), "bytes": b, "reason": why})
    return {"total": len(rows), "files": out}


def _why_unreadable(g: Gallery, path: str) -> str:
    if is_folder_catalog(g) and not _io.inside(path, g.cat.meta["source"]["root"]):
        return "not under the catalogued folder"
    try:
        file_facts(path)
    except FileNotFoundError:
        return "no longer there"
    except (OSError, BadImage, FormatError, ValueError, SyntaxError) as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return "its header reads, but its pixels do not decode (cut short or damaged)"
