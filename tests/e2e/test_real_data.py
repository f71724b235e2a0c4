"""End to end on the real FashionMNIST in ../shared/data (skips when it is absent)."""

from __future__ import annotations

import json

import numpy as np

from latentfolio.data import load_data

from conftest import run_cli


def test_real_fashion_mnist_loads_with_official_splits(real_data_root):
    ds = load_data("fashion-mnist", data_root=real_data_root)
    assert ds.images.shape == (70000, 28, 28, 1)
    assert ds.split_sizes() == {"train": 54000, "val": 6000, "test": 10000}
    assert np.bincount(ds.labels[ds.indices("test")]).tolist() == [1000] * 10


def test_real_fashion_mnist_short_cli_run(tmp_path, real_data_root):
    out = tmp_path / "fm"
    r = run_cli("train", "fashion-mnist", "--data-root", str(real_data_root), "--latent-dim", "16",
                "--max-time", "0.6", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["metrics"]["n"] == 10000 and res["metrics"]["psnr_db"] > 15  # 36 s in all, reading the data included: about 19 dB
    r = run_cli("evaluate", str(out), "fashion-mnist", "--data-root", str(real_data_root), "--json")
    assert r.returncode == 0 and abs(json.loads(r.stdout)["psnr_db"] - res["metrics"]["psnr_db"]) < 1e-4
    # organize and create on the same model: index all 70k, cluster, search, sample
    cat = tmp_path / "fm.catalog"
    r = run_cli("index", str(out), "fashion-mnist", "--data-root", str(real_data_root), "--catalog", str(cat), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["images"] == 70000
    r = run_cli("cluster", str(cat), "--method", "kmeans", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["nmi"] > 0.4  # k-means on raw pixels: about 0.51
    r = run_cli("similar", str(cat), "fashion-mnist:test:60003", "-k", "5", "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["results"]
    assert len(hits) == 5 and "fashion-mnist:test:60003" not in [h["path"] for h in hits]  # not itself
    assert all(a["distance"] <= b["distance"] for a, b in zip(hits, hits[1:]))
    r = run_cli("sample", str(out), "-n", "16", "--out", str(tmp_path / "s.png"))
    assert r.returncode == 0 and (tmp_path / "s.png").exists(), r.stderr
