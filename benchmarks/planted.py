"""Planted pages: what the one-class benchmark cannot show, pages unlike anything in the collection.

    LATENTFOLIO_DATA=../shared/data python -m benchmarks.planted [--minutes 2 --seeds 2]

The `index` and `anomalies` commands on 1500 FashionMNIST test images with 20 pages that do not
belong (10 MNIST digits, 5 pages of noise, 5 near-blank pages), found or not in the top 30.
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


PLANTED = {"mnist": 10, "noise": 5, "blank": 5}


def planted(minutes: float, seeds: int) -> dict:
    """What the one-class benchmark cannot show: pages unlike anything in the collection."""
    import latentfolio as lf
    from latentfolio.catalog import Catalog
    from latentfolio.commands.organize import outlier_inputs
    from latentfolio.latent.anomaly import BOTH_TERMS, anomaly_scores
    from PIL import Image

    fm, mn = lf.load_data("fashion-mnist"), lf.load_data("mnist")
    rng = np.random.default_rng(0)
    pages = [(f"f{i:05d}", np.asarray(fm.images[i])[:, :, 0])
             for i in rng.choice(fm.indices("test"), 1500, replace=False)]
    pages += [(f"zz-mnist{i:05d}", np.asarray(mn.images[i])[:, :, 0])
              for i in rng.choice(mn.indices("test"), PLANTED["mnist"], replace=False)]
    pages += [(f"zz-noise{i}", rng.integers(0, 256, (28, 28), dtype=np.uint8)) for i in range(PLANTED["noise"])]
    for i in range(PLANTED["blank"]):  # white or black, with a few grey specks
        a = np.full((28, 28), 255 if i % 2 else 0, np.uint8)
        a[rng.integers(0, 28, 6), rng.integers(0, 28, 6)] = 128
        pages.append((f"zz-blank{i}", a))
    found: dict[str, dict[str, list[int]]] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        col = Path(tmp) / "collection"
        col.mkdir()
        for name, a in pages:
            Image.fromarray(a).save(col / f"{name}.png")
        for seed in range(seeds):
            m, c = Path(tmp) / f"m{seed}", Path(tmp) / f"c{seed}"
            lf.train("fashion-mnist", m, model="conv", latent_dim=32, max_time=minutes, seed=seed, progress=False)
            lf.index(m, col, c, workers=0, progress=False, features=["none"])
            tops = {score: [h["path"].rsplit("/", 1)[1] for h in lf.anomalies(c, top=30, score=score)["top"]]
                    for score in ("recon", "density", "complexity", "both")}
            cat = Catalog(c)  # the same scores, each without one of its terms
            x = outlier_inputs(cat)
            names = [r["path"].rsplit("/", 1)[1] for r in x["rows"]]
            for label, terms, cx in (("both without complexity (before 2026-12-06)", BOTH_TERMS, None),
                                     ("both without MSE or complexity (before 2026-11-22)", ("ssim", "density"), None),
                                     ("both without SSIM", ("mse", "density"), x["complexity"])):
                s = anomaly_scores(x["recon_error"], x["z"], "both", ssim_error=x["ssim_error"], terms=terms,
                                   complexity=cx, groups=x["groups"])
                tops[label] = [names[i] for i in np.argsort(-s, kind="stable")[:30]]
            cat.close()
            for score, top in tops.items():
                per = found.setdefault(score, {k: [] for k in PLANTED})
                for k in PLANTED:
                    per[k].append(sum(n.startswith(f"zz-{k}") for n in top))
                log(f"planted, seed {seed}, {score}: " + ", ".join(f"{k} {v[-1]}" for k, v in per.items()))
    return {"collection": "1500 FashionMNIST test images + 10 MNIST digits, 5 noise pages, 5 near-blank pages",
            "model": f"conv (defaults), latent 32, {minutes} min on the FashionMNIST train split",
            "planted": PLANTED, "seeds": seeds, "top": 30,
            "found_in_top": found,  # per score and kind: how many of them, per seed
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    run("planted", planted, minutes=2.0, seeds=2)


if __name__ == "__main__":
    main()
