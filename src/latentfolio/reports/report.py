"""The model report: one offline HTML page.

Model info, loss curve and layers always; with data: reconstructions, a latent map, samples, an
interpolation and a traversal (the last three for models with a vector latent).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import LatentfolioError
from ..imaging import auto_scale, make_grid
from ..latent.density import LatentDensity
from ..latent.encode import decode_latents, encode_pixels, is_vector_latent, reconstruct_pixels
from ..latent.generate import interpolate_latents, sample_latents, traverse_latents
from ..latent.project import project_2d
from ..models.info import model_info
from ..render import html
from ..render.curves import loss_curve
from ..render.figures import scatter_png
from ..saved import load_for_model, load_model


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else v


def report(model_dir: str | os.PathLike, out: str | os.PathLike, data=None, *, data_root=None,
           force: bool = False, n: int = 16, method: str = "pca") -> Path:
    """Write ``out`` (HTML) for the model in ``model_dir``; reconstructions need ``data``."""
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
        sections += latent_sections(model, ds, idx, method)
    layers = [{"layer": r["layer"], "type": r["type"], "output": "x".join(map(str, r["output"])),
               "params": f"{r['params']:,}"} for r in info["layers"]]
    sections.append(("Layers", html.table(layers)))
    doc = html.page(f"latentfolio — {Path(model_dir).name}", sections,
                    subtitle=f"model fingerprint {info['fingerprint'][:16]}")
    _io.write_text(out, doc)
    return Path(out)


def latent_sections(model, ds, idx: np.ndarray, map_method: str = "pca", n_map: int = 2000,
                    seed: int = 0) -> list[tuple[str, str]]:
    """Latent map, samples, interpolation and traversal, as report sections."""
    if not is_vector_latent(model):
        return [("Latent space", f"<p class=muted>The {model.type_name} model has a spatial latent "
                 "map, not a vector code: no map, sampling or traversal.</p>")]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(idx)[:n_map])
    z = encode_pixels(model, ds.images[pick])
    labels = ds.labels[pick] if ds.labels is not None else None
    xy = project_2d(z, map_method, seed)
    out = [("Latent map", f"<p class=muted>{len(pick)} test codes, {map_method.upper()} to 2-D"
            + (", coloured by label" if labels is not None else "") + ".</p>"
            + html.img(scatter_png(xy, labels, ds.classes or None), "latent map", 640))]
    scale = auto_scale(model.config.image_size, 56)
    try:
        dens = LatentDensity.load(model.model_dir)
    except LatentfolioError as e:  # a model folder from before densities: say so, go on
        dens = None
        if model.type_name != "vae":
            out.append(("Samples", f"<p class=muted>No samples: {html.esc(e)}</p>"))
    if dens is not None or model.type_name == "vae":
        zs, src = sample_latents(model, 32, seed=seed)
        out.append(("Samples", f"<p class=muted>32 codes drawn from the "
                    f"{'prior N(0, I)' if src == 'prior' else 'Gaussian mixture fitted to the training codes'}"
                    ".</p>" + html.img(make_grid(decode_latents(model, zs), 8, scale=scale), "samples")))
    a, b = 0, 1
    if labels is not None:  # two different classes make the interpolation worth looking at
        other = np.flatnonzero(labels != labels[0])
        b = int(other[0]) if len(other) else 1
    if len(z) > 1:
        path = interpolate_latents(z[a], z[b], 10, "linear")
        out.append(("Interpolation", "<p class=muted>Linear path between the codes of two test "
                    "images.</p>" + html.img(make_grid(decode_latents(model, path), 10, scale=scale),
                                             "interpolation")))
    if dens is not None:
        dims = [int(d) for d in np.argsort(-dens.std_)[:5]]
        grid = traverse_latents(z[a].astype(np.float64), dens.std_, dims, 3.0, 9)
        out.append(("Traversal", f"<p class=muted>The 5 widest latent dimensions ({dims}), each "
                    "varied from -3 to +3 training-set standard deviations.</p>"
                    + html.img(make_grid(decode_latents(model, grid), 9, scale=scale), "traversal")))
    return out
