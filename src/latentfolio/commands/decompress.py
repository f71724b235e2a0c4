"""``decompress``: .lfz, AVIF, WebP and JPEG XL files and .lfa archives back to images, each output
planned before any is written, every entry name kept below the output folder."""

from __future__ import annotations

import io
import warnings
from collections import Counter
from pathlib import Path

from .. import _io
from ..codec.archive import ARCHIVE_MAGIC, Archive
from ..codec.classical import JPEG_JXL, LOSSLESS, decode, kind_of, restore_jpeg
from ..codec.format import parse
from ..codec.image import DECODABLE, decompress_bytes
from ..codec.store import model_for
from ..data import metadata
from ..errors import LatentfolioError
from ..saved import load_model

PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"}  # the rest of DECODABLE: TIFF


CODED = (".lfz", ".avif", ".webp", ".jxl")  # what compress writes, beside .lfa archives


def _stem(name: str) -> str:
    """An output's name without the codec's suffix: x.jpg.avif -> x.jpg."""
    return name[:-len(Path(name).suffix)] if Path(name).suffix in CODED and Path(name).stem else name


def _inside(out: Path, dst: Path, name: str, src: str) -> Path:
    if not dst.resolve().is_relative_to(out.resolve()):
        raise LatentfolioError(f"{src}: entry {name!r} would be written outside {out}")
    return dst


def _plan(out: Path, name: str, blob: bytes, codec: str | None, src: str, clashing: frozenset):
    """(the .lfz header or None, the codec, the output path) of one job; damage is one line."""
    kind = kind_of(blob)
    if kind in (None, "lfz") or codec == "lfz":
        hd = parse(blob, src)
        return hd, "lfz", _output_name(out, name, hd.mode, src, clashing)
    if codec is not None and ("jxl" if codec == LOSSLESS else codec) != kind:
        raise LatentfolioError(f"{src}: the archive says {codec}, but the entry holds {kind} data")
    if kind == JPEG_JXL:  # the original JPEG file, under its own name
        stem = _stem(name)
        return None, kind, _inside(out, out / (stem if Path(stem).suffix else stem + ".jpg"), name, src)
    return None, kind, _output_name(out, name, "RGB", src, clashing)


def _output_name(out: Path, name: str, mode: str, src: str, clashing: frozenset = frozenset()) -> Path:
    """Where an entry decodes to: its name under ``out``, .png, or .tiff for modes PNG cannot hold.
    Entries in ``clashing`` (names that would meet, as x.jpg and x.png do) keep their own suffix."""
    if mode not in DECODABLE:
        raise LatentfolioError(f"{src}: holds an image of mode {mode!r}, which latentfolio cannot rebuild")
    stem = _stem(name)
    ext = ".png" if mode in PNG_MODES else ".tiff"
    base = str(Path(stem).with_suffix(""))
    if base in clashing and Path(stem).suffix.lower() != ext:  # x.avif and x.jxl: x.avif.png, x.jxl.png
        base = stem
    return _inside(out, out / (base + ext), name, src)


def _decode_jobs(files: list, only: list[str] | None) -> list[tuple[str, str, object, str | None]]:
    """(name under out, what it is read from, a callable giving its bytes, the codec an archive
    records), for coded files, .lfa archives' entries and folders of both."""
    found: list[tuple[Path, str]] = []
    for f in map(Path, files):
        if f.is_dir():  # a folder `compress` wrote: its coded files and archives, structure kept
            inside = sorted(g for g in f.rglob("*") if g.suffix in (*CODED, ".lfa") and g.is_file())
            if not inside:
                raise LatentfolioError(f"{f}: no .lfz, .avif, .webp, .jxl or .lfa files in this folder")
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
                jobs.append((entry, f"{f}:{entry}", lambda a=arc, e=entry: a.blob(e),
                             arc.codec(entry) if entry in arc.entries else None))
        else:
            jobs.append((name, str(f), f.read_bytes, None))
    return jobs


def decompress(files: list, out, *, model_dir=None, only: list[str] | None = None, force: bool = False) -> dict:
    """Decode .lfz, AVIF, WebP and JPEG XL files and .lfa archives into ``out`` (PNG; TIFF for
    CMYK and other modes PNG cannot hold; a transcoded JPEG as its original file, bit for bit).
    Every output is planned before any is written; a damaged file is named and passed over, and
    the rest are decoded."""
    given = load_model(model_dir) if model_dir else None
    cache: dict = {}
    out = Path(out)
    planned, failed, made = [], [], {}  # made: output -> what it is decoded from
    jobs = _decode_jobs(files, only)
    bases = Counter(str(Path(_stem(n)).with_suffix("")) for n, *_ in jobs)
    clashing = frozenset(b for b, c in bases.items() if c > 1)
    for name, src, read, codec in jobs:
        try:
            blob = read()
            hd, kind, dst = _plan(out, name, blob, codec, src, clashing)
        except LatentfolioError as e:
            failed.append((src, e))
            continue
        label = src if name == Path(src).name else f"{src} ({name})"  # a file, or an archive's entry
        if str(dst) in made:  # x.jpg.lfz and x.png.lfz both decode to x.png
            raise LatentfolioError(f"{made[str(dst)]} and {label} would both be written to {dst}; "
                                   "decompress them into separate folders")
        _io.check_writable(dst, force)
        made[str(dst)] = label
        planned.append((src, blob, hd, kind, dst))
    written = []
    for src, blob, hd, kind, dst in planned:
        try:
            if kind == JPEG_JXL:
                data, img = restore_jpeg(blob, src), None
            else:
                img = decompress_bytes(model_for(hd.fingerprint, given, cache, src), blob, src) \
                    if kind == "lfz" else decode(blob, src)
                buf = io.BytesIO()
                fmt = "PNG" if dst.suffix == ".png" else "TIFF"
                img.save(buf, format=fmt, **metadata.keep(img, fmt))  # the profile and EXIF an AVIF or .lfz carries
                data = buf.getvalue()
        except LatentfolioError as e:
            failed.append((src, e))
            continue
        _io.write_bytes(dst, data)
        written.append({"input": src, "output": str(dst), "codec": kind, "bytes_in": len(blob),
                        **({"size": list(img.size), "mode": img.mode} if img else {"restored": "bit for bit"})})
    if failed and not written:
        if len(failed) == 1:
            raise failed[0][1]
        raise LatentfolioError(f"nothing decoded: {len(failed)} damaged files; the first: {failed[0][1]}")
    for src, e in failed:
        warnings.warn(f"skipped {src}: {str(e).removeprefix(src + ': ')}", stacklevel=2)
    return {"out": str(out), "written": written, "failed": [src for src, _ in failed]}
