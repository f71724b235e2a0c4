"""Planted pages in a colour collection of full-size photos: what `anomalies` finds where users
keep their files.

    LATENTFOLIO_DATA=../shared/data python -m benchmarks.planted_photos [--minutes 3 --seeds 2]

The 79 photos of ../shared/data/photos (4-24 MP) with five files planted among them: a page of
noise, a near-blank page, a digital painting (MyPaint's ORA), a flat graphic and a Kodak photo.
A conv model is trained on the folder itself, as `latentfolio train` on a user's folder does, so
it has seen the planted files too; `index` adds its default content features (EfficientNet-Lite0),
and `both` takes their nearest-neighbour distance as one of its terms. The rank of each planted file under each score; the Kodak
photo is of the same kind as the collection and is not expected to be found.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import run
from .index_photos import photos_folder

PLANTED = {"noise": "zz-noise.png", "blank": "zz-blank.png", "painting": "zz-painting.ora",
           "graphic": "zz-graphic.png", "kodak": "zz-kodak23.png"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _collection(col: Path, data: Path) -> None:
    from PIL import Image

    for sub in ("unsplash", "wikipedia"):
        shutil.copytree(data / "photos" / sub, col / sub)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)).save(col / "unsplash" / PLANTED["noise"])
    blank = np.full((1536, 2048, 3), 246, np.uint8)
    blank[rng.integers(0, 1536, 40), rng.integers(0, 2048, 40)] = 128
    Image.fromarray(blank).save(col / "unsplash" / PLANTED["blank"])
    shutil.copy(data / "formats" / "mypaint_bigimage.ora", col / "unsplash" / PLANTED["painting"])
    shutil.copy(data / "formats" / "layeredimage_layered_image_expected.png", col / "unsplash" / PLANTED["graphic"])
    shutil.copy(data / "kodak" / "kodim23.png", col / "unsplash" / PLANTED["kodak"])


def _ranks(names: list[str], s: np.ndarray) -> dict[str, int]:
    order = [names[i] for i in np.argsort(-s, kind="stable")]
    return {k: order.index(f) + 1 for k, f in PLANTED.items()}


def planted_photos(minutes: float, seeds: int) -> dict:
    import latentfolio as lf
    from latentfolio.catalog import Catalog
    from latentfolio.catalog.features import use_space
    from latentfolio.commands.organize import outlier_inputs
    from latentfolio.latent.anomaly import score_table

    data = photos_folder().parents[1]
    ranks: dict[str, dict[str, list[int]]] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        col = Path(tmp) / "collection"
        _collection(col, data)
        n = sum(1 for p in col.rglob("*") if p.is_file())
        for seed in range(seeds):
            m, c = Path(tmp) / f"m{seed}", Path(tmp) / f"c{seed}"
            lf.train(col, m, model="conv", image_size=64, max_time=minutes, seed=seed, progress=False)
            lf.index(m, col, c, workers=0, progress=False)
            cat = use_space(Catalog(c), None)  # as `anomalies` sees it: with the content features `index` added
            x = outlier_inputs(cat)
            names = [r["path"].rsplit("/", 1)[1] for r in x["rows"]]
            args = (x["recon_error"], x["z"])
            variants = {
                "both": dict(ssim_error=x["ssim_error"], complexity=x["complexity"], groups=x["groups"], knn=x["knn"]),
                "both without content features (before 2026-12-07)": dict(
                    ssim_error=x["ssim_error"], complexity=x["complexity"], groups=x["groups"]),
                "both without complexity": dict(ssim_error=x["ssim_error"], groups=x["groups"]),
                "both without complexity or split groups (before 2026-12-02)": dict(ssim_error=x["ssim_error"]),
            }
            tables = {k: score_table(*args, "both", **kw) for k, kw in variants.items()}
            for score in ("recon", "density", "complexity"):
                tables[score] = score_table(*args, score, complexity=x["complexity"])
            tables["content (kNN distance alone)"] = {"total": x["knn"]}
            cat.close()
            for score, t in tables.items():
                per = ranks.setdefault(score, {k: [] for k in PLANTED})
                for k, r in _ranks(names, t["total"]).items():
                    per[k].append(r)
                log(f"planted_photos, seed {seed}, {score}: " + ", ".join(f"{k} {v[-1]}" for k, v in per.items()))
    return {"collection": f"the 79 photos of photos/ (4-24 MP) + 5 planted files, {n} in all",
            "model": f"conv (defaults), 64 px, {minutes} min on the collection itself", "planted": PLANTED,
            "seeds": seeds, "images": n, "rank": ranks,  # per score and planted file: its rank, per seed
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    run("planted_photos", planted_photos, minutes=3.0, seeds=2)


if __name__ == "__main__":
    main()
