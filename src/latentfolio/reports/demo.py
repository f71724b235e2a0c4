"""``latentfolio demo``: the README's main job. Train on FashionMNIST (or digits), write a report,
catalog the collection, map it, and serve the gallery of what it built (until Ctrl-C)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..catalog.store import META
from ..commands.index import index
from ..commands.organize import map as map_catalog
from ..data.named import ensure
from ..errors import LatentfolioError
from ..gallery.server import serve as serve_gallery
from ..training.train import train
from .report import report


STEPS = 5
MAP_IMAGES = 5000  # placed by UMAP; the gallery puts the rest beside their nearest neighbours


def _step(n: int, what: str) -> None:
    print(f"demo {n}/{STEPS}: {what}", file=sys.stderr, flush=True)


def demo(out: str = "latentfolio-demo", *, data_root=None, force: bool = False, epochs: int | None = None,
         download: bool = True, serve: bool = True, port: int = 8765) -> dict:
    """Train a conv autoencoder, write ``OUT/report.html``, catalog and map the dataset
    (``OUT/catalog``, ``OUT/map.html``), then serve the gallery unless ``serve`` is False. Works
    offline (falls back to digits). Each step says what it does; on 2 cores the gallery is up
    in about three minutes."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise LatentfolioError(f"{out}: already exists (use --force to overwrite)")
    try:
        ensure("fashion-mnist", data_root, download=download, timeout=15)
        data, latent, ep = "fashion-mnist", 32, epochs or 2
    except LatentfolioError as e:
        print(f"FashionMNIST is not available: {str(e).splitlines()[0][:160]}", file=sys.stderr)
        print("training on scikit-learn's bundled 8x8 digits instead", file=sys.stderr)
        data, latent, ep = "digits", 8, epochs or 30
    _step(1, f"training a conv autoencoder on {data} ({ep} epochs)")
    res = train(data, out / "model", "conv", latent_dim=latent, epochs=ep, data_root=data_root,
                force=True)
    _step(2, "writing the model's report")
    page = report(out / "model", out / "report.html", data=data, data_root=data_root, force=True)
    print(f"report: {page}", file=sys.stderr)
    cat = out / "catalog"
    if force and (cat / META).exists():  # an earlier demo's catalog, of an earlier model
        shutil.rmtree(cat)
    _step(3, f"cataloguing every {data} image by its code")
    # codes alone: 70,000 images through the content encoder would take half an hour on 2 cores,
    # and on 28 px garments the codes already sort by kind
    index(res.model_dir, data, cat, data_root=data_root, progress=None, features=["none"])
    _step(4, f"placing up to {MAP_IMAGES:,} of them on a map (UMAP)")
    m = map_catalog(cat, out / "map.html", limit=MAP_IMAGES, force=True)
    print(f"catalog: {cat} ({m['points']} images on the map {out / 'map.html'})", file=sys.stderr)
    result = {"data": data, "model_dir": str(res.model_dir), "report": str(page), "metrics": res.metrics,
              "epochs": res.epochs, "seconds": round(res.seconds, 1), "catalog": str(cat), "map": m["out"]}
    if serve:
        _step(5, "opening the gallery (the rest of the images go beside their nearest neighbours on the map)")
        result["served"] = serve_gallery(cat, port=port)["url"]
    return result
