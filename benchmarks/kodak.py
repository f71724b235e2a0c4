"""Kodak at native resolution, whole files, RGB PSNR: latentfolio's codec models against JPEG,
WebP, AVIF (Pillow) and JPEG XL (pillow-jxl-plugin), with CompressAI's published curves for the
same architectures on the same 24 images.

The learned models come from ``--models DIR``: one folder per architecture (codec, hyperprior,
meanscale), each holding ``lambda-*`` model folders as ``train --lambdas`` writes them. They must
not have seen Kodak. Per rate point: mean bpp and mean PSNR over the 24 images (CompressAI's
protocol: PSNR per image on 8-bit RGB, then averaged), encode and decode seconds per megapixel.
BD-rate (Bjøntegaard) against each classical codec, and BD-PSNR against CompressAI's curve of the
same architecture over 0.25-1 bpp.

``--in-domain FOLDER``: the test split of that folder (files the models never trained on, by the
same hash split as training), each cut to a native-resolution centre crop of at most 1024 x 768,
against AVIF. ``--keep-earlier``: an architecture with no folder under ``--models`` keeps its
points from the last results file, marked with that file's date (the classical curves and every
BD figure are measured again). Writes benchmarks/results/kodak.json and docs/images/kodak_rd.png.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .codec import bd_rate
from .common import RESULTS, data_root, save

import latentfolio as lf
from latentfolio.codec.image import compress_image, decompress_bytes
from latentfolio.data.folder import scan
from latentfolio.data.imageset import TEST, hash_splits

QUALITIES = {"JPEG": [5, 10, 20, 30, 50, 70, 85, 95], "JPEGLI": [5, 10, 20, 30, 50, 70, 85, 95],
             "WEBP": [0, 5, 15, 30, 50, 70, 85, 95], "AVIF": [5, 15, 30, 45, 60, 75, 85, 95],
             "JXL": [5, 15, 30, 45, 60, 75, 85, 95]}
# Each classical baseline at its best practical setting, named in the tables. AVIF runs at the
# speed the archive uses (codec/classical.py), in 4:4:4 and in 4:2:0, and its curve is the lower
# envelope of the two: at each PSNR, whichever is smaller.
SETTINGS = {"JPEG": "Pillow (libjpeg-turbo), optimized Huffman tables, progressive",
            "JPEGLI": "jpegli (pyjpegli), its defaults",
            "WEBP": "method 6 (slowest, smallest)",
            "AVIF": "speed 6, the smaller of 4:4:4 and 4:2:0 at each PSNR",
            "JXL": "effort 7 (libjxl's default)"}
OPTIONS = {"JPEG": {"optimize": True, "progressive": True}, "WEBP": {"method": 6}, "JXL": {"effort": 7}}
COMPRESSAI = {"codec": "bmshj2018-factorized", "hyperprior": "bmshj2018-hyperprior", "meanscale": "mbt2018-mean"}
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "images" / "kodak_rd.png"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    from latentfolio.metrics import image_psnr  # the one PSNR of the project

    return image_psnr(a, b)


def _point(images: list[np.ndarray], enc, dec) -> dict:
    bpp, ps, te, td, mp = [], [], 0.0, 0.0, 0.0
    for a in images:
        t0 = time.perf_counter()
        data = enc(a)
        t1 = time.perf_counter()
        back = dec(data)
        td += time.perf_counter() - t1
        te += t1 - t0
        mp += a.shape[0] * a.shape[1] / 1e6
        bpp.append(8 * len(data) / (a.shape[0] * a.shape[1]))
        ps.append(psnr(a, back))
    b = float(np.mean(bpp))
    return {"bpp": b, "bytes": b, "psnr_db": float(np.mean(ps)), "encode_s_per_mp": te / mp,
            "decode_s_per_mp": td / mp}


def classical(images: list[np.ndarray], fmt: str) -> list[dict]:
    """The RD points of ``fmt`` at its setting in :data:`SETTINGS`."""
    def dec(data):
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    if fmt == "AVIF":
        pts = [{**p, "subsampling": sub} for sub in ("4:4:4", "4:2:0") for p in _points(images, fmt, dec, {
            "speed": 6, "subsampling": sub})]
        return envelope(pts)
    return _points(images, fmt, dec, OPTIONS.get(fmt, {}))


def _points(images, fmt, dec, options) -> list[dict]:
    def enc(a, q):
        if fmt == "JPEGLI":
            import pyjpegli

            return pyjpegli.encode(np.ascontiguousarray(a).tobytes(), a.shape[1], a.shape[0], q)
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format=fmt, quality=q, **options)
        return buf.getvalue()

    return [{"quality": q, **_point(images, lambda a: enc(a, q), dec)} for q in QUALITIES[fmt]]


def envelope(points: list[dict]) -> list[dict]:
    """The points no other point beats (fewer bits and a higher PSNR), by bpp."""
    out = []
    for p in sorted(points, key=lambda p: (p["bpp"], -p["psnr_db"])):
        if not out or p["psnr_db"] > out[-1]["psnr_db"]:
            out.append(p)
    return out


def learned(images: list[np.ndarray], folder: Path) -> list[dict]:
    rows = []
    for d in sorted(folder.glob("lambda-*"), key=lambda p: float(p.name.split("-", 1)[1])):
        model = lf.load(d)
        meta = model.meta.get("training", {})
        rows.append({"lambda": float(d.name.split("-", 1)[1]), "train_seconds": meta.get("seconds"),
                     "steps": meta.get("steps"),
                     **_point(images, lambda a: compress_image(model, Image.fromarray(a)),
                              lambda b: np.asarray(decompress_bytes(model, b)))})
    return rows


def budget(pts: list[dict]) -> str:
    """How long an architecture's rates trained, from their model folders' meta (each of
    ``train --lambdas``'s rates fine-tunes the one before)."""
    if pts[0].get("train_seconds") is None:
        return "3-4 minutes per λ"
    first, rest = pts[0], pts[1:]
    out = f"{first['train_seconds'] / 60:.0f} min ({first['steps'] or 0:,} steps) for λ {first['lambda']:g}"
    if rest:
        mins = sorted(p["train_seconds"] / 60 for p in rest)
        out += (f", then {mins[0]:.0f}" + (f"-{mins[-1]:.0f}" if mins[-1] - mins[0] >= 1 else "")
                + " min for each higher λ, fine-tuning the one below")
    return out


def bd_psnr(ours: list[dict], ref: list[dict], lo: float = 0.25, hi: float = 1.0) -> float | None:
    """Mean PSNR difference (dB) at equal bpp over [lo, hi] ∩ both curves' ranges, log-bpp linear."""
    def curve(pts):
        pts = sorted(pts, key=lambda r: r["bpp"])
        return np.log([r["bpp"] for r in pts]), np.array([r["psnr_db"] for r in pts])

    (x1, y1), (x2, y2) = curve(ours), curve(ref)
    a, b = max(np.log(lo), x1.min(), x2.min()), min(np.log(hi), x1.max(), x2.max())
    if b <= a:
        return None
    grid = np.linspace(a, b, 100)
    return float(np.mean(np.interp(grid, x1, y1) - np.interp(grid, x2, y2)))


def compressai(root: Path, arch: str) -> list[dict]:
    r = json.loads((root / f"compressai-{arch}_mse_cpu.json").read_text())["results"]
    return [{"bpp": b, "bytes": b, "psnr_db": p} for b, p in zip(r["bpp"], r["psnr-rgb"])]


def in_domain_images(folder: Path, limit: int) -> list[np.ndarray]:
    files, _, _ = scan(folder)
    split = hash_splits([str(f.relative_to(folder)) for f in files])
    out = []
    for f in [f for f, s in zip(files, split) if s == TEST][:limit]:
        img = Image.open(f).convert("RGB")
        w, h = img.size
        cw, ch = min(w, 1024), min(h, 768)
        out.append(np.asarray(img.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))))
    return out


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    for name, pts in res["classical"].items():
        ax.plot([p["bpp"] for p in pts], [p["psnr_db"] for p in pts], ":o", ms=3, label=name)
    for name, pts in res["learned"].items():
        line = ax.plot([p["bpp"] for p in pts], [p["psnr_db"] for p in pts], "-s", ms=4, lw=2,
                       label=f"latentfolio {name}" + (f" ({pts[0]['measured']})" if pts[0].get("measured") else ""))
        ref = res["compressai"].get(name)
        if ref:
            ax.plot([p["bpp"] for p in ref], [p["psnr_db"] for p in ref], "--", color=line[0].get_color(),
                    alpha=0.6, label=f"CompressAI {COMPRESSAI[name]} (published)")
    ax.set(xlabel="bits per pixel", ylabel="RGB PSNR (dB)", xlim=(0, 2.0), ylim=(18, 42),
           title="Kodak, 24 images at 768x512, whole files")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--in-domain", type=Path, default=None)
    ap.add_argument("--in-domain-limit", type=int, default=8)
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--keep-earlier", action="store_true")
    args = ap.parse_args()
    earlier = json.loads((RESULTS / "kodak.json").read_text()) if args.keep_earlier else None
    root = Path(data_root())
    kodak = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((root / "kodak").glob("kodim*.png"))][:args.limit]
    res: dict = {"images": len(kodak), "classical": {}, "settings": {}, "learned": {}, "compressai": {}}
    for fmt in QUALITIES:
        if fmt == "JPEGLI" and importlib.util.find_spec("pyjpegli") is None:
            continue  # not installed here: said by its absence from the tables
        res["classical"][fmt] = classical(kodak, fmt)
        res["settings"][fmt] = SETTINGS[fmt]
    for arch in COMPRESSAI:
        if (args.models / arch).is_dir():
            res["learned"][arch] = learned(kodak, args.models / arch)
            res["compressai"][arch] = compressai(root / "compressai-kodak-results", COMPRESSAI[arch])
        elif earlier and arch in earlier["learned"]:
            res["learned"][arch] = [{**p, "measured": p.get("measured", earlier["date"])} for p in earlier["learned"][arch]]
            res["compressai"][arch] = compressai(root / "compressai-kodak-results", COMPRESSAI[arch])
    res["learned"] = {a: res["learned"][a] for a in COMPRESSAI if a in res["learned"]}
    res["bd_rate"] = {a: {c: bd_rate(pts, ref) for c, ref in res["classical"].items()} for a, pts in res["learned"].items()}
    res["bd_psnr"] = {a: {c: bd_psnr(pts, ref, 1e-6, 100.0) for c, ref in res["classical"].items()}
                      for a, pts in res["learned"].items()}
    res["bd_psnr_vs_compressai"] = {a: bd_psnr(pts, res["compressai"][a]) for a, pts in res["learned"].items()}
    if args.in_domain:
        imgs = in_domain_images(args.in_domain, args.in_domain_limit)
        dom = {"folder": str(args.in_domain), "images": len(imgs), "AVIF": classical(imgs, "AVIF"),
               "WEBP": classical(imgs, "WEBP"), "learned": {}}
        for arch in res["learned"]:
            if (args.models / arch).is_dir():
                dom["learned"][arch] = learned(imgs, args.models / arch)
            elif earlier and arch in earlier.get("in_domain", {}).get("learned", {}):
                dom["learned"][arch] = earlier["in_domain"]["learned"][arch]
        dom["bd_rate_vs_avif"] = {a: bd_rate(p, dom["AVIF"]) for a, p in dom["learned"].items()}
        dom["bd_rate_vs_webp"] = {a: bd_rate(p, dom["WEBP"]) for a, p in dom["learned"].items()}
        res["in_domain"] = dom
    res["budget"] = {a: budget(pts) for a, pts in res["learned"].items()}
    figure(res, FIGURE)
    save("kodak", res)


if __name__ == "__main__":
    main()
