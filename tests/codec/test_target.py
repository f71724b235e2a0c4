"""compress --target-psnr: each image in the fewest bytes at the quality asked, restorable."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

import latentfolio as lf
from latentfolio.metrics import image_psnr
from latentfolio.codec import target as tg
from latentfolio.codec.archive import Archive
from latentfolio.codec.classical import kind_of
from latentfolio.errors import LatentfolioError

from conftest import cli


def _photo(w: int, h: int, seed: int = 0) -> np.ndarray:
    """Smooth colour fields, edges and a little grain: compresses like a photo, not like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    a = np.stack([np.sin(6 * x + c) * np.cos(5 * y - c) for c in (0.0, 1.3, 2.6)], -1) * 90 + 128
    a[h // 3: h // 2, w // 4: w // 2] = (30, 200, 90)
    return np.clip(a + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8)


def _psnr(a, b) -> float:
    return image_psnr(np.asarray(a), np.asarray(b))


@pytest.fixture
def collection(tmp_path):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(_photo(160, 120, 1)).save(d / "a.png")
    Image.fromarray(_photo(120, 160, 2)).convert("L").save(d / "sub" / "grey.png")
    rgba = Image.fromarray(_photo(96, 96, 3)).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.arange(96, dtype=np.uint8) * 2, (96, 1))))
    rgba.save(d / "alpha.png")
    Image.fromarray(_photo(200, 150, 4)).save(d / "photo.jpg", quality=92)
    return d


@pytest.mark.parametrize("k", [0, 1, 7, 50, 98, 99])
def test_the_search_finds_the_lowest_rung_that_meets_from_any_start(k):
    lad = tg.Ladder("x", list(range(99)), lambda img, q: bytes([q]), lambda b: b)

    class AtLeast:
        value = 0.5

        def score(self, ref, b):
            return float(b[0] >= k)

    for start in (None, 0, 3, 49, 97, 98):
        got = tg.lowest(None, None, lad, AtLeast(), start)
        assert (None if got is None else got.rung) == (k if k <= 98 else None), start


def test_every_image_meets_the_target_and_decodes_back(collection, tmp_path):
    r = lf.compress(None, [collection], tmp_path / "out", target_psnr=36)
    assert r["images"] == 4 and sum(r["won"].values()) == 4
    for row in r["files"]:
        assert row["psnr"] >= 36 and row["bytes"] == len(open(row["output"], "rb").read())
        assert row["bytes"] <= min(v for v in row["sizes"].values() if v is not None)
        assert kind_of(open(row["output"], "rb").read()) in ("avif", "webp", "jxl", "jpeg-jxl")
    back = lf.decompress([tmp_path / "out"], tmp_path / "back")
    outs = {w["output"].split("/back/")[1]: w for w in back["written"]}
    src = {"a.png": "a.png", "sub/grey.png": "sub/grey.png", "alpha.png": "alpha.png", "photo.jpg": "photo.png"}
    for name, got in src.items():
        want = Image.open(collection / name)
        have = Image.open(tmp_path / "back" / outs[got]["output"].split("/back/")[1])
        mode = "RGBA" if want.mode == "RGBA" else ("L" if want.mode == "L" else "RGB")
        assert have.size == want.size
        assert _psnr(want.convert(mode), have.convert(mode)) >= 36 - 1e-6, name


def test_a_jpeg_kept_as_a_transcode_comes_back_bit_for_bit_from_an_archive(collection, tmp_path):
    arc = tmp_path / "all.lfa"
    r = lf.compress(None, [collection / "photo.jpg", collection / "a.png"], arc, target_psnr=60,
                    codecs=["webp", "jpeg-jxl"])
    assert r["won"] == {"jpeg-jxl": 1, "jxl-lossless": 1}  # WebP never reaches 60 dB
    a = Archive(arc)
    assert {a.codec(n) for n in a.names()} == {"jpeg-jxl", "jxl-lossless"}
    lf.decompress([arc], tmp_path / "back")
    assert (tmp_path / "back" / "photo.jpg").read_bytes() == (collection / "photo.jpg").read_bytes()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "back" / "a.png")), np.asarray(Image.open(collection / "a.png")))


def test_pruning_and_warm_starts_change_no_choice():
    lads = tg.classical_ladders(["webp", "jxl", "avif"])
    starts: dict = {}
    for seed in (5, 6):
        img = Image.fromarray(_photo(300, 200, seed))
        fast, fast_sizes = tg.choose(img, lads, tg.Target("psnr", 38), starts=starts)
        full, full_sizes = tg.choose(img, lads, tg.Target("psnr", 38), prune=False)
        assert fast.codec == full.codec and fast.blob == full.blob and fast.score >= 38
        assert min(v for v in full_sizes.values() if v is not None) == len(full.blob)
    assert "avif" in starts and set(starts) <= {"webp", "jxl", "avif"}


def test_an_ssim_target_holds(collection, tmp_path):
    r = lf.compress(None, [collection / "a.png"], tmp_path / "o", target_ssim=0.95, codecs=["webp"])
    back = lf.decompress([tmp_path / "o"], tmp_path / "b")
    img = np.asarray(Image.open(back["written"][0]["output"]).convert("RGB"))
    assert r["files"][0]["ssim"] >= 0.95
    assert tg.Target("ssim", 0.95).score(np.asarray(Image.open(collection / "a.png")), Image.fromarray(img)) >= 0.95


def test_resume_keeps_finished_outputs_and_nothing_is_overwritten(collection, tmp_path):
    out = tmp_path / "out"
    lf.compress(None, [collection], out, target_psnr=34, codecs=["webp"])
    with pytest.raises(LatentfolioError, match="already exists"):
        lf.compress(None, [collection], out, target_psnr=34, codecs=["webp"])
    (out / "a.png.webp").unlink()
    r = lf.compress(None, [collection], out, target_psnr=34, codecs=["webp"], resume=True)
    assert r["kept"] == 3 and r["images"] == 1


def test_a_damaged_entry_is_named_and_the_rest_decode(collection, tmp_path):
    out = tmp_path / "out"
    lf.compress(None, [collection], out, target_psnr=34, codecs=["avif"])
    f = out / "a.png.avif"
    f.write_bytes(f.read_bytes()[:200])
    with pytest.warns(UserWarning, match="a.png.avif"):
        r = lf.decompress([out], tmp_path / "back")
    assert len(r["written"]) == 3 and r["failed"] == [str(f)]


def test_the_cli_needs_no_model_with_a_target_and_says_what_won(collection, tmp_path, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "compress", collection, "--out", tmp_path / "o",
                         "--target-psnr", "35", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["images"] == 4 and set(r["won"]) <= {"avif", "webp", "jxl", "jpeg-jxl"}
    code, out, err = cli(capsys, monkeypatch, "compress", collection, "--out", tmp_path / "p")
    assert code != 0 and "no codec model given" in err and "Traceback" not in err
    code, out, err = cli(capsys, monkeypatch, "compress", collection, "--out", tmp_path / "p",
                         "--target-psnr", "35", "--codecs", "avif,gif")
    assert code != 0 and "choose from" in err and "Traceback" not in err


def test_grey_stays_grey_through_avif(tmp_path):
    img = Image.fromarray(_photo(64, 64)).convert("L")
    c, _ = tg.choose(img, tg.classical_ladders(["avif"]), tg.Target("psnr", 35))
    assert Image.open(io.BytesIO(c.blob)).mode == "L"


def test_force_leaves_one_file_per_image_when_the_winner_changes(collection, tmp_path):
    out = tmp_path / "out"
    lf.compress(None, [collection / "a.png"], out, target_psnr=34, codecs=["webp"])
    lf.compress(None, [collection / "a.png"], out, target_psnr=34, codecs=["avif"], force=True)
    assert sorted(p.name for p in out.iterdir()) == ["a.png.avif"]
