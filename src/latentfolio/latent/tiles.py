"""A model applied to an image of any size: overlapping tiles, blended without seams."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..errors import ArgumentError
from ..imaging import array_to_image, image_to_array
from ..models import Autoencoder, to_unit


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Tile origins covering [0, n): step ``tile - overlap``, the last one flush with the edge."""
    if n <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, n - tile, step))
    return starts + [n - tile]


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


def tiled(fn, x: np.ndarray, tile: int, overlap: int, batch: int = 16) -> np.ndarray:
    """Apply ``fn`` ((B, C, t, t) float32 -> same) over a (C, H, W) array in blended tiles."""
    c, h, w = x.shape
    th, tw = min(tile, h), min(tile, w)
    if th == h and tw == w:
        return fn(x[None])[0]
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    wgt = np.outer(ramp(th, overlap), ramp(tw, overlap))
    out = np.zeros((c, h, w), np.float64)
    norm = np.zeros((h, w), np.float64)
    coords = [(y, x0) for y in ys for x0 in xs]
    for s in range(0, len(coords), batch):
        chunk = coords[s:s + batch]
        tiles = np.stack([x[:, y:y + th, x0:x0 + tw] for y, x0 in chunk])
        res = fn(tiles)
        for (y, x0), r in zip(chunk, res):
            out[:, y:y + th, x0:x0 + tw] += r * wgt
            norm[y:y + th, x0:x0 + tw] += wgt
    return (out / norm).astype(np.float32)


def _model_fn(model: Autoencoder):
    dev = next(model.parameters()).device
    norm = model.config.norm

    @torch.no_grad()
    def fn(tiles: np.ndarray) -> np.ndarray:  # (B, C, t, t) in [0, 1]
        x = torch.from_numpy(np.ascontiguousarray(tiles)).to(dev)
        x = x * 2 - 1 if norm == "pm1" else x
        return to_unit(model.reconstruct(x).float(), norm).clamp(0, 1).cpu().numpy()

    return fn


def denoise_array(model: Autoencoder, a: np.ndarray, tile: int | None = None,
                  overlap: int | None = None) -> np.ndarray:
    """(H, W, K) float32 in [0, 1], any K -> same shape, denoised.

    A grey model cleans each channel of a colour image on its own; a colour model sees a grey
    image as three equal channels and returns their mean.
    """
    c, size = model.config.channels, model.config.image_size
    if model.any_size:
        tile = tile or max(size, 64)
    elif tile not in (None, size):
        raise ArgumentError("tile", tile, f"a {model.type_name!r} model takes only its own {size} px tiles")
    else:
        tile = size
    overlap = tile // 4 if overlap is None else overlap
    if not 0 <= overlap < tile:
        raise ArgumentError("overlap", overlap, f"must be >= 0 and smaller than the tile ({tile})")
    h, w = a.shape[:2]
    if not model.any_size and (h < tile or w < tile):  # a whole tile, edge-padded, then cropped back
        pad = ((0, max(0, tile - h)), (0, max(0, tile - w)), (0, 0))
        return denoise_array(model, np.pad(a, pad, mode="edge"), tile, overlap)[:h, :w]
    fn = _model_fn(model)
    k = a.shape[2]
    if c == 1:
        return np.stack([tiled(fn, a[None, :, :, i], tile, overlap)[0] for i in range(k)], axis=2)
    if k == 1:
        return tiled(fn, np.repeat(a.transpose(2, 0, 1), 3, 0), tile, overlap).mean(0)[:, :, None]
    return tiled(fn, a.transpose(2, 0, 1), tile, overlap).transpose(1, 2, 0)


def denoise_image(model: Autoencoder, img: Image.Image, tile=None, overlap=None) -> Image.Image:
    """A Pillow image -> the same size and mode, cleaned by ``model``."""
    a, info = image_to_array(img)
    return array_to_image(denoise_array(model, a, tile, overlap), info)


