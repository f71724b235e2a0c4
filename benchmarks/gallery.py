"""The gallery at scale: the map's time to first paint, a similar query's latency over HTTP, and
the thumbnail cache's build speed.

    python -m benchmarks.gallery [--sizes 10000,100000] [--queries 200]

Synthetic catalogs of clustered codes (benchmarks.common.synthetic_catalog), in the latent space
of a small conv model trained here, so a query is a real upload: the server decodes the PNG,
encodes it and searches. First paint: Debian's Chromium (Playwright) opens the page and waits
until plotly has drawn every point with WebGL; the baseline in the same run is a bare page that
draws the same points from inline arrays, timed from after plotly has loaded (no server, no API,
no script to parse). Thumbnails: the cache's build over
the full-size photos of `photos/` against a plain Pillow loop (full decode, resize, WebP).
"""

from __future__ import annotations

import io
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from .common import data_root, run, synthetic_catalog

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]


def _model(tmp: Path) -> Path:
    from latentfolio.training.train import train

    train("fashion-mnist", tmp / "m", "conv", latent_dim=32, epochs=1, data_root=data_root(), progress=False,
          max_time=0.3)
    return tmp / "m"


def _catalog(tmp: Path, n: int, model_dir: Path) -> Path:
    import json

    from latentfolio.catalog import store
    from latentfolio.saved import load_model

    m = load_model(model_dir)
    cat = tmp / f"synthetic-{n}.catalog"
    lat = synthetic_catalog(cat, n, 32, np.random.default_rng(0), errors=True)
    meta = json.loads((cat / store.META).read_text())
    meta.update(model_fingerprint=m.fingerprint, model_dir=str(model_dir), image_size=28, channels=1)
    (cat / store.META).write_text(json.dumps(meta))
    xy = np.asarray(lat[:, :2]) + 0.01 * np.random.default_rng(1).standard_normal((n, 2))  # a layout: no UMAP here
    c = store.Catalog(cat)
    c.set_column("x", np.arange(n), xy[:, 0])
    c.set_column("y", np.arange(n), xy[:, 1])
    c.close()
    return cat


def _serve(cat: Path):
    from latentfolio.gallery.server import serve

    stop, ready = threading.Event(), []
    threading.Thread(target=lambda: serve(cat, port=0, ready=ready.append, stop=stop), daemon=True).start()
    while not ready:
        time.sleep(0.05)
    return ready[0], stop


def _first_paint(browser, url: str, n: int, reps: int = 5) -> float:
    """Median over ``reps`` fresh pages, after one page load not counted (a browser's first page
    starts its GPU process and WebGL; a user's browser is running already)."""
    times = []
    for rep in range(reps + 1):
        pg = browser.new_page(viewport={"width": 1280, "height": 820})
        pg.goto(url + "#/map")
        pg.wait_for_selector(f"body[data-map-points='{n}']", state="attached", timeout=120000)
        if rep:
            times.append(pg.evaluate("() => window.__lfMapPainted") / 1000)
        pg.close()
    return statistics.median(times)


def _bare_paint(browser, n: int, reps: int = 5) -> float:
    """The same points drawn by plotly from arrays already in the page: the floor."""
    from latentfolio.gallery.app import STATIC

    js = (STATIC / "vendor" / "plotly-gl2d.min.js").read_text()
    times = []
    for _ in range(reps):
        pg = browser.new_page(viewport={"width": 1280, "height": 820})
        pg.set_content("<div id=m style='width:1240px;height:700px'></div>")
        pg.add_script_tag(content=js)
        times.append(pg.evaluate(f"""() => {{ const n = {n}, x = new Float32Array(n), y = new Float32Array(n);
            for (let i = 0; i < n; i++) {{ x[i] = Math.random(); y[i] = Math.random(); }}
            const t0 = performance.now();
            return Plotly.newPlot('m', [{{type: 'scattergl', mode: 'markers', x, y, marker: {{size: 5}}}}])
                .then(() => (performance.now() - t0) / 1000); }}"""))
        pg.close()
    return statistics.median(times)


def _queries(url: str, token: str, pngs: list[bytes], k: int = 12) -> dict:
    lat = []
    for i, data in enumerate(pngs):
        req = urllib.request.Request(url + f"api/search?k={k}", data=data, method="POST",
                                     headers={"X-Token": token, "X-Filename": f"q{i}.png"})
        t0 = time.perf_counter()
        urllib.request.urlopen(req, timeout=60).read()
        lat.append((time.perf_counter() - t0) * 1000)
    lat = np.array(lat[5:])  # the first few warm the model and the index
    return {"p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "queries": int(len(lat))}


def _thumbnails(tmp: Path) -> dict:
    from PIL import Image

    from latentfolio.catalog import Catalog
    from latentfolio.commands.index import index
    from latentfolio.gallery.thumbs import THUMB, Thumbs

    photos = Path(data_root()) / "photos"
    files = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    cat_path = tmp / "photos.catalog"
    index(tmp / "m", photos, cat_path, progress=False)
    cat = Catalog(cat_path)
    rows = [dict(r) for r in cat.rows("id, path")]
    t0 = time.perf_counter()
    Thumbs(cat_path).build(cat, rows)
    ours = time.perf_counter() - t0
    cat.close()
    t0 = time.perf_counter()
    for f in files:  # the plain loop: decode everything, then shrink
        img = Image.open(f).convert("RGB")
        img.thumbnail((THUMB, THUMB))
        img.save(io.BytesIO(), format="WEBP", quality=80)
    plain = time.perf_counter() - t0
    mp = sum(np.prod(Image.open(f).size) for f in files) / 1e6
    return {"images": len(rows), "megapixels": round(float(mp), 1), "cache_images_per_s": round(len(rows) / ours, 1),
            "plain_images_per_s": round(len(files) / plain, 1), "speedup": round(plain / ours, 2)}


def bench(sizes: str = "10000,100000", queries: int = 200) -> dict:
    from playwright.sync_api import sync_playwright

    from latentfolio.imaging import png_bytes, to_pil

    tmp = Path(tempfile.mkdtemp(prefix="lf-gallery-bench-"))
    try:
        model_dir = _model(tmp)
        rng = np.random.default_rng(2)
        pngs = [png_bytes(to_pil(rng.integers(0, 255, (28, 28, 1), dtype=np.uint8))) for _ in range(queries + 5)]
        out = {"sizes": {}}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            for n in (int(s) for s in sizes.split(",")):
                cat = _catalog(tmp, n, model_dir)
                url, stop = _serve(cat)
                token = urllib.request.urlopen(url).read().decode().split('name="lf-token" content="')[1].split('"')[0]
                points_bytes = len(urllib.request.urlopen(url + "api/points").read())
                res = {"first_paint_s": round(_first_paint(browser, url, n), 3),
                       "bare_plotly_s": round(_bare_paint(browser, n), 3), "points_json_mb": round(points_bytes / 2**20, 2),
                       "similar": _queries(url, token, pngs)}
                stop.set()
                out["sizes"][str(n)] = res
                print(n, res, flush=True)
            browser.close()
        out["thumbnails"] = _thumbnails(tmp)
        big = out["sizes"].get("100000")
        out["targets"] = {"first_paint_under_2s_at_100k": bool(big and big["first_paint_s"] < 2.0),
                          "similar_p50_under_50ms": all(r["similar"]["p50_ms"] < 50 for r in out["sizes"].values())}
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run("gallery", bench, sizes="10000,100000", queries=200)
