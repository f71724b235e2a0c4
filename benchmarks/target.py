"""Target-quality collection compression: `compress --target-psnr` against one codec for all.

For each image and target, every codec's smallest file that keeps the image at the target PSNR
(RGB, 8-bit, against the original pixels) is found by the same exhaustive search `compress` uses,
with no pruning. "All-X" is the collection with every image in codec X, and where X cannot reach
the target on an image (WebP's 4:2:0 colour tops out near 45 dB), that image in lossless JPEG XL,
counted in `fallbacks`. "Chosen" is the smallest per image, which is what `compress
--target-psnr` writes, including a JPEG's lossless JPEG XL transcode. The command itself is then
run (pruned, warm-started) to time it and to check that its bytes match the exhaustive choice.

Sets: Kodak (24 × 768 × 512, PNG) at 32, 36 and 40 dB; and full-size JPEG photos from
../shared/data/photos/unsplash (the first N by name) at 38 dB.
Prints JSON and writes benchmarks/results/target.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .common import data_root, save

import latentfolio as lf
from latentfolio.codec.classical import CODECS, JPEG_JXL, coded_mode, lossless
from latentfolio.codec.target import Target, choose, classical_ladders


def run_set(files: list[Path], target: float) -> dict:
    ladders, rows = classical_ladders(list(CODECS)), []
    for f in files:
        img = coded_mode(ImageOps.exif_transpose(Image.open(f)))
        jpeg = f.read_bytes() if Image.open(f).format == "JPEG" else None
        t0 = time.perf_counter()
        best, sizes = choose(img, ladders, Target("psnr", target), jpeg, prune=False)
        rows.append({"file": f.name, "megapixels": img.size[0] * img.size[1] / 1e6, "chosen": best.codec,
                     "chosen_bytes": len(best.blob), "sizes": sizes, "original_bytes": f.stat().st_size,
                     "lossless_bytes": len(lossless(img)[1]) if None in sizes.values() else None,
                     "search_s": time.perf_counter() - t0})
        print(f"{f.name} {target} dB: {best.codec} {len(best.blob):,} B {sizes}", flush=True)
    all_x = {}
    for c in CODECS:
        fall = [r for r in rows if r["sizes"].get(c) is None]
        all_x[c] = {"bytes": sum(r["sizes"][c] or r["lossless_bytes"] for r in rows), "fallbacks": len(fall)}
    chosen = sum(r["chosen_bytes"] for r in rows)
    won: dict = {}
    for r in rows:
        won[r["chosen"]] = won.get(r["chosen"], 0) + 1
    mp = sum(r["megapixels"] for r in rows)
    return {"target_psnr": target, "images": len(rows), "megapixels": mp,
            "original_bytes": sum(r["original_bytes"] for r in rows), "chosen_bytes": chosen, "won": won,
            "all": all_x, "saving_vs": {c: 1 - chosen / v["bytes"] for c, v in all_x.items()},
            "bpp_chosen": 8 * chosen / (mp * 1e6), "exhaustive_s_per_mp": sum(r["search_s"] for r in rows) / mp,
            "files": rows}


def timed_command(files: list[Path], target: float, expect: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in"
        src.mkdir()
        for f in files:
            (src / f.name).symlink_to(f.resolve())
        t0 = time.perf_counter()
        r = lf.compress(None, [src], Path(d) / "out.lfa", target_psnr=target, progress=False)
        dt = time.perf_counter() - t0
    mp = sum(np.prod(Image.open(f).size) for f in files) / 1e6
    return {"seconds": dt, "s_per_mp": dt / mp, "bytes": r["bytes"], "same_as_exhaustive": r["bytes"] == expect,
            "bytes_vs_exhaustive": r["bytes"] / expect}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kodak-targets", default="32,36,40")
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--photo-target", type=float, default=38)
    a = ap.parse_args()
    root = Path(data_root())
    kodak = sorted((root / "kodak").glob("kodim*.png"))
    photos = sorted((root / "photos" / "unsplash").glob("*.jpg"))[:a.photos]
    sets = []
    for t in map(float, a.kodak_targets.split(",")):
        r = run_set(kodak, t)
        r["command"] = timed_command(kodak, t, r["chosen_bytes"])
        sets.append({"set": "kodak", **r})
    if photos:
        r = run_set(photos, a.photo_target)
        r["command"] = timed_command(photos, a.photo_target, r["chosen_bytes"])
        sets.append({"set": f"photos ({len(photos)} full-size JPEGs)", **r})
    save("target", {"codecs": {c: {"pillow_format": v.pil_format, **v.options} for c, v in CODECS.items()},
                    "jpeg_transcode": JPEG_JXL, "sets": sets})


if __name__ == "__main__":
    main()
