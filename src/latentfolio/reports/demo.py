"""``latentfolio demo``: the README's main job. Train on FashionMNIST (or digits), write a report."""

from __future__ import annotations

import sys
from pathlib import Path

from ..data.named import ensure
from ..errors import LatentfolioError
from ..training.train import train
from .report import report


def demo(out: str = "latentfolio-demo", *, data_root=None, force: bool = False, epochs: int | None = None,
         download: bool = True) -> dict:
    """Train a conv autoencoder and write ``OUT/report.html``. Works offline (falls back to digits)."""
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
    return {"data": data, "model_dir": str(res.model_dir), "report": str(page), "metrics": res.metrics,
            "epochs": res.epochs, "seconds": round(res.seconds, 1)}
