"""A small collection with duplicates and hostile names, its catalog, and a gallery served from
it on a free loopback port (the real `serve`, in a thread)."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from conftest import write_shapes

HOSTILE_FILE = "<img src=x onerror=alert(1)>.png"
HOSTILE_FOLDER = '"><script>'
UNREADABLE = "cut-short.png"


def make_collection(root: Path) -> Path:
    write_shapes(root / "a", 16, size=48, colour=True, seed=1)
    write_shapes(root / HOSTILE_FOLDER, 16, size=48, colour=True, seed=2)
    shutil.copy(root / "a" / "003.png", root / "a" / HOSTILE_FILE)  # an identical copy
    Image.open(root / "a" / "005.png").convert("RGB").save(root / "a" / "005.jpg", quality=95)  # re-encoded
    (root / "a" / UNREADABLE).write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut short")  # the index names it
    return root


def make_catalog(tmp: Path) -> tuple[Path, Path, Path]:
    """-> (model, collection, catalog), the catalog mapped with PCA (fast) and clustered."""
    from latentfolio.commands.cluster import cluster
    from latentfolio.commands.index import index
    from latentfolio.commands.organize import map as map_catalog
    from latentfolio.training.train import train

    art = make_collection(tmp / "art")
    train(art, tmp / "m", "conv", image_size=32, latent_dim=8, epochs=3, progress=False)
    index(tmp / "m", art, tmp / "art.catalog", workers=0, progress=False)
    map_catalog(tmp / "art.catalog", tmp / "map.png", method="pca")
    cluster(tmp / "art.catalog", k=3)
    return tmp / "m", art, tmp / "art.catalog"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(model, collection, catalog), made once per test module."""
    tmp = tmp_path_factory.mktemp("gallery")
    with pytest.MonkeyPatch.context() as mp:  # a module fixture runs before the autouse isolation
        mp.setenv("LATENTFOLIO_CACHE", str(tmp / "cache"))
        mp.setenv("LATENTFOLIO_FEATURES", "none")  # the gallery with content features: test_efficientnet.py
        return make_catalog(tmp)


@contextmanager
def serving(catalog: Path, **kw):
    """Serve ``catalog`` until the block ends -> its URL (token included when remote)."""
    from latentfolio.gallery.server import serve

    stop, ready, failed = threading.Event(), [], []

    def run():
        try:
            serve(catalog, port=0, ready=ready.append, stop=stop, **kw)
        except Exception as e:  # noqa: BLE001  shown by the test
            failed.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    while not ready and not failed and t.is_alive():
        t.join(0.05)
    if failed:
        raise failed[0]
    try:
        yield ready[0]
    finally:
        stop.set()
        t.join(20)


def request(url: str, data=None, headers=None, method=None):
    """-> (status, body as JSON when it is JSON else bytes, response headers)."""
    if isinstance(data, (dict, list)):
        data = json.dumps(data).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, body, h = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, body, h = e.code, e.read(), e.headers
    kind = h.get("content-type", "")
    return status, json.loads(body) if kind.startswith("application/json") else body, h


def token_of(url: str) -> str:
    """The page's per-session token, as the page reads it from its meta tag."""
    import re

    page = urllib.request.urlopen(url, timeout=30).read().decode()
    return re.search(r'name="lf-token" content="([^"]+)"', page)[1]
