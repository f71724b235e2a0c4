"""Clean images of any size with a trained model: overlapping tiles, blended without seams.

The output keeps the input's size, colour mode, format and EXIF; originals are never written.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .. import _io
from ..errors import LatentfolioError
from ..models import Autoencoder
from ..training.losses import to_unit

SAVE_FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"}


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
        raise LatentfolioError(f"--tile {tile}: a {model.type_name!r} model takes only its own "
                               f"{size} px tiles")
    else:
        tile = size
    overlap = tile // 4 if overlap is None else overlap
    if not 0 <= overlap < tile:
        raise LatentfolioError(f"--overlap {overlap}: must be >= 0 and smaller than the tile ({tile})")
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


def _split(img: Image.Image) -> tuple[np.ndarray, dict]:
    """Pillow image -> float (H, W, K) in [0, 1] plus what is needed to rebuild the same mode."""
    mode = img.mode
    info = {"mode": mode}
    if mode in ("I;16", "I;16L", "I;16B", "I"):
        a = np.asarray(img).astype(np.float32)
        info["scale"] = 65535.0 if mode != "I" or a.max() > 255 else 255.0
        return (a / info["scale"]).clip(0, 1)[:, :, None], info
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA" if mode != "LA" else "LA")
        info["alpha"] = rgba.getchannel("A")
        img = rgba.convert("RGB" if mode != "LA" else "L")
    elif mode not in ("L", "RGB"):
        if mode == "P":
            info["palette"] = img
        img = img.convert("L" if mode == "1" else "RGB")
    a = np.asarray(img, dtype=np.float32) / 255.0
    return (a[:, :, None] if a.ndim == 2 else a), info


def _merge(a: np.ndarray, info: dict) -> Image.Image:
    mode = info["mode"]
    if "scale" in info:
        v = np.round(a[:, :, 0] * info["scale"])
        img = Image.fromarray(v.astype(np.uint16) if info["scale"] > 255 else v.astype(np.int32))
        return img if img.mode == mode else img.convert(mode)
    u8 = np.round(a * 255).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(u8[:, :, 0], "L") if u8.shape[2] == 1 else Image.fromarray(u8, "RGB")
    if "alpha" in info:
        img.putalpha(info["alpha"])
        return img if mode in ("RGBA", "LA") else img.convert(mode) if mode != "P" else img
    if "palette" in info:
        return img.quantize(palette=info["palette"], dither=Image.Dither.NONE)
    return img if img.mode == mode else img.convert(mode)


def denoise_image(model: Autoencoder, img: Image.Image, tile=None, overlap=None) -> Image.Image:
    a, info = _split(img)
    return _merge(denoise_array(model, a, tile, overlap), info)


def _output_path(src: Path, root: Path | None, out_dir: Path) -> Path:
    """The same name under ``out_dir``; .png where the format can't be written back (e.g. .jpx)."""
    rel = src.relative_to(root) if root else Path(src.name)
    fmt = Image.registered_extensions().get(rel.suffix.lower())
    if fmt is not None and fmt not in SAVE_FORMATS:  # (not other files: notes.txt is no clash)
        rel = rel.with_suffix(".png")
    return out_dir / rel


def _png_name(rel: Path) -> Path:
    """x.jpg -> x.png; a file that is no image by its name keeps it whole (notes.txt ->
    notes.txt.png, never written), so it can't clash with notes.png."""
    if not rel.suffix or rel.suffix.lower() in Image.registered_extensions():
        return rel.with_suffix(".png")
    return rel.with_name(rel.name + ".png")


def denoise(model_dir, inputs: list, out_dir, tile: int | None = None, overlap: int | None = None,
            force: bool = False, progress: bool | None = None) -> dict:
    """Denoise image files (or folders of them) into ``out_dir``, mirroring folder structure."""
    from ..data.decode import each_image
    from ..saved import load_model

    if tile is not None and tile < 8:
        raise LatentfolioError(f"--tile {tile}: must be at least 8")
    model = load_model(model_dir)
    out_dir = Path(out_dir)
    jobs: list[tuple[Path, Path]] = []
    for p in map(Path, inputs):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            jobs += [(f, _output_path(f, p, out_dir)) for f in files]
        elif p.is_file():
            jobs.append((p, _output_path(p, None, out_dir)))
        else:
            raise LatentfolioError(f"{p}: no such file or folder")
    if not jobs:
        raise LatentfolioError("no input images: " + ", ".join(map(str, inputs)))
    jobs = _io.plan_outputs(jobs, force)
    written, skipped = [], []
    for (src, dst), im in each_image(jobs, "denoising", progress, skipped):
        fmt = im.format if im.format in SAVE_FORMATS else "PNG"
        exif = im.info.get("exif")
        clean = denoise_image(model, im, tile, overlap)
        if fmt == "PNG" and dst.suffix.lower() != ".png":
            dst = dst.with_suffix(".png")
        buf = io.BytesIO()
        kw = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        if exif:
            kw["exif"] = exif
        clean.save(buf, format=fmt, **kw)
        _io.write_bytes(dst, buf.getvalue())
        written.append({"input": str(src), "output": str(dst), "size": list(clean.size),
                        "mode": clean.mode})
    if not written:
        raise LatentfolioError(f"no readable image among {len(jobs)} input file(s)")
    return {"out": str(out_dir), "written": written, "skipped": skipped}


def add_noise(inputs: list, spec: str, out_dir, seed: int = 0, force: bool = False) -> dict:
    """Apply a noise spec to image files at their own size; writes PNGs (L or RGB) to ``out_dir``."""
    from ..data.decode import each_image, normalise_mode
    from ..evaluation import collect_images
    from .noise import Noise

    try:
        noise = Noise(spec)
    except ValueError as e:
        raise LatentfolioError(f"--spec: {e}") from None
    out_dir = Path(out_dir)
    # Mirror the folder structure, so a/001.png and b/001.png do not collide.
    # (file, output, index): the index seeds the file's noise, whichever files turn out unreadable
    jobs = _io.plan_outputs([(f, out_dir / _png_name(f.relative_to(p) if p.is_dir() else Path(f.name)))
                             for p in map(Path, inputs) for f in collect_images([p])], force)
    jobs = [(f, dst, i) for i, (f, dst) in enumerate(jobs)]
    written = []
    for (f, dst, i), im in each_image(jobs, "adding noise"):
        im = normalise_mode(ImageOps.exif_transpose(im))
        a = np.asarray(im, dtype=np.float32) / 255.0
        a = a[:, :, None] if a.ndim == 2 else a
        g = torch.Generator().manual_seed(seed * 1_000_003 + i)
        y = noise(torch.from_numpy(a).permute(2, 0, 1)[None], g)[0].permute(1, 2, 0).numpy()
        u8 = np.round(y * 255).clip(0, 255).astype(np.uint8)
        out = Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8)
        buf = io.BytesIO()
        out.save(buf, format="PNG")
        _io.write_bytes(dst, buf.getvalue())
        written.append({"input": str(f), "output": str(dst)})
    if not written:
        raise LatentfolioError(f"no readable image among {len(jobs)} input file(s)")
    return {"spec": spec, "seed": seed, "written": written}
