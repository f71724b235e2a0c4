"""Colour profiles and EXIF: every image latentfolio writes back keeps them, and no file shows a
picture in other colours than its original (a Display P3 phone photo stays P3)."""

from __future__ import annotations

import functools
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import latentfolio as lf
from latentfolio.data import metadata

FIXTURES = Path(__file__).parents[1] / "fixtures"


@functools.cache  # lcms stamps a new profile with the time: one of each, for comparing
def _srgb() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@functools.cache
def _wide() -> bytes:
    """An RGB profile that is not sRGB: sRGB's with the red and green primaries swapped, so the
    same numbers mean other colours (as P3's or Adobe RGB's do, more mildly)."""
    icc = bytearray(_srgb())
    n = struct.unpack(">I", icc[128:132])[0]
    tags = {bytes(icc[132 + 12 * i:136 + 12 * i]): struct.unpack(">II", icc[136 + 12 * i:144 + 12 * i]) for i in range(n)}
    (r, rs), (g, gs) = tags[b"rXYZ"], tags[b"gXYZ"]
    icc[r:r + rs], icc[g:g + gs] = bytes(icc[g:g + gs]), bytes(icc[r:r + rs])
    return bytes(icc)


def _photo(seed: int = 0, w: int = 96, h: int = 72) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    a = np.stack([np.sin(6 * x + c) * np.cos(5 * y - c) for c in (0.0, 1.3, 2.6)], -1) * 90 + 128
    return Image.fromarray(np.clip(a + rng.normal(0, 2, a.shape), 0, 255).astype(np.uint8))


def _exif() -> bytes:
    e = Image.Exif()
    e[0x0132] = "2026:12:06 10:00:00"  # DateTime
    e[0x010F] = "latentfolio test camera"  # Make
    return e.tobytes()


def test_srgb_profiles_are_told_from_others():
    img = _photo()
    assert metadata.is_srgb(img)  # no profile: sRGB by convention
    img.info["icc_profile"] = _srgb()
    assert metadata.is_srgb(img)
    img.info["icc_profile"] = _wide()
    assert not metadata.is_srgb(img) and metadata.profile(img) == _wide()
    img.info["icc_profile"] = b"\0" * 16 + b"RGB " + b"\0" * 200  # unreadable: kept, as if not sRGB
    assert not metadata.is_srgb(img)
    assert metadata.profile(img.convert("L")) is None  # an RGB profile does not describe grey pixels


def test_target_compression_keeps_the_profile_and_exif_and_never_uses_a_codec_that_drops_it(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _photo(1).save(src / "wide.png", icc_profile=_wide(), exif=_exif())
    _photo(2).save(src / "plain.png", icc_profile=_srgb())
    r = lf.compress(None, [src], tmp_path / "out", target_psnr=36)
    rows = {row["input"].rsplit("/", 1)[1]: row for row in r["files"]}
    assert rows["wide.png"]["sizes"]["jxl"] is None  # JPEG XL cannot carry the profile here
    assert rows["wide.png"]["codec"] in ("avif", "webp")
    coded = Image.open(rows["wide.png"]["output"])
    assert coded.info.get("icc_profile") == _wide() and coded.getexif().get(0x0132) == "2026:12:06 10:00:00"
    back = lf.decompress([tmp_path / "out"], tmp_path / "back")
    for w in back["written"]:
        have = Image.open(w["output"])
        if w["output"].endswith("wide.png"):
            assert have.info.get("icc_profile") == _wide() and have.getexif().get(0x010F) == "latentfolio test camera"
    # past every lossy codec's reach, the lossless fallback keeps the profile too (WebP, not JPEG XL)
    r = lf.compress(None, [src / "wide.png"], tmp_path / "exact", target_psnr=99, codecs=["webp"])
    assert r["files"][0]["codec"] == "webp" and Image.open(r["files"][0]["output"]).info["icc_profile"] == _wide()
    assert np.array_equal(np.asarray(Image.open(r["files"][0]["output"]).convert("RGB")), np.asarray(_photo(1)))


def test_denoise_keeps_the_profile_and_exif(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _photo(3).save(src / "p3.jpg", icc_profile=_wide(), exif=_exif(), quality=95)
    _photo(4).save(src / "wide.jxl", exif=_exif())  # sRGB (the plugin writes no profile): stays JPEG XL
    r = lf.denoise(FIXTURES / "denoiser-scan", [src], tmp_path / "out")
    assert r["written_as_png"] == {}
    out = Image.open(tmp_path / "out" / "p3.jpg")
    assert out.info.get("icc_profile") == _wide() and out.getexif().get(0x0132) == "2026:12:06 10:00:00"
    assert Image.open(tmp_path / "out" / "wide.jxl").format == "JXL"


def test_an_lfz_file_carries_the_profile_and_exif_and_an_srgb_one_costs_nothing(tmp_path):
    from latentfolio.codec.format import parse

    src = tmp_path / "in"
    src.mkdir()
    _photo(5, 64, 64).save(src / "wide.png", icc_profile=_wide(), exif=_exif())
    _photo(6, 64, 64).save(src / "plain.png", icc_profile=_srgb())
    _photo(6, 64, 64).save(src / "bare.png")
    for out in (tmp_path / "lfz", tmp_path / "all.lfa"):
        lf.compress(FIXTURES / "v1" / "codec", [src], out)
        back = lf.decompress([out], tmp_path / ("back-" + out.name))
        got = {Path(w["output"]).name: Image.open(w["output"]) for w in back["written"]}
        assert got["wide.png"].info.get("icc_profile") == _wide()
        assert got["wide.png"].getexif().get(0x010F) == "latentfolio test camera"
        assert "icc_profile" not in got["plain.png"].info  # sRGB: untagged means the same colours
    wide, plain, bare = (parse((tmp_path / "lfz" / f"{n}.png.lfz").read_bytes()) for n in ("wide", "plain", "bare"))
    assert (wide.version, plain.version) == (3, 2) and wide.icc == _wide()
    assert (tmp_path / "lfz" / "plain.png.lfz").read_bytes() == (tmp_path / "lfz" / "bare.png.lfz").read_bytes()


def test_model_inputs_are_read_in_srgb(tmp_path):
    from latentfolio.data.decode import decode_image
    from latentfolio.data.patches import native_pixels

    red = Image.new("RGB", (40, 40), (200, 30, 30))
    red.save(tmp_path / "srgb.png", icc_profile=_srgb())
    red.save(tmp_path / "wide.png", icc_profile=_wide())
    red.putalpha(255)
    red.save(tmp_path / "wide-alpha.png", icc_profile=_wide())
    assert np.abs(decode_image(tmp_path / "srgb.png", 16, 3)[0, 0].astype(int) - (200, 30, 30)).max() <= 2
    for name in ("wide.png", "wide-alpha.png"):
        for a in (decode_image(tmp_path / name, 16, 3)[0, 0], native_pixels(str(tmp_path / name), 3)[0, 0]):
            assert int(a[1]) > int(a[0]) + 100, name  # its red numbers mean green, and the model sees green


def test_an_image_whose_bytes_hold_a_profile_for_other_pixels_gets_none():
    img = _photo()
    buf = io.BytesIO()
    img.convert("CMYK").save(buf, format="JPEG")
    cmyk = Image.open(io.BytesIO(buf.getvalue()))
    cmyk.info["icc_profile"] = b"\0" * 16 + b"CMYK" + b"\0" * 200
    assert metadata.profile(cmyk) is not None and metadata.profile(cmyk.convert("RGB")) is None
    assert metadata.keep(cmyk, "PNG", "RGB") == {}


def test_gallery_pictures_show_the_colours_a_colour_managed_viewer_shows(tmp_path):
    from latentfolio.data.decode import decode_preview

    red = Image.new("RGB", (64, 48), (200, 30, 30))
    red.save(tmp_path / "srgb.png", icc_profile=_srgb())
    red.save(tmp_path / "wide.png", icc_profile=_wide())  # the same numbers, in swapped primaries
    same = np.asarray(decode_preview(tmp_path / "srgb.png", 32), int)[0, 0]
    shown = np.asarray(decode_preview(tmp_path / "wide.png", 32), int)[0, 0]
    assert np.abs(same - (200, 30, 30)).max() <= 2
    assert shown[1] > shown[0] + 100  # its red numbers mean green, and the thumbnail is green
    assert "icc_profile" not in decode_preview(tmp_path / "wide.png", 32).info  # its pixels are sRGB now
    red.putalpha(255)
    red.save(tmp_path / "wide-alpha.png", icc_profile=_wide())  # composited on paper: the profile still applies
    assert np.asarray(decode_preview(tmp_path / "wide-alpha.png", 32), int)[0, 0, 1] > 100
