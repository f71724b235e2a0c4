"""A composable, seeded model of scan damage, applied to float (B, C, H, W) batches in [0, 1].

Each corruption takes a per-image strength (B,) so a batch can mix strengths, and 0 means
"not applied". A spec names corruptions in order, ``"gaussian:0.2,dust:0.01"``; a range such as
``"gaussian:0.05-0.35"`` draws each image's strength uniformly from it (how a blind model such as
DnCNN-B is trained, Zhang et al. 2017); ``"scan"`` and ``"page"`` are presets that draw a random
mix per image (``page``: old paper, with stains, folds, yellowing, foxing and show-through).
Everything runs in torch on the batch's device, so the trainer corrupts inputs on the fly at
almost no cost.
"""

from __future__ import annotations

import io
import math
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Corruption:
    fn: Callable[[Tensor, Tensor, torch.Generator | None], Tensor]
    default: float  # strength when a spec names it without a value
    lo: float  # valid strength range, inclusive
    hi: float
    unit: str  # what the number means, for help and errors


NOISES: dict[str, Corruption] = {}


def register_noise(name: str, default: float, lo: float, hi: float, unit: str):
    def deco(fn):
        NOISES[name] = Corruption(fn, default, lo, hi, unit)
        return fn

    return deco


# --- helpers --------------------------------------------------------------------------------
def _u(shape, g, device, lo=0.0, hi=1.0) -> Tensor:
    return torch.rand(shape, generator=g, device=device) * (hi - lo) + lo


_SCALE: ContextVar[float | None] = ContextVar("speck_scale", default=None)
NATIVE_SCALE = 2.0  # specks and hairs as on a 256 px training patch, at any image size


def _scale(x: Tensor) -> float:
    """Pixel sizes are tuned for <= 128 px; big images get proportionally bigger specks and hairs,
    unless a Noise was made ``native``, where they keep the size they have on a training patch."""
    fixed = _SCALE.get()
    return fixed if fixed is not None else max(1.0, min(x.shape[-2:]) / 128.0)


def _grid(x: Tensor) -> tuple[Tensor, Tensor]:
    h, w = x.shape[-2:]
    yy = torch.arange(h, device=x.device, dtype=torch.float32).view(1, h, 1)
    xx = torch.arange(w, device=x.device, dtype=torch.float32).view(1, 1, w)
    return yy, xx  # broadcast to (B, H, W)


def _paint(x: Tensor, alpha: Tensor, value: Tensor) -> Tensor:
    """Blend ``value`` (B, C) into ``x`` where ``alpha`` (B, H, W) in [0, 1]."""
    a = alpha.unsqueeze(1)
    return x * (1 - a) + value.view(*value.shape, 1, 1) * a


def _tone(b: int, c: int, g, device, dark_p: float = 0.7) -> Tensor:
    """Dark (ink, dirt) or bright (paper fibre, scratch) values, nearly grey: (B, C)."""
    dark = _u((b, 1), g, device) < dark_p
    base = torch.where(dark, _u((b, 1), g, device, 0.0, 0.25), _u((b, 1), g, device, 0.8, 1.0))
    return (base + _u((b, c), g, device, -0.03, 0.03)).clamp(0, 1)


# --- the corruptions ------------------------------------------------------------------------
@register_noise("gaussian", 0.1, 0.0, 1.0, "standard deviation")
def gaussian(x, s, g):
    return x + s.view(-1, 1, 1, 1) * torch.randn(x.shape, generator=g, device=x.device)


@register_noise("salt_pepper", 0.02, 0.0, 1.0, "fraction of pixels")
def salt_pepper(x, p, g):
    b, c, h, w = x.shape
    u = _u((b, 1, h, w), g, x.device)
    p = p.view(-1, 1, 1, 1)
    x = torch.where(u < p / 2, torch.ones_like(x), x)
    return torch.where(u > 1 - p / 2, torch.zeros_like(x), x)


@register_noise("dust", 0.01, 0.0, 0.5, "fraction of area covered by specks")
def dust(x, density, g):
    """Round specks of ink and dirt, all drawn at once: each speck only in its own small box
    (B, K, m, m), scattered into the page. Where specks overlap their colours mix by coverage."""
    b, c, h, w = x.shape
    sc = _scale(x)
    counts = torch.round(density * h * w / (math.pi * sc**2)).long()  # mean speck area pi * sc^2
    k = int(counts.max().item()) if b else 0
    if k == 0:
        return x
    dev, m = x.device, 2 * int(2 * sc) + 5  # the box holds a speck of the largest radius, 1.5 sc
    cy, cx = _u((b, k, 1, 1), g, dev, 0, h), _u((b, k, 1, 1), g, dev, 0, w)
    r = _u((b, k, 1, 1), g, dev, 0.5, 1.5) * sc
    tone = _tone(b * k, c, g, dev).view(b, k, c)
    off = torch.arange(m, device=dev, dtype=torch.float32) - m // 2
    ys = (cy.floor() + off.view(1, 1, m, 1)).expand(b, k, m, m)  # box pixel rows, (B, K, m, m)
    xs = (cx.floor() + off.view(1, 1, 1, m)).expand(b, k, m, m)
    alpha = (r - ((ys - cy) ** 2 + (xs - cx) ** 2).sqrt() + 0.5).clamp(0, 1)
    alpha = alpha * (torch.arange(k, device=dev).view(1, k, 1, 1) < counts.view(b, 1, 1, 1))
    inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    alpha = alpha * inside
    flat = (torch.arange(b, device=dev).view(b, 1, 1, 1) * (h * w)
            + ys.clamp(0, h - 1).long() * w + xs.clamp(0, w - 1).long()).flatten()
    cover = torch.zeros(b * h * w, device=dev).index_add_(0, flat, alpha.flatten())
    paint = torch.zeros(b * h * w, c, device=dev).index_add_(
        0, flat, (alpha.unsqueeze(-1) * tone.view(b, k, 1, 1, c)).reshape(-1, c))
    a = cover.clamp(max=1).view(b, 1, h, w)
    value = (paint / cover.clamp_min(1e-6).unsqueeze(-1)).view(b, h, w, c).permute(0, 3, 1, 2)
    return x * (1 - a) + value * a


def _segment_distance(yy, xx, y0, x0, y1, x1) -> Tensor:
    dy, dx = y1 - y0, x1 - x0
    t = (((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx + 1e-6)).clamp(0, 1)
    return ((yy - y0 - t * dy) ** 2 + (xx - x0 - t * dx) ** 2).sqrt()


@register_noise("hair", 2, 0.0, 50, "lines per image")
def hair(x, n, g):
    """Hairs and scratches: thin two-segment lines, mostly dark, some bright."""
    b, c, h, w = x.shape
    sc = _scale(x)
    yy, xx = _grid(x)
    counts = torch.round(n).long()
    for k in range(int(counts.max().item()) if b else 0):
        active = (k < counts).float().view(-1, 1, 1)
        p = [_u((b, 1, 1), g, x.device, 0, s) for s in (h, w, h, w)]
        length = _u((b, 1, 1), g, x.device, 0.2, 0.6) * max(h, w)
        ang = _u((b, 1, 1), g, x.device, 0, 2 * math.pi)
        y1, x1 = p[0] + length * torch.sin(ang), p[1] + length * torch.cos(ang)
        bend = _u((b, 1, 1), g, x.device, -0.15, 0.15) * length  # a kink in the middle: hairs curl
        ym, xm = (p[0] + y1) / 2 + bend * torch.cos(ang), (p[1] + x1) / 2 - bend * torch.sin(ang)
        d = torch.minimum(_segment_distance(yy, xx, p[0], p[1], ym, xm),
                          _segment_distance(yy, xx, ym, xm, y1, x1))
        width = _u((b, 1, 1), g, x.device, 0.4, 1.0) * sc
        alpha = (width / 2 - d + 0.5).clamp(0, 1) * _u((b, 1, 1), g, x.device, 0.6, 1.0) * active
        x = _paint(x, alpha, _tone(b, c, g, x.device, dark_p=0.8))
    return x


@register_noise("smudge", 1, 0.0, 50, "blotches per image")
def smudge(x, n, g):
    """Soft, blurred blotches (fingerprints, damp): a Gaussian blob of greyish-brown."""
    b, c, h, w = x.shape
    yy, xx = _grid(x)
    counts = torch.round(n).long()
    for k in range(int(counts.max().item()) if b else 0):
        active = (k < counts).float().view(-1, 1, 1)
        cy, cx = _u((b, 1, 1), g, x.device, 0, h), _u((b, 1, 1), g, x.device, 0, w)
        sigma = _u((b, 1, 1), g, x.device, 0.05, 0.15) * min(h, w)
        strength = _u((b, 1, 1), g, x.device, 0.15, 0.45)
        alpha = strength * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)) * active
        tone = (_u((b, 1), g, x.device, 0.25, 0.5) + torch.tensor([0.04, 0.0, -0.04][:c], device=x.device)
                if c == 3 else _u((b, 1), g, x.device, 0.25, 0.5))
        x = _paint(x, alpha, tone.expand(b, c))
    return x


def _blur(x: Tensor, sigma: float) -> Tensor:
    k = max(3, int(2 * math.ceil(2 * sigma) + 1))
    t = torch.arange(k, device=x.device, dtype=torch.float32) - k // 2
    ker = torch.exp(-t**2 / (2 * sigma**2))
    ker = ker / ker.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (k // 2, k // 2, 0, 0), mode="reflect"), ker.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(F.pad(x, (0, 0, k // 2, k // 2), mode="reflect"), ker.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


@register_noise("grain", 0.05, 0.0, 1.0, "std of the paper texture")
def grain(x, s, g):
    b, c, h, w = x.shape
    n = _blur(torch.randn((b, 1, h, w), generator=g, device=x.device), 0.8 * _scale(x))
    n = n / n.flatten(1).std(1).clamp_min(1e-6).view(-1, 1, 1, 1)
    return x + s.view(-1, 1, 1, 1) * n


@register_noise("illumination", 0.2, 0.0, 1.0, "relative brightness change across the page")
def illumination(x, s, g):
    b = x.shape[0]
    yy, xx = _grid(x)
    h, w = x.shape[-2:]
    ny, nx = yy / max(1, h - 1) - 0.5, xx / max(1, w - 1) - 0.5
    a, bb, v = (_u((b, 1, 1), g, x.device, -1, 1), _u((b, 1, 1), g, x.device, -1, 1),
                _u((b, 1, 1), g, x.device, 0, 1))
    field = 1 + s.view(-1, 1, 1) * (a * nx + bb * ny - v * 2 * (nx**2 + ny**2))  # ramp + vignette
    return x * field.unsqueeze(1)


@register_noise("jpeg", 30, 1, 100, "JPEG quality")
def jpeg(x, q, g):
    from PIL import Image

    out = x.clone()
    for i in range(x.shape[0]):
        qi = int(round(float(q[i])))
        if qi <= 0:
            continue
        a = (x[i].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=max(1, min(95, qi)))
        buf.seek(0)
        b = np.asarray(Image.open(buf).convert(img.mode), dtype=np.float32) / 255.0
        out[i] = torch.from_numpy(b.reshape(a.shape)).permute(2, 0, 1).to(x.device)
    return out


# --- the damage of old paper: large, mostly multiplicative (the paper darkens; the ink stays ink) ---
def _darken(x: Tensor, amount: Tensor, colour: Tensor) -> Tensor:
    """Multiply ``x`` towards ``colour`` (B, C) by ``amount`` (B, H, W) in [0, 1], as a transparent
    stain or a tint does: paper takes the colour, ink stays nearly as dark as it was."""
    a = amount.unsqueeze(1)
    return x * (1 - a * (1 - colour.view(*colour.shape, 1, 1)))


def _brown(b: int, c: int, g, device, lo: float = 0.45, hi: float = 0.75) -> Tensor:
    """Coffee, tea, rust or damp: a brownish (B, C) multiplier (grey for one channel)."""
    v = _u((b, 1), g, device, lo, hi)
    if c == 1:
        return v
    return torch.cat([v + 0.12, v, v - 0.12 * _u((b, 1), g, device, 0.8, 1.6)], 1).clamp(0.05, 1)


def _field(b: int, h: int, w: int, g, device, cells: int = 4) -> Tensor:
    """A smooth random field in [0, 1], (B, H, W): bilinear noise of ``cells`` x ``cells``."""
    f = _u((b, 1, cells, cells), g, device)
    return F.interpolate(f, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)[:, 0]


@register_noise("stain", 1, 0.0, 20, "stains per image")
def stain(x, n, g):
    """Coffee and water stains: an irregular round blot, faint inside, with a darker tide line
    at its rim (where the drying liquid left its pigment)."""
    b, c, h, w = x.shape
    yy, xx = _grid(x)
    counts = torch.round(n).long()
    for k in range(int(counts.max().item()) if b else 0):
        active = (k < counts).float().view(-1, 1, 1)
        cy, cx = _u((b, 1, 1), g, x.device, -0.1 * h, 1.1 * h), _u((b, 1, 1), g, x.device, -0.1 * w, 1.1 * w)
        r = _u((b, 1, 1), g, x.device, 0.08, 0.35) * min(h, w)
        theta = torch.atan2(yy - cy, xx - cx)
        wobble = 1 + sum(_u((b, 1, 1), g, x.device, -0.08, 0.08) * torch.sin(f * theta + _u((b, 1, 1), g, x.device, 0, 6.3))
                         for f in (2.0, 3.0, 5.0))
        d = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt() / (r * wobble)  # 1 on the rim
        rim = torch.exp(-(((d - 1) / _u((b, 1, 1), g, x.device, 0.015, 0.05)) ** 2))
        inside = torch.sigmoid((1 - d) * 40) * _u((b, 1, 1), g, x.device, 0.1, 0.45)
        amount = (inside + rim * _u((b, 1, 1), g, x.device, 0.35, 0.8)).clamp(0, 1) * active
        x = _darken(x, amount, _brown(b, c, g, x.device))
    return x


@register_noise("crease", 1, 0.0, 30, "folds per image")
def crease(x, n, g):
    """Folds and crumples: a line across the page, dark along the fold, with the light falling
    off on one side of it; many short ones read as crumpled paper."""
    b, c, h, w = x.shape
    sc = _scale(x)
    yy, xx = _grid(x)
    counts = torch.round(n).long()
    for k in range(int(counts.max().item()) if b else 0):
        active = (k < counts).float().view(-1, 1, 1)
        ang = _u((b, 1, 1), g, x.device, 0, math.pi)
        py, px = _u((b, 1, 1), g, x.device, 0, h), _u((b, 1, 1), g, x.device, 0, w)
        signed = (yy - py) * torch.cos(ang) - (xx - px) * torch.sin(ang)  # distance across the fold
        along = ((yy - py) * torch.sin(ang) + (xx - px) * torch.cos(ang)).abs()
        length = _u((b, 1, 1), g, x.device, 0.3, 2.0) * max(h, w)  # long: a fold; short: a crumple
        ends = torch.sigmoid((length / 2 - along) / (4 * sc))
        line = torch.exp(-((signed / (_u((b, 1, 1), g, x.device, 0.6, 1.6) * sc)) ** 2)) * _u((b, 1, 1), g, x.device, 0.15, 0.45)
        shade = torch.exp(-signed.clamp(min=0) / (_u((b, 1, 1), g, x.device, 6, 30) * sc)) * (signed > 0) \
            * _u((b, 1, 1), g, x.device, 0.03, 0.15)
        x = _darken(x, (line + shade).clamp(0, 1) * ends * active, torch.full((b, c), 0.35, device=x.device))
    return x


@register_noise("fibre", 0.04, 0.0, 0.5, "contrast of the paper's fibres")
def fibre(x, s, g):
    """Paper fibre: short, thin, faintly darker streaks along one grain, and a blotchy
    cloud of pulp density."""
    b, c, h, w = x.shape
    sc = _scale(x)
    streak = torch.randn((b, 1, h, w), generator=g, device=x.device)
    k = max(3, int(6 * sc) | 1)  # smeared along the grain, at a small random angle per image
    streak = F.avg_pool2d(F.pad(streak, (k // 2, k // 2, 0, 0), mode="reflect"), (1, k), stride=1)
    streak = streak / streak.flatten(1).std(1).clamp_min(1e-6).view(-1, 1, 1, 1)
    cloud = _field(b, h, w, g, x.device, cells=max(4, int(min(h, w) / (24 * sc)))).unsqueeze(1) - 0.5
    amount = (s.view(-1, 1, 1, 1) * (0.5 * streak.clamp(min=0) + cloud)).clamp(0, 1)[:, 0]
    return _darken(x, amount, torch.full((b, c), 0.0, device=x.device))


@register_noise("yellowing", 0.3, 0.0, 1.0, "how far the paper has aged to yellow")
def yellowing(x, s, g):
    """Aged paper: a yellow-brown tint, stronger towards the edges and uneven across the page
    (a grey page darkens instead)."""
    b, c, h, w = x.shape
    yy, xx = _grid(x)
    edge = 1 - (4 * (yy / max(1, h - 1)) * (1 - yy / max(1, h - 1)) * 4 * (xx / max(1, w - 1)) * (1 - xx / max(1, w - 1))).clamp(0, 1)
    amount = s.view(-1, 1, 1) * (0.6 + 0.25 * _field(b, h, w, g, x.device) + 0.3 * edge)
    tint = torch.tensor([0.97, 0.86, 0.6][:c] if c == 3 else [0.85], device=x.device).expand(b, c)
    return _darken(x, amount.clamp(0, 1), tint)


@register_noise("foxing", 20, 0.0, 500, "spots per megapixel")
def foxing(x, n, g):
    """Foxing: small rust-brown spots of old paper, soft-edged, in clusters."""
    b, c, h, w = x.shape
    sc = _scale(x)
    counts = torch.round(n * h * w / 1e6 * 16).long()  # spots per megapixel of a 256 px patch's scale
    k = int(counts.max().item()) if b else 0
    if k == 0:
        return x
    spots = torch.zeros((b, 1, h, w), device=x.device)
    centre = _u((b, 2), g, x.device)  # spots cluster around a point of the page
    ys = (centre[:, :1] * h + torch.randn((b, k), generator=g, device=x.device) * 0.25 * h).long().clamp(0, h - 1)
    xs = (centre[:, 1:] * w + torch.randn((b, k), generator=g, device=x.device) * 0.25 * w).long().clamp(0, w - 1)
    on = (torch.arange(k, device=x.device).view(1, k) < counts.view(b, 1)).float() * _u((b, k), g, x.device, 0.3, 1.0)
    spots.view(b, -1).scatter_add_(1, ys * w + xs, on)
    radius = 1.5 * sc
    spots = _blur(spots, radius) * (2 * math.pi * radius**2) * 0.9
    return _darken(x, spots[:, 0].clamp(0, 0.9), _brown(b, c, g, x.device, 0.35, 0.6))


@register_noise("show_through", 0.12, 0.0, 0.6, "opacity of the back of the page")
def show_through(x, s, g):
    """The back of the page, seen through it: its ink mirrored, blurred and faint. The back is
    this page's own content mirrored and shifted (a page of text shows text through it)."""
    b, c, h, w = x.shape
    back = x.mean(1, keepdim=True).flip(-1)
    back = torch.roll(back, shifts=(int(_u((), g, x.device, 0, h)), int(_u((), g, x.device, 0, w))), dims=(-2, -1))
    ink = (1 - back / back.flatten(1).quantile(0.9, dim=1).clamp_min(1e-3).view(-1, 1, 1, 1)).clamp(0, 1)
    ink = _blur(ink, 1.2 * _scale(x))
    return _darken(x, (s.view(-1, 1, 1, 1) * ink)[:, 0], torch.full((b, c), 0.0, device=x.device))


# The `scan` preset: (probability per image, strength range), applied in scanner order
# (paper and light first, then dirt on the glass, sensor noise, and compression last).
SCAN = [("illumination", 0.5, (0.05, 0.3)), ("grain", 0.5, (0.02, 0.08)), ("smudge", 0.3, (1, 2)),
        ("dust", 0.5, (0.002, 0.02)), ("hair", 0.3, (1, 3)), ("gaussian", 0.6, (0.02, 0.3)),
        ("salt_pepper", 0.2, (0.002, 0.03)), ("jpeg", 0.3, (20, 70))]
SCAN_CLEAN = 0.4  # share of training images a `scan` denoiser sees clean, to learn to leave them alone
# (0.2 left clean photos markedly worse: docs/experiments.md)

# What a `scan` denoiser is not trained to undo. Uneven light spans the page: a model that sees
# 26 px around each pixel cannot tell a dim page from a grey one, so trained on it, it learned to
# brighten all paper (docs/experiments.md).
SCAN_TRAIN_SKIP = ("illumination",)

# The `page` preset: old paper, scanned. The page's own ageing first (yellowing, foxing, fibre,
# stains, folds, the back showing through), then the scanner's light, dirt, noise and JPEG.
PAGE = [("yellowing", 0.6, (0.05, 0.5)), ("fibre", 0.5, (0.02, 0.08)), ("foxing", 0.3, (5, 60)),
        ("stain", 0.5, (1, 3)), ("crease", 0.5, (1, 6)), ("show_through", 0.4, (0.04, 0.2)),
        ("illumination", 0.7, (0.05, 0.35)), ("grain", 0.4, (0.01, 0.04)), ("dust", 0.4, (0.001, 0.008)),
        ("gaussian", 0.5, (0.01, 0.05)), ("jpeg", 0.3, (40, 90))]
PRESETS = {"scan": SCAN, "page": PAGE}


class Noise:
    """A parsed spec, callable on a batch: ``Noise("gaussian:0.2,dust:0.01")(x, generator)``."""

    def __init__(self, spec: str, native: bool = False, skip: tuple[str, ...] = ()):
        self.spec, self.native = spec, native  # native: specks sized as on a training patch
        self.skip = frozenset(skip)  # corruptions of the `scan` preset left out (hairs, on a page of ink)
        self.steps = parse_spec(spec)
        # Training only (the trainer applies it): a blind `scan` model must also see clean pages.
        # Applying the spec itself always damages every image.
        self.clean_share = SCAN_CLEAN if any(name in PRESETS for name, _, _ in self.steps) else 0.0
        self.page = any(name == "page" for name, _, _ in self.steps)  # old paper: cleaned in page mode

    def __repr__(self) -> str:
        return f"Noise({self.spec!r})"

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        token = _SCALE.set(NATIVE_SCALE if self.native else None)
        try:
            return self._apply(x, generator)
        finally:
            _SCALE.reset(token)

    def _apply(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        b = x.shape[0]
        x = x.float()
        for name, lo, hi in self.steps:
            # Per-image strength: fixed, or drawn from the spec's range.
            value = torch.full((b,), lo, device=x.device) if lo == hi else _u((b,), generator, x.device, lo, hi)
            if name in PRESETS:
                for n, p, (slo, shi) in PRESETS[name]:
                    on = _u((b,), generator, x.device) < p
                    s = _u((b,), generator, x.device, slo, shi)
                    if n in self.skip:  # drawn all the same, so the other corruptions stay as they were
                        continue
                    x = NOISES[n].fn(x, (s if n == "jpeg" else s * value) * on, generator).clamp(0, 1)
            else:
                x = NOISES[name].fn(x, value, generator).clamp(0, 1)
        return x


def parse_spec(spec: str) -> list[tuple[str, float, float]]:
    """``"gaussian:0.1-0.3,dust"`` -> [("gaussian", 0.1, 0.3), ("dust", 0.01, 0.01)]: each corruption
    with the range its per-image strength is drawn from (equal ends: a fixed strength). Raises
    ValueError, clearly."""
    if not spec or not spec.strip():
        raise ValueError("empty noise spec; e.g. --spec scan or --spec gaussian:0.2,dust:0.01")
    steps = []
    for part in spec.split(","):
        part = part.strip()
        name, _, val = part.partition(":")
        name = name.strip().lower().replace("-", "_")
        if name in PRESETS:  # the preset's strength multiplies all of its corruptions' strengths
            default, least, most, unit = 1.0, 0.0, 2.0, "intensity"
        elif name in NOISES:
            c = NOISES[name]
            default, least, most, unit = c.default, c.lo, c.hi, c.unit
        else:
            raise ValueError(f"noise spec {part!r}: unknown corruption {name!r}; use "
                             f"{', '.join(NOISES)}, or a preset: {' or '.join(PRESETS)}")
        ends = re.split(r"(?<![eE])-", val.strip(), maxsplit=1) if val.strip() else [str(default)]  # not 1e-3
        try:
            lo, hi = float(ends[0]), float(ends[-1])
        except ValueError:
            raise ValueError(f"noise spec {part!r}: {val!r} is not a number or a range like 0.1-0.3 "
                             f"({unit})") from None
        for v in (lo, hi):
            if not (least < v <= most) or math.isnan(v):
                raise ValueError(f"noise spec {part!r}: {name} takes a {unit} in ({least:g}, {most:g}]")
        if lo > hi:
            raise ValueError(f"noise spec {part!r}: the range's low end is above its high end")
        steps.append((name, lo, hi))
    return steps
