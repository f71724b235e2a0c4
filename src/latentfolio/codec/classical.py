"""The classical codecs a collection is also stored in: AVIF, WebP and JPEG XL through Pillow and
its plugins, and JPEG XL's lossless transcoding of JPEG files (restored bit for bit).

Their files are the formats' own, so any viewer opens them; ``kind_of`` tells them, and
``.lfz``, apart by their first bytes.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field

import pillow_jxl
from PIL import Image

from ..data import formats  # noqa: F401  (registers the JPEG XL and HEIF plugins with Pillow)
from ..data import metadata
from ..errors import LatentfolioError
from .format import MAGIC as LFZ_MAGIC

MODES = ("L", "RGB", "RGBA")  # what every classical codec here writes and reads back


@dataclass(frozen=True)
class Classical:
    """One lossy codec: a Pillow format with a 1..99 quality scale and its speed settings."""

    name: str
    pil_format: str
    suffix: str
    options: dict = field(default_factory=dict)

    def encode(self, img: Image.Image, quality: int) -> bytes:
        """The file, with the image's colour profile and EXIF where the format holds them."""
        buf = io.BytesIO()
        opts = self.options if img.mode != "L" else {k: v for k, v in self.options.items() if k != "subsampling"}
        img.save(buf, format=self.pil_format, quality=int(quality), **opts,  # grey AVIF stays 4:0:0 grey
                 **metadata.keep(img, self.pil_format))
        return buf.getvalue()

    def keeps_colour(self, img: Image.Image) -> bool:
        """Whether a file of this codec shows ``img`` in its own colours: the JPEG XL plugin writes
        no profile, so it takes only sRGB images."""
        return self.pil_format != "JXL" or metadata.is_srgb(img)


# speed 6 (AVIF) and effort 7 (JPEG XL) are the libraries' defaults; WebP's method 4 is Pillow's.
# AVIF keeps full-resolution colour (4:4:4): at equal RGB PSNR it took fewer bytes than 4:2:0 on
# Kodak at the qualities people keep, and 4:2:0 cannot reach the highest (docs/experiments.md).
CODECS = {
    "avif": Classical("avif", "AVIF", ".avif", {"speed": 6, "subsampling": "4:4:4"}),
    "webp": Classical("webp", "WEBP", ".webp", {"method": 4}),
    "jxl": Classical("jxl", "JXL", ".jxl", {"effort": 7}),
}
LOSSLESS = "jxl-lossless"  # the fallback that meets any target
JPEG_JXL = "jpeg-jxl"  # a JPEG file recompressed losslessly: its own bytes come back
SUFFIX = {**{c.name: c.suffix for c in CODECS.values()}, LOSSLESS: ".jxl", JPEG_JXL: ".jxl", "lfz": ".lfz"}


WEBP_MAX_SIDE = 16383


def lossless(img: Image.Image) -> tuple[str, bytes]:
    """(codec, file) holding ``img`` exactly: JPEG XL, or for an image in another colour space than
    sRGB, lossless WebP, which keeps its profile (JPEG XL, past WebP's 16383 px, with a warning)."""
    buf = io.BytesIO()
    if metadata.is_srgb(img) or max(img.size) > WEBP_MAX_SIDE:
        if not metadata.is_srgb(img):
            warnings.warn(f"an image of {img.width} x {img.height} px in {metadata.describe(img)} is kept "
                          "losslessly as JPEG XL without its colour profile (too big for WebP)", stacklevel=2)
        img.save(buf, format="JXL", lossless=True, effort=7, **metadata.keep(img, "JXL"))
        return LOSSLESS, buf.getvalue()
    img.save(buf, format="WEBP", lossless=True, quality=100, method=4, **metadata.keep(img, "WEBP"))
    return "webp", buf.getvalue()


def transcode_jpeg(raw: bytes) -> bytes | None:
    """A JPEG file's bytes -> a JPEG XL file that restores them exactly (about 20% smaller), or
    None where libjxl cannot (CMYK, arithmetic coding, a broken stream)."""
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.format != "JPEG" or im.mode not in ("L", "RGB"):
                return None
            w, h, mode = im.width, im.height, im.mode
        enc = pillow_jxl.Encoder(mode=mode, lossless=True, quality=100, effort=7)
        blob = enc(raw, w, h, jpeg_encode=True)
    except Exception:  # libjxl's refusals arrive as plain exceptions of several kinds
        return None
    return blob if holds_jpeg(blob) and restore_jpeg(blob) == raw else None


def _boxes(blob: bytes):
    """The top-level boxes of a JPEG XL container: (type, start, end)."""
    if blob[4:8] != b"JXL ":
        return
    i = 0
    while i + 8 <= len(blob):
        size, kind = struct.unpack(">I4s", blob[i:i + 8])
        head = 8
        if size == 1 and i + 16 <= len(blob):
            size, head = struct.unpack(">Q", blob[i + 8:i + 16])[0], 16
        elif size == 0:
            size = len(blob) - i
        if size < head:
            return
        yield kind, i + head, i + size
        i += size


def holds_jpeg(blob: bytes) -> bool:
    """Whether a JPEG XL file carries the reconstruction data of a JPEG (its ``jbrd`` box)."""
    return any(kind == b"jbrd" for kind, _, _ in _boxes(blob))


def restore_jpeg(blob: bytes, name: str = "file") -> bytes:
    """The original JPEG file's bytes from a transcoded JPEG XL file."""
    try:
        is_jpeg, _info, data, _icc, _boxes_ = pillow_jxl.Decoder()(blob)
    except Exception as e:
        raise LatentfolioError(f"{name}: corrupt JPEG XL file ({e})") from None
    if not is_jpeg:
        raise LatentfolioError(f"{name}: this JPEG XL file holds no JPEG to restore")
    return bytes(data)


def kind_of(blob: bytes) -> str | None:
    """Which codec wrote these bytes: lfz, avif, webp, jxl, jpeg-jxl; None if none of them."""
    if blob[:4] == LFZ_MAGIC:
        return "lfz"
    if blob[:4] == b"RIFF" and blob[8:12] == b"WEBP":
        return "webp"
    if blob[4:8] == b"ftyp" and blob[8:12] in (b"avif", b"avis"):
        return "avif"
    if blob[:2] == b"\xff\x0a" or blob[4:8] == b"JXL ":
        return JPEG_JXL if holds_jpeg(blob) else "jxl"
    return None


def decode(blob: bytes, name: str = "file") -> Image.Image:
    """A classical file's bytes -> its image (L, RGB or RGBA), every failure one line."""
    try:
        with Image.open(io.BytesIO(blob)) as im:
            im.load()
            return im if im.mode in MODES else im.convert("RGBA" if "A" in im.mode else "RGB")
    except Exception as e:  # truncated or corrupt: Pillow and the plugins raise several kinds
        raise LatentfolioError(f"{name}: corrupt or truncated {kind_of(blob) or 'image'} file ({e})") from None


def coded_mode(img: Image.Image) -> Image.Image | None:
    """The image in a mode the classical codecs hold exactly (L, RGB, RGBA); None for 16-bit and
    floating-point images, which they would cut to 8 bits."""
    if img.mode in MODES:
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return None
    has_alpha = "A" in img.mode or "a" in img.mode or (img.mode == "P" and "transparency" in img.info)
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGBA" if has_alpha else "RGB")
