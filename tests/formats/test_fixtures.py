"""Files written by an earlier latentfolio still load: one fixture of each format and version.

``tests/fixtures/v1/`` was written by the code of 2026-12-01 (before the layout of docs/design.md)
with the CLI: a tiny conv model and codec trained on 16 shape images, a catalog of those images,
an .lfz file and an .lfa archive of them, and what that code decoded and found. See
docs/formats.md for the layouts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import latentfolio as lf
from latentfolio.catalog import Catalog
from latentfolio.codec.archive import Archive
from latentfolio.codec.format import parse
from latentfolio.codec.image import decompress_bytes
from latentfolio.latent.density import LatentDensity

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"


def test_model_folder_v1_loads_its_own_weights_and_runs():
    model = lf.load(V1 / "model")
    assert model.type_name == "conv" and model.config.latent_dim == 4 and model.config.image_size == 16
    assert model.fingerprint == model.meta["model_fingerprint"]  # the weights are the ones it saved
    x = model.preprocess(__import__("torch").zeros(2, 16, 16, 1, dtype=__import__("torch").uint8))
    assert model.reconstruct(x).shape == (2, 1, 16, 16)
    assert LatentDensity.load(V1 / "model").means_.shape[1] == 4


def test_lfz_v2_decodes_to_what_it_decoded_to_when_written():
    codec = lf.load(V1 / "codec")
    blob = (V1 / "image.lfz").read_bytes()
    hd = parse(blob, "image.lfz")
    assert hd.version == 2 and (hd.width, hd.height) == Image.open(V1 / "original.png").size
    got = np.asarray(decompress_bytes(codec, blob), np.int16)
    want = np.asarray(Image.open(V1 / "decoded.png"), np.int16)
    # the symbols are exact (integer tables); the synthesis transform is float, so a pixel may
    # round the other way on another CPU
    assert got.shape == want.shape and np.abs(got - want).max() <= 1


def test_lfa_v1_lists_and_decodes_every_entry(tmp_path):
    arc = Archive(V1 / "archive.lfa")
    assert len(arc.names()) == 8 and all(n.endswith(".png") for n in arc.names())
    r = lf.decompress([V1 / "archive.lfa"], tmp_path / "out", model_dir=V1 / "codec")
    assert len(r["written"]) == 8
    first = sorted(r["written"], key=lambda w: w["output"])[0]
    assert np.abs(np.asarray(Image.open(first["output"]), np.int16)
                  - np.asarray(Image.open(V1 / "decoded.png"), np.int16)).max() <= 1  # 000.png, as image.lfz


def test_catalog_v1_opens_searches_and_clusters(tmp_path):
    cat_dir = tmp_path / "catalog"
    shutil.copytree(V1 / "catalog", cat_dir)  # cluster writes to it
    cat = Catalog(cat_dir)
    assert len(cat) == 16 and cat.latents().shape == (16, 4)
    cat.close()
    want = json.loads((V1 / "similar.json").read_text())
    got = lf.similar(cat_dir, "1", k=3)
    assert [h["id"] for h in got["results"]] == [h["id"] for h in want["results"]]
    assert [h["distance"] for h in got["results"]] == pytest.approx([h["distance"] for h in want["results"]], abs=1e-4)
    assert lf.cluster(cat_dir, k=2)["clusters"] == 2
    assert lf.duplicates(cat_dir)["threshold"] > 0
