"""The search index of a big catalog: IVF-Flat, or IVF-PQ past the memory budget, both re-ranked
by the exact codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentfolio.catalog import search as search_mod
from latentfolio.catalog import store


def synthetic(tmp_path, n: int = 4000, dim: int = 16):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((40, dim)) * 3)[rng.integers(0, 40, n)] + rng.standard_normal((n, dim))
    d = tmp_path / "c"
    d.mkdir()
    z.astype(np.float32).tofile(d / store.LATENTS)
    (d / store.META).write_text(json.dumps({"format_version": 1, "model_fingerprint": "x", "model_dir": "",
                                            "dim": dim, "image_size": 8, "channels": 1,
                                            "source": {"kind": "synthetic"}, "search": "flat"}))
    db = store.connect(d / store.DB)
    with db:
        db.executemany("INSERT INTO images (path, hash, row) VALUES (?, ?, ?)", ((f"s:{i}", "", i) for i in range(n)))
    db.close()
    return d, z.astype(np.float32)


@pytest.mark.parametrize("flat_bytes, kind", [(None, "ivf"), (0, "-pq")])
def test_ivf_and_pq_find_the_exact_neighbours(tmp_path, monkeypatch, flat_bytes, kind):
    monkeypatch.setattr(search_mod, "IVF_FROM", 1000)
    d, z = synthetic(tmp_path)
    cat = store.Catalog(d)
    built = search_mod.build_ann(cat, flat_bytes=flat_bytes)
    cat.close()
    assert kind in built and (d / store.FAISS).exists()
    cat = store.Catalog(d)
    q = z[:50] + 0.05
    dist, rows = cat.search(q, 10)
    exact = np.argsort(((z[None] - q[:, None]) ** 2).sum(-1), 1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, exact)])
    assert rows.shape == (50, 10) and recall > 0.9
    assert np.all(np.diff(dist, axis=1) >= 0)  # re-ranked by the exact distances
    cat.close()


def test_pq_parts_divide_the_dimension():
    for dim in (8, 16, 30, 32, 64, 7):
        m = search_mod._pq_parts(dim)
        assert dim % m == 0 and m <= max(1, dim // 4)
