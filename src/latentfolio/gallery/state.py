"""What the running gallery holds: the open catalog behind one lock, its model, the thumbnail
cache, the session's token and the background tasks (thumbnails, rescans) with their progress.

SQLite runs in WAL mode and the gallery is its one writer: every read and write of the catalog
goes through ``Gallery.lock``, so requests that arrive together are served one at a time.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..catalog import Catalog
from ..catalog.db import latest_generation
from ..catalog.features import CODES, default_space, use_space
from ..errors import LatentfolioError
from ..latent.project import project_2d
from .thumbs import Thumbs


class Task:
    """A background job's progress, as the page polls it."""

    def __init__(self, name: str):
        self.name, self.done, self.total, self.state, self.message = name, 0, 0, "running", ""
        self.started, self.ended = time.time(), None

    def step(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def as_dict(self) -> dict:
        return {"name": self.name, "done": self.done, "total": self.total, "state": self.state,
                "message": self.message, "seconds": round((self.ended or time.time()) - self.started, 1)}


class Cache(OrderedDict):
    """A small LRU of rendered pictures (reconstructions, blends), by key."""

    def __init__(self, size: int = 64):
        super().__init__()
        self.size = size

    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value


def _open(path: Path, tries: int = 5) -> Catalog:
    """The catalog as one pinned snapshot (see :meth:`Gallery.sync`), tried again when a writer
    switched it while it was being opened."""
    for n in range(tries):
        try:
            return Catalog(path, shared=True, pin=True)
        except LatentfolioError:
            if n == tries - 1:
                raise
            time.sleep(0.2 * (n + 1))
    raise AssertionError("unreachable")


class Gallery:
    def __init__(self, catalog_path, model_dir=None, token: str | None = None, remote: bool = False):
        self.path = Path(catalog_path)
        self.lock = threading.RLock()
        self.cat = _open(self.path)
        self.model_dir = model_dir
        self._model = None
        self.thumbs = Thumbs(self.path)
        self.token = token or secrets.token_urlsafe(18)
        self.remote = remote  # bound beyond loopback: every request carries the token
        self.tasks: dict[str, Task] = {}
        self.closing = threading.Event()  # set when the server stops: background work ends soon after
        self.pictures = Cache()
        self.dup_plans = Cache(8)
        self.scores = None  # outlier scores and their parts, computed on first use
        self._content = None  # the catalog set to its content features (see content())
        self.refresh_rows()

    # rows -----------------------------------------------------------------------------------
    def refresh_rows(self) -> None:
        """Snapshot id -> row (the thumbnail route reads it without the lock)."""
        with self.lock:
            if not self.cat.repin():  # the gallery's own write ended its snapshot, and an index ran
                self.cat.close()
                self.cat = _open(self.path)
            rows = self.cat.rows("id, path, label, split, recon_error, ssim_error, cluster, x, y, row, bytes, mtime_ns")
            self.by_id = {r["id"]: dict(r) for r in rows}
            self.by_row = {r["row"]: r["id"] for r in rows}
            self.scores = None
            self._drop_content()
            self.points_json = None  # the map's points, serialized once per state (views.points)

    def reopen(self) -> None:
        """After a rescan rewrote the catalog: a fresh connection, index and snapshot."""
        with self.lock:
            self.cat.close()
            self.cat = _open(self.path)
            self.refresh_rows()

    def sync(self) -> None:
        """Serve what another process (an ``index`` run) committed, once it is whole: each
        request starts here. The gallery reads one snapshot (a read transaction, codes mapped
        with it) until then, so a catalog that changes under it never mixes two states."""
        with self.lock:
            now = latest_generation(self.path)
            if now is None or now == self.cat.generation:
                return
            try:
                new = Catalog(self.path, shared=True, pin=True)
            except LatentfolioError:  # mid-write (spare rows, a switch under way): the old snapshot
                return
            old, self.cat = self.cat, new
            old.close()
            self.refresh_rows()
            self.pictures.clear()
            self.dup_plans.clear()

    def content(self) -> Catalog | None:
        """The same snapshot set to the catalog's content features (``default_space``): neighbours
        by what the pictures show. None when the catalog holds no features."""
        with self.lock:
            if self._content is None and default_space(self.cat) != CODES:
                view = _open(self.path)
                try:
                    self._content = use_space(view, None)
                except LatentfolioError:  # features behind the images (an index under way): codes only
                    view.close()
            return self._content

    def _drop_content(self) -> None:
        if self._content is not None:
            self._content.close()
            self._content = None

    def row(self, id_: int) -> dict | None:
        return self.by_id.get(int(id_))

    def model(self):
        with self.lock:
            if self._model is None:
                self._model = self.cat.model(self.model_dir)
            return self._model

    def ensure_map(self, log=print) -> str | None:
        """Give every row map coordinates: with none yet, UMAP up to 20k images, else PCA (fast;
        `latentfolio map CATALOG --method umap` makes a better one); rows added since (a rescan)
        are placed at the mean of their five nearest placed neighbours -> what was done, or None."""
        with self.lock:
            missing = [r["row"] for r in self.by_id.values() if r["x"] is None]
            if not missing or len(self.by_id) < 3:
                return None
            lat = self.cat.latents()
            if len(missing) == len(self.by_id):
                method = "umap" if len(self.by_id) <= 20000 else "pca"
                log(f"serve: placing {len(self.by_id):,} images on a map ({method})")
                rows, xy = np.arange(len(self.by_id)), project_2d(np.asarray(lat), method, 0)
            else:
                method = "neighbours"
                placed = {r["row"]: (r["x"], r["y"]) for r in self.by_id.values() if r["x"] is not None}
                _, nn = self.cat.search(np.asarray(lat[np.array(missing)]), 16)
                xy = np.array([np.mean([placed[i] for i in hits if i in placed][:5] or [(0.0, 0.0)], 0)
                               for hits in nn], np.float32)
                rows = np.array(missing)
            self.cat.set_column("x", rows, xy[:, 0])
            self.cat.set_column("y", rows, xy[:, 1])
        self.refresh_rows()
        return method

    # tasks ----------------------------------------------------------------------------------
    def start(self, name: str, work) -> Task:
        """Run ``work(task)`` in a thread, unless a task of that name is running already."""
        old = self.tasks.get(name)
        if old is not None and old.state == "running":
            return old
        task = self.tasks[name] = Task(name)

        def run():
            try:
                task.message = work(task) or ""
                task.state = "done"
            except Exception as e:  # shown in the page; the server keeps running
                task.state, task.message = "failed", str(e).splitlines()[0] if str(e) else type(e).__name__
            task.ended = time.time()
        threading.Thread(target=run, name=f"gallery-{name}", daemon=True).start()
        return task

    def close(self) -> None:
        self.closing.set()
        with self.lock:
            self.cat.close()
