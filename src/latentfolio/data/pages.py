"""Rendered pages of ink on paper: text and line drawings, as clean training patches.

A blind denoiser trained on photographs alone learns that a thin dark line is a hair and a small
dark dot is a speck, so it erases pen strokes and fades letters (the first native denoiser did:
docs/experiments.md). Mixed into its training
batches (``PAGE_SHARE`` of each batch, when the trainer damages with `scan`), these patches show it what
must survive: text in several faces and sizes, pen, brush and pencil strokes, hatching and
shapes, on paper of varying tone. Drawn with Pillow from a seeded generator; the faces are the
DejaVu, STIX and Computer Modern fonts that matplotlib ships, so nothing is fetched.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

PAGE_SHARE = 0.4  # share of a `scan` denoiser's training batch that is a rendered page (less left clean
# line drawings worse: docs/experiments.md)
POOL_BYTES = 256 << 20  # the pages rendered once per run and sampled from, at most this much
_CHARS = ("abcdefghijklmnopqrstuvwxyz" * 3 + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + ".,;:!?'\"()-–/&%$#@*+=")


@functools.cache
def _faces() -> tuple[str, ...]:
    """Font files to draw text with: matplotlib's bundled faces (serif, sans, mono, italic, bold)."""
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    keep = ("DejaVu", "STIXGeneral", "cm")
    return tuple(sorted(str(p) for p in ttf.glob("*.ttf") if p.name.startswith(keep)
                        and not p.name.startswith(("cmex", "cmsy", "STIXSiz", "STIXNon", "cmmi"))))


@functools.cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _ink(rng: np.random.Generator) -> tuple[int, int, int]:
    """Black, grey (pencil), blue or sepia ink."""
    kind = rng.choice(4, p=[0.55, 0.2, 0.15, 0.1])
    if kind == 0:
        v = int(rng.integers(0, 50))
        return (v, v, v + int(rng.integers(0, 8)))
    if kind == 1:
        v = int(rng.integers(60, 170))
        return (v, v, v)
    if kind == 2:
        return (int(rng.integers(10, 50)), int(rng.integers(20, 70)), int(rng.integers(110, 190)))
    return (int(rng.integers(70, 120)), int(rng.integers(40, 75)), int(rng.integers(10, 40)))


def _paper(rng: np.random.Generator) -> tuple[int, int, int]:
    """White, off-white or tinted paper (a scan's page is rarely pure white)."""
    base = int(rng.integers(215, 256))
    tint = rng.integers(-12, 5, 3) * (rng.random() < 0.5)
    return tuple(int(np.clip(base + t, 0, 255)) for t in tint)


def _text(d: ImageDraw.ImageDraw, side: int, rng: np.random.Generator) -> None:
    size = int(np.exp(rng.uniform(np.log(7), np.log(56))))  # glyph size in px, log-uniform
    font = _font(str(rng.choice(_faces())), size)
    ink, lead = _ink(rng), size * rng.uniform(1.1, 1.8)
    y = rng.uniform(-size, size)
    while y < side:
        n = int(rng.integers(side // max(1, size // 2) // 2, side // max(1, size // 2) + 2))
        words = "".join(rng.choice(list(_CHARS + " " * 12), n))
        d.text((rng.uniform(-size, size), y), words, fill=ink, font=font)
        y += lead


def _bezier(p: np.ndarray, n: int = 48) -> list[tuple[float, float]]:
    t = np.linspace(0, 1, n)[:, None]
    q = (1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]
    return [tuple(v) for v in q]


def _drawing(d: ImageDraw.ImageDraw, side: int, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(3, 25))):
        ink, width = _ink(rng), int(rng.choice([1, 1, 1, 2, 2, 3, 4, 6]))
        kind = rng.choice(4, p=[0.5, 0.2, 0.15, 0.15])
        if kind == 0:  # a curved stroke
            d.line(_bezier(rng.uniform(-0.2, 1.2, (4, 2)) * side), fill=ink, width=width, joint="curve")
        elif kind == 1:  # a straight line or a polyline
            pts = [tuple(v) for v in rng.uniform(-0.1, 1.1, (int(rng.integers(2, 5)), 2)) * side]
            d.line(pts, fill=ink, width=width)
        elif kind == 2:  # hatching: parallel strokes
            x0, y0 = rng.uniform(0, side, 2)
            ang, gap, length = rng.uniform(0, np.pi), rng.uniform(2, 8), rng.uniform(0.1, 0.6) * side
            dx, dy = np.cos(ang) * length, np.sin(ang) * length
            for k in range(int(rng.integers(3, 15))):
                ox, oy = -np.sin(ang) * gap * k, np.cos(ang) * gap * k
                d.line([(x0 + ox, y0 + oy), (x0 + ox + dx, y0 + oy + dy)], fill=ink, width=max(1, width // 2))
        else:  # an outline: ellipse or box
            x, y = rng.uniform(0, side, 2)
            r = rng.uniform(3, 0.5 * side, 2)
            box = (x - r[0], y - r[1], x + r[0], y + r[1])
            (d.ellipse if rng.random() < 0.6 else d.rectangle)(box, outline=ink, width=width)


KINDS = ("text", "drawing", "both")


def render_page(side: int, rng: np.random.Generator, channels: int = 3, kind: str | None = None) -> np.ndarray:
    """One ``side`` x ``side`` patch of a clean page: text, a drawing, or both (``kind``; default:
    drawn at random) -> (side, side, C) uint8."""
    img = Image.new("RGB", (side, side), _paper(rng))
    d = ImageDraw.Draw(img)
    kind = rng.choice(3, p=[0.45, 0.4, 0.15]) if kind is None else KINDS.index(kind)
    if kind in (0, 2):
        _text(d, side, rng)
    if kind in (1, 2):
        _drawing(d, side, rng)
    if rng.random() < 0.3:  # a scanner's optics: ink edges slightly soft
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    a = np.asarray(img.convert("L") if channels == 1 else img, dtype=np.uint8)
    return a.reshape(side, side, channels)


def page_patches(n: int, side: int, channels: int, seed: int) -> np.ndarray:
    """``n`` rendered pages -> (n, side, side, C) uint8; the same for the same seed."""
    rng = np.random.default_rng(seed)
    return np.stack([render_page(side, rng, channels) for _ in range(n)])


def pool_size(side: int, channels: int, most: int = 1024) -> int:
    return int(max(64, min(most, POOL_BYTES // (side * side * channels))))
