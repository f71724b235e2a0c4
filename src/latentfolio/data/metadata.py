"""What a file carries besides its pixels, and that a written copy must keep: its colour profile
(ICC) and its EXIF (date, camera, place).

A phone photo is usually in Display P3; written without its profile, every viewer shows it as
sRGB, duller. So outputs keep the profile, and a codec that cannot store one (the JPEG XL
plugin writes sRGB only) is used only where the profile says sRGB anyway (:func:`is_srgb`).
An ``.lfz`` file (version 3) carries the profile and EXIF itself. EXIF is kept as read; after ``ImageOps.exif_transpose`` it says the
pixels are upright.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from datetime import datetime, timezone

import numpy as np
from PIL import Image, ImageCms, ImageOps

from .formats import format_of, open_any

ICC_SPACE = {"L": b"GRAY", "LA": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB ", "RGBX": b"RGB ", "CMYK": b"CMYK"}


def profile(img: Image.Image, mode: str | None = None) -> bytes | None:
    """The image's ICC profile where it describes its pixels in ``mode`` (default: the image's
    own; a CMYK profile is no use once the pixels are RGB), else None."""
    icc = img.info.get("icc_profile")
    if not icc or len(icc) < 20:
        return None
    return icc if ICC_SPACE.get(mode or img.mode) == icc[16:20] else None


def keep(img: Image.Image, fmt: str, mode: str | None = None) -> dict:
    """Save keywords that carry ``img``'s profile and EXIF into a ``fmt`` file (Pillow's name) of
    pixels in ``mode`` (default: the image's own); only what that writer keeps."""
    kw = {}
    if (icc := profile(img, mode)) is not None and fmt != "JXL":  # the JPEG XL plugin takes no profile
        kw["icc_profile"] = icc
    if (exif := img.info.get("exif")) and fmt in ("JPEG", "PNG", "WEBP", "AVIF", "JXL", "HEIF", "TIFF"):
        kw["exif"] = exif
    return kw


# 27 colours over the cube, plus dark greys, where sRGB's curve and a plain gamma part most.
_PROBE = np.array([[r, g, b] for r in (0, 128, 255) for g in (0, 128, 255) for b in (0, 128, 255)]
                  + [[v, v, v] for v in (8, 16, 32, 64)], np.uint8).reshape(1, -1, 3)
SRGB_TOLERANCE = 2  # grey levels of 255


@functools.lru_cache(maxsize=64)
def _srgb_profile(icc: bytes) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            t = ImageCms.buildTransform(src, ImageCms.createProfile("sRGB"), "RGB", "RGB",
                                        ImageCms.Intent.RELATIVE_COLORIMETRIC)
            out = np.asarray(ImageCms.applyTransform(Image.fromarray(_PROBE, "RGB"), t), np.int16)
    except (OSError, ValueError, ImageCms.PyCMSError):
        return False  # a profile we cannot read: treated as not sRGB, so it is kept, not dropped
    return int(np.abs(out - _PROBE).max()) <= SRGB_TOLERANCE


def is_srgb(img: Image.Image) -> bool:
    """Whether the pixels mean what they would in sRGB: no profile, a grey one, or an RGB profile
    that maps every probe colour to sRGB within :data:`SRGB_TOLERANCE` (the compact ``c2`` and
    ``sRGB IEC61966-2.1`` do; Display P3, Adobe RGB and a plain 2.2 gamma do not)."""
    icc = profile(img)
    return icc is None or icc[16:20] != b"RGB " or _srgb_profile(bytes(icc))


def needed_profile(img: Image.Image) -> bytes | None:
    """The profile a copy of ``img`` must carry: None where there is none or it is an RGB profile
    that says what no profile says (sRGB, by :func:`is_srgb`); a grey or CMYK one is kept."""
    icc = profile(img)
    return None if icc is None or (icc[16:20] == b"RGB " and is_srgb(img)) else icc


def to_srgb(img: Image.Image) -> Image.Image:
    """An RGB ``img`` with pixels converted to sRGB where its profile says otherwise (what a
    colour-managed viewer shows); unchanged where it is sRGB already or the profile is unreadable."""
    if img.mode != "RGB" or is_srgb(img):
        return img
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = ImageCms.profileToProfile(img, ImageCms.ImageCmsProfile(io.BytesIO(profile(img))),
                                            ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (OSError, ValueError, ImageCms.PyCMSError):
        return img
    out.info = {k: v for k, v in img.info.items() if k not in ("icc_profile", "icc_profile_type")}
    return out


def describe(img: Image.Image) -> str:
    """The profile's name, for messages: 'Display P3'."""
    return profile_name(profile(img) or b"")


def profile_name(icc: bytes) -> str:
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.profile_description.strip()
    except (OSError, ValueError, ImageCms.PyCMSError, AttributeError):
        return "an ICC profile"


EXIF_SHOWN = {0x010F: "make", 0x0110: "model", 0x0132: "date"}  # IFD0 tags; DateTimeOriginal is preferred
EXIF_IFD, DATE_TAKEN = 0x8769, 0x9003


def exif_summary(exif: bytes) -> dict:
    """The camera and the date an EXIF block names, for `info`; {} where it says neither or is damaged."""
    e = Image.Exif()
    try:
        e.load(exif)
        out = {k: str(e[t]).strip("\0 ") for t, k in EXIF_SHOWN.items() if t in e}
        taken = e.get_ifd(EXIF_IFD).get(DATE_TAKEN)
    except Exception:  # a damaged block: Pillow's parser raises many kinds
        return {}
    if taken:
        out["date"] = str(taken).strip("\0 ")
    return {k: v for k, v in out.items() if v}


def upright(img: Image.Image) -> Image.Image:
    """The image as it is shown (``ImageOps.exif_transpose``). An EXIF block that does not parse
    (garbage, a cut file) means no rotation, and is not copied into what is written."""
    bad = (SyntaxError, ValueError, OSError, TypeError, KeyError, IndexError)
    try:
        out = ImageOps.exif_transpose(img)
    except bad:
        img.info.pop("exif", None)
        return img
    if out.info.get("exif"):
        try:  # the encoders parse it again when they write it
            Image.Exif().load(out.info["exif"])
        except bad:
            out.info.pop("exif", None)
    return out


def file_facts(path) -> dict:
    """What a file browser shows of an image file: its kind, size in pixels, colour mode, profile,
    camera and date taken (from EXIF), with the file's size and modification time. The pixels are
    not decoded where Pillow reads the header alone. Raises OSError for a missing file and
    BadImage-like errors (Pillow's, FormatError) for one that is not an image."""
    st = os.stat(path)
    out = {"bytes": st.st_size,
           "modified": datetime.fromtimestamp(st.st_mtime, timezone.utc).astimezone().isoformat(timespec="seconds")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a decompression-bomb note, a truncated EXIF: the facts still stand
        img = open_any(str(path))
        try:
            out |= {"format": format_of(img), "width": img.size[0], "height": img.size[1], "mode": img.mode,
                    "frames": getattr(img, "n_frames", 1)}
            icc = img.info.get("icc_profile")
            out["colour_profile"] = profile_name(icc) if icc else None
            exif = img.info.get("exif")
            if not exif and hasattr(img, "getexif"):
                try:
                    exif = img.getexif().tobytes()
                except Exception:  # a damaged block: no camera, no date
                    exif = None
            out |= exif_summary(exif) if exif else {}
            if img.getexif().get(0x0112) in (5, 6, 7, 8) if hasattr(img, "getexif") else False:
                out["width"], out["height"] = out["height"], out["width"]  # shown turned a quarter
        finally:
            img.close()
    return out
