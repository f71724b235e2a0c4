"""Every kind of file the reference user keeps: each written here by the test itself, then the
real files from real applications in ../shared/data/formats/ (skipped when absent)."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentfolio.data.decode import BadImage, decode_image, header, open_image
from latentfolio.data.formats import format_of

from conftest import SHARED

FORMATS = SHARED / "formats"


def picture(w: int = 96, h: int = 64) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)], -1).astype(np.uint8)
    return Image.fromarray(a, "RGB")


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_zip(path: Path, mime: str, members: dict[str, bytes], mimetype_first: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        if mimetype_first:
            z.writestr("mimetype", mime, compress_type=zipfile.ZIP_STORED)
        for name, data in members.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        if not mimetype_first:
            z.writestr("mimetype", mime)
    return path


def psnr(a, b) -> float:
    from latentfolio.metrics import image_psnr

    return image_psnr(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("mime, kind, first", [("image/openraster", "ORA", True),
                                               ("application/x-krita", "KRA", False)])
def test_ora_and_kra_read_their_merged_image(tmp_path, mime, kind, first):
    pic = picture()
    f = write_zip(tmp_path / f"p.{kind.lower()}", mime, {"mergedimage.png": png_bytes(pic), "stack.xml": b"<image/>"},
                  mimetype_first=first)
    img = open_image(f)
    assert format_of(img) == kind and np.array_equal(np.asarray(img.convert("RGB")), np.asarray(pic))
    assert header(str(f)) == (3, 64)
    assert decode_image(str(f), 16, 3).shape == (16, 16, 3)


def test_an_ora_without_merged_image_is_flattened_from_its_layers(tmp_path):
    red = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    half_blue = Image.new("RGBA", (4, 4), (0, 0, 255, 255))
    stack = (b'<image w="8" h="8"><stack>'
             b'<layer src="data/top.png" x="4" y="0" opacity="0.5"/>'
             b'<layer src="data/hidden.png" visibility="hidden"/>'
             b'<layer src="data/bg.png"/></stack></image>')
    f = write_zip(tmp_path / "layers.ora", "image/openraster",
                  {"stack.xml": stack, "data/bg.png": png_bytes(red), "data/top.png": png_bytes(half_blue),
                   "data/hidden.png": png_bytes(Image.new("RGBA", (8, 8), (0, 255, 0, 255)))})
    a = np.asarray(open_image(f))
    assert tuple(a[0, 0]) == (255, 0, 0, 255)  # the background alone
    assert abs(int(a[0, 5, 0]) - 128) <= 1 and abs(int(a[0, 5, 2]) - 127) <= 1  # blue at half opacity on red
    assert tuple(a[6, 6]) == (255, 0, 0, 255)  # below the offset layer
    assert a[..., 1].max() == 0  # the hidden layer is not drawn


def test_a_kra_without_merged_image_and_an_inflate_bomb_are_named(tmp_path, monkeypatch):
    f = write_zip(tmp_path / "x.kra", "application/x-krita", {"maindoc.xml": b"<doc/>"})
    with pytest.raises(BadImage, match="KRA file without a merged image"):
        open_image(f)
    big = write_zip(tmp_path / "bomb.ora", "image/openraster", {"mergedimage.png": b"\0" * 2_000_000})
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(BadImage, match="inflates to 2,000,000 bytes"):
        open_image(big)


def test_psd_composite_is_read(tmp_path):
    from psd_tools import PSDImage

    pic = picture()
    f = tmp_path / "p.psd"
    PSDImage.frompil(pic).save(f)
    img = open_image(f)
    assert format_of(img) == "PSD" and img.size == (96, 64)
    assert psnr(img.convert("RGB"), pic) > 45


@pytest.mark.parametrize("fmt, suffix", [("HEIF", ".heic"), ("JXL", ".jxl"), ("AVIF", ".avif")])
def test_phone_and_modern_formats_are_read(tmp_path, fmt, suffix):
    pic = picture(128, 96)
    f = tmp_path / f"p{suffix}"
    pic.save(f, format=fmt, quality=95)
    img = open_image(f)
    assert img.size == (128, 96) and psnr(img.convert("RGB"), pic) > 30
    assert decode_image(str(f), 32, 3).shape == (32, 32, 3)


def test_raw_without_the_extra_names_it(tmp_path, monkeypatch):
    f = tmp_path / "IMG_0001.CR2"
    f.write_bytes(b"II*\0" + b"\0" * 100)
    monkeypatch.setitem(sys.modules, "rawpy", None)  # as if latentfolio[raw] were not installed
    with pytest.raises(BadImage, match=r"needs latentfolio\[raw\]"):
        open_image(f)


def test_raw_that_cannot_be_developed_is_named(tmp_path):
    pytest.importorskip("rawpy")
    f = tmp_path / "broken.nef"
    f.write_bytes(b"II*\0" + b"\1" * 300)
    with pytest.raises(BadImage, match="camera RAW file that cannot be developed") as e:
        open_image(f)  # a Path, as commands pass it: LibRaw itself must have tried the file
    assert "attribute" not in str(e.value)


def test_known_formats_that_are_not_read_say_what_to_do(tmp_path):
    f = tmp_path / "art.xcf"
    f.write_bytes(b"gimp xcf v011\0" + b"\0" * 64)
    with pytest.raises(BadImage, match="GIMP XCF.*export it as PNG"):
        open_image(f)


def test_a_big_jpeg_decodes_small_through_the_dct(tmp_path):
    pic = picture(4000, 3000)
    f = tmp_path / "big.jpg"
    pic.save(f, quality=92)
    a = decode_image(str(f), 64, 3)
    ref = np.asarray(pic.resize((64, 64), Image.BICUBIC))
    assert psnr(a, ref) > 35  # the draft (1/8 scale) + reduce path matches a full decode


# --- the real files, written by real applications ---------------------------------------------------

needs_formats = pytest.mark.skipif(not FORMATS.is_dir(), reason="no ../shared/data/formats")


@needs_formats
@pytest.mark.parametrize("name", ["layeredimage_layered_image.psd", "layeredimage_layered_image.ora"])
def test_layered_paintings_match_their_expected_flattening(name):
    expected = Image.open(FORMATS / "layeredimage_layered_image_expected.png").convert("RGBA")
    white = Image.new("RGBA", expected.size, "white")
    flat = Image.alpha_composite(white, expected).convert("RGB")
    img = open_image(FORMATS / name)
    got = Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    assert psnr(got, flat) > 30


@needs_formats
@pytest.mark.parametrize("name", ["jxlconf_bicycles", "jxlconf_lz77_flower"])
def test_jpeg_xl_conformance_files_match_their_reference(name):
    got = open_image(FORMATS / f"{name}.jxl").convert("RGB")
    ref = Image.open(FORMATS / f"{name}_ref.png").convert("RGB")
    assert psnr(got, ref) > 40


@needs_formats
def test_every_real_file_is_read_or_named():
    read, named = {}, {}
    for f in sorted(FORMATS.iterdir()):
        if f.name == "SOURCE.md":
            continue
        try:
            read[f.name] = decode_image(str(f), 32, 3)
        except BadImage as e:
            named[f.name] = str(e)
    assert {"immich_IMG_2682.heic", "immich_8bit-sRGB.jxl", "immich_8bit-sRGB.avif", "mypaint_bigimage.ora",
            "mypaint_smallimage.ora", "mypaint_fill_outlines.ora", "psdtools_group.psd"} <= set(read)
    assert all(a.std() > 0 for k, a in read.items() if k != "exiftool_Photoshop.psd")  # no blank pictures
    assert "GIMP XCF" in named["exiftool_GIMP.xcf"] and "Paint.NET" in named["layeredimage_layered_image.pdn"]
    if pytest.importorskip("rawpy"):
        assert "without pixel data" in named["exiftool_DNG.dng"]  # exiftool's DNG holds metadata only
        with pytest.raises(BadImage, match="without pixel data"):
            open_image(FORMATS / "exiftool_DNG.dng")  # a Path, as compress and denoise open it


def test_the_pixel_limit_is_512_megapixels_unless_the_environment_says(monkeypatch):
    from latentfolio.data import decode

    assert decode._max_pixels_from_env() == 512_000_000  # a 20,000 x 20,000 scan is a real file
    monkeypatch.setenv("LATENTFOLIO_MAX_PIXELS", "1000")
    assert decode._max_pixels_from_env() == 1000
    monkeypatch.setenv("LATENTFOLIO_MAX_PIXELS", "lots")
    assert decode._max_pixels_from_env() == 512_000_000
