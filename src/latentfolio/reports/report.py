"""The model report: one offline HTML page with model info, loss curve and reconstructions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import _io
from ..imaging import auto_scale, make_grid
from ..info import model_info
from . import html


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else v


def model_report(model_dir: str | os.PathLike, out: str | os.PathLike, data=None, data_root=None,
                 force: bool = False, n: int = 16) -> Path:
    """Write ``out`` (HTML) for the model in ``model_dir``; reconstructions need ``data``."""
    from ..evaluate import load_for_model, reconstruct_pixels
    from ..saved import load_model
    from ..training.callbacks import loss_curve

    _io.check_writable(out, force)
    model = load_model(model_dir)
    info = model_info(model)
    meta = model.meta
    m = meta.get("metrics") or {}
    summary = {"model type": info["type"], "parameters": f"{info['parameters']:,}",
               "image": f"{model.config.image_size}x{model.config.image_size}x{model.config.channels}",
               "latent size": info["latent_dim"], "compression ratio": f"{info['compression_ratio']:.1f}x",
               "trained on": meta.get("data", {}).get("name", "?"),
               "epochs": meta.get("training", {}).get("epochs", "?"),
               "training time": f"{meta.get('training', {}).get('seconds', '?')} s"}
    for k in ("psnr_db", "ssim", "mse"):
        if k in m:
            summary[f"{m.get('split', 'test')} {k}"] = _fmt(m[k])
    sections = [("Model", html.kv_table(summary))]
    if meta.get("history"):
        sections.append(("Loss curve", html.img(loss_curve(meta["history"]), "loss curve")))
    if data is not None:
        ds = load_for_model(model, data, data_root)
        idx = ds.indices("test")
        idx = idx if len(idx) else np.arange(len(ds))
        pick = idx[np.linspace(0, len(idx) - 1, min(n, len(idx))).astype(int)]
        px = np.ascontiguousarray(ds.images[pick])
        rec = reconstruct_pixels(model, px)
        k = min(8, len(px))
        rows = [px[s:s + k] for s in range(0, len(px), k)]
        recs = [rec[s:s + k] for s in range(0, len(rec), k)]
        grid = make_grid(np.concatenate([a for pair in zip(rows, recs) for a in pair]), ncol=k,
                         scale=auto_scale(model.config.image_size, 64))
        sections.append(("Reconstructions", "<p class=muted>Test images (odd rows) over their "
                         "reconstructions (even rows).</p>" + html.img(grid, "reconstructions")))
    layers = [{"layer": r["layer"], "type": r["type"], "output": "x".join(map(str, r["output"])),
               "params": f"{r['params']:,}"} for r in info["layers"]]
    sections.append(("Layers", html.table(layers)))
    doc = html.page(f"latentfolio — {Path(model_dir).name}", sections,
                    subtitle=f"model fingerprint {info['fingerprint'][:16]}")
    _io.write_text(out, doc)
    return Path(out)
