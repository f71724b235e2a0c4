"""Pretrained features through ONNX Runtime, end to end with a tiny encoder exported here:
`index --features`, then similar, duplicates, cluster (and --compare), map and anomalies on them;
and the model store's download, checksum and offline paths."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading

import numpy as np
import pytest

from conftest import cli, write_shapes

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def export_tiny(path):
    """A small conv net as an ONNX image encoder (batch, 3, 32, 32) -> (batch, 16)."""
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 16)).eval()
    torch.onnx.export(net, (torch.rand(1, 3, 32, 32),), str(path), input_names=["pixel_values"],
                      output_names=["embedding"], dynamic_axes={"pixel_values": {0: "batch"}}, dynamo=False)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from latentfolio.training.train import train

    root = tmp_path_factory.mktemp("feat")
    data = root / "shapes"
    for k, label in enumerate(("a", "b")):
        write_shapes(data / label, 30, colour=True, seed=k)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTFOLIO_CACHE", str(root / "cache"))
        train(data, root / "m", "conv", image_size=16, latent_dim=4, epochs=2, progress=False)
    return {"root": root, "data": data, "model": root / "m", "onnx": export_tiny(root / "tiny.onnx")}


def test_index_features_then_every_tool_uses_them(setup, tmp_path, capsys, monkeypatch):
    s = setup
    cat = tmp_path / "c"
    spec = f"onnx:{s['onnx']}"
    code, o, e = cli(capsys, monkeypatch, "index", s["model"], s["data"], "--catalog", cat, "--features", spec, "--json")
    assert code == 0, e
    r = json.loads(o)
    assert r["features"] == {"onnx-tiny": 16}
    meta = json.loads((cat / "catalog.json").read_text())["features"]["onnx-tiny"]
    assert meta["dim"] == 16 and meta["images"] == 60 and meta["spec"] == f"onnx:{s['onnx'].resolve()}"
    vec = np.fromfile(cat / "features" / "onnx-tiny.f32", np.float32).reshape(60, 16)
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1, atol=1e-5)  # unit length

    query = s["data"] / "a" / "003.png"
    code, o, e = cli(capsys, monkeypatch, "similar", cat, query, "-k", 4, "--features", "onnx-tiny", "--json")
    assert code == 0, e
    hits = json.loads(o)["results"]
    assert len(hits) == 4 and hits[0]["distance"] <= hits[-1]["distance"]
    outside = tmp_path / "q.png"
    outside.write_bytes(query.read_bytes())  # the same picture, not in the catalog: found at distance 0
    code, o, e = cli(capsys, monkeypatch, "similar", cat, outside, "-k", 1, "--features", "onnx-tiny", "--json")
    assert code == 0, e
    r = json.loads(o)
    assert not r["query"]["in_catalog"] and r["results"][0]["path"].endswith("a/003.png")
    assert r["results"][0]["distance"] < 1e-4
    code, o, e = cli(capsys, monkeypatch, "similar", cat, outside, "-k", 1, "--features", "fused:onnx-tiny", "--json")
    assert code == 0, e
    assert json.loads(o)["results"][0]["path"].endswith("a/003.png")

    for cmd in (["cluster", cat, "--features", "onnx-tiny", "--k", 2],
                ["cluster", cat, "--features", "fused", "--k", 2],
                ["duplicates", cat, "--features", "onnx-tiny"],
                ["map", cat, "--out", tmp_path / "m.png", "--method", "pca", "--features", "onnx-tiny"],
                ["anomalies", cat, "--top", 5, "--features", "onnx-tiny"]):
        code, o, e = cli(capsys, monkeypatch, *cmd, "--json")
        assert code == 0, (cmd, e)
    assert (tmp_path / "m.png").stat().st_size > 0

    code, o, e = cli(capsys, monkeypatch, "cluster", cat, "--compare", tmp_path / "cmp", "--k", 2, "--folder-labels",
                     "--json")
    assert code == 0, e
    r = json.loads(o)
    assert [x["space"] for x in r["runs"]] == ["codes", "onnx-tiny", "fused:onnx-tiny"]
    for x in r["runs"]:
        assert set(x["metrics"]) >= {"nmi", "ari", "acc"} and -1 <= x["silhouette"] <= 1
        assert sum(x["sizes"].values()) == 60
        assert len(list((tmp_path / "cmp" / x["space"].replace(":", "-")).glob("cluster-*.png"))) == x["clusters"]
    assert r["best"] in {x["space"] for x in r["runs"]}

    code, o, e = cli(capsys, monkeypatch, "cluster", cat, "--compare", tmp_path / "cmp2", "--features", "onnx-tiny")
    assert code == 2 and "--compare" in e and not (tmp_path / "cmp2").exists()
    code, o, e = cli(capsys, monkeypatch, "cluster", cat, "--features", "clip-vit-b32")
    assert code != 0 and "has no 'clip-vit-b32' features" in e and "Traceback" not in e


def test_an_incremental_index_updates_the_features_and_a_torn_tail_is_cut(setup, tmp_path, capsys, monkeypatch):
    import shutil

    s = setup
    data = tmp_path / "d"
    shutil.copytree(s["data"], data)
    cat = tmp_path / "c"
    code, o, e = cli(capsys, monkeypatch, "index", s["model"], data, "--catalog", cat, "--features", f"onnx:{s['onnx']}")
    assert code == 0, e
    write_shapes(data / "a", 3, colour=True, seed=9)  # overwrites 000-002 (changed) ...
    (data / "b" / "005.png").unlink()  # ... one deleted
    with open(cat / "features" / "onnx-tiny.f32", "ab") as f:
        f.write(b"\0" * 10)  # a torn tail, as a kill mid-write leaves
    code, o, e = cli(capsys, monkeypatch, "index", s["model"], data, "--catalog", cat, "--json")  # no --features
    assert code == 0, e
    r = json.loads(o)
    assert r["features"] == {"onnx-tiny": 16} and r["images"] == 59
    from latentfolio.catalog import Catalog
    from latentfolio.catalog.features import feature_vectors
    from latentfolio.features import open_embedder

    c = Catalog(cat)
    try:
        v = feature_vectors(c, "onnx-tiny")
        emb = open_embedder(f"onnx:{s['onnx']}")
        rows = c.rows("id, path, row")
        for r in rows[:3] + rows[-2:]:
            np.testing.assert_allclose(v[r["row"]], emb.embed(emb.decode(r["path"])[None])[0], atol=1e-5)
    finally:
        c.close()


class _Files(http.server.BaseHTTPRequestHandler):
    body, digest = b"", ""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("X-Linked-Etag", f'"{self.digest}"')
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *a):
        pass


def test_the_model_store_downloads_once_and_checks_the_sha256(setup, tmp_path, monkeypatch):
    from latentfolio.errors import LatentfolioError
    from latentfolio.features import fetch, registry
    from latentfolio.features.registry import Entry

    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))
    body = setup["onnx"].read_bytes()
    _Files.body, _Files.digest = body, hashlib.sha256(body).hexdigest()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/model.onnx"
        monkeypatch.setitem(registry.REGISTRY, "tiny-test", Entry("tiny-test", size=32, resize=32, url=url))
        from latentfolio.features import open_embedder

        emb = open_embedder("tiny-test")
        target = tmp_path / "store" / "tiny-test" / "model.onnx"
        assert target.read_bytes() == body and emb.dim == 16
        assert (target.parent / "model.onnx.sha256").read_text().strip() == _Files.digest
        target.write_bytes(body[:-1] + b"x")  # damaged since
        with pytest.raises(LatentfolioError, match="is not the .* it was stored with"):
            open_embedder("tiny-test")
        target.unlink()
        _Files.digest = "0" * 64  # the server says another file: nothing is kept
        with pytest.raises(LatentfolioError, match="sha256 is"):
            open_embedder("tiny-test")
        assert not target.exists() and not list(target.parent.glob(".model.onnx.*"))
    finally:
        srv.shutdown()
    monkeypatch.setitem(registry.REGISTRY, "tiny-test", Entry("tiny-test", url="http://127.0.0.1:9/model.onnx"))
    with pytest.raises(LatentfolioError, match=f"Offline\\? Fetch .* and put it at {tmp_path / 'store'}"):
        fetch.fetch(registry.resolve("tiny-test"), timeout=2)


def test_bad_feature_names_and_files_are_one_line(setup, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    for spec, msg in ((f"onnx:{bad}", "not a readable ONNX model"), ("nope", "use one of efficientnet-lite0, dinov2-small"),
                      (f"onnx:{tmp_path / 'missing.onnx'}", "is not a file")):
        code, o, e = cli(capsys, monkeypatch, "index", setup["model"], setup["data"], "--catalog", tmp_path / "c",
                         "--features", spec)
        assert code != 0 and msg in e and "Traceback" not in e, e
        assert not (tmp_path / "c").exists()  # refused before any work
