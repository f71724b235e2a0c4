"""The parts every kind of damage is built from: the registry of corruptions (``NOISES``, filled by
``@register_noise``) and the helpers that draw, paint and blur on a (B, C, H, W) batch. The scan's
damage is in ``data.noise``, old paper's in ``data.paper``."""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable

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


def _blur(x: Tensor, sigma: float) -> Tensor:
    k = max(3, int(2 * math.ceil(2 * sigma) + 1))
    t = torch.arange(k, device=x.device, dtype=torch.float32) - k // 2
    ker = torch.exp(-t**2 / (2 * sigma**2))
    ker = ker / ker.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (k // 2, k // 2, 0, 0), mode="reflect"), ker.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(F.pad(x, (0, 0, k // 2, k // 2), mode="reflect"), ker.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _each(n: Tensor):
    """Per-image counts (B,) of shapes to draw -> one (B, 1, 1) mask per shape, 1 for the images
    that draw it (a batch draws as many as its largest count)."""
    counts = torch.round(n).long()
    for k in range(int(counts.max().item()) if len(counts) else 0):
        yield (k < counts).float().view(-1, 1, 1)
