"""Latent tools: clustering, anomaly detection (one-class, planted pages), indexing speed, search latency.

    LATENTFOLIO_DATA=../shared/data python benchmarks/latent.py [--only cluster,anomaly,planted,speed]

Clustering uses all 70k images of FashionMNIST and MNIST (as N2D does); the autoencoder trains
on the 54k-image train split, unsupervised. Every wall time includes training. One-class anomaly
detection trains one model per FashionMNIST class on that class's train images and scores the
whole 10k test split (AUROC, the other nine classes being the anomalies). Planted pages: the
`index` and `anomalies` commands on 1500 FashionMNIST test images with 20 pages that do not belong
(10 MNIST digits, 5 pages of noise, 5 near-blank pages), found or not in the top 30 of each score.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def clustering(minutes: float) -> dict:
    import latentfolio as lf
    from latentfolio.tools.latent import cluster_metrics, encode_pixels
    from latentfolio.tools.organize import LatentClusterer
    from sklearn.cluster import KMeans

    out = {}
    for name in ("fashion-mnist", "mnist"):
        ds = lf.load_data(name)
        x, y = np.asarray(ds.images), ds.labels
        res = {}
        t0 = time.perf_counter()
        lab = KMeans(10, n_init=4, random_state=0).fit_predict(x.reshape(len(x), -1).astype(np.float32) / 255)
        res["kmeans on raw pixels"] = {**cluster_metrics(y, lab), "seconds": round(time.perf_counter() - t0, 1)}
        log(f"{name}: {res}")
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            lf.train(name, Path(tmp) / "m", "conv", latent_dim=32, max_time=minutes, progress=False)
            model = lf.load(Path(tmp) / "m")
            z = encode_pixels(model, x)
            t_train = time.perf_counter() - t0
            for method, label in (("kmeans", "kmeans on latents"), ("umap-gmm", "umap-gmm on latents (N2D recipe)")):
                t1 = time.perf_counter()
                cl = LatentClusterer(method, 10, seed=0).fit(z)
                res[label] = {**cluster_metrics(y, cl.labels_),
                              "seconds": round(t_train + time.perf_counter() - t1, 1),
                              "train_seconds": round(t_train, 1)}
                log(f"{name}: {label}: {res[label]}")
        out[name] = res
    return out


def anomaly(minutes: float, latent: int) -> dict:
    import latentfolio as lf
    import torch
    from latentfolio.evaluation import reconstruct_pixels
    from latentfolio.metrics import ssim
    from latentfolio.tools.latent import LatentDensity, encode_pixels
    from latentfolio.tools.organize import BOTH_TERMS, anomaly_scores
    from sklearn.metrics import roc_auc_score

    ds = lf.load_data("fashion-mnist")
    te = ds.indices("test")
    x_te, y_te = np.asarray(ds.images[te]), ds.labels[te]
    # `both` and two of its ablations: each drops one of its three terms
    variants = {"recon": ("recon", ()), "density": ("density", ()), "both": ("both", BOTH_TERMS),
                "both without MSE": ("both", ("ssim", "density")),
                "both without SSIM": ("both", ("mse", "density"))}
    per: dict[str, list] = {k: [] for k in variants}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for c in range(10):
            folder = Path(tmp) / f"class{c}"
            tr = np.concatenate([ds.indices("train"), ds.indices("val")])
            tr = tr[ds.labels[tr] == c]
            model_dir = _train_one_class(ds.images[tr], folder, latent, minutes)
            model = lf.load(model_dir)
            rec = reconstruct_pixels(model, x_te)
            err = ((rec.astype(np.float32) - x_te) / 255.0) ** 2
            err = err.reshape(len(err), -1).mean(1)
            r01, x01 = (torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float() / 255 for a in (rec, x_te))
            ss = 1 - torch.cat([ssim(r01[s:s + 1000], x01[s:s + 1000]) for s in range(0, len(r01), 1000)]).numpy()
            z = encode_pixels(model, x_te).astype(np.float64)
            dens = LatentDensity.load(model_dir)  # fitted on the class's training codes only
            truth = (y_te != c).astype(int)  # 1 = anomaly
            for score, (kind, terms) in variants.items():
                s = anomaly_scores(err, z, kind, density=dens, ssim_error=ss, terms=terms)
                per[score].append(round(float(roc_auc_score(truth, s)), 4))
            log(f"class {c}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in per.items()))
    return {"per_class_auroc": per, "mean_auroc": {k: round(float(np.mean(v)), 4) for k, v in per.items()},
            "seconds": round(time.perf_counter() - t0, 1), "latent_dim": latent,
            "train_minutes_per_class": minutes}


def _train_one_class(images: np.ndarray, folder: Path, latent: int, minutes: float) -> Path:
    """Train on an in-memory class subset (the Python API takes an ImageSet)."""
    import latentfolio as lf
    from latentfolio.data import ImageSet, hash_splits

    ds = ImageSet(images=images, split=hash_splits([str(i) for i in range(len(images))], val=0.1, test=0.0),
                  name=folder.name)
    lf.train(ds, folder, "conv", latent_dim=latent, max_time=minutes, progress=False)
    return folder


def speed(n_vectors: int, dim: int, queries: int = 300) -> dict:
    import faiss
    import latentfolio as lf
    import torch
    from latentfolio.tools import catalog as cat_mod
    from latentfolio.tools.latent import encode_pixels
    from PIL import Image

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # indexing speed: the 10k test images as PNGs, through `index` (decode + hash + encode + SQLite)
        ds = lf.load_data("fashion-mnist")
        lf.train("fashion-mnist", tmp / "m", "conv", latent_dim=32, epochs=1, progress=False)
        folder = tmp / "pngs"
        for c in range(10):
            (folder / str(c)).mkdir(parents=True)
        idx = ds.indices("test")
        for i in idx:
            Image.fromarray(ds.images[i][:, :, 0]).save(folder / str(int(ds.labels[i])) / f"{i}.png")
        model = lf.load(tmp / "m")
        files = sorted(folder.rglob("*.png"))

        def plain_loop() -> float:
            """The loop a user would write for the same model work: PIL-open each file, stack 256,
            encode, decode, reconstruction error (no hashing, no storage)."""
            t0 = time.perf_counter()
            for s in range(0, len(files), 256):
                px = np.stack([np.asarray(Image.open(f).convert("L"))[:, :, None] for f in files[s:s + 256]])
                with torch.no_grad():
                    x = model.preprocess(torch.from_numpy(px))
                    ((model.decode(model.embed(x)) - x) ** 2).flatten(1).mean(1)
            return time.perf_counter() - t0

        def index_run(k: int) -> tuple[float, dict]:
            t0 = time.perf_counter()
            r = cat_mod.index(tmp / "m", folder, tmp / f"pngs{k}.catalog", progress=False)
            return time.perf_counter() - t0, r

        plain_loop()  # warm-up: imports, oneDNN kernels, file cache
        runs = [index_run(k) for k in range(2)]
        t_index, r = min(runs, key=lambda x: x[0])
        t_loop = min(plain_loop() for _ in range(2))
        t0 = time.perf_counter()
        encode_pixels(model, np.asarray(ds.images[idx]))
        t_enc = time.perf_counter() - t0
        out["indexing"] = {"images": r["images"], "images_per_s": round(len(idx) / t_index, 1),
                           "baseline_plain_loop_images_per_s": round(len(idx) / t_loop, 1),
                           "ratio_vs_plain_loop": round(t_loop / t_index, 3), "timing": "best of 2 runs each, after a warm-up",
                           "baseline_encode_only_images_per_s": round(len(idx) / t_enc, 1),
                           "ratio_vs_encode_only": round(t_enc / t_index, 3),
                           "what": "the 10000 FashionMNIST test images as PNGs in a labelled folder: read, hash, decode, encode, "
                                   "write codes and SQLite rows. Baselines: a plain PIL loop over the same files doing "
                                   "the same model work (encode, decode, error; no hash, no storage), and only "
                                   "encoding the same pixels already in memory"}
        log(str(out["indexing"]))

        # similar latency at 1M synthetic vectors: a catalog with synthetic rows and the IVF index
        rng = np.random.default_rng(0)
        centres = rng.standard_normal((1000, dim)).astype(np.float32) * 3
        cat_dir = tmp / "big.catalog"
        cat_dir.mkdir()
        lat = np.memmap(cat_dir / cat_mod.LATENTS, np.float32, "w+", shape=(n_vectors, dim))
        for s in range(0, n_vectors, 100_000):
            m = min(100_000, n_vectors - s)
            lat[s:s + m] = centres[rng.integers(0, 1000, m)] + rng.standard_normal((m, dim)).astype(np.float32)
        lat.flush()
        (cat_dir / cat_mod.META).write_text(
            '{"format_version": 1, "model_fingerprint": "synthetic", "model_dir": "", "dim": %d, '
            '"image_size": 28, "channels": 1, "source": {"kind": "synthetic"}, "search": "flat"}' % dim)
        db = cat_mod._connect(cat_dir / cat_mod.DB)
        with db:
            db.executemany("INSERT INTO images (path, hash, row) VALUES (?, ?, ?)",
                           ((f"synthetic:{i}", "", i) for i in range(n_vectors)))
        db.close()
        cat = cat_mod.Catalog(cat_dir)
        t0 = time.perf_counter()
        kind = cat_mod.build_ann(cat)
        t_build = time.perf_counter() - t0
        cat = cat_mod.Catalog(cat_dir)
        q = np.asarray(lat[rng.choice(n_vectors, queries, replace=False)]) + 0.1 * rng.standard_normal((queries, dim)).astype(np.float32)

        def timed(search) -> tuple[np.ndarray, list]:
            ts, res = [], []
            for v in q:
                t = time.perf_counter()
                d, i = search(v[None])
                # the row lookup `similar` does
                cat.db.execute(f"SELECT * FROM images WHERE row IN ({','.join(map(str, i[0]))})").fetchall()
                ts.append(time.perf_counter() - t)
                res.append(i[0])
            return np.array(ts) * 1000, res

        ivf_ms, ivf_res = timed(lambda v: cat.search(v, 12))
        flat = faiss.IndexFlatL2(dim)
        for s in range(0, n_vectors, 100_000):
            flat.add(np.ascontiguousarray(lat[s:s + 100_000]))
        flat_ms, flat_res = timed(lambda v: flat.search(v, 12))
        recall = np.mean([len(set(a) & set(b)) / 12 for a, b in zip(ivf_res, flat_res)])
        out["similar_latency"] = {
            "vectors": n_vectors, "dim": dim, "index": kind, "nprobe": 32, "build_seconds": round(t_build, 1),
            "p50_ms": round(float(np.percentile(ivf_ms, 50)), 2), "p99_ms": round(float(np.percentile(ivf_ms, 99)), 2),
            "baseline_exact_p50_ms": round(float(np.percentile(flat_ms, 50)), 2),
            "baseline_exact_p99_ms": round(float(np.percentile(flat_ms, 99)), 2),
            "speedup_p50": round(float(np.percentile(flat_ms, 50) / np.percentile(ivf_ms, 50)), 1),
            "recall_at_12": round(float(recall), 4)}
        log(str(out["similar_latency"]))
    return out


PLANTED = {"mnist": 10, "noise": 5, "blank": 5}


def planted(minutes: float, seeds: int) -> dict:
    """What the one-class benchmark cannot show: pages unlike anything in the collection."""
    import latentfolio as lf
    from latentfolio.tools.catalog import Catalog, index
    from latentfolio.tools.organize import anomalies, anomaly_scores
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
            lf.train("fashion-mnist", m, "conv", latent_dim=32, max_time=minutes, seed=seed, progress=False)
            index(m, col, c, workers=0, progress=False)
            tops = {score: [h["path"].rsplit("/", 1)[1] for h in anomalies(c, top=30, score=score)["top"]]
                    for score in ("recon", "density", "both")}
            cat = Catalog(c)  # the same scores, each without one of its terms
            rows = cat.rows("path, recon_error, ssim_error")
            names = [r["path"].rsplit("/", 1)[1] for r in rows]
            err, ss = (np.array([r[k] for r in rows], np.float64) for k in ("recon_error", "ssim_error"))
            for label, terms in (("both without MSE (before 2026-11-22)", ("ssim", "density")),
                                 ("both without SSIM", ("mse", "density"))):
                s = anomaly_scores(err, np.asarray(cat.latents(), np.float64), "both", ssim_error=ss, terms=terms)
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
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="cluster,anomaly,planted,speed")
    ap.add_argument("--minutes", type=float, default=4.0, help="AE training budget for clustering")
    ap.add_argument("--anomaly-minutes", type=float, default=1.0)
    ap.add_argument("--anomaly-latent", type=int, default=8)
    ap.add_argument("--planted-minutes", type=float, default=2.0)
    ap.add_argument("--planted-seeds", type=int, default=2)
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=32)
    args = ap.parse_args()
    only = set(args.only.split(","))
    prev = {}
    if (RESULTS / "latent.json").exists():  # keep parts that were not re-run
        import json

        prev = json.loads((RESULTS / "latent.json").read_text())
    result = {k: prev[k] for k in ("clustering", "anomaly", "planted", "speed") if k in prev}
    if "cluster" in only:
        result["clustering"] = {"data": "all 70k images (train + test); AE trained on the 54k train split",
                                "ae": f"conv, latent 32, {args.minutes} min", "results": clustering(args.minutes),
                                "anchors": {"N2D fashion-mnist": {"nmi": 0.684, "acc": 0.672},
                                            "N2D mnist": {"nmi": 0.942, "acc": 0.979},
                                            "kmeans raw fashion-mnist": {"nmi": 0.51}},
                                "target": "umap-gmm NMI on FashionMNIST > 0.684 within 20 min, training included"}
        fm = result["clustering"]["results"]["fashion-mnist"]["umap-gmm on latents (N2D recipe)"]
        result["clustering"]["met"] = bool(fm["nmi"] > 0.684 and fm["seconds"] <= 1200)
    if "anomaly" in only:
        a = anomaly(args.anomaly_minutes, args.anomaly_latent)
        result["anomaly"] = {**a, "anchors": {"conv AE + OC-SVM": 0.917, "GEOM": 0.935},
                             "target": "mean AUROC >= 0.94",
                             # met by a score `anomalies --score` offers; the ablations are for comparison
                             "met": bool(max(a["mean_auroc"][k] for k in ("recon", "density", "both")) >= 0.94)}
    if "planted" in only:
        result["planted"] = planted(args.planted_minutes, args.planted_seeds)
    if "speed" in only:
        result["speed"] = speed(args.vectors, args.dim)
    for part, flag in (("clustering", "cluster"), ("anomaly", "anomaly"), ("planted", "planted"), ("speed", "speed")):
        if flag in only and part in result:  # parts kept from an earlier run keep their own date
            result[part]["date"] = time.strftime("%Y-%m-%d")
    save("latent", result)


if __name__ == "__main__":
    main()
