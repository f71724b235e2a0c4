"""The compression commands: ``compress``, ``decompress`` and ``codec-eval``."""

from __future__ import annotations

import io
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .. import _io
from ..codec.archive import ARCHIVE_MAGIC, Archive, write_archive
from ..codec.entropy import estimated_bits
from ..codec.format import parse
from ..codec.hyper import is_hyper
from ..codec.image import DECODABLE, compress_image, decompress_bytes, encode_image, fingerprint, require_codec
from ..codec.refine import trained_lambda
from ..codec.store import model_for, register
from ..data import collect_images
from ..data.decode import each_image
from ..errors import ArgumentError, LatentfolioError
from ..metrics import psnr, ssim
from ..saved import load_for_model, load_model


def _check_refine(model, refine: int) -> None:
    if refine < 0:
        raise ArgumentError("refine", refine, "must be 0 (off) or a number of steps")
    if refine:
        trained_lambda(model)


def _done(dst: Path, model) -> bool:
    """An output a killed run already finished: a whole .lfz (its CRC holds) of this model."""
    try:
        return dst.is_file() and parse(dst.read_bytes(), str(dst)).fingerprint == fingerprint(model, 4)
    except LatentfolioError:
        return False


def compress(model_dir, inputs: list, out, *, force: bool = False, refine: int = 0, resume: bool = False,
             progress: bool | None = None) -> dict:
    """Compress images to ``out``: a folder of .lfz files, or one .lfa archive if ``out`` ends in .lfa.

    ``refine``: gradient steps on each image's latent before coding (see :func:`refine_latent`):
    smaller files at the same quality, at ``refine`` decoder passes per image. ``resume`` (a
    folder): files a killed run finished are kept, and only the rest are coded.
    """
    model = load_model(model_dir)
    require_codec(model)
    _check_refine(model, refine)
    out = Path(out)
    archive = out.suffix == ".lfa"
    rels = [(f, (f.relative_to(p) if p.is_dir() else Path(f.name)).as_posix())
            for p in map(Path, inputs) for f in collect_images([p])]
    kept: list[Path] = []
    if archive:
        _io.check_writable(out, force)
        pairs = _io.plan_outputs(rels, force, files=False)
    else:
        todo = [(f, out / (rel + ".lfz")) for f, rel in rels]
        kept = [dst for _, dst in todo if resume and _done(dst, model)]
        pairs = _io.plan_outputs([(f, dst) for f, dst in todo if dst not in kept], force)
    rows, entries, failed = [], [], []
    for (f, dst), img in each_image(pairs, "compressing", progress):
        img = ImageOps.exif_transpose(img)  # coded as it is shown: a rotated photo stays upright
        if img.mode not in DECODABLE:  # e.g. a floating-point TIFF (mode F)
            warnings.warn(f"skipped {f}: mode {img.mode} images are not supported; save it as 8- or 16-bit",
                          stacklevel=2)
            continue
        t0 = time.perf_counter()
        try:
            blob = compress_image(model, img, refine, str(f))  # too large for one pass: refused
        except LatentfolioError as e:
            failed.append(e)
            continue
        dt = time.perf_counter() - t0
        row = {"input": str(f), "bytes": len(blob), "original_bytes": f.stat().st_size,
               "bpp": 8 * len(blob) / (img.size[0] * img.size[1]), "seconds": round(dt, 4)}
        if archive:
            entries.append((dst, blob))
        else:
            _io.write_bytes(dst, blob)
            row["output"] = str(dst)
        rows.append(row)
    if not rows and not kept:
        raise failed[0] if len(failed) == 1 else LatentfolioError("no readable image to compress")
    for e in failed:  # named once each, after the work, as the bad files of a folder are
        warnings.warn(f"skipped {e}", stacklevel=2)
    if archive:
        write_archive(out, entries, fingerprint(model))
    register(model)
    total = sum(r["bytes"] for r in rows)
    return {"out": str(out), "archive": archive, "refine": refine, "images": len(rows),
            "kept": len(kept), "bytes": total,
            "original_bytes": sum(r["original_bytes"] for r in rows), "files": rows}


PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"}  # the rest of DECODABLE: TIFF


def _output_name(out: Path, name: str, mode: str, src: str, clashing: frozenset = frozenset()) -> Path:
    """Where an entry decodes to: its name under ``out``, .png, or .tiff for modes PNG cannot hold.
    Entries in ``clashing`` (names that would meet, as x.jpg and x.png do) keep their own suffix."""
    if mode not in DECODABLE:
        raise LatentfolioError(f"{src}: holds an image of mode {mode!r}, which latentfolio cannot rebuild")
    stem = name[:-4] if name.endswith(".lfz") else name
    ext = ".png" if mode in PNG_MODES else ".tiff"
    base = str(Path(stem).with_suffix(""))
    if base in clashing and Path(stem).suffix.lower() != ext:  # x.avif and x.jxl: x.avif.png, x.jxl.png
        base = stem
    dst = out / (base + ext)
    if not dst.resolve().is_relative_to(out.resolve()):
        raise LatentfolioError(f"{src}: entry {name!r} would be written outside {out}")
    return dst


def _decode_jobs(files: list, only: list[str] | None) -> list[tuple[str, str, object]]:
    """(name under out, what it is read from, a callable giving its bytes), for .lfz files, .lfa
    archives' entries and folders of both."""
    found: list[tuple[Path, str]] = []
    for f in map(Path, files):
        if f.is_dir():  # a folder `compress` wrote: its .lfz files and .lfa archives, structure kept
            inside = sorted(g for g in f.rglob("*") if g.suffix in (".lfz", ".lfa") and g.is_file())
            if not inside:
                raise LatentfolioError(f"{f}: no .lfz or .lfa files in this folder")
            found += [(g, g.relative_to(f).as_posix()) for g in inside]
        elif f.is_file():
            found.append((f, f.name))
        else:
            raise LatentfolioError(f"{f}: no such file")
    jobs = []
    for f, name in found:
        with f.open("rb") as fh:
            head = fh.read(4)
        if head == ARCHIVE_MAGIC:
            arc = Archive(f)
            for entry in only or arc.names():
                jobs.append((entry, f"{f}:{entry}", lambda a=arc, e=entry: a.blob(e)))
        else:
            jobs.append((name, str(f), f.read_bytes))
    return jobs


def decompress(files: list, out, *, model_dir=None, only: list[str] | None = None, force: bool = False) -> dict:
    """Decode .lfz files and .lfa archives into ``out`` (PNG; TIFF for CMYK and other modes PNG
    cannot hold). Every output is planned before any is written; a damaged file is named and
    passed over, and the rest are decoded."""
    given = load_model(model_dir) if model_dir else None
    cache: dict = {}
    out = Path(out)
    planned, failed, made = [], [], {}  # made: output -> what it is decoded from
    jobs = _decode_jobs(files, only)
    bases = Counter(str(Path(n[:-4] if n.endswith(".lfz") else n).with_suffix("")) for n, _, _ in jobs)
    clashing = frozenset(b for b, c in bases.items() if c > 1)
    for name, src, read in jobs:
        try:
            blob = read()
            hd = parse(blob, src)
            dst = _output_name(out, name, hd.mode, src, clashing)
        except LatentfolioError as e:
            failed.append((src, e))
            continue
        label = src if name == Path(src).name else f"{src} ({name})"  # a file, or an archive's entry
        if str(dst) in made:  # x.jpg.lfz and x.png.lfz both decode to x.png
            raise LatentfolioError(f"{made[str(dst)]} and {label} would both be written to {dst}; "
                                   "decompress them into separate folders")
        _io.check_writable(dst, force)
        made[str(dst)] = label
        planned.append((src, blob, hd, dst))
    written = []
    for src, blob, hd, dst in planned:
        try:
            img = decompress_bytes(model_for(hd.fingerprint, given, cache, src), blob, src)
        except LatentfolioError as e:
            failed.append((src, e))
            continue
        buf = io.BytesIO()
        img.save(buf, format="PNG" if dst.suffix == ".png" else "TIFF")
        _io.write_bytes(dst, buf.getvalue())
        written.append({"input": src, "output": str(dst), "size": list(img.size), "mode": img.mode})
    if failed and not written:
        if len(failed) == 1:
            raise failed[0][1]
        raise LatentfolioError(f"nothing decoded: {len(failed)} damaged files; the first: {failed[0][1]}")
    for src, e in failed:
        warnings.warn(f"skipped {src}: {str(e).removeprefix(src + ': ')}", stacklevel=2)
    return {"out": str(out), "written": written, "failed": [src for src, _ in failed]}


@torch.no_grad()
def codec_eval(model_dir, data, *, split: str = "test", limit: int | None = None, data_root=None,
               refine: int = 0) -> dict:
    """Compress and decode each image of a split as real .lfz bytes; report rate, quality, speed."""
    if limit is not None and limit < 1:
        raise ArgumentError("limit", limit, "must be at least 1")
    model = load_model(model_dir)
    require_codec(model)
    _check_refine(model, refine)
    ds = load_for_model(model, data, data_root)
    idx = ds.indices(split)[:limit]
    if len(idx) == 0:
        raise LatentfolioError(f"{data}: the {split} split is empty")
    sizes, est, ps, ss, tenc, tdec = [], [], [], [], 0.0, 0.0
    for i in idx:
        a = np.asarray(ds.images[i])
        img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        t0 = time.perf_counter()
        blob, sym = encode_image(model, img, refine)
        tenc += time.perf_counter() - t0
        t0 = time.perf_counter()
        back = np.asarray(decompress_bytes(model, blob), np.float32).reshape(a.shape) / 255
        tdec += time.perf_counter() - t0
        sizes.append(len(blob))
        if not is_hyper(model):  # a hyperprior's sym is ŷ, not table symbols
            est.append(estimated_bits(model, sym) / 8)
        x, y = (torch.from_numpy(v).permute(2, 0, 1)[None].float() for v in (a.astype(np.float32) / 255, back))
        ps.append(float(psnr(y, x)[0]))
        ss.append(float(ssim(y, x)[0]))
    n, px = len(idx), ds.image_size**2
    return {"model": str(model_dir), "data": str(data), "split": split, "n": n, "refine": refine,
            "bytes_per_image": float(np.mean(sizes)), "bpp": float(np.mean(sizes)) * 8 / px,
            "estimated_payload_bytes": float(np.mean(est)) if est else None, "psnr_db": float(np.mean(ps)),
            "ssim": float(np.mean(ss)), "encode_images_per_s": n / tenc, "decode_images_per_s": n / tdec}
