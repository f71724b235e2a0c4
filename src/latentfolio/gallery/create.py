"""The gallery's Create view: blends, interpolation strips (and their GIF) and traversals of
catalogued images, rendered with the catalog's model from the codes the catalog already holds."""

from __future__ import annotations

import secrets

import numpy as np

from ..errors import LatentfolioError
from ..imaging import auto_scale, gif_bytes, make_grid, png_bytes
from ..latent.encode import decode_latents, require_vector_latent
from ..latent.generate import interpolate_latents, traverse_latents
from .state import Gallery

STEPS = 8  # frames between two picked images


def _codes(g: Gallery, ids: list[int]) -> np.ndarray:
    rows = [g.row(i) for i in ids]
    if any(r is None for r in rows):
        raise LatentfolioError("a picked image is not in the catalog")
    with g.lock:
        lat = g.cat.latents()
        return np.stack([np.asarray(lat[r["row"]], np.float64) for r in rows])


def create(g: Gallery, ids: list[int]) -> dict:
    """2-4 images: their blend (the mean code) and a strip through them in order, with a GIF.
    One image: a traversal of the collection's five widest latent dimensions."""
    ids = [int(i) for i in ids]
    if not 1 <= len(ids) <= 4 or len(set(ids)) != len(ids):
        raise LatentfolioError("pick one image (a traversal) or 2-4 different images (a blend)")
    model = g.model()
    require_vector_latent(model, "creating")
    z = _codes(g, ids)
    scale = auto_scale(model.config.image_size, 96)
    key = secrets.token_hex(6)
    if len(ids) == 1:
        with g.lock:
            std = np.asarray(g.cat.latents(), np.float64).std(0) + 1e-8
        dims = [int(d) for d in np.argsort(-std)[:5]]
        frames = decode_latents(model, traverse_latents(z[0], std, dims, 3.0, 9))
        g.pictures.put(("made", key, "traverse.png"), png_bytes(make_grid(frames, 9, scale=scale)))
        return {"key": key, "kind": "traverse", "dims": dims, "files": ["traverse.png"]}
    mix = decode_latents(model, z.mean(0, keepdims=True).astype(np.float32))
    path = np.concatenate([interpolate_latents(a, b, STEPS)[:-1] for a, b in zip(z[:-1], z[1:])] + [z[-1:]])
    frames = decode_latents(model, path.astype(np.float32))
    originals = decode_latents(model, z.astype(np.float32))
    g.pictures.put(("made", key, "blend.png"), png_bytes(make_grid(np.concatenate([originals, mix]), len(ids) + 1,
                                                                   scale=scale, captions=[*(f"#{n + 1}" for n in range(len(ids))), "blend"])))
    g.pictures.put(("made", key, "strip.png"), png_bytes(make_grid(frames, min(len(frames), 12), scale=scale)))
    g.pictures.put(("made", key, "strip.gif"), gif_bytes(frames, scale))
    return {"key": key, "kind": "blend", "files": ["blend.png", "strip.png", "strip.gif"]}
