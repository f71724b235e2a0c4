"""``sweep``: train every (model, latent size) pair and show what the bottleneck changes."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import ArgumentError, LatentfolioError
from ..imaging import auto_scale, make_grid, save_picture
from ..latent.encode import reconstruct_pixels
from ..models import get_model_class
from ..models.info import model_info
from ..saved import load_for_model, load_model
from ..training.train import train

COLUMNS = ["model", "latent_dim", "compression_ratio", "test_mse", "test_psnr_db", "test_ssim",
           "parameters", "train_seconds", "epochs"]


def parse_list(value: str | list, what: str, cast=str) -> list:
    items = value if isinstance(value, (list, tuple)) else [v.strip() for v in str(value).split(",")]
    try:
        out = [cast(v) for v in items if str(v).strip()]
    except ValueError:
        raise LatentfolioError(f"{what} {value!r}: expected a comma-separated list") from None
    if not out:
        raise LatentfolioError(f"{what}: give at least one value")
    return out


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def sweep(data, out, *, models="fc,conv", latent_dims="2,3,5,10,50", epochs: int | None = None,
          max_time: float | None = None, data_root=None, force: bool = False, n_show: int = 8,
          **train_options) -> dict:
    """Train each combination into ``OUT/<model>-<latent>``; write sweep.csv, sweep.md, sweep.png.

    A combination whose model folder is already complete is reused, so an interrupted sweep
    continues where it stopped (``--force`` retrains everything).
    """

    models = parse_list(models, "--models")
    dims = parse_list(latent_dims, "--latent-dims", int)
    for m in models:
        try:
            get_model_class(m)
        except KeyError as e:
            raise LatentfolioError(e.args[0]) from None
    if any(d < 1 for d in dims):
        raise ArgumentError("latent_dims", latent_dims, "sizes must be >= 1")
    out = Path(out)
    table = out / "sweep.csv"
    rows, recons, ds = [], [], None
    for m in models:
        for d in dims:
            mdir = out / f"{m}-{d}"
            if force or not (mdir / "meta.json").exists():
                print(f"sweep: training {m} with latent {d}", file=sys.stderr, flush=True)
                train(data, mdir, m, latent_dim=d, epochs=epochs, max_time=max_time,
                      data_root=data_root, force=True, **train_options)
            model = load_model(mdir)
            info = model_info(model)
            meta = model.meta
            met = meta.get("metrics", {})
            rows.append({"model": m, "latent_dim": d, "compression_ratio": round(info["compression_ratio"], 2),
                         "test_mse": met.get("mse"), "test_psnr_db": met.get("psnr_db"),
                         "test_ssim": met.get("ssim"), "parameters": info["parameters"],
                         "train_seconds": meta.get("training", {}).get("seconds"),
                         "epochs": meta.get("training", {}).get("epochs")})
            if ds is None:
                ds = load_for_model(model, data, data_root)
                idx = ds.indices("test")
                idx = idx if len(idx) else np.arange(len(ds))
                show = np.ascontiguousarray(ds.images[idx[np.linspace(0, len(idx) - 1, min(n_show, len(idx))).astype(int)]])
            recons.append((f"{m} d={d}", reconstruct_pixels(model, show)))

    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS)
    w.writeheader()
    w.writerows(rows)
    _io.write_text(table, buf.getvalue())
    _io.write_text(out / "sweep.md", markdown_table(rows, COLUMNS))
    k = len(show)
    tiles = np.concatenate([show] + [r for _, r in recons])
    caps = ["original"] + [""] * (k - 1)
    for name, _ in recons:
        caps += [name] + [""] * (k - 1)
    size = show.shape[1]
    save_picture(make_grid(tiles, k, scale=auto_scale(size, 56), captions=caps), out / "sweep.png")
    return {"out": str(out), "table": str(table), "markdown": str(out / "sweep.md"),
            "figure": str(out / "sweep.png"), "rows": rows}
