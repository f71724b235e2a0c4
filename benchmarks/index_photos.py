"""`index` on full-size photos, against a bare loop doing the same decode and model work.

The photos are the 30 JPEGs of ../shared/data/photos/unsplash (4-24 MP, median 14 MP). The
bare loop is what a user who knows Pillow writes: open, DCT-domain draft to twice the model's
size, resize, stack a batch, encode, decode, reconstruction error. `index` also reads each file's
bytes for its hash, writes the codes and SQLite rows and builds the search index. `index` runs
twice: with the codes alone (`--features none`) and as it runs by default, adding the built-in
content encoder's features (EfficientNet-Lite0 at 224 px).

    LATENTFOLIO_DATA=../shared/data python -m benchmarks.index_photos
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import run


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def photos_folder() -> Path:
    import os

    for p in (os.environ.get("LATENTFOLIO_DATA"), str(Path(__file__).parents[2] / "shared" / "data")):
        if p and Path(p, "photos", "unsplash").is_dir():
            return Path(p, "photos", "unsplash")
    sys.exit("this benchmark needs photos/unsplash under LATENTFOLIO_DATA")


def bench(size: int, repeats: int) -> dict:
    import latentfolio as lf
    import torch
    from PIL import Image

    folder = photos_folder()
    files = sorted(folder.glob("*.jpg"))
    mp = [Image.open(f).size[0] * Image.open(f).size[1] / 1e6 for f in files]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lf.train(folder, tmp / "m", model="conv", image_size=size, latent_dim=32, epochs=1, progress=False)
        model = lf.load(tmp / "m")

        def bare_loop() -> float:
            t0 = time.perf_counter()
            px = []
            for f in files:
                with Image.open(f) as img:
                    img.draft("RGB", (2 * size, 2 * size))
                    px.append(np.asarray(img.convert("RGB").resize((size, size), Image.BICUBIC)))
            with torch.no_grad():
                x = model.preprocess(torch.from_numpy(np.stack(px)))
                ((model.decode(model.embed(x)) - x) ** 2).flatten(1).mean(1)
            return time.perf_counter() - t0

        def index_run(k: int, features: list[str] | None) -> float:
            t0 = time.perf_counter()
            lf.index(tmp / "m", folder, tmp / f"c{k}-{bool(features)}.catalog", progress=False, features=features)
            return time.perf_counter() - t0

        bare_loop()  # warm-up: file cache, kernels
        index_run(-1, None)  # warm-up of the encoder (its weights converted once into the model store)
        t_index = [index_run(k, ["none"]) for k in range(repeats)]
        t_feat = [index_run(k, None) for k in range(repeats)]
        t_loop = [bare_loop() for _ in range(repeats)]
    ti, tl, tf = float(np.median(t_index)), float(np.median(t_loop)), float(np.median(t_feat))
    out = {"photos": len(files), "megapixels_median": round(float(np.median(mp)), 1),
           "megapixels_total": round(float(np.sum(mp)), 1), "model_size_px": size,
           "index_seconds": round(ti, 2), "bare_loop_seconds": round(tl, 2),
           "index_megapixels_per_s": round(float(np.sum(mp)) / ti, 1),
           "ratio_vs_bare_loop": round(tl / ti, 3), "target": ">= 0.9",
           "index_with_features_seconds": round(tf, 2), "features": "efficientnet-lite0 (the default)",
           "index_with_features_images_per_s": round(len(files) / tf, 2),
           "bare_loop_images_per_s": round(len(files) / tl, 2),
           "ratio_with_features_vs_bare_loop": round(tl / tf, 3), "target_with_features": ">= 0.6",
           "timing": f"median of {repeats} runs each, after a warm-up; a fresh catalog each run"}
    log(str(out))
    return out


def main() -> None:
    run("index_photos", bench, size=64, repeats=3)


if __name__ == "__main__":
    main()
