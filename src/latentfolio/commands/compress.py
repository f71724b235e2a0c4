"""The compression commands: ``compress``, ``decompress`` and ``codec-eval``."""

from __future__ import annotations

import errno
import time
import warnings
from collections import Counter
from pathlib import Path


from .. import _io
from ..codec.archive import write_archive
from ..codec.classical import CODECS, JPEG_JXL, SUFFIX, coded_mode
from ..codec.format import FP_LEN, parse
from ..codec.image import DECODABLE, compress_image, fingerprint, require_codec
from ..codec.refine import trained_lambda
from ..codec.store import register
from ..codec.target import Target, choose, classical_ladders, learned_ladder
from ..data import collect_images, metadata
from ..data.decode import each_image
from ..errors import ArgumentError, LatentfolioError
from ..saved import CONFIG, load_model


def load_codecs(model_dir) -> list:
    """A codec model folder, or a folder of them (``train --lambdas`` writes ``lambda-*``)."""
    d = Path(model_dir)
    dirs = [d] if (d / CONFIG).is_file() or not d.is_dir() else sorted(p.parent for p in d.glob("*/" + CONFIG))
    if not dirs:
        raise LatentfolioError(f"{d}: not a model folder, nor a folder of them")
    models = [load_model(p) for p in dirs]
    for m in models:
        require_codec(m)
    return models


def check_refine(model, refine: int) -> None:
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
             progress: bool | None = None, target_psnr: float | None = None, target_ssim: float | None = None,
             codecs: list[str] | None = None) -> dict:
    """Compress images to ``out``: a folder of .lfz files, or one .lfa archive if ``out`` ends in .lfa.

    ``refine``: gradient steps on each image's latent before coding (see :func:`refine_latent`):
    smaller files at the same quality, at ``refine`` decoder passes per image. ``resume`` (a
    folder): files a killed run finished are kept, and only the rest are coded.

    ``target_psnr`` / ``target_ssim``: each image is kept in the fewest bytes that meet the
    target, among ``codecs`` (default: AVIF, WebP, JPEG XL, a JPEG's lossless JPEG XL transcode,
    and the model's rates when ``model_dir`` is given); see :func:`compress_to_target`.
    """
    if target_psnr is not None or target_ssim is not None:
        if refine:
            raise ArgumentError("refine", refine, "does not combine with a target quality")
        return compress_to_target(model_dir, inputs, out, target_psnr=target_psnr, target_ssim=target_ssim,
                                  codecs=codecs, force=force, resume=resume, progress=progress)
    if model_dir is None:
        raise LatentfolioError("no codec model given: name a codec model folder before the images, "
                               "or give a target quality (--target-psnr) to choose among AVIF, WebP and JPEG XL")
    if codecs:
        raise ArgumentError("codecs", ",".join(codecs), "choosing codecs needs a target quality (--target-psnr)")
    model = load_model(model_dir)
    require_codec(model)
    check_refine(model, refine)
    out = Path(out)
    archive = out.suffix == ".lfa"
    rels = _relative(inputs)
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
        img = metadata.upright(img)  # coded as it is shown: a rotated photo stays upright
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
            if not _write_coded(dst, blob, len(rows) + len(kept), len(pairs) + len(kept)):
                continue
            row["output"] = str(dst)
        rows.append(row)
    if not rows and not kept:
        raise failed[0] if len(failed) == 1 else LatentfolioError("no readable image to compress")
    for e in failed:  # named once each, after the work, as the bad files of a folder are
        warnings.warn(f"skipped {e}", stacklevel=2)
    if archive:
        _write_archive(out, entries, fingerprint(model))
    register(model)
    total = sum(r["bytes"] for r in rows)
    return {"out": str(out), "archive": archive, "refine": refine, "images": len(rows),
            "kept": len(kept), "bytes": total,
            "original_bytes": sum(r["original_bytes"] for r in rows), "files": rows}


FULL = (errno.ENOSPC, errno.EDQUOT)


def _write_coded(dst: Path, blob: bytes, done: int, total: int) -> bool:
    """One coded file, whole or not at all -> False when its name is too long (said, and passed
    over). A full disk stops the run, saying how to finish it."""
    try:
        _io.write_bytes(dst, blob)
    except OSError as e:
        if e.errno in FULL:
            raise LatentfolioError(f"{dst}: the disk is full ({done} of {total} files written, each whole); "
                                   "free some space and run the same command with --resume to finish") from None
        if e.errno == errno.ENAMETOOLONG:
            warnings.warn(f"skipped {dst}: the name is too long for this file system with the codec's suffix; "
                          "rename the original, or compress into an .lfa archive", stacklevel=3)
            return False
        raise
    return True


def _write_archive(out: Path, entries: list, fp: bytes) -> None:
    """The archive, written aside and renamed when whole; a killed earlier run's leftover is removed."""
    _io.remove_stale_temps(out)
    try:
        write_archive(out, entries, fp)
    except OSError as e:
        if e.errno in FULL:
            raise LatentfolioError(f"{out}: the disk is full; no archive was written (nothing half-done is "
                                   "left); free some space and run again") from None
        raise


def _relative(inputs: list) -> list[tuple[Path, str]]:
    return [(f, (f.relative_to(p) if p.is_dir() else Path(f.name)).as_posix())
            for p in map(Path, inputs) for f in collect_images([p])]


TARGET_CODECS = (*CODECS, JPEG_JXL, "lfz")


def _target_ladders(model_dir, codecs: list[str] | None) -> tuple[list, list]:
    models = load_codecs(model_dir) if model_dir is not None else []
    names = list(codecs) if codecs else [*CODECS, JPEG_JXL, *(["lfz"] if models else [])]
    bad = [n for n in names if n not in TARGET_CODECS]
    if bad or not names:
        raise ArgumentError("codecs", ",".join(names), "choose from " + ", ".join(TARGET_CODECS))
    if "lfz" in names and not models:
        raise ArgumentError("codecs", "lfz", "needs a codec model folder, named before the images")
    ladders = classical_ladders([n for n in names if n in CODECS])
    return ladders + ([learned_ladder(models)] if "lfz" in names else []), models


def _finished(out: Path, rel: str) -> Path | None:
    return next((p for s in set(SUFFIX.values()) if (p := out / (rel + s)).is_file()), None)


def compress_to_target(model_dir, inputs: list, out, *, target_psnr: float | None = None,
                       target_ssim: float | None = None, codecs: list[str] | None = None,
                       force: bool = False, resume: bool = False, progress: bool | None = None) -> dict:
    """Each image in the fewest bytes that keep it at ``target_psnr`` dB (or ``target_ssim``)
    against its own pixels, among the classical codecs and a model's rates.

    Outputs are the codecs' own files (``x.jpg.avif``, ``.webp``, ``.jxl``, ``.lfz``) in a folder,
    or the entries of one .lfa archive, whose index records each entry's codec. ``decompress``
    restores every one; a JPEG kept as a lossless JPEG XL transcode comes back bit for bit.
    """
    if target_psnr is not None and target_ssim is not None:
        raise ArgumentError("target-ssim", target_ssim, "give one target: --target-psnr or --target-ssim")
    target = Target("psnr", target_psnr) if target_psnr is not None else Target("ssim", target_ssim)
    ladders, models = _target_ladders(model_dir, codecs)
    use_jpeg = codecs is None or JPEG_JXL in codecs
    out = Path(out)
    archive = out.suffix == ".lfa"
    kept: list[Path] = []
    old: dict = {}
    pairs = _io.plan_outputs(_relative(inputs), force, files=False)
    if archive:
        _io.check_writable(out, force)
    else:
        done = [(f, rel, _finished(out, rel)) for f, rel in pairs]
        kept = [p for _, _, p in done if p is not None and resume]
        for _, _, p in done:
            if p is not None and not resume:
                _io.check_writable(p, force)
        old = {rel: p for _, rel, p in done if p is not None}  # with --force: replaced, whatever codec wins now
        pairs = [(f, rel) for f, rel, p in done if p is None or not resume]
    rows, entries, starts = [], [], {}
    for (f, rel), img in each_image(pairs, "compressing to target", progress):
        jpeg = f.read_bytes() if use_jpeg and img.format == "JPEG" else None
        coded = coded_mode(metadata.upright(img))
        if coded is None:
            warnings.warn(f"skipped {f}: mode {img.mode} (16-bit or float) would lose bits in these codecs",
                          stacklevel=2)
            continue
        t0 = time.perf_counter()
        choice, sizes = choose(coded, ladders, target, jpeg, starts=starts)
        ladders.sort(key=lambda lad: lad.name != choice.codec)  # the last winner first: it bounds the rest
        name = rel + SUFFIX[choice.codec]
        row = {"input": str(f), "codec": choice.codec, "quality": choice.rung, "bytes": len(choice.blob),
               "original_bytes": f.stat().st_size, target.metric: round(choice.score, 4),
               "bpp": 8 * len(choice.blob) / (coded.size[0] * coded.size[1]),
               "seconds": round(time.perf_counter() - t0, 3), "sizes": sizes}
        if archive:
            entries.append((name, choice.blob, choice.codec))
        else:
            if not _write_coded(out / name, choice.blob, len(rows) + len(kept), len(pairs) + len(kept)):
                continue
            if old.get(rel, out / name) != out / name:  # x.png.webp replaced by x.png.avif: one file per image
                old[rel].unlink()
            row["output"] = str(out / name)
        rows.append(row)
    if not rows and not kept:
        raise LatentfolioError("no readable image to compress")
    used = models if any(r["codec"] == "lfz" for r in rows) else []
    if archive:
        _write_archive(out, entries, fingerprint(used[0]) if used else bytes(FP_LEN))
    for m in used:
        register(m)
    return {"out": str(out), "archive": archive, "target": {target.metric: target.value}, "images": len(rows),
            "kept": len(kept), "bytes": sum(r["bytes"] for r in rows),
            "original_bytes": sum(r["original_bytes"] for r in rows),
            "won": dict(Counter(r["codec"] for r in rows).most_common()), "files": rows}
