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

import numpy as np
import torch
from torch import Tensor

from . import paper  # noqa: F401  (registers the damage of old paper: stain, crease, ...)
from .damage import _SCALE, NATIVE_SCALE, NOISES, _blur, _each, _grid, _paint, _scale, _tone, _u, register_noise


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
    for active in _each(n):
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
    for active in _each(n):
        cy, cx = _u((b, 1, 1), g, x.device, 0, h), _u((b, 1, 1), g, x.device, 0, w)
        sigma = _u((b, 1, 1), g, x.device, 0.05, 0.15) * min(h, w)
        strength = _u((b, 1, 1), g, x.device, 0.15, 0.45)
        alpha = strength * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)) * active
        tone = (_u((b, 1), g, x.device, 0.25, 0.5) + torch.tensor([0.04, 0.0, -0.04][:c], device=x.device)
                if c == 3 else _u((b, 1), g, x.device, 0.25, 0.5))
        x = _paint(x, alpha, tone.expand(b, c))
    return x


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
