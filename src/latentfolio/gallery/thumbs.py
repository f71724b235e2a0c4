"""The gallery's thumbnail cache: one WebP per catalog image, made once, in the catalog folder.

    CATALOG/thumbs/NNNNN/ID.webp     longer side THUMB px, aspect kept (NNNNN = ID // 1000)

A catalog id is never reused for another file (a changed file gets a new id), so a thumbnail
stays right for as long as its id is in the catalog; ``prune`` drops the others. Each file is
written atomically, so a build killed halfway leaves only whole thumbnails and goes on from
there. Images are found by catalog id only, never by a path a client sends.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .. import _io
from ..data.decode import BadImage, decode_preview
from ..imaging import to_pil

THUMB = 192  # the longer side, px: sharp on a 2x screen at the gallery's 96 px tiles
PREVIEW = 1280  # the image page's picture
MISSING = "missing"
CHUNK = 64  # thumbnails handed to the threads at a time


def webp(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="WEBP", quality=80, method=4)
    return buf.getvalue()


def picture(cat, row, side: int) -> Image.Image:
    """A catalog image as a picture, longer side at most ``side``; raises BadImage. Only a file
    below the catalogued folder is read, whatever path a (crafted) catalog row holds."""
    if cat.meta["source"].get("kind") == "folder":
        if not _io.inside(row["path"], cat.meta["source"]["root"]):
            raise BadImage(f"{row['path']}: not under the catalogued folder")
        return decode_preview(row["path"], side)
    small = to_pil(cat.thumbnails([row])[0]).convert("RGB")  # a dataset's pixels: scaled up, sharp
    k = max(1, side // max(small.size))
    return small.resize((small.width * k, small.height * k), Image.Resampling.NEAREST)


class Thumbs:
    def __init__(self, catalog_path: Path):
        self.catalog = Path(catalog_path)
        self.root = self.catalog / "thumbs"

    def path(self, id_: int) -> Path:
        return self.root / f"{int(id_) // 1000:05d}" / f"{int(id_)}.webp"

    def get(self, cat, row) -> bytes | None:
        """The thumbnail's bytes, made now if missing; None for a file that cannot be read."""
        p = self.path(row["id"])
        try:
            return _io.read_inside(p, self.catalog)  # a regular file in the catalog, never a link
        except FileNotFoundError:
            pass
        except PermissionError:  # something planted in its place: not served, not written through
            return None
        try:
            data = webp(picture(cat, row, THUMB))
        except BadImage:
            return None
        p.parent.mkdir(parents=True, exist_ok=True)
        if _io.inside(p.parent, self.catalog):
            _io.write_bytes(p, data)
        return data

    def missing(self, ids) -> list[int]:
        return [int(i) for i in ids if not self.path(i).exists()]

    def build(self, cat, rows, progress=None, workers: int | None = None, stop=None) -> dict:
        """Make every missing thumbnail of ``rows`` (decoding in threads: Pillow releases the
        GIL) -> counts. ``progress(done, total)`` hears of each. Work is handed out a chunk at a
        time, so a set ``stop`` (a threading.Event: the server is closing) ends it within one
        chunk; the rest are made on the next start, or when a page asks for them."""
        todo = [r for r in rows if not self.path(r["id"]).exists()]
        bad = done = 0
        workers = workers or min(4, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers) as pool:
            for s in range(0, len(todo), CHUNK):
                if stop is not None and stop.is_set():
                    break
                for data in pool.map(lambda r: self.get(cat, r), todo[s:s + CHUNK]):
                    bad += data is None
                    done += 1
                    if progress:
                        progress(done, len(todo))
        return {"made": done - bad, "bad": bad, "cached": len(rows) - len(todo)}

    def prune(self, live_ids) -> int:
        """Remove the thumbnails of ids no longer in the catalog -> how many."""
        if not self.root.is_dir():
            return 0
        live = {int(i) for i in live_ids}
        gone = 0
        for f in self.root.glob("*/*.webp"):
            if f.parent.is_symlink() or not _io.inside(f.parent, self.catalog):
                continue  # a planted link: nothing is removed through it
            if f.stem.isdigit() and int(f.stem) not in live:
                f.unlink()
                gone += 1
        return gone


def placeholder() -> bytes:
    """A grey tile for a file that can no longer be read."""
    return webp(Image.fromarray(np.full((THUMB, THUMB, 3), 200, np.uint8)))
