"""Decode one image file to a fixed-size uint8 array, whatever its format or mode.

Every failure becomes :class:`BadImage` with a short reason, so a folder scan can skip the file
and name it once in a warning.
"""

from __future__ import annotations

import os
import re
import warnings
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..imaging import complexity
from . import metadata
from .formats import FormatError, open_any

# Pillow refuses images over 89 MP as decompression bombs; a scan of 50-400 MP is a real file
# here. 512 MP (1.5 GB as 8-bit RGB) is the default; LATENTFOLIO_MAX_PIXELS sets another.
DEFAULT_MAX_PIXELS = 512_000_000


def _max_pixels_from_env() -> int:
    raw = os.environ.get("LATENTFOLIO_MAX_PIXELS", "")
    try:
        return max(1, int(raw)) if raw.strip() else DEFAULT_MAX_PIXELS
    except ValueError:
        return DEFAULT_MAX_PIXELS


Image.MAX_IMAGE_PIXELS = _max_pixels_from_env()

FITS = ("squash", "crop", "pad")
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


class BadImage(Exception):
    """A file that cannot be used as an image; the message is the reason."""


def normalise_mode(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> L or RGB. Alpha is composited on white (paper), 16-bit scaled to 8."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img)
        if mode == "F" or a.dtype.kind == "f":
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            a = (a - lo) / (hi - lo or 1.0) * 255.0
        elif a.max(initial=0) > 255:  # true 16-bit data (I;16 or a 16-bit PNG opened as I)
            a = a.astype(np.uint32) >> 8
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat = Image.alpha_composite(white, rgba)
        return flat.convert("L" if mode in ("LA", "La") else "RGB")
    if mode == "1":
        return img.convert("L")
    if mode not in ("L", "RGB"):  # P, CMYK, YCbCr, LAB, HSV, RGBX ...
        return img.convert("RGB")
    return img


def upright_pixels(img: Image.Image, mode: str, max_side: int | None = None) -> Image.Image:
    """What a model reads of a file: upright (EXIF), in ``mode`` (L or RGB) by :func:`normalise_mode`,
    and in sRGB's colours where the file's profile is another (a P3 photo's numbers, read as
    they are, would be duller colours than the ones the models learned). ``max_side``: shrunk to
    it first (Lanczos), so fewer pixels are converted."""
    icc = metadata.profile(img, "RGB")  # normalise_mode's RGBA -> RGB drops the image's info
    out = normalise_mode(metadata.upright(img)).convert(mode)
    if max_side is not None:
        out.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if icc is None or mode != "RGB":
        return out
    out.info["icc_profile"] = icc
    return metadata.to_srgb(out)


def _fit(img: Image.Image, size: int, fit: str) -> Image.Image:
    if img.size == (size, size):
        return img
    if fit == "squash":
        return img.resize((size, size), Image.BICUBIC, reducing_gap=3.0)
    if fit == "crop":
        return ImageOps.fit(img, (size, size), Image.BICUBIC)
    if fit == "pad":
        # Pad with the median border colour: white for paper, black for MNIST-like images.
        a = np.asarray(img)
        border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]).reshape(-1, a.shape[2] if a.ndim == 3 else 1)
        colour = tuple(int(v) for v in np.median(border, axis=0))
        return ImageOps.pad(img, (size, size), Image.BICUBIC, color=colour[0] if len(colour) == 1 else colour)
    raise ValueError(f"unknown fit {fit!r}; use one of {', '.join(FITS)}")


def header(path: str) -> tuple[int, int]:
    """(channels, shorter side) of a file, read from its header only (no pixel decode):
    channels is 1 or 3; (0, 0) when unreadable, which the decode pass will name."""
    try:
        with open_any(path) as img:
            return (1 if img.mode in GREY_MODES else 3), min(img.size)
    except Exception:
        return 0, 0


@contextmanager
def _as_bad_image(path):
    """Turn every way Pillow can fail on a user's file into BadImage with a short reason."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is bad, not silently grey
    try:
        yield
    except BadImage:
        raise
    except FormatError as e:
        raise BadImage(str(e)) from None
    except Image.DecompressionBombError as e:
        raise BadImage(_bomb_reason(str(e))) from None
    except UnidentifiedImageError:
        if _is_empty(path):  # a failed copy or download: say so, not "not an image"
            raise BadImage("empty file (0 bytes)") from None
        raise BadImage("not an image (Pillow cannot identify it)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise BadImage(f"corrupt or truncated image: {str(e) or type(e).__name__}") from None


def _bomb_reason(pillow_message: str) -> str:
    """Pillow's "Image size (N pixels) exceeds limit of M pixels, could be decompression bomb
    DOS attack." as the same short line as our own check gives."""
    m = re.search(r"\((\d+) pixels\) exceeds limit", pillow_message)
    if not m or not Image.MAX_IMAGE_PIXELS:
        return f"decompression bomb: {pillow_message}"
    # Pillow names twice the limit (where it stops warning and refuses); the limit is the line
    return f"decompression bomb: {int(m[1]):,} pixels is over the {Image.MAX_IMAGE_PIXELS:,} pixel limit"


def _is_empty(path) -> bool:
    try:
        if hasattr(path, "seek"):  # a file object (index reads each file once, for its hash too)
            return path.seek(0, os.SEEK_END) == 0
        return os.path.getsize(path) == 0
    except (OSError, ValueError):  # gone meanwhile, or closed
        return False


def _check_pixels(img: Image.Image, max_pixels: int | None) -> None:
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    w, h = img.size
    if limit and w * h > limit:
        raise BadImage(f"decompression bomb: {w}x{h} pixels is over the {limit:,} pixel limit")


def _first_frame_note(img: Image.Image, path) -> None:
    """An animation or a multi-page file is read as its first frame: said once, not silently."""
    n = getattr(img, "n_frames", 1)
    if n > 1:
        warnings.warn(f"{path}: {n} frames or pages; only the first is used", stacklevel=4)


def open_image(path, max_pixels: int | None = None) -> Image.Image:
    """Open and fully decode a user's image at its own size and mode, or raise BadImage.

    ``format`` and ``info`` (EXIF, ...) are kept, for tools that write the same kind of file back.
    """
    with _as_bad_image(path):
        img = open_any(path, max_pixels=max_pixels)
        _check_pixels(img, max_pixels)
        _first_frame_note(img, path)
        img.load()
        return img


def decode_image(path, size: int, channels: int, fit: str = "squash",
                 max_pixels: int | None = None, name: str | None = None) -> np.ndarray:
    """Read ``path`` as a (size, size, channels) uint8 array, or raise :class:`BadImage`."""
    return _decode(path, size, channels, fit, max_pixels, name, measure=False)[0]


# The scale complexity is measured at: a file's short side, reduced to 1-2x this (to 2-4x the
# model's size for a model over 256 px, where the file is decoded that large anyway).
COMPLEXITY_SIDE = 512


def decode_measured(path, size: int, channels: int, fit: str = "squash",
                    max_pixels: int | None = None, name: str | None = None) -> tuple[np.ndarray, float]:
    """:func:`decode_image` and the file's complexity (:func:`latentfolio.imaging.complexity`),
    measured with its short side reduced by a whole factor to between 512 and 1024 pixels (or
    at its own size when smaller). At the model's 64 px a page of noise is averaged into a grey
    of middling complexity; at a fixed scale of the file it is the most complex page there is,
    and a blank one the least. A JPEG decodes at that scale in the DCT domain, so the measure
    adds little to the decode (benchmarks/index_photos.py)."""
    return _decode(path, size, channels, fit, max_pixels, name, measure=True)[:2]


def decode_for_index(path, size: int, channels: int, fit: str, also: int, max_pixels: int | None = None,
                     name: str | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """:func:`decode_measured`, and from the same decoded pixels the (also, also, channels) centre
    crop a content encoder takes (short side ``also``): a file is decoded once for both."""
    return _decode(path, size, channels, fit, max_pixels, name, measure=True, also=also)


def _decode(path, size, channels, fit, max_pixels, name, measure, also: int | None = None):
    mode = "L" if channels == 1 else "RGB"
    at = max(size, COMPLEXITY_SIDE // 2) if measure else size
    at = max(at, also or 0)
    extra = None
    cx = float("nan")
    with _as_bad_image(path), open_any(path, name, max_pixels, small=2 * at) as img:
        _check_pixels(img, max_pixels)
        _first_frame_note(img, name or path)
        # JPEG decodes at 1/2, 1/4 or 1/8 scale in the DCT domain for free: big photos get fast
        img.draft(mode, (at * 2, at * 2))
        img.load()
        img = _reduce(img, at)
        img = upright_pixels(img, mode)
        if also:
            extra = np.asarray(_fit(_reduce(img, also), also, "crop"), np.uint8).reshape(also, also, channels)
        if measure:
            cx = complexity(np.asarray(img))
            img = _reduce(img, size)
        img = _fit(img, size, fit)
        a = np.asarray(img, dtype=np.uint8)
    return a.reshape(size, size, channels), cx, extra


def decode_preview(path, max_side: int, max_pixels: int | None = None) -> Image.Image:
    """An RGB picture of ``path`` whose longer side is at most ``max_side``, aspect kept (the
    gallery's thumbnails and previews) in sRGB, as a colour-managed viewer shows it, or raise
    :class:`BadImage`. Also returns the file's own size as ``img.info["source_size"]``."""
    with _as_bad_image(path), open_any(path, None, max_pixels, small=max_side) as img:
        _check_pixels(img, max_pixels)
        size = img.size
        img.draft("RGB", (max_side, max_side))
        img.load()
        img = _reduce(img, max_side)
        img = upright_pixels(img, "RGB", max_side)
    img.info["source_size"] = size
    return img


def _reduce(img: Image.Image, size: int) -> Image.Image:
    """Shrink a large image by a whole factor with Pillow's box ``reduce`` (fast, in C), leaving at
    least twice the target size for the final filtered resize."""
    factor = min(img.size) // (2 * size)
    return img.reduce(factor) if factor >= 2 and img.mode in ("L", "RGB", "RGBA", "LA", "CMYK", "RGBX") else img


def resize_array(images: np.ndarray, size: int, channels: int, fit: str = "squash") -> np.ndarray:
    """Resize/convert a (N, H, W, C) uint8 stack with the same rules as file decoding."""
    n, h, w, c = images.shape
    if h == w == size and c == channels:
        return images
    out = np.empty((n, size, size, channels), dtype=np.uint8)
    for i in range(n):
        img = Image.fromarray(images[i, :, :, 0] if c == 1 else images[i], "L" if c == 1 else "RGB")
        img = _fit(img.convert("L" if channels == 1 else "RGB"), size, fit)
        out[i] = np.asarray(img).reshape(size, size, channels)
    return out


def each_image(jobs: list, label: str, progress: bool | None = None, skipped: list | None = None):
    """Yield ``(job, image)`` for each job (a path, or a tuple whose first item is one) whose file
    opens, with a progress bar on a terminal. A bad file is warned about once, named with its
    reason, appended to ``skipped`` and passed over."""
    import sys
    import warnings

    from rich.progress import Progress

    show = sys.stderr.isatty() if progress is None else progress
    with Progress(transient=True, disable=not show) as prog:
        task = prog.add_task(label, total=len(jobs))
        for job in jobs:
            prog.advance(task)
            path = job[0] if isinstance(job, tuple) else job
            try:
                img = open_image(path)
            except BadImage as e:
                warnings.warn(f"skipped {path}: {e}", stacklevel=3)
                if skipped is not None:
                    skipped.append(str(path))
                continue
            yield job, img
