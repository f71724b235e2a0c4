"""Native-resolution patches: random crops of the full-size images, decoded once into a bounded bank.

A codec or a denoiser learns from pixels at the scale it will meet them: a 24 MP photo squashed
to 64 px has no grain, no text and no JPEG blocks left. Decoding big files at every step would
cost more than the model (a 24 MP JPEG takes about 0.3 s), so each image is decoded once and K
random crops of it go to a uint8 memmap in the cache. The bank is bounded by PATCH_BANK_BYTES
whatever the collection's size (K falls as the images grow in number, to one per image), and
training reads it like any other ImageSet: a batch is one fancy-index, flipped at random.
An image smaller than a patch is padded by reflection, and counted.

Under a time limit (``train --max-time``) the bank stops at its ``deadline``: the files are then
decoded in a seeded random order, so the part decoded is a fair sample of the folder (never the
first subfolders only), and a bank cut short is used for this run only, never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .decode import header, open_image, upright_pixels
from .folder import cache_root, decode_each, keep_good_rows, scan_folder, stamps_of, warn_skipped
from .imageset import ImageSet, hash_splits

PATCH_BANK_BYTES = 2 << 30  # the bank's bound on disk (a memmap: paged in, never all in RAM)
MAX_PER_IMAGE = 64  # crops of one image, at most
DEFAULT_PATCH = 256  # px: CompressAI's training crop
VERSION = 2  # 2: pixels in sRGB (2026-12-07)


def default_patch(sides: list[int]) -> int:
    """DEFAULT_PATCH, or the images' median shorter side (to a multiple of 16) when smaller."""
    if not sides:
        return DEFAULT_PATCH
    return max(16, min(DEFAULT_PATCH, int(np.median(sides)) // 16 * 16))


def per_image_default(n_files: int, patch: int, channels: int) -> int:
    return int(np.clip(PATCH_BANK_BYTES // max(1, n_files * patch * patch * channels), 1, MAX_PER_IMAGE))


def native_pixels(path: str, channels: int, max_pixels: int | None = None) -> np.ndarray:
    """A file at its own size as (H, W, channels) uint8, upright (EXIF), alpha on white, sRGB."""
    img = open_image(path, max_pixels)
    img = upright_pixels(img, "L" if channels == 1 else "RGB")
    a = np.asarray(img, dtype=np.uint8)
    return a.reshape(a.shape[0], a.shape[1], channels)


def crops(a: np.ndarray, patch: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """``k`` random patch x patch crops of (H, W, C) ``a`` -> ((k, P, P, C), padded)."""
    h, w = a.shape[:2]
    padded = h < patch or w < patch
    if padded:
        ph, pw = max(0, patch - h), max(0, patch - w)
        mode = "reflect" if ph < h and pw < w else "edge"
        a = np.pad(a, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode=mode)
        h, w = a.shape[:2]
    ys, xs = rng.integers(0, h - patch + 1, k), rng.integers(0, w - patch + 1, k)
    return np.stack([a[y:y + patch, x:x + patch] for y, x in zip(ys, xs)]), padded


def _key(root: Path, stamps: bytes, patch: int, channels: int, k: int) -> str:
    h = hashlib.sha256(json.dumps(["patches", VERSION, str(root.resolve()), patch, channels, k]).encode())
    h.update(stamps)
    return h.hexdigest()[:32]


def _fill(bank: np.ndarray, files: list[Path], root: Path, patch: int, channels: int, k: int,
          max_pixels: int | None, deadline: float | None = None) -> tuple[np.ndarray, list, int, int]:
    """Decode each file once into its k rows of ``bank``, until ``deadline`` (time.monotonic);
    -> (ok mask, skipped, padded count, files not reached)."""
    padded = [0]
    reached = np.ones(len(files), dtype=bool)

    def work(i: int):
        if deadline is not None and time.monotonic() > deadline:
            reached[i] = False
            return
        a = native_pixels(str(files[i]), channels, max_pixels)
        seed = int.from_bytes(hashlib.sha1(str(files[i].relative_to(root)).encode()).digest()[:8], "big")
        bank[i * k:(i + 1) * k], pad = crops(a, patch, k, np.random.default_rng(seed))
        padded[0] += pad

    ok, skipped = decode_each(files, f"cutting {patch} px patches of {root.name}", work)
    return ok & reached, skipped, padded[0], int((~reached).sum())


def load_patches(root: str | os.PathLike, patch: int | None = None, channels: int | None = None,
                 per_image: int | None = None, max_pixels: int | None = None,
                 use_cache: bool = True, deadline: float | None = None) -> ImageSet:
    """A folder as an ImageSet of native-resolution patches (N·K, P, P, C), cached by the files'
    paths, sizes and mtimes. Each patch inherits its file's label and split (so validation crops
    come from images training never saw). ``patch=None``: :func:`default_patch`. ``deadline``
    (time.monotonic): stop decoding then, and use what was cut (see the module's note)."""
    root, files, labels, classes = scan_folder(root)
    if patch is None or channels is None:
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            heads = [h for h in pool.map(header, map(str, files)) if h[0]]
        patch = patch or default_patch([side for _, side in heads])
        channels = channels or (1 if heads and all(c == 1 for c, _ in heads) else 3)
    k = per_image or per_image_default(len(files), patch, channels)
    stamps = stamps_of(root, files)
    cdir = cache_root() / "patches" / _key(root, stamps, patch, channels, k)
    if use_cache and (cdir / "index.json").exists():
        try:
            return _imageset(root, json.loads((cdir / "index.json").read_text()),
                             np.load(cdir / "images.npy", mmap_mode="r", allow_pickle=False))
        except (OSError, ValueError, KeyError):
            shutil.rmtree(cdir, ignore_errors=True)
    if deadline is not None:  # a fair sample, whatever part of the folder the time allows
        order = np.random.default_rng(0).permutation(len(files))
        files, labels = [files[i] for i in order], [labels[i] for i in order]
    cdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".patches.", dir=cdir.parent))
    try:
        bank = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                         shape=(len(files) * k, patch, patch, channels))
        ok, skipped, padded, missed = _fill(bank, files, root, patch, channels, k, max_pixels, deadline)
        if missed:
            use_cache = False  # a bank cut short serves this run only
            print(f"patches: the time limit stopped the bank after {len(files) - missed} of {len(files)} images "
                  "(a random sample of the folder); this run trains on those", file=sys.stderr, flush=True)
        keep = keep_good_rows(tmp, bank, ok, k, root, skipped)
        del bank
        index = {"version": VERSION, "paths": [str(files[i].relative_to(root)) for i in keep],
                 "labels": [labels[i] for i in keep], "classes": classes, "skipped": skipped,
                 "per_image": k, "padded": padded}
        (tmp / "index.json").write_text(json.dumps(index))
        if use_cache:
            shutil.rmtree(cdir, ignore_errors=True)
            os.replace(tmp, cdir)
            tmp = cdir
        ds = _imageset(root, index, np.load(tmp / "images.npy", mmap_mode="r", allow_pickle=False))
        return ds if use_cache else _in_memory(ds)
    finally:
        if tmp != cdir:
            shutil.rmtree(tmp, ignore_errors=True)


def _in_memory(ds: ImageSet) -> ImageSet:
    ds.images = np.array(ds.images)
    return ds


def _imageset(root: Path, index: dict, bank: np.ndarray) -> ImageSet:
    warn_skipped(index["skipped"])
    k = index["per_image"]
    labels = np.repeat(np.asarray(index["labels"], np.int64), k)
    return ImageSet(images=bank, split=np.repeat(hash_splits(index["paths"]), k), name=root.name,
                    labels=labels if index["classes"] else None, classes=index["classes"],
                    paths=[str(root / p) for p in index["paths"] for _ in range(k)],
                    skipped=[tuple(s) for s in index["skipped"]], patches_from=len(index["paths"]),
                    padded=index["padded"])
