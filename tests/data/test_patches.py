"""Native-resolution patches: real crops of the full-size pixels, a bounded bank, decoded once."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latentfolio.data import patches
from latentfolio.errors import ArgumentError
from latentfolio.training.train import train

from conftest import write_shapes


def _coded(h: int, w: int) -> np.ndarray:
    """Each pixel names its own position: R = y, G = x, B = y + x (mod 256)."""
    yy, xx = np.mgrid[:h, :w]
    return np.stack([yy % 256, xx % 256, (yy + xx) % 256], -1).astype(np.uint8)


def test_patches_are_native_crops_with_their_files_split_and_label(tmp_path):
    root = tmp_path / "art"
    for label in ("ink", "oil"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(_coded(180 + 10 * i, 200)).save(root / label / f"{i}.png")
    (root / "ink" / "notes.png").write_text("not an image")
    Image.fromarray(_coded(20, 30)).save(root / "oil" / "tiny.png")  # smaller than a patch
    ds = patches.load_patches(root, 48, per_image=5)
    assert ds.images.shape == (7 * 5, 48, 48, 3) and ds.patches_from == 7 and ds.padded == 1
    assert [p for p, _ in ds.skipped] == [str(root / "ink" / "notes.png")]
    for i in range(0, len(ds), 5):
        rows = slice(i, i + 5)
        assert len(set(ds.split[rows])) == 1 and len(set(ds.labels[rows])) == 1 and len(set(ds.paths[i:i + 5])) == 1
        if "tiny" in ds.paths[i]:
            continue
        p = ds.images[i].astype(int)
        y0, x0 = p[0, 0, 0], p[0, 0, 1]
        assert np.array_equal(p, _coded(y0 + 48, x0 + 48)[y0:, x0:].astype(int))  # no resize, no shift
    assert sorted(ds.classes) == ["ink", "oil"]


def test_the_bank_is_bounded_and_decoded_once(tmp_path, monkeypatch):
    root = write_shapes(tmp_path / "s", 6, size=64, colour=True)
    monkeypatch.setattr(patches, "PATCH_BANK_BYTES", 6 * 3 * 32 * 32 * 3)
    ds = patches.load_patches(root, 32)
    assert len(ds) == 6 * 3 and ds.images.nbytes <= patches.PATCH_BANK_BYTES
    monkeypatch.setattr(patches, "native_pixels", lambda *a: pytest.fail("decoded again"))
    again = patches.load_patches(root, 32)
    assert isinstance(again.images, np.memmap) and np.array_equal(again.images, ds.images)


def test_a_bank_stops_at_its_deadline_on_a_fair_sample_and_is_not_cached(tmp_path, monkeypatch, capsys):
    root = tmp_path / "art"
    for folder in ("early", "late"):  # a bank cut short in folder order would hold "early" only
        write_shapes(root / folder, 6, size=64, colour=True, seed=len(folder))
    clock = iter(range(1000))
    monkeypatch.setattr(patches.time, "monotonic", lambda: next(clock))  # one tick per file started
    ds = patches.load_patches(root, 32, per_image=2, deadline=5.5)
    assert ds.patches_from == 6 and len(ds) == 12  # the files started by tick 5
    assert "after 6 of 12 images" in capsys.readouterr().err
    assert {p.split("/")[-2] for p in ds.paths} == {"early", "late"}
    assert not ds.skipped  # not reached is not bad
    monkeypatch.setattr(patches.time, "monotonic", lambda: 0)
    full = patches.load_patches(root, 32, per_image=2, deadline=10.0)
    assert full.patches_from == 12  # decoded again, whole: the cut bank was not cached


def test_default_patch_follows_small_images():
    assert patches.default_patch([3000, 4000]) == 256
    assert patches.default_patch([100, 120, 90]) == 96
    assert patches.default_patch([]) == 256


def test_codec_trains_on_patches_by_default_and_image_size_means_thumbnails(tmp_path):
    root = write_shapes(tmp_path / "s", 10, size=40, colour=True)
    kw = dict(epochs=1, progress=False, model_options={"width": 8, "latent_dim": 8})
    res = train(root, tmp_path / "p", "codec", **kw)
    assert res.model_dir.exists()
    from latentfolio.saved import load_model

    m = load_model(res.model_dir)
    assert m.config.image_size == 32  # the images' side (40) to a multiple of 16
    assert m.meta["training"]["config"]["lr"] == pytest.approx(1e-3)
    thumbs = load_model(train(root, tmp_path / "t", "codec", image_size=16, **kw).model_dir)
    assert thumbs.config.image_size == 16
    with pytest.raises(ArgumentError, match="needs a fully convolutional model"):
        train(root, tmp_path / "x", "conv", patch=32, epochs=1)
    with pytest.raises(ArgumentError, match="not both"):
        train(root, tmp_path / "x", "codec", patch=32, image_size=16, epochs=1)
    with pytest.raises(ArgumentError, match="between 16 and 1024"):
        train(root, tmp_path / "x", "codec", patch=8, epochs=1)
