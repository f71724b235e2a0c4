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
from ..imaging import image_to_pixels
from ..latent.flatten import clean_page, looks_like_page, paper_tone
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


KINDS = ("scan", "page", "auto")


def denoise(model_dir, inputs: list, out, *, kind: str = "scan", paper: str = "white", tile: int | None = None,
            overlap: int | None = None, precision: str = "auto", force: bool = False,
            progress: bool | None = None) -> dict:
    """Clean image files (or folders of them) into ``out``, mirroring folder structure.

    ``kind``: ``scan`` runs the model on the image as it is; ``page`` divides the paper out first
    (stains, yellowing, uneven light: ``latent.flatten``) and needs a model trained with
    ``--denoise page``; ``auto`` decides per image (a page, or a photo or painting, which is never
    flattened) and says what it chose. ``paper``: the tone a page's paper is set on (white, keep,
    #RRGGBB). The output keeps the input's size, colour mode, format and EXIF; originals are
    never written. ``precision``: ``auto`` runs the network in bf16 where the hardware has it;
    the result reports the speed in megapixels per second.
    """
    if tile is not None and tile < 8:
        raise ArgumentError("tile", tile, "must be at least 8")
    if kind not in KINDS:
        raise ArgumentError("kind", kind, f"use one of {', '.join(KINDS)}")
    tone = paper_tone(paper)
    model = load_model(model_dir)
    trained = model.meta.get("training")
    spec = (trained or {}).get("config", {}).get("denoise")
    if trained is not None and not spec:
        raise LatentfolioError(f"{model_dir}: this {model.type_name} model was not trained to remove damage "
                               "(train one with --denoise SPEC; `reconstruct` shows what this one does)")
    for_pages = bool(spec) and Noise(spec).page
    if kind == "page" and not for_pages:
        raise LatentfolioError(f"{model_dir}: trained with --denoise {spec or '(unknown)'}, without page damage; "
                               "--kind page needs a model trained with --denoise page (or use --kind auto)")
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
    written, skipped, as_png, seconds, pixels, kinds = [], [], {}, 0.0, 0, {}
    for (src, dst), im in each_image(jobs, "denoising", progress, skipped):
        t0 = time.perf_counter()
        chosen, measures = _kind_of(im, kind, for_pages)
        shown = {"kind": chosen} | ({"page_measures": measures} if measures else {})
        if chosen == "unchanged":  # the file itself, byte for byte: a photo left alone is not re-encoded
            dst = dst.with_suffix(src.suffix)
            _io.check_writable(dst, force)
            _io.write_bytes(dst, src.read_bytes())
            written.append({"input": str(src), "output": str(dst), "size": list(im.size), "mode": im.mode} | shown)
            kinds[chosen] = kinds.get(chosen, 0) + 1
            continue
        made_as = format_of(im)
        fmt = made_as if made_as in WRITABLE and (made_as != "JXL" or metadata.is_srgb(im)) else "PNG"
        if fmt != made_as:  # PSD, KRA, ORA, RAW, a JPEG XL not in sRGB: said once per kind, in the result and a warning
            as_png.setdefault(made_as or "unknown", []).append(str(src))
        if chosen == "page":
            clean = clean_page(model, im, tone, tile, overlap, precision)
        else:
            clean = denoise_image(model, im, tile, overlap, precision)
        seconds += time.perf_counter() - t0
        kinds[chosen] = kinds.get(chosen, 0) + 1
        pixels += clean.size[0] * clean.size[1]
        if fmt == "PNG" and dst.suffix.lower() != ".png":
            dst = dst.with_suffix(".png")
        buf = io.BytesIO()
        kw = {"quality": 95} if fmt in ("JPEG", "WEBP", "AVIF", "JXL", "HEIF") else {}
        clean.save(buf, format=fmt, **kw, **metadata.keep(im, fmt, clean.mode))  # colour profile, EXIF
        _io.write_bytes(dst, buf.getvalue())
        written.append({"input": str(src), "output": str(dst), "size": list(clean.size), "mode": clean.mode} | shown)
    if not written:
        raise LatentfolioError(f"no readable image among {len(jobs)} input file(s)")
    for made_as, files in as_png.items():
        why = ("its writer cannot keep their colour profile" if made_as == "JXL" else f"latentfolio cannot write {made_as}")
        warnings.warn(f"{len(files)} {made_as} file(s) written as PNG: {why} (the first: {files[0]})", stacklevel=2)
    return {"out": str(out), "written": written, "skipped": skipped, "kinds": kinds,
            "written_as_png": {k: len(v) for k, v in as_png.items()}, "precision": "bf16" if half else "fp32",
            "megapixels": pixels / 1e6, "megapixels_per_s": pixels / 1e6 / max(seconds, 1e-9)}


def _kind_of(im: Image.Image, kind: str, for_pages: bool) -> tuple[str, dict | None]:
    """How to clean ``im``: ``scan``, ``page``, or ``unchanged`` (a picture, under a page model),
    and for ``auto`` the measures the choice rests on."""
    if kind != "auto":
        return kind, None
    p, info = image_to_pixels(im)
    page, measures = looks_like_page(p, info)
    if page:
        return "page", measures
    return ("unchanged" if for_pages else "scan"), measures


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
