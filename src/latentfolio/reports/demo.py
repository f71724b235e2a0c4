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


def demo(out: str = "latentfolio-demo", *, data_root=None, force: bool = False, epochs: int | None = None,
         download: bool = True, serve: bool = True, port: int = 8765) -> dict:
    """Train a conv autoencoder, write ``OUT/report.html``, catalog and map the dataset
    (``OUT/catalog``, ``OUT/map.html``), then serve the gallery unless ``serve`` is False. Works
    offline (falls back to digits)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise LatentfolioError(f"{out}: already exists (use --force to overwrite)")
    try:
        ensure("fashion-mnist", data_root, download=download, timeout=15)
        data, latent, ep = "fashion-mnist", 32, epochs or 3
    except LatentfolioError as e:
        print(f"FashionMNIST is not available ({e}); training on scikit-learn's bundled 8x8 digits "
              "instead", file=sys.stderr)
        data, latent, ep = "digits", 8, epochs or 30
    res = train(data, out / "model", "conv", latent_dim=latent, epochs=ep, data_root=data_root,
                force=True)
    page = report(out / "model", out / "report.html", data=data, data_root=data_root, force=True)
    print(f"report: {page}", file=sys.stderr)
    cat = out / "catalog"
    if force and (cat / META).exists():  # an earlier demo's catalog, of an earlier model
        shutil.rmtree(cat)
    # codes alone: 70,000 images through the content encoder would take half an hour on 2 cores,
    # and on 28 px garments the codes already sort by kind
    index(res.model_dir, data, cat, data_root=data_root, progress=None, features=["none"])
    # UMAP places up to 10k images; the gallery puts the rest beside their nearest neighbours
    m = map_catalog(cat, out / "map.html", limit=10000, force=True)
    print(f"catalog: {cat} ({m['points']} images on the map {out / 'map.html'})", file=sys.stderr)
    result = {"data": data, "model_dir": str(res.model_dir), "report": str(page), "metrics": res.metrics,
              "epochs": res.epochs, "seconds": round(res.seconds, 1), "catalog": str(cat), "map": m["out"]}
    if serve:
        result["served"] = serve_gallery(cat, port=port)["url"]
    return result
