"""The fewest bytes that keep an image at a quality the user names, over every codec at hand.

Each codec is a *ladder*: qualities in rising order (a classical codec's 1..99, a learned model's
rates by λ), an encoder and a decoder. The lowest rung that meets the target is found by
galloping and bisection, assuming quality and size rise with the rung.

Two things keep a whole collection affordable, and neither changes the answer under that
assumption. Each codec's search starts from its rung for the previous image (a collection's
images are alike), so it usually takes 2-4 encodes instead of 7. And once a file is found, a
codec whose rung fails the target at that file's size or more is abandoned: every rung of it
that would meet is larger still. Every choice is measured on the whole image, so the target
always holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..errors import ArgumentError, LatentfolioError
from ..metrics import image_psnr, ssim
from .classical import CODECS, JPEG_JXL, LOSSLESS, decode, lossless, transcode_jpeg
from .format import parse
from .image import compress_image, decompress_bytes

STRIP = 512  # rows per step when measuring, so a 50 MP image needs no full float copy


@dataclass(frozen=True)
class Target:
    """A quality floor: PSNR in dB (RGB, 8-bit) or SSIM, measured against the original pixels."""

    metric: str
    value: float

    def __post_init__(self):
        if self.metric == "psnr" and not 10 <= self.value <= 100:
            raise ArgumentError("target-psnr", self.value, "must be between 10 and 100 dB")
        if self.metric == "ssim" and not 0 < self.value < 1:
            raise ArgumentError("target-ssim", self.value, "must be between 0 and 1")

    def score(self, ref: np.ndarray, img: Image.Image) -> float:
        test = np.asarray(img if img.mode == _mode(ref) else img.convert(_mode(ref)))
        test = test.reshape(ref.shape)
        return image_psnr(ref, test) if self.metric == "psnr" else _ssim(ref, test)


def _mode(a: np.ndarray) -> str:
    return {1: "L", 3: "RGB", 4: "RGBA"}[a.shape[2] if a.ndim == 3 else 1]




def _ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """SSIM (Wang et al. 2004), averaged over strips weighted by their rows."""
    total = 0.0
    for i in range(0, ref.shape[0], STRIP):
        a, b = (torch.from_numpy(np.array(v[i:i + STRIP])).float().div(255) for v in (ref, test))  # a copy: writable
        a, b = (v.reshape(v.shape[0], v.shape[1], -1).permute(2, 0, 1)[None] for v in (a, b))
        total += float(ssim(b, a)[0]) * a.shape[2]
    return total / ref.shape[0]


@dataclass
class Ladder:
    name: str
    rungs: list  # qualities (or rates), rising
    encode: Callable[[Image.Image, object], bytes]
    decode: Callable[[bytes], Image.Image]


@dataclass
class Choice:
    codec: str
    rung: object
    blob: bytes
    score: float


def classical_ladders(names) -> list[Ladder]:
    return [Ladder(n, list(range(1, 100)), CODECS[n].encode, decode) for n in names]


def learned_ladder(models: list) -> Ladder:
    """A codec model's rates, lowest λ first: each rung one model folder."""
    models = sorted(models, key=lambda m: (m.meta.get("training") or {}).get("config", {}).get("lmbda") or 0)
    return Ladder("lfz", list(range(len(models))), lambda img, i: compress_image(models[i], img),
                  lambda blob: decompress_bytes(models[0 if len(models) == 1 else _rate_of(models, blob)], blob))


def _rate_of(models: list, blob: bytes) -> int:
    fp = parse(blob).fingerprint
    return next(i for i, m in enumerate(models) if bytes.fromhex(m.fingerprint)[:len(fp)] == fp)


def lowest(img: Image.Image, ref: np.ndarray, ladder: Ladder, target: Target, start: int | None = None,
           bound: int | None = None) -> Choice | None:
    """The lowest rung of ``ladder`` whose decoded image meets ``target``, as a Choice, or None.

    ``start``: a rung to gallop from (a guess at the answer). ``bound``: a size to beat; a rung
    that fails at ``bound`` bytes or more ends the search with None, since every rung that meets
    lies above it and is larger still."""
    tried: dict[int, Choice | None] = {}
    beaten = False

    def at(i: int) -> Choice | None:
        nonlocal beaten
        if i not in tried:
            try:
                blob = ladder.encode(img, ladder.rungs[i])
            except (OSError, ValueError, LatentfolioError):  # WebP refuses sides over 16383 px, .lfz over 65535
                blob = None
            s = -math.inf if blob is None else target.score(ref, ladder.decode(blob))
            tried[i] = Choice(ladder.name, ladder.rungs[i], blob, s) if s >= target.value else None
            beaten |= tried[i] is None and blob is not None and bound is not None and len(blob) >= bound
        return tried[i]

    n = len(ladder.rungs)
    lo, hi = -1, n  # rungs up to lo fail and from hi on meet; hi = n: none known to meet yet
    if start is not None:  # gallop from the guess, then bisect the bracket it finds
        i, step = min(max(start, 0), n - 1), 1
        if at(i) is not None:
            hi = i
            while (j := max(hi - step, 0)) < hi:
                if at(j) is None:
                    lo = j
                    break
                hi, step = j, step * 2
        else:
            lo = i
            while (j := min(lo + step, n - 1)) > lo and not beaten:
                if at(j) is not None:
                    hi = j
                    break
                lo, step = j, step * 2
    while hi - lo > 1 and not beaten:
        m = (lo + hi) // 2
        if at(m) is None:
            lo = m
        else:
            hi = m
    return None if beaten or hi == n else tried[hi]


def keeps_colour(codec: str, img: Image.Image) -> bool:
    """Whether ``codec``'s file keeps ``img``'s colour profile, or needs none (.lfz keeps it)."""
    return codec not in CODECS or CODECS[codec].keeps_colour(img)


def _exact(target: Target) -> float:
    return 100.0 if target.metric == "psnr" else 1.0  # a lossless file's score (PSNR capped as psnr() does)


def choose(img: Image.Image, ladders: list[Ladder], target: Target, jpeg: bytes | None = None,
           prune: bool = True, starts: dict | None = None) -> tuple[Choice, dict]:
    """The smallest file for ``img`` (L, RGB or RGBA) that meets ``target``, and each codec's
    smallest size at it (None where it could not reach the target, or, with ``prune``, could not
    beat a smaller file already found). ``jpeg``: the image's original JPEG file, which a lossless
    JPEG XL transcode restores exactly. ``starts``: each codec's rung for the last image, to
    gallop from; updated with this image's."""
    ref = np.asarray(img)
    found: list[Choice] = []
    if jpeg is not None and (t := transcode_jpeg(jpeg)) is not None:
        found.append(Choice(JPEG_JXL, None, t, _exact(target)))
    sizes: dict = {c.codec: len(c.blob) for c in found}
    for lad in ladders:
        if not keeps_colour(lad.name, img):  # its file would show the picture in other colours
            sizes[lad.name] = None
            continue
        bound = min((len(c.blob) for c in found), default=None) if prune else None
        c = lowest(img, ref, lad, target, (starts or {}).get(lad.name), bound)
        sizes[lad.name] = None if c is None else len(c.blob)
        if c is not None:
            found.append(c)
            if starts is not None:
                starts[lad.name] = lad.rungs.index(c.rung)
    if not found:  # no lossy rung reaches the target: lossless always does
        codec, blob = lossless(img)
        found.append(Choice(codec, None, blob, _exact(target)))
        sizes[LOSSLESS] = len(blob)  # the lossless fallback, whichever format holds it
    return min(found, key=lambda c: len(c.blob)), sizes
