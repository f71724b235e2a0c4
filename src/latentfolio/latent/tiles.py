"""A model applied to an image of any size: overlapping tiles, blended without seams."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..errors import ArgumentError
from ..hardware import native_bf16
from ..imaging import image_to_pixels, pixels_to_image, to_float, to_pixels
from ..models import Autoencoder, to_unit
from ..models.denoiser import noise_levels


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Tile origins covering [0, n): step ``tile - overlap``, the last one flush with the edge."""
    if n <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, n - tile, step))
    return starts + [n - tile]


def fit_tile(n: int, most: int, overlap: int, multiple: int = 1) -> int:
    """The tile side for an axis of ``n`` px: the fewest tiles of at most ``most`` px (rounded up
    to ``multiple``), made as small as that count allows, so the last tile does not redo most of
    the one before it (4000 px in 512 px tiles: 9 of 476 rather than 8 of 512 and a ninth 83%
    redone)."""
    if n <= most:
        return n
    step = max(1, most - overlap)
    count = -(-(n - overlap) // step)
    side = -(-(n + (count - 1) * overlap) // count)
    return min(n, -(-side // multiple) * multiple)


def ramp(n: int, overlap: int) -> np.ndarray:
    """1-D tile weights: 1 in the middle, linear ramps over the overlap, never 0.

    Overlapping tiles are averaged with outer(ramp, ramp), so each seam is a cross-fade.
    """
    r = np.ones(n, np.float32)
    k = min(overlap, n // 2)
    if k > 0:
        up = np.arange(1, k + 1, dtype=np.float32) / (k + 1)
        r[:k], r[n - k:] = up, up[::-1]
    return r


def _as_float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32, copy=False)


def tiled(fn, x: np.ndarray, tile: int, overlap: int, batch: int = 16, read=_as_float,
          write=_as_float, fit: int | None = None) -> np.ndarray:
    """Apply ``fn`` ((B, K, t, t) float32 -> same) over an (H, W, K) array in blended tiles.

    One band of tile rows is worked at a time, and rows are written out as soon as no later
    tile touches them, so memory is the input, the output and two bands of floats, at any image
    size. ``read`` turns a slice of ``x`` into float32 and ``write`` turns finished float rows
    into the output's values (integer pixels, for an image). ``fit`` (a model of any size): each
    axis gets tiles of at most ``tile`` px, a multiple of ``fit``, as even as :func:`fit_tile` makes
    them; without it, tiles are exactly ``tile`` px (or the image's side)."""
    h, w, k = x.shape
    if fit:
        th, tw = fit_tile(h, tile, overlap, fit), fit_tile(w, tile, overlap, fit)
    else:
        th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    wgt = np.outer(ramp(th, overlap), ramp(tw, overlap))
    acc, nrm = np.zeros((k, th, w), np.float32), np.zeros((th, w), np.float32)
    out = None
    for bi, y in enumerate(ys):
        for s in range(0, len(xs), batch):
            chunk = xs[s:s + batch]
            tiles = np.stack([read(x[y:y + th, x0:x0 + tw]).transpose(2, 0, 1) for x0 in chunk])
            for x0, r in zip(chunk, fn(tiles)):
                acc[:, :, x0:x0 + tw] += r * wgt
                nrm[:, x0:x0 + tw] += wgt
        nxt = ys[bi + 1] if bi + 1 < len(ys) else h
        done = write((acc[:, :nxt - y] / nrm[:nxt - y]).transpose(1, 2, 0))
        if out is None:
            out = np.empty((h, w, k), done.dtype)
        out[y:nxt] = done
        keep = y + th - nxt  # rows the next band's tiles also cover: carried over
        acc[:, :keep], nrm[:keep] = acc[:, nxt - y:nxt - y + keep], nrm[nxt - y:nxt - y + keep]
        acc[:, keep:], nrm[keep:] = 0, 0
    return out


PRECISIONS = ("auto", "bf16", "fp32")


def use_bf16(precision: str, device: torch.device) -> bool:
    """``precision`` (auto, bf16, fp32) -> whether to run in bf16 on ``device``."""
    if precision not in PRECISIONS:
        raise ArgumentError("precision", precision, "choose from " + ", ".join(PRECISIONS))
    return precision == "bf16" or (precision == "auto" and native_bf16(device.type))


HINT_SAMPLES = 1 << 18  # pixels per channel the whole image's noise level is measured on (12 MP: 0.04 s)


def image_hint(x: np.ndarray, read=_as_float) -> np.ndarray | None:
    """(H, W, K) pixels -> (K, 2): each channel's noise levels (models.denoiser.noise_levels),
    measured once on the whole image, so every tile is cleaned as hard as the others. Strips of
    3 rows, evenly spread, are laid side by side (the mask then straddles 2 columns of 1 in
    hundreds at each join); None for an image under 3 rows."""
    h, w, k = x.shape
    if h < 3 or w < 3:
        return None
    n = int(min(h - 2, max(1, HINT_SAMPLES // w)))
    strip = np.concatenate([read(x[r:r + 3]) for r in np.linspace(0, h - 3, n).astype(int)], axis=1)
    t = torch.from_numpy(np.ascontiguousarray(strip.transpose(2, 0, 1)))[None]
    return torch.cat([noise_levels(t[:, i:i + 1]) for i in range(k)]).numpy()


def _model_fn(model: Autoencoder, precision: str = "fp32", hint: np.ndarray | None = None):
    """(B, K, t, t) in [0, 1] -> the model's output: a grey model cleans each channel on its own;
    a colour model sees a grey image as three equal channels and gives back their mean.

    ``precision``: bf16 runs the network's layers in bfloat16 (``auto``: where the hardware has
    it); the input is added back in float32, so clean pixels stay exact. Both run channels-last:
    oneDNN's fp32 convolutions ran markedly faster that way on a CPU without bf16
    (docs/experiments.md). ``hint``: the whole image's noise levels per channel (K, 2),
    for a model that takes them (:func:`image_hint`)."""
    dev = next(model.parameters()).device
    norm, c = model.config.norm, model.config.channels
    half = use_bf16(precision, dev)
    model = model.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def fn(tiles: np.ndarray) -> np.ndarray:
        b, k, t0, t1 = tiles.shape
        x = torch.from_numpy(np.ascontiguousarray(tiles)).to(dev)
        x = x.reshape(b * k, 1, t0, t1) if c == 1 else x.expand(b, 3, t0, t1) if k == 1 else x
        x = x * 2 - 1 if norm == "pm1" else x
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=half):
            y = model.reconstruct(x) if hint is None else model.reconstruct(x, _tile_hint(hint, b, k, c, norm, dev))
        y = to_unit(y.float(), norm).clamp(0, 1)
        y = y.reshape(b, k, t0, t1) if c == 1 else y.mean(1, keepdim=True) if k == 1 else y
        return y.cpu().numpy()

    return fn


def _tile_hint(hint: np.ndarray, b: int, k: int, c: int, norm: str, dev) -> torch.Tensor:
    """The image's (K, 2) levels for a batch of b tiles as the model sees them: per channel for a
    grey model, averaged over colours for a colour one (as it measures itself in training)."""
    h = torch.from_numpy(hint).to(dev) * (2.0 if norm == "pm1" else 1.0)  # [-1, 1] doubles every step
    return h.repeat(b, 1) if c == 1 else h.mean(0, keepdim=True).expand(b, 2)


ANY_SIZE_TILE, ANY_SIZE_OVERLAP = 512, 32  # fully convolutional models, on a GPU: tiles of 512 in batches of 4
# On a CPU a tile is as big as keeps one layer's feature map in a few MB, where the cache holds it,
# and tiles go one at a time: faster than bigger tiles or batches of them (the tile sizes tried are
# in docs/experiments.md; the speed in docs/benchmarks.md).
CPU_MAP_BYTES = 6.5e6


def cpu_tile(model: Autoencoder) -> int:
    """The largest tile whose widest feature map fits in :data:`CPU_MAP_BYTES` of float32, a
    multiple of 16 and of the model's stride (at least 128 px)."""
    c = model.config
    width, scale = getattr(c, "width", 32), getattr(c, "unshuffle", 1)
    side = int(scale * (CPU_MAP_BYTES / (4 * width)) ** 0.5)
    m = max(16, getattr(model, "multiple", 1))  # strides are powers of 2
    return max(128, side // m * m)


def _tile_plan(model: Autoencoder, tile: int | None, overlap: int | None, on_cpu: bool) -> tuple[int, int]:
    size = model.config.image_size
    if model.any_size:
        tile = tile or max(size, cpu_tile(model) if on_cpu else ANY_SIZE_TILE)
        overlap = min(tile // 4, ANY_SIZE_OVERLAP) if overlap is None else overlap
    elif tile not in (None, size):
        raise ArgumentError("tile", tile, f"a {model.type_name!r} model takes only its own {size} px tiles")
    else:
        tile = size
    overlap = tile // 4 if overlap is None else overlap
    if not 0 <= overlap < tile:
        raise ArgumentError("overlap", overlap, f"must be >= 0 and smaller than the tile ({tile})")
    return tile, overlap


def denoise_pixels(model: Autoencoder, x: np.ndarray, tile: int | None = None, overlap: int | None = None,
                   read=_as_float, write=_as_float, precision: str = "fp32") -> np.ndarray:
    """(H, W, K) pixels, any K -> the same shape, denoised (see :func:`tiled` for read/write)."""
    on_cpu = next(model.parameters()).device.type == "cpu"
    tile, overlap = _tile_plan(model, tile, overlap, on_cpu)
    h, w = x.shape[:2]
    if not model.any_size and (h < tile or w < tile):  # a whole tile, edge-padded, then cropped back
        pad = ((0, max(0, tile - h)), (0, max(0, tile - w)), (0, 0))
        return denoise_pixels(model, np.pad(x, pad, mode="edge"), tile, overlap, read, write, precision)[:h, :w]
    hint = image_hint(x, read) if getattr(model.config, "noise_hint", False) else None
    fn = _model_fn(model, precision, hint)
    if not model.any_size:  # fixed-size tiles, many to a call
        return tiled(fn, x, tile, overlap, batch=16, read=read, write=write)
    return tiled(fn, x, tile, overlap, batch=1 if on_cpu else 4, read=read, write=write,
                 fit=getattr(model, "multiple", 1))


def denoise_array(model: Autoencoder, a: np.ndarray, tile: int | None = None,
                  overlap: int | None = None, precision: str = "fp32") -> np.ndarray:
    """(H, W, K) float32 in [0, 1] -> same shape, denoised."""
    return denoise_pixels(model, a, tile, overlap, precision=precision)


def denoise_image(model: Autoencoder, img: Image.Image, tile=None, overlap=None, precision: str = "auto") -> Image.Image:
    """A Pillow image -> the same size and mode, cleaned by ``model``; memory holds the image's
    integer pixels twice (in and out) plus two bands of tiles, never a float copy of the whole."""
    p, info = image_to_pixels(img)
    out = denoise_pixels(model, p, tile, overlap, read=lambda t: to_float(t, info), write=lambda f: to_pixels(f, info),
                         precision=precision)
    return pixels_to_image(out, info)
