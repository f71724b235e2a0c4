"""The large scale of cleaning a page: its paper, estimated at low resolution and divided out.

On a scanned page the paper's own unevenness (stains, yellowing, light falling off, the shadow
of a fold) is most of the error, and it spans hundreds of pixels: far more than a denoiser's
tiles see. So the paper is estimated on a copy reduced ``REDUCE`` times, where strokes are under
a pixel wide: a grey closing (a max then a min filter) takes out dark marks narrower than
``CLOSE`` px, a median evens what is left, and areas far darker than the paper (a filled shape,
a photo pasted on the page) are filled in from the paper around them, so they are never
lightened. The page is divided by it at full resolution and set on the paper tone asked for
(white by default); a model trained on pages flattened this way (``--denoise page``) cleans what
remains at the fine scale. The ratio of a multiplicative stain holds in sRGB's power-law values
as in linear light, so the division is done on the pixels as they are.

One function, :func:`background`, serves both the full-size path (:func:`flatten_pixels`, for
any size in bounded memory) and the trainer's batches (:func:`flatten_batch`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ..errors import ArgumentError
from ..imaging import image_to_pixels, pixels_to_image, to_float, to_pixels
from .tiles import denoise_pixels

REDUCE = 8  # the paper is estimated at 1/8 of the size: a 12 MP scan's at 500 x 375 px
CLOSE = 3  # px at that size: marks up to 24 px wide at full size are taken for ink, not paper
MEDIAN = 5  # px at that size: the paper's estimate is the median over 40 px (stains' rims kept in it)
CONTENT = 0.6  # darker than this share of the page's paper level: content (a fill), not paper
FLOOR = 0.05  # the least paper level divided by (a black border stays black)
BAND = 512  # full-size rows divided at a time


def _pad(x: Tensor, k: int) -> Tensor:
    return F.pad(x, (k // 2,) * 4, mode="replicate")


def _median(x: Tensor, k: int) -> Tensor:
    b, c, h, w = x.shape
    patches = F.unfold(_pad(x, k).reshape(b * c, 1, h + k - 1, w + k - 1), k)  # (B*C, k*k, h*w)
    return patches.median(1).values.reshape(b, c, h, w)


def _blur(x: Tensor, sigma: float) -> Tensor:
    k = max(3, int(2 * round(2 * sigma) + 1))
    t = torch.arange(k, dtype=x.dtype, device=x.device) - k // 2
    g = torch.exp(-t**2 / (2 * sigma**2))
    g = (g / g.sum()).view(1, 1, 1, k)
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (k // 2, k // 2, 0, 0), mode="replicate"), g.expand(c, 1, 1, k), groups=c)
    return F.conv2d(F.pad(x, (0, 0, k // 2, k // 2), mode="replicate"), g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def background(small: Tensor) -> Tensor:
    """(B, C, h, w) in [0, 1], a page reduced ``REDUCE`` times -> the paper under it, same shape."""
    closed = -F.max_pool2d(_pad(-F.max_pool2d(_pad(small, CLOSE), CLOSE, stride=1), CLOSE), CLOSE, stride=1)
    paper = _median(closed, MEDIAN)
    grey = paper.mean(1, keepdim=True)
    level = grey.flatten(1).quantile(0.9, dim=1).view(-1, 1, 1, 1)
    keep = (grey >= CONTENT * level).to(small.dtype)  # (B, 1, h, w): 1 on paper, 0 on large dark fills
    if bool((keep < 1).any()):
        sigma = max(2.0, min(small.shape[-2:]) / 8)
        filled = _blur(paper * keep, sigma) / _blur(keep, sigma).clamp_min(1e-3)
        paper = torch.where(keep > 0, paper, filled)
    return paper.clamp(FLOOR, 1)


def flatten_batch(x: Tensor) -> Tensor:
    """(B, C, H, W) pages in [0, 1] -> the same, divided by their paper (set on white): what the
    trainer feeds a page model and scores it against."""
    small = F.avg_pool2d(x, REDUCE, ceil_mode=True) if min(x.shape[-2:]) >= 2 * REDUCE else x
    bg = F.interpolate(background(small), size=x.shape[-2:], mode="bilinear", align_corners=False)
    return (x / bg).clamp(0, 1)


def _reduced(p: np.ndarray, info: dict, f: int = REDUCE) -> Tensor:
    """(H, W, K) integer pixels -> (1, K, h, w) float, box-averaged ``f`` times (Pillow's
    reduce for 8-bit pixels: no float copy of the full size)."""
    h, w, k = p.shape
    f = f if min(h, w) >= 2 * f else 1
    if p.dtype == np.uint8:
        img = Image.fromarray(p[:, :, 0] if k == 1 else p)
        a = np.asarray(img.reduce(f), np.float32) / 255.0
        a = a[:, :, None] if a.ndim == 2 else a
    else:
        hh, ww = h // f * f, w // f * f
        a = to_float(p[:hh, :ww], info).reshape(hh // f, f, ww // f, f, k).mean((1, 3))
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def paper_of(p: np.ndarray, info: dict) -> np.ndarray:
    """The page's paper colour (K,) in [0, 1]: its background's typical value (``--paper keep``)."""
    bg = background(_reduced(p, info))[0]
    return bg.flatten(1).median(1).values.numpy()


def flatten_pixels(p: np.ndarray, info: dict, paper=None) -> np.ndarray:
    """(H, W, K) integer pixels of a page -> the same, with the paper divided out and set on
    ``paper`` (K values in [0, 1]; default white). Memory: the pixels in and out, and one
    channel of the background in float at full size."""
    h, w, k = p.shape
    bg = background(_reduced(p, info))[0].numpy()  # (K, h', w')
    tone = np.ones(k, np.float32) if paper is None else np.asarray(paper, np.float32).reshape(k)
    out = np.empty_like(p)
    for c in range(k):
        full = np.asarray(Image.fromarray(bg[c], "F").resize((w, h), Image.Resampling.BILINEAR))
        for y in range(0, h, BAND):
            band = to_float(p[y:y + BAND, :, c], info) / np.maximum(full[y:y + BAND], FLOOR) * tone[c]
            out[y:y + BAND, :, c] = to_pixels(band, info)
    return out


# How `--kind auto` tells a page from a picture, on the reduced copy divided by its paper.
PAGE_PAPER_SHARE = 0.78  # at least this share of a page is paper (within PAPER_BAND of it)
GREY_PAGE = (0.55, 0.06, 0.25)  # or, with grey ink only and even paper: paper share, chroma, spread
GREY_IMAGE = (0.85, 0.2)  # a grey image (no colour to tell a photo by): paper share at least, spread at most
PAPER_BAND = 0.9
DECIDE_SIDE = 1024  # px: the longer side of the copy the decision is measured on
PAGE_CHROMA = 0.15  # and what is not paper is nearly grey or one ink: a photo's colours are not
PAPER_SPREAD = 0.45  # the paper's own light varies by less than this (its 10th percentile to its 90th)
PAPER_BLUE = 0.08  # paper is white, grey or yellowed, never much bluer than it is red (a sky is)
MOSTLY_PAPER = 0.9  # a page this much paper is one, whatever the colour of its ink (no photo came near)


def looks_like_page(p: np.ndarray, info: dict) -> tuple[bool, dict]:
    """Whether (H, W, K) pixels are a page (paper with marks on it) rather than a photo or a
    painting -> (decision, the measures it rests on)."""
    small = _reduced(p, info)
    bg = background(small)
    # judged where strokes are resolved: at most DECIDE_SIDE px, the paper brought up to that size
    fine = _reduced(p, info, max(1, -(-max(p.shape[:2]) // DECIDE_SIDE)))
    ratio = (fine / F.interpolate(bg, size=fine.shape[-2:], mode="bilinear", align_corners=False)).clamp(0, 2)[0]
    paper = (ratio.min(0).values >= PAPER_BAND).float().mean().item()
    q = bg.mean(1).flatten().quantile(torch.tensor([0.1, 0.9]))
    spread = float(1 - q[0] / q[1].clamp_min(1e-3))
    blue = float((bg[0, 2] - bg[0, 0]).median()) if bg.shape[1] == 3 else 0.0
    if ratio.shape[0] == 3:
        ink = ratio.min(0).values < PAPER_BAND
        colour = ratio.max(0).values - ratio.min(0).values
        chroma = colour[ink].mean().item() if bool(ink.any()) else 0.0
    else:
        chroma = 0.0
    share, grey, even = GREY_PAGE
    if ratio.shape[0] == 1 or bool((ratio.max(0).values - ratio.min(0).values).max() < 0.02):
        # a grey image has no colour to tell a photo by: only a page that is mostly even paper
        most, flat = GREY_IMAGE
        return paper >= most and spread <= flat, {"paper_share": round(paper, 3), "paper_spread": round(spread, 3)}
    page = blue <= PAPER_BLUE and spread <= PAPER_SPREAD and (
        paper >= MOSTLY_PAPER or (paper >= PAGE_PAPER_SHARE and chroma <= PAGE_CHROMA)
        or (paper >= share and chroma <= grey and spread <= even))
    return page, {"paper_share": round(paper, 3), "chroma": round(chroma, 3), "paper_spread": round(spread, 3),
                  "paper_blue": round(blue, 3)}


def paper_tone(spec: str) -> str | tuple[float, float, float]:
    """``--paper``: ``white``, ``keep`` (each page's own paper colour, evened) or ``#RRGGBB``."""
    spec = (spec or "white").strip().lower()
    if spec in ("white", "keep"):
        return spec
    hexa = spec.lstrip("#")
    if len(hexa) == 6 and all(ch in "0123456789abcdef" for ch in hexa):
        return tuple(int(hexa[i:i + 2], 16) / 255 for i in (0, 2, 4))
    raise ArgumentError("paper", spec, "use white, keep, or a colour like #f4ecd8")


def clean_page(model, img: Image.Image, paper="white", tile=None, overlap=None, precision: str = "auto") -> Image.Image:
    """A page at full size: its paper divided out (:func:`flatten_pixels`), then ``model`` (trained
    with ``--denoise page``, or any denoiser; None: the flattening alone) on what is left, in
    tiles, then set on the ``paper`` tone (see :func:`paper_tone`). Same size and mode."""
    p, info = image_to_pixels(img)
    k = p.shape[2]
    tone = paper_of(p, info) if paper == "keep" else np.ones(k, np.float32) if paper == "white" else \
        np.asarray(paper if k == 3 else [float(np.mean(paper))], np.float32)
    flat = flatten_pixels(p, info)
    del p
    if model is None:
        out = to_pixels(to_float(flat, info) * tone, info)
    else:
        out = denoise_pixels(model, flat, tile, overlap, read=lambda t: to_float(t, info),
                             write=lambda f: to_pixels(f * tone, info), precision=precision)
    return pixels_to_image(out, info)
