"""Image folders: recursive scan, labels from first-level subfolders, decode-once cache.

Decoded pixels go to a uint8 ``.npy`` in the cache, memory-mapped on later runs. The cache key
covers every file's relative path, size and mtime plus the decode settings, so any change to
the folder or the settings makes a fresh cache, and an unchanged folder is never decoded twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import LatentfolioError
from .decode import BadImage, decode_image, header
from .imageset import ImageSet, hash_splits

CACHE_VERSION = 2  # 2: pixels in sRGB (2026-12-07)


# Written by `cluster --organize` into its output folder: what it wrote there (docs/formats.md).
# A folder that holds one is latentfolio's output, not a user's images: scans pass it over.
ORGANIZE_MANIFEST = ".latentfolio-organize.json"
DUPLICATES_MARKER = ".latentfolio-duplicates"  # in each _duplicates folder of a tidy-up (commands/journal.py)


def not_regular(path: Path) -> str | None:
    """None for a regular file (or a link to one); else why it is not read. Checked with lstat
    then stat, so a FIFO, a device, a dangling link or a link loop is named, never opened."""
    try:
        st = os.stat(path)  # follows links: a loop or a dangling link raises
    except OSError as e:
        return "a broken link" if path.is_symlink() else f"cannot be read ({e.strerror or e})"
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or
                stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
        return f"{kind}, not a regular file"
    return None


def shown(path) -> str:
    """A path as text that any terminal can print: bytes that are not UTF-8 as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def bad_name(path: str) -> str | None:
    """Why a path cannot be recorded (catalogs and caches store UTF-8), or None."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8; rename it to index or train on it"
    return None


# Files that sit beside pictures and are never pictures: notes, checksums, sidecars, documents,
# code and archives. A folder's scan passes them over without counting them as bad images.
DOCUMENT_SUFFIXES = frozenset({".md", ".txt", ".rst", ".json", ".csv", ".tsv", ".yaml", ".yml", ".toml", ".ini",
                               ".cfg", ".xml", ".html", ".htm", ".pdf", ".doc", ".docx", ".odt", ".rtf", ".xmp",
                               ".aae", ".db", ".log", ".py", ".sh", ".js", ".css", ".zip", ".gz", ".tar", ".7z",
                               ".sha256", ".sha1", ".md5", ".sfv", ".url", ".lnk", ".pp3", ".dop"})
DOCUMENT_NAMES = frozenset({"sha256sums", "sha1sums", "md5sums", "readme", "license", "licence", "copying",
                            "authors", "notice", "changelog"})


def is_document(name) -> bool:
    """A file that is not meant as a picture, by its name (``SOURCE.md``, ``SHA256SUMS``, ``x.xmp``)."""
    base = os.path.basename(str(name)).lower()
    return os.path.splitext(base)[1] in DOCUMENT_SUFFIXES or base in DOCUMENT_NAMES



def _own_outputs(folder: Path) -> set[str]:
    """Files latentfolio wrote into ``folder`` itself (the contact sheets of an organize output)."""
    try:
        manifest = json.loads((folder / ORGANIZE_MANIFEST).read_text())
        return {str(s) for s in manifest.get("sheets", [])} if isinstance(manifest, dict) else set()
    except (OSError, ValueError):
        return set()


def scan(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """All non-hidden regular files below ``root`` but documents (:func:`is_document`:
    notes, checksums, sidecars), with a label index from the first-level subfolder.

    Returns (files, labels, classes). Files at the top level of a labelled tree get label -1.
    Folders that latentfolio wrote (``cluster --organize`` outputs, the ``_duplicates`` folders
    of a tidy-up) are passed over; links that
    lead to a file already found are kept once; entries that are not regular files (FIFOs,
    devices, broken links) are named once in a warning and passed over.
    """
    def own(d: Path) -> bool:
        return (d / ORGANIZE_MANIFEST).exists() or (d / DUPLICATES_MARKER).exists()

    subdirs = sorted(p.name for p in root.iterdir()
                     if p.is_dir() and not p.name.startswith(".") and not own(p))
    classes = subdirs
    cls_index = {c: i for i, c in enumerate(classes)}
    files, labels, seen = [], [], set()
    skip_top = _own_outputs(root) if own(root) else set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not own(here / d))
        rel = here.relative_to(root)
        label = cls_index.get(rel.parts[0], -1) if rel.parts else -1
        for name in sorted(filenames):
            if name.startswith(".") or (not rel.parts and name in skip_top) or is_document(name):
                continue  # hidden, ours, or notes and checksums beside the pictures: not images
            f = here / name
            why = not_regular(f) or bad_name(str(f))
            if why:
                warnings.warn(f"skipped {shown(f)}: {why}", BadFileWarning, stacklevel=2)
                continue
            real = os.path.realpath(f)
            if real in seen:  # two links to one file, or a link to a file found already
                continue
            seen.add(real)
            files.append(f)
            labels.append(label)
    return files, labels, classes


def scan_folder(root: str | os.PathLike) -> tuple[Path, list[Path], list[int], list[str]]:
    """:func:`scan` of a folder the user named: (root, files, labels, classes), or a one-line
    error when it is not a folder or holds no file."""
    root = Path(root)
    if not root.is_dir():
        raise LatentfolioError(f"{root}: not a folder")
    files, labels, classes = scan(root)
    if not files:
        raise LatentfolioError(f"{root}: folder has no files")
    return root, files, labels, classes


def cache_root() -> Path:
    env = os.environ.get("LATENTFOLIO_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("latentfolio"))


def stamps_of(root: Path, files: list[Path]) -> bytes:
    """Every file's relative path, size and mtime: what the cache keys are built on."""
    out = []
    for f in files:
        st = f.stat()
        out.append(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n")
    return "".join(out).encode()


def _cache_key(root: Path, stamps: bytes, size: int, channels: int, fit: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, str(root.resolve()), size, channels, fit]).encode())
    h.update(stamps)
    return h.hexdigest()[:32]


def _progress(total: int, label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=True, disable=not sys.stderr.isatty())


DEFAULT_SIZE = 64  # px: enough for sketches and thumbnails, cheap on a CPU


def default_size(sides: list[int]) -> int:
    """The side a folder is trained at when none is given: 64 px, or the images' own (median
    shorter side) when they are smaller, so 28 px icons are not blown up to 64 (4.5x the work)."""
    return max(8, min(DEFAULT_SIZE, int(np.median(sides)))) if sides else DEFAULT_SIZE


def _detect(root: Path, files: list[Path], stamps: bytes, size: int | None, channels: int | None,
            fit: str, use_cache: bool) -> tuple[int, int]:
    """The size and channels left to detection, from the files' headers. The answer is cached
    under the same key as the pixels (paths, sizes, mtimes), so an unchanged folder of thousands
    of files is not opened again just to find the decode cache."""
    note = cache_root() / "decoded" / f"detected-{_cache_key(root, stamps, size or 0, channels or 0, fit)}.json"
    if use_cache:
        try:
            found = json.loads(note.read_text())
            return int(found["size"]), int(found["channels"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        heads = [h for h in pool.map(header, map(str, files)) if h[0]]
    if channels is None:
        channels = 1 if heads and all(c == 1 for c, _ in heads) else 3
    if size is None:
        size = default_size([side for _, side in heads])
    if use_cache:
        note.parent.mkdir(parents=True, exist_ok=True)
        _io.write_json(note, {"size": size, "channels": channels})
    return size, channels


def decode_each(files: list[Path], label: str, work) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Run ``work(i)`` for every file in threads, with a progress bar; ``work`` raises BadImage for
    a file it cannot use. -> (mask of the good files, (path, reason) of the bad ones)."""
    ok = np.zeros(len(files), dtype=bool)

    def one(i: int):
        try:
            work(i)
        except BadImage as e:
            return str(files[i]), str(e)
        ok[i] = True
        return None

    skipped: list[tuple[str, str]] = []
    with _progress(len(files), label) as prog, ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        task = prog.add_task("decode", total=len(files))
        for res in pool.map(one, range(len(files))):
            prog.advance(task)
            if res:
                skipped.append(res)
    return ok, skipped


def keep_good_rows(tmp: Path, arr: np.ndarray, ok: np.ndarray, per: int, root: Path,
                   skipped: list[tuple[str, str]]) -> np.ndarray:
    """Compact ``tmp/images.npy`` (``per`` rows a file) to the good files' rows; a folder with none
    is an error. -> the indices of the good files."""
    keep = np.flatnonzero(ok)
    if len(keep) == 0:
        raise LatentfolioError(f"{root}: no readable images ({len(ok)} files, all bad; "
                               f"first: {skipped[0][0]}: {skipped[0][1]})")
    if len(keep) < len(ok):  # compact so the cache holds only good rows
        rows = (keep[:, None] * per + np.arange(per)).ravel()
        good = np.lib.format.open_memmap(tmp / "good.npy", mode="w+", dtype=np.uint8,
                                         shape=(len(rows),) + arr.shape[1:])
        for s in range(0, len(rows), 4096):
            good[s:s + 4096] = arr[rows[s:s + 4096]]
        good.flush()
        del good
        os.replace(tmp / "good.npy", tmp / "images.npy")
    else:
        arr.flush()
    return keep


def _decode_into(target: Path, files: list[Path], size: int, channels: int, fit: str,
                 max_pixels: int | None, root: Path) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Decode every file into the uint8 memmap ``target``, in threads; only good rows are kept
    (compacted in place). -> (indices of the good files, (path, reason) of the bad ones)."""
    arr = np.lib.format.open_memmap(target, mode="w+", dtype=np.uint8, shape=(len(files), size, size, channels))

    def work(i: int):
        arr[i] = decode_image(str(files[i]), size, channels, fit, max_pixels)

    ok, skipped = decode_each(files, f"decoding {root.name}", work)
    return keep_good_rows(target.parent, arr, ok, 1, root, skipped), skipped


def load_folder(root: str | os.PathLike, size: int | None = None, channels: int | None = None,
                fit: str = "squash", max_pixels: int | None = None, use_cache: bool = True,
                quiet: bool = False) -> ImageSet:
    """Decode a folder of images once into a (N, size, size, C) uint8 memmap.

    ``channels=None`` picks 1 when every readable file is greyscale, else 3.
    ``size=None`` picks :func:`default_size` of the files' shorter sides.
    Bad files (corrupt, truncated, non-image, decompression bombs) are skipped and each is
    named once in a warning; a folder with no usable image is an error.
    """
    root, files, labels, classes = scan_folder(root)
    stamps = stamps_of(root, files)  # one stat per file, for both keys
    if channels is None or size is None:
        size, channels = _detect(root, files, stamps, size, channels, fit, use_cache)

    key = _cache_key(root, stamps, size, channels, fit)
    cdir = cache_root() / "decoded" / key
    if use_cache and (cdir / "index.json").exists():
        try:
            index = json.loads((cdir / "index.json").read_text())
            images = np.load(cdir / "images.npy", mmap_mode="r", allow_pickle=False)
            return _imageset(root, index, images, quiet)
        except (OSError, ValueError, KeyError):
            shutil.rmtree(cdir, ignore_errors=True)  # damaged cache: decode again

    cdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cdir.parent))
    try:
        keep, skipped = _decode_into(tmp / "images.npy", files, size, channels, fit, max_pixels, root)
        rel = [str(files[i].relative_to(root)) for i in keep]
        index = {"version": CACHE_VERSION, "paths": rel, "labels": [labels[i] for i in keep],
                 "classes": classes, "skipped": skipped, "size": size, "channels": channels}
        (tmp / "index.json").write_text(json.dumps(index))
        if use_cache:
            shutil.rmtree(cdir, ignore_errors=True)
            os.replace(tmp, cdir)
            tmp = cdir
        images = np.load(tmp / "images.npy", mmap_mode="r", allow_pickle=False)
        if not use_cache:
            images = np.array(images)
        return _imageset(root, index, images, quiet)
    finally:
        if tmp != cdir:
            shutil.rmtree(tmp, ignore_errors=True)


def _imageset(root: Path, index: dict, images: np.ndarray, quiet: bool) -> ImageSet:
    if not quiet:
        warn_skipped(index["skipped"])
    labels = np.asarray(index["labels"], dtype=np.int64)
    has_labels = bool(index["classes"])
    return ImageSet(
        images=images,
        split=hash_splits(index["paths"]),
        name=root.name,
        labels=labels if has_labels else None,
        classes=index["classes"],
        paths=[str(root / p) for p in index["paths"]],
        skipped=[tuple(s) for s in index["skipped"]],
    )


def warn_skipped(skipped) -> None:
    """Name each file a collection skipped, once, with its reason."""
    for path, reason in skipped:
        warnings.warn(f"skipped {path}: {reason}", BadFileWarning, stacklevel=4)


class BadFileWarning(UserWarning):
    """A file in a collection was skipped; the message names it and why."""
