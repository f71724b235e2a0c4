"""Image helpers written with Pillow and NumPy (no torchvision): grids, captions, PNG output.

Arrays here are uint8 images shaped (N, H, W, C) with C in {1, 3}.
"""

from __future__ import annotations

import functools
import io
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import _io
from .errors import LatentfolioError


def to_pil(img: np.ndarray) -> Image.Image:
    """(H, W, C) uint8 -> a Pillow image in mode L or RGB."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(img), mode="L" if img.ndim == 2 else "RGB")


def make_grid(
    images: np.ndarray,
    ncol: int,
    pad: int = 2,
    scale: int = 1,
    captions: list[str] | None = None,
    background: int = 255,
) -> Image.Image:
    """Tile (N, H, W, C) uint8 images row-major into one image, optionally captioned.

    ``scale`` enlarges small images (28 px) with nearest-neighbour so pixels stay crisp.
    """
    n, h, w, c = images.shape
    ncol = max(1, min(ncol, n))
    nrow = (n + ncol - 1) // ncol
    h2, w2 = h * scale, w * scale
    cap_h = 12 if captions else 0
    grid = Image.new("RGB", (ncol * (w2 + pad) + pad, nrow * (h2 + pad + cap_h) + pad),
                     (background,) * 3)
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for i in range(n):
        r, col = divmod(i, ncol)
        tile = to_pil(images[i]).convert("RGB")
        if scale != 1:
            tile = tile.resize((w2, h2), Image.NEAREST)
        x, y = pad + col * (w2 + pad), pad + r * (h2 + pad + cap_h)
        grid.paste(tile, (x, y))
        if captions and i < len(captions) and captions[i]:
            draw.text((x + 1, y + h2 + 1), captions[i], fill=(0, 0, 0), font=font)
    return grid


def auto_scale(size: int, target: int = 96) -> int:
    """An integer zoom that makes tiles about ``target`` px wide (28 px -> x3)."""
    return max(1, target // max(1, size))


# What a picture is written as, by its name: PNG unless it asks for JPEG or WebP.
PICTURE_FORMATS = {".png": "PNG", "": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def picture_format(path: str | os.PathLike) -> str:
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix not in PICTURE_FORMATS:
        raise LatentfolioError(f"{path}: cannot write a {suffix} picture; name it .png, .jpg or .webp")
    return PICTURE_FORMATS[suffix]


def save_picture(img: Image.Image, path: str | os.PathLike) -> None:
    """Write a grid or figure atomically, as PNG (or JPEG/WebP when the name says so)."""
    fmt = picture_format(path)
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.convert("L" if img.mode in ("L", "1") else "RGB").save(buf, format="JPEG", quality=95)
    elif fmt == "WEBP":
        img.save(buf, format="WEBP", lossless=True)
    else:
        img.save(buf, format="PNG", optimize=False)
    _io.write_bytes(path, buf.getvalue())


def pyplot():
    """matplotlib.pyplot on the headless Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig_to_pil(fig, tight: bool = False, dpi: float | None = None) -> Image.Image:
    """Render a matplotlib figure to an RGB Pillow image and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    pyplot().close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def gif_bytes(frames: np.ndarray, scale: int = 1, ms: int = 120) -> bytes:
    """uint8 (N, H, W, C) frames as a looping GIF, enlarged ``scale`` times, played there and
    back again so the loop has no jump."""
    imgs = [to_pil(f).convert("RGB").resize((f.shape[1] * scale, f.shape[0] * scale)) for f in frames]
    seq = imgs + imgs[-2:0:-1]
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=ms, loop=0)
    return buf.getvalue()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def complexity(a: np.ndarray, tile: int = 128) -> float:
    """How complex an image is: the bits per value that lossless PNG needs for it beyond what it
    needs for a flat image of the same shape (its fixed bytes: 0.9 bits per value on an 8 x 8
    image), on four tiles at a quarter and three quarters of its height and width (the whole of
    a small image). About 0.05 for a blank page, 0.2-1 for flat digital art, 3-6 for
    photographs, 8 for noise."""
    h, w = a.shape[:2]
    if min(h, w) < 2 * tile:
        crops = [a]
    else:
        ys, xs = (h // 4 - tile // 2, 3 * h // 4 - tile // 2), (w // 4 - tile // 2, 3 * w // 4 - tile // 2)
        crops = [a[y:y + tile, x:x + tile] for y in ys for x in xs]
    size = sum(len(png_bytes(to_pil(np.ascontiguousarray(c)))) - _flat_png_size(c.shape) for c in crops)
    return max(0.0, 8 * size / sum(c.size for c in crops))


@functools.lru_cache(maxsize=64)
def _flat_png_size(shape: tuple[int, ...]) -> int:
    return len(png_bytes(to_pil(np.zeros(shape, np.uint8))))


# --- a user's image <-> float pixels, keeping what rebuilds its mode ------------------------
def image_to_pixels(img: Image.Image) -> tuple[np.ndarray, dict]:
    """Pillow image -> its integer pixels (H, W, K) (uint8, or uint16/int32 for 16-bit modes) plus
    what is needed to rebuild the same mode; ``info["scale"]`` is the value of white."""
    mode = img.mode
    info = {"mode": mode, "scale": 255.0}
    if mode in ("I;16", "I;16L", "I;16B", "I"):
        a = np.asarray(img)
        info["scale"] = 65535.0 if mode != "I" or a.max(initial=0) > 255 else 255.0
        info["wide"] = True
        return a[:, :, None], info
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA" if mode != "LA" else "LA")
        info["alpha"] = rgba.getchannel("A")
        img = rgba.convert("RGB" if mode != "LA" else "L")
    elif mode not in ("L", "RGB"):
        if mode == "P":
            info["palette"] = img
        img = img.convert("L" if mode == "1" else "RGB")
    a = np.asarray(img, dtype=np.uint8)
    return (a[:, :, None] if a.ndim == 2 else a), info


def to_float(pixels: np.ndarray, info: dict) -> np.ndarray:
    """Integer pixels -> float32 in [0, 1]."""
    return (pixels.astype(np.float32) / np.float32(info["scale"])).clip(0, 1)


def to_pixels(a: np.ndarray, info: dict) -> np.ndarray:
    """Float [0, 1] -> the integer pixels of ``info``'s mode (the inverse of :func:`to_float`)."""
    v = np.round(np.clip(a, 0, 1) * info["scale"])
    if info.get("wide"):
        return v.astype(np.uint16 if info["scale"] > 255 else np.int32)
    return v.astype(np.uint8)


def pixels_to_image(p: np.ndarray, info: dict) -> Image.Image:
    """Integer pixels (from :func:`image_to_pixels` or :func:`to_pixels`) -> a Pillow image in
    the original mode."""
    mode = info["mode"]
    if info.get("wide"):
        img = Image.fromarray(p[:, :, 0])
        return img if img.mode == mode else img.convert(mode)
    img = Image.fromarray(p[:, :, 0], "L") if p.shape[2] == 1 else Image.fromarray(p, "RGB")
    if "alpha" in info:
        img.putalpha(info["alpha"])
        return img if mode in ("RGBA", "LA") else img.convert(mode) if mode != "P" else img
    if "palette" in info:
        return img.quantize(palette=info["palette"], dither=Image.Dither.NONE)
    return img if img.mode == mode else img.convert(mode)


def image_to_array(img: Image.Image) -> tuple[np.ndarray, dict]:
    """Pillow image -> float (H, W, K) in [0, 1] plus what is needed to rebuild the same mode."""
    p, info = image_to_pixels(img)
    return to_float(p, info), info


def array_to_image(a: np.ndarray, info: dict) -> Image.Image:
    """Float (H, W, K) in [0, 1] -> a Pillow image in ``info``'s mode."""
    return pixels_to_image(to_pixels(a, info), info)
