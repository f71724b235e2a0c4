"""The damage of old paper, for the ``page`` preset: stains with their tide lines, folds and
crumples, fibre, yellowing, foxing and the back of the page showing through. Large and mostly
multiplicative, as on real paper: the paper darkens, the ink stays ink. Each kind is registered
with ``data.damage`` and so appears in ``noise --spec``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .damage import _blur, _each, _grid, _scale, _u, register_noise


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
    for active in _each(n):
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
    for active in _each(n):
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


@register_noise("foxing", 20, 0.0, 500, "spots per 256 px square")
def foxing(x, n, g):
    """Foxing: small rust-brown spots of old paper, soft-edged, in clusters."""
    b, c, h, w = x.shape
    sc = _scale(x)
    counts = torch.ceil(n * h * w / 65536).long()
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
