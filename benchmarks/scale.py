"""Cost as the collection grows: `index`, `duplicates`, `cluster` and `similar` on synthetic
collections of small images, and `similar` over 10M synthetic codes.

The collections are made from FashionMNIST's 70k images with augmentation (a flip, a shift of up
to 2 px, a brightness change), written as PNG files in folders of 1000, so `index` does all its
real work: scanning, hashing, decoding, encoding, SQLite. Each command runs as the CLI in its
own process, timed on the wall clock, with its peak memory (max RSS) from the kernel. The
growth exponent between two sizes is log(t2 / t1) / log(n2 / n1): 1 is linear.

    LATENTFOLIO_DATA=../shared/data python -m benchmarks.scale [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import data_root, run, synthetic_catalog


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_collection(images: np.ndarray, n: int, folder: Path, seed: int = 0) -> None:
    """``n`` augmented 28 px images as PNGs, 1000 per subfolder."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for s in range(0, n, 1000):
        sub = folder / f"{s // 1000:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(s, min(n, s + 1000)):
            a = images[i % len(images), :, :, 0]
            if i >= len(images):  # the originals once, then augmented copies
                if rng.random() < 0.5:
                    a = a[:, ::-1]
                dy, dx = rng.integers(-2, 3, 2)
                a = np.roll(a, (dy, dx), (0, 1))
                a = np.clip(a.astype(np.int16) + rng.integers(-20, 21), 0, 255).astype(np.uint8)
            Image.fromarray(np.ascontiguousarray(a)).save(sub / f"{i:07d}.png", compress_level=1)


def peak_mb_of(args: list[str]) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS in MB, JSON) of one CLI run. The peak comes from GNU time, whose
    own small process starts the command: a child forked straight from this (large) process
    would inherit its high-water mark, and every command would read the same."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, sys.executable, "-m", "latentfolio.cli",
                            *args, "--json"], capture_output=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"latentfolio {' '.join(args)} failed: {p.stderr.decode()[-2000:]}")
        peak_kb = float(rss.read().split()[-1])
    return round(wall, 2), round(peak_kb / 1024, 1), json.loads(p.stdout)


def similar_latency(cat_dir: Path, queries: int = 200, k: int = 10) -> dict:
    """p50/p99 of a catalog's search over existing codes, in-process (no start-up cost)."""
    from latentfolio.catalog import Catalog

    cat = Catalog(cat_dir)
    try:
        lat = cat.latents()
        rng = np.random.default_rng(1)
        q = np.asarray(lat[rng.choice(len(lat), queries, replace=False)])
        ts = []
        for v in q:
            t = time.perf_counter()
            cat.search(v[None], k)
            ts.append(time.perf_counter() - t)
    finally:
        cat.close()
    ms = np.array(ts) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def exponent(a: dict, b: dict, key: str) -> float:
    return round(float(np.log(b[key] / a[key]) / np.log(b["images"] / a["images"])), 3)


def fits_at(n: int, dim: int) -> dict:
    """`anomalies` (density fitted on a sample, every code scored) and `map` (laid out on a
    sample) over ``n`` synthetic codes, as CLI runs."""
    with tempfile.TemporaryDirectory() as tmp:
        cat = Path(tmp) / "c"
        synthetic_catalog(cat, n, dim, np.random.default_rng(0), centres=2000, chunk=500_000, errors=True)
        out = {"codes": n}
        for name, args in (("anomalies", ["anomalies", str(cat), "--top", "20"]),
                           ("map", ["map", str(cat), "--method", "umap", "--out", str(Path(tmp) / "map.png")])):
            wall, peak, _ = peak_mb_of(args)
            out[name] = {"seconds": wall, "peak_mb": peak}
            log(f"{n} codes: {name} {wall:.1f} s, {peak:.0f} MB")
    return out


def search_10m(n: int, dim: int, queries: int = 200) -> dict:
    """`similar` over ``n`` synthetic codes (clustered, like real codes): the index the catalog
    builds for that size, its p50/p99 and recall@10 against exact search on the same queries."""
    import faiss
    from latentfolio.catalog import store as cat_mod
    from latentfolio.catalog.search import build_ann

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        cat_dir = Path(tmp) / "big.catalog"
        lat = synthetic_catalog(cat_dir, n, dim, rng, centres=2000, chunk=500_000)
        q = np.asarray(lat[rng.choice(n, queries, replace=False)]) + 0.1 * rng.standard_normal((queries, dim)).astype(np.float32)
        flat = faiss.IndexFlatL2(dim)
        exact = np.zeros((queries, 10), np.int64)
        best = np.full((queries, 10), np.inf, np.float32)
        for s in range(0, n, 1_000_000):  # exact search in blocks, merged: the reference
            flat.reset()
            flat.add(np.ascontiguousarray(lat[s:s + 1_000_000]))
            d, i = flat.search(q, 10)
            dd, ii = np.concatenate([best, d], 1), np.concatenate([exact, i + s], 1)
            o = np.argsort(dd, 1)[:, :10]
            best, exact = np.take_along_axis(dd, o, 1), np.take_along_axis(ii, o, 1)
        del flat
        results = {}
        for name, flat_bytes in (("default", None), ("pq", 0)):  # what the catalog picks; PQ forced
            cat = cat_mod.Catalog(cat_dir)
            t0 = time.perf_counter()
            kind = build_ann(cat, flat_bytes=flat_bytes)
            t_build = time.perf_counter() - t0
            cat.close()
            cat = cat_mod.Catalog(cat_dir)
            ts, got = [], []
            for v in q:
                t = time.perf_counter()
                _, i = cat.search(v[None], 10)
                ts.append(time.perf_counter() - t)
                got.append(i[0])
            cat.close()
            ms = np.array(ts) * 1000
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact)]))
            results[name] = {"index": kind, "build_seconds": round(t_build, 1),
                             "p50_ms": round(float(np.percentile(ms, 50)), 3),
                             "p99_ms": round(float(np.percentile(ms, 99)), 3), "recall_at_10": round(recall, 4)}
            log(f"{n} codes, {name}: {results[name]}")
    return {"codes": n, "dim": dim, "target": "p50 < 5 ms", **results,
            "recall_reference": f"exact search of the same {queries} queries over all {n} codes"}


def bench(sizes: str, codes: int, dim: int, keep: str) -> dict:
    import latentfolio as lf

    ns = [int(v) for v in sizes.split(",")]
    ds = lf.load_data("fashion-mnist", data_root=data_root())
    tmp_ctx = tempfile.TemporaryDirectory(dir=keep or None)
    tmp = Path(tmp_ctx.name)
    model = tmp / "m"
    lf.train("fashion-mnist", model, model="conv", latent_dim=dim, epochs=1, progress=False, data_root=data_root())
    rows = []
    for n in ns:
        folder, cat = tmp / f"c{n}", tmp / f"c{n}.catalog"
        t0 = time.perf_counter()
        make_collection(ds.images, n, folder)
        log(f"{n}: wrote the collection in {time.perf_counter() - t0:.0f} s")
        row = {"images": n}
        for name, args in (("index", ["index", str(model), str(folder), "--catalog", str(cat)]),
                           ("duplicates", ["duplicates", str(cat)]),
                           ("cluster", ["cluster", str(cat), "--k", "10"])):
            wall, peak, res = peak_mb_of(args)
            row[name] = {"seconds": wall, "peak_mb": peak}
            if name == "index":
                row[name]["images_per_s"] = round(n / wall, 1)
                assert res["images"] == n, res
            if name == "duplicates":
                row[name].update(groups=len(res["groups"]), images_in_groups=res["images_in_groups"])
            log(f"{n}: {name} {wall:.1f} s, {peak:.0f} MB")
        row["similar"] = similar_latency(cat)
        rows.append(row)
        import shutil

        shutil.rmtree(folder)
        shutil.rmtree(cat)
    growth = []
    for a, b in zip(rows, rows[1:]):
        g = {"from": a["images"], "to": b["images"]}
        for name in ("index", "duplicates", "cluster"):
            g[name] = exponent({"images": a["images"], "t": a[name]["seconds"]},
                               {"images": b["images"], "t": b[name]["seconds"]}, "t")
        growth.append(g)
    out = {"sizes": rows, "growth_exponent": growth, "target": "exponent <= 1.1 (near-linear)",
           "model": f"conv, {dim}-d codes, 1 epoch on FashionMNIST",
           "what": "augmented FashionMNIST PNGs (28 px) in folders of 1000; each command a fresh CLI process"}
    out["fits"] = [fits_at(n, dim) for n in ns]
    if codes:
        out["search"] = search_10m(codes, dim)
        log(str(out["search"]))
    tmp_ctx.cleanup()
    return out


def main() -> None:
    run("scale", bench, sizes="10000,100000,1000000", codes=10_000_000, dim=32, keep="")


if __name__ == "__main__":
    main()
