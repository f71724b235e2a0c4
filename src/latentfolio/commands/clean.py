"""The cleaning commands: ``noise`` (make a damaged test set) and ``denoise``."""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import _io
from ..data import collect_images, metadata
from ..data.decode import each_image, normalise_mode
from ..data.formats import RAW_SUFFIXES, WRITABLE, format_of

PNG_ONLY = frozenset({".ora", ".kra", ".psd", ".psb"}) | RAW_SUFFIXES
from ..data.noise import Noise
from ..errors import ArgumentError, LatentfolioError
from ..latent.tiles import denoise_image, use_bf16
from ..saved import load_model


def _output_path(src: Path, root: Path | None, out: Path) -> Path:
    """The same name under ``out``; .png where the format can't be written back (e.g. .jpx)."""
    rel = src.relative_to(root) if root else Path(src.name)
    suffix = rel.suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    # formats read but not written (PSD, ORA, KRA, RAW, .jpx...) are planned as .png now, so two
    # inputs meeting there are refused before any work, never written over (not other files:
    # notes.txt is no clash)
    if (fmt is not None and fmt not in WRITABLE) or suffix in PNG_ONLY:
        rel = rel.with_suffix(".png")
    return out / rel


def _png_name(rel: Path) -> Path:
    """x.jpg -> x.png; a file that is no image by its name keeps it whole (notes.txt ->
    notes.txt.png, never written), so it can't clash with notes.png."""
    if not rel.suffix or rel.suffix.lower() in Image.registered_extensions():
        return rel.with_suffix(".png")
    return rel.with_name(rel.name + ".png")


def denoise(model_dir, inputs: list, out, *, tile: int | None = None, overlap: int | None = None,
            precision: str = "auto", force: bool = False, progress: bool | None = None) -> dict:
    """Clean image files (or folders of them) into ``out``, mirroring folder structure.

    The output keeps the input's size, colour mode, format and EXIF; originals are never written.
    ``precision``: ``auto`` runs the network in bf16 where the hardware has it (see
    :func:`denoise_image`); the result reports the model's speed in megapixels per second.
    """
    if tile is not None and tile < 8:
        raise ArgumentError("tile", tile, "must be at least 8")
    model = load_model(model_dir)
    trained = model.meta.get("training")
    if trained is not None and not trained.get("config", {}).get("denoise"):
        raise LatentfolioError(f"{model_dir}: this {model.type_name} model was not trained to remove damage "
                               "(train one with --denoise SPEC; `reconstruct` shows what this one does)")
    half = use_bf16(precision, next(model.parameters()).device)
    out = Path(out)
    jobs: list[tuple[Path, Path]] = []
    for p in map(Path, inputs):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            jobs += [(f, _output_path(f, p, out)) for f in files]
        elif p.is_file():
            jobs.append((p, _output_path(p, None, out)))
        else:
            raise LatentfolioError(f"{p}: no such file or folder")
    if not jobs:
        raise LatentfolioError("no input images: " + ", ".join(map(str, inputs)))
    jobs = _io.plan_outputs(jobs, force)
    written, skipped, as_png, seconds, pixels = [], [], {}, 0.0, 0
    for (src, dst), im in each_image(jobs, "denoising", progress, skipped):
        kind = format_of(im)
        fmt = kind if kind in WRITABLE and (kind != "JXL" or metadata.is_srgb(im)) else "PNG"
        if fmt != kind:  # PSD, KRA, ORA, RAW, a JPEG XL not in sRGB: said once per kind, in the result and a warning
            as_png.setdefault(kind or "unknown", []).append(str(src))
        t0 = time.perf_counter()
        clean = denoise_image(model, im, tile, overlap, precision)
        seconds += time.perf_counter() - t0
        pixels += clean.size[0] * clean.size[1]
        if fmt == "PNG" and dst.suffix.lower() != ".png":
            dst = dst.with_suffix(".png")
        buf = io.BytesIO()
        kw = {"quality": 95} if fmt in ("JPEG", "WEBP", "AVIF", "JXL", "HEIF") else {}
        clean.save(buf, format=fmt, **kw, **metadata.keep(im, fmt, clean.mode))  # colour profile, EXIF
        _io.write_bytes(dst, buf.getvalue())
        written.append({"input": str(src), "output": str(dst), "size": list(clean.size),
                        "mode": clean.mode})
    if not written:
        raise LatentfolioError(f"no readable image among {len(jobs)} input file(s)")
    for kind, files in as_png.items():
        why = ("its writer cannot keep their colour profile" if kind == "JXL" else f"latentfolio cannot write {kind}")
        warnings.warn(f"{len(files)} {kind} file(s) written as PNG: {why} (the first: {files[0]})", stacklevel=2)
    return {"out": str(out), "written": written, "skipped": skipped,
            "written_as_png": {k: len(v) for k, v in as_png.items()}, "precision": "bf16" if half else "fp32",
            "megapixels": pixels / 1e6, "megapixels_per_s": pixels / 1e6 / max(seconds, 1e-9)}


def noise(inputs: list, out, *, spec: str, seed: int = 0, force: bool = False, native: bool = False) -> dict:
    """Apply a noise spec to image files at their own size; writes PNGs (L or RGB) to ``out``.
    ``native``: specks and hairs keep the size they have on a 256 px training patch."""
    try:
        corrupt = Noise(spec, native=native)
    except ValueError as e:
        raise ArgumentError("spec", None, str(e)) from None
    out = Path(out)
    # Mirror the folder structure, so a/001.png and b/001.png do not collide.
    # (file, output, index): the index seeds the file's noise, whichever files turn out unreadable
    jobs = _io.plan_outputs([(f, out / _png_name(f.relative_to(p) if p.is_dir() else Path(f.name)))
                             for p in map(Path, inputs) for f in collect_images([p])], force)
    jobs = [(f, dst, i) for i, (f, dst) in enumerate(jobs)]
    written = []
    for (f, dst, i), im in each_image(jobs, "adding noise"):
        im = normalise_mode(metadata.upright(im))
        a = np.asarray(im, dtype=np.float32) / 255.0
        a = a[:, :, None] if a.ndim == 2 else a
        g = torch.Generator().manual_seed(seed * 1_000_003 + i)
        y = corrupt(torch.from_numpy(a).permute(2, 0, 1)[None], g)[0].permute(1, 2, 0).numpy()
        u8 = np.round(y * 255).clip(0, 255).astype(np.uint8)
        damaged = Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8)
        buf = io.BytesIO()
        damaged.save(buf, format="PNG")
        _io.write_bytes(dst, buf.getvalue())
        written.append({"input": str(f), "output": str(dst)})
    if not written:
        raise LatentfolioError(f"no readable image among {len(jobs)} input file(s)")
    return {"spec": spec, "seed": seed, "written": written}
