"""Rate-distortion: latentfolio's learned codec against JPEG, WebP and AVIF (Pillow), whole files.

For each data set, latentfolio trains one `codec` model per λ (4 or more rates), then every codec
compresses the same test images into real files. Reported per rate point: mean bytes per image,
bits per pixel, PSNR (mean over images) and SSIM; per codec: encode/decode images/s. BD-rate
(Bjøntegaard 2001, piecewise-cubic in log-rate over the shared PSNR range) of latentfolio against
each codec: negative means fewer bytes at equal PSNR.
Writes benchmarks/results/codec.json and codec_rd.png.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .common import RESULTS, data_root, save

import latentfolio as lf
from latentfolio.metrics import psnr, ssim
from latentfolio.codec.image import compress_image, decompress_bytes

COLOUR_MINUTES = 8.0  # colour photos: training budget per λ (the chain fine-tunes each from the last)
QUALITIES = {"JPEG": [2, 5, 10, 20, 30, 50, 70, 85, 95], "JPEGLI": [2, 5, 10, 20, 30, 50, 70, 85, 95],
             "WEBP": [0, 5, 10, 20, 35, 50, 70, 85, 100], "AVIF": [0, 5, 10, 20, 35, 50, 65, 80, 95],
             "JXL": [2, 10, 20, 35, 50, 65, 80, 95]}
# Each reference at its best practical setting, the Kodak benchmark's (kodak.SETTINGS names them):
# JPEG with optimized tables and progressive, jpegli, WebP method 6, AVIF at the archive's speed in
# 4:4:4 and 4:2:0 (the smaller at each PSNR), JPEG XL at effort 7.
WEBPS = ("WEBP",)


def quality(orig: np.ndarray, dec: np.ndarray) -> tuple[float, float]:
    x = torch.from_numpy(orig).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(dec).permute(0, 3, 1, 2).float() / 255
    return float(psnr(y, x).mean()), float(ssim(y, x).mean())


def to_img(a: np.ndarray) -> Image.Image:
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)


def pillow_point(images: np.ndarray, codec: str, q: int, options: dict | None = None) -> dict:
    sizes, dec, te, td = [], [], 0.0, 0.0
    for a in images:
        img = to_img(a)
        buf = io.BytesIO()
        t0 = time.perf_counter()
        if codec == "JPEGLI":
            import pyjpegli

            rgb = np.ascontiguousarray(np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a)
            buf.write(pyjpegli.encode(rgb.tobytes(), a.shape[1], a.shape[0], q))
        else:
            img.save(buf, format=codec, quality=q, **(options or {}))
        te += time.perf_counter() - t0
        data = buf.getvalue()
        t0 = time.perf_counter()
        back = Image.open(io.BytesIO(data)).convert(img.mode)
        back.load()
        td += time.perf_counter() - t0
        sizes.append(len(data))
        dec.append(np.asarray(back).reshape(a.shape))
    p, s = quality(images, np.stack(dec))
    return _point(images, sizes, p, s, te, td, quality=q)


def _point(images, sizes, p, s, te, td, **kw) -> dict:
    n, px = len(images), images.shape[1] * images.shape[2]
    return {**kw, "bytes": float(np.mean(sizes)), "bpp": float(np.mean(sizes)) * 8 / px, "psnr_db": p,
            "ssim": s, "encode_images_per_s": n / te, "decode_images_per_s": n / td}


def ours_point(model, images: np.ndarray, lmbda: float, refine: int = 0) -> dict:
    sizes, dec, te, td = [], [], 0.0, 0.0
    for a in images:
        img = to_img(a)
        t0 = time.perf_counter()
        blob = compress_image(model, img, refine)
        te += time.perf_counter() - t0
        t0 = time.perf_counter()
        back = decompress_bytes(model, blob)
        td += time.perf_counter() - t0
        sizes.append(len(blob))
        dec.append(np.asarray(back).reshape(a.shape))
    p, s = quality(images, np.stack(dec))
    return _point(images, sizes, p, s, te, td, lmbda=lmbda)


def bd_rate(ours: list[dict], ref: list[dict]) -> float | None:
    """Average % bytes change at equal PSNR over the shared PSNR range (Bjøntegaard 2001)."""
    from scipy.interpolate import PchipInterpolator

    def curve(pts):
        pts = sorted(pts, key=lambda r: r["psnr_db"])
        ps = np.array([r["psnr_db"] for r in pts])
        lr = np.log(np.array([r["bytes"] for r in pts]))
        keep = np.concatenate([[True], np.diff(ps) > 1e-6])
        return ps[keep], lr[keep]

    p1, r1 = curve(ours)
    p2, r2 = curve(ref)
    lo, hi = max(p1.min(), p2.min()), min(p1.max(), p2.max())
    if hi <= lo or len(p1) < 2 or len(p2) < 2:
        return None
    grid = np.linspace(lo, hi, 200)
    diff = PchipInterpolator(p1, r1)(grid) - PchipInterpolator(p2, r2)(grid)
    return float((np.exp(diff.mean()) - 1) * 100)


def bytes_at(ref: list[dict], p: float) -> float | None:
    """The reference codec's bytes at PSNR p (log-linear interpolation), None outside its range."""
    pts = sorted(ref, key=lambda r: r["psnr_db"])
    ps = [r["psnr_db"] for r in pts]
    if not ps[0] <= p <= ps[-1]:
        return None
    return float(np.exp(np.interp(p, ps, np.log([r["bytes"] for r in pts]))))


def wins(p: dict, ref: list[dict]) -> bool:
    """Does point p need fewer bytes than the reference codec at equal PSNR?

    Inside the reference's PSNR range: compare with its interpolated bytes. Above its best PSNR:
    it cannot reach p's quality at any size. Below its worst PSNR: p wins only if p is smaller than
    the reference's smallest file (which is then both better and bigger).
    """
    b = bytes_at(ref, p["psnr_db"])
    if b is not None:
        return p["bytes"] < b
    if p["psnr_db"] > max(r["psnr_db"] for r in ref):
        return True
    return p["bytes"] < min(r["bytes"] for r in ref)


def analyse(res: dict) -> dict:
    """Verdicts derived from the measured points (rerun with --reanalyse), for each latentfolio
    curve: plain encoding and, where measured, `compress --refine N`."""
    ours = {k: v for k, v in res["codecs"].items() if k.startswith("latentfolio")}
    res["bd_rate_percent"], res["equal_psnr_bytes"] = {}, {}
    res["fewer_bytes_than_at_every_point"], res["beats_avif_below_100_bytes"] = {}, {}
    for name, pts in ours.items():
        res["bd_rate_percent"][name] = {fmt: bd_rate(pts, res["codecs"][fmt]) for fmt in QUALITIES
                                        if fmt in res["codecs"]}
        res["equal_psnr_bytes"][name] = {fmt: [{"psnr_db": p["psnr_db"], "latentfolio": p["bytes"],
                                                fmt: bytes_at(res["codecs"][fmt], p["psnr_db"])} for p in pts]
                                         for fmt in QUALITIES if fmt in res["codecs"]}
        res["fewer_bytes_than_at_every_point"][name] = {fmt: all(wins(p, res["codecs"][fmt]) for p in pts)
                                                        for fmt in ("JPEG", "JPEGLI", *WEBPS) if fmt in res["codecs"]}
        small = [p for p in pts if p["bytes"] < 100]  # None: the curve has no point that small
        res["beats_avif_below_100_bytes"][name] = all(wins(p, res["codecs"]["AVIF"]) for p in small) if small else None
    res["avif_smallest_file_bytes"] = min(p["bytes"] for p in res["codecs"]["AVIF"])
    return res


def set_source(name: str, n_test: int, tmp: Path) -> tuple[object, Path | None, dict, int]:
    """A data set's (data, data root, size options for load and train, number of test images).
    The colour set is split by source photo: training crops from photos/, test crops from Kodak."""
    if name == "fashion-mnist":
        return "fashion-mnist", data_root(), {}, n_test
    from .quality import colour_sets

    return colour_sets(tmp, size=64, n_train=1350, n_test=150, seed=2), None, {"image_size": 64, "channels": 3}, \
        min(n_test, 150)


def test_images(data, root, kw: dict, n: int) -> np.ndarray:
    from latentfolio.data import ImageSet

    ds = data if isinstance(data, ImageSet) else lf.load_data(data, data_root=root, **kw)
    return np.ascontiguousarray(ds.images[ds.indices("test")[:n]])


def run_set(name: str, lambdas, minutes, n_test, refine: int = 0, keep: Path | None = None) -> dict:
    curves: dict[str, list] = {"latentfolio": []}
    if refine:
        curves[f"latentfolio --refine {refine}"] = []
    with tempfile.TemporaryDirectory() as d:
        data, root, kw, n = set_source(name, n_test, Path(d))
        images = test_images(data, root, kw, n)
        # `train --lambdas`: the lowest λ from scratch, each higher λ fine-tuning the one before.
        out = keep / name if keep else Path(d) / "rd"
        results = lf.train(data, out, model="codec", data_root=root, lambdas=lambdas, max_time=minutes,
                           progress=False, force=bool(keep), **kw)
        for r in results:
            model = lf.load(r.model_dir)
            lm = model.meta["training"]["config"]["lmbda"]
            for curve, steps in zip(curves, (0, refine)):
                pt = ours_point(model, images, lm, steps)
                pt.update(train_seconds=round(r.seconds, 1), epochs=r.epochs)
                curves[curve].append(pt)
                print(f"{name} {curve} λ={lm}: {pt['bytes']:.1f} B, {pt['psnr_db']:.2f} dB", flush=True)
    res = {"images": len(images), "size": list(images.shape[1:]), "train_minutes_per_lambda": minutes,
           "codecs": {curve: sorted(pts, key=lambda p: p["lmbda"]) for curve, pts in curves.items()}}
    res["codecs"].update(reference_points(images))
    res["reference_settings"] = reference_settings(res["codecs"])
    return analyse(res)


def reference_points(images: np.ndarray) -> dict:
    """Every reference codec's points at its setting in kodak.SETTINGS (jpegli where it installs)."""
    import importlib.util

    from .kodak import OPTIONS, envelope

    out = {}
    for fmt, qs in QUALITIES.items():
        if fmt == "JPEGLI" and importlib.util.find_spec("pyjpegli") is None:
            continue
        if fmt == "AVIF":
            out[fmt] = envelope([{**pillow_point(images, fmt, q, {"speed": 6, "subsampling": sub}), "subsampling": sub}
                                 for sub in ("4:4:4", "4:2:0") for q in qs])
        else:
            out[fmt] = [pillow_point(images, fmt, q, OPTIONS.get(fmt)) for q in qs]
    return out


def reference_settings(codecs: dict) -> dict:
    from .kodak import SETTINGS

    return {fmt: SETTINGS[fmt] for fmt in codecs if fmt in SETTINGS}


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(res["sets"].items())
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 4.2), dpi=100)
    for ax, (name, st) in zip(np.atleast_1d(axes), sets):
        for codec, pts in st["codecs"].items():
            pts = sorted(pts, key=lambda r: r["bytes"])
            ax.plot([p["bytes"] for p in pts], [p["psnr_db"] for p in pts], "-o", ms=3, label=codec,
                    lw=2.5 if codec.startswith("latentfolio") else 1.2)
        ax.set_xscale("log")
        ax.set_xlabel("bytes per image (whole file, log scale)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(f"{name} ({st['size'][0]}x{st['size'][1]}x{st['size'][2]}, {st['images']} test images)")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)


SETS = ("fashion-mnist", "colour-photos-64")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=2.0, help="FashionMNIST: training budget per λ")
    ap.add_argument("--colour-minutes", type=float, default=COLOUR_MINUTES,
                    help="colour photos: training budget per λ")
    ap.add_argument("--lambdas", default="0.0005,0.0015,0.005,0.015,0.05")
    ap.add_argument("--refine", type=int, default=100,
                    help="also measure `compress --refine N` with the same models (0: skip)")
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--sets", default=",".join(SETS),
                    help="data sets to run; the others keep their results from results/codec.json "
                         "(each set records its own date)")
    ap.add_argument("--keep", type=Path, help="keep the trained models in this folder")
    ap.add_argument("--reanalyse", action="store_true", help="recompute verdicts from results/codec.json")
    ap.add_argument("--references", action="store_true",
                    help="re-measure only the Pillow codecs, on the same test images, and keep latentfolio's points")
    args = ap.parse_args()
    old = json.loads((RESULTS / "codec.json").read_text()) if (RESULTS / "codec.json").exists() else None
    if args.references:
        for name, st in old["sets"].items():
            with tempfile.TemporaryDirectory() as tmp:
                images = test_images(*set_source(name, args.n_test, Path(tmp)))
            assert len(images) == st["images"], name
            st["codecs"] = {k: v for k, v in st["codecs"].items() if k.startswith("latentfolio")}
            st["codecs"].update(reference_points(images))
            st["reference_settings"] = reference_settings(st["codecs"])
            st["references_date"] = time.strftime("%Y-%m-%d")
        args.reanalyse = True
    if args.reanalyse:
        res = {k: v for k, v in old.items() if k not in ("benchmark", "date", "machine")}
        for st in res["sets"].values():
            analyse(st)
        plot(res, RESULTS / "codec_rd.png")
        path = RESULTS / "codec.json"
        path.write_text(json.dumps({"benchmark": old["benchmark"], "date": old["date"],
                                    "machine": old["machine"], **res}, indent=2) + "\n")
        return
    todo = args.sets.split(",")
    if unknown := set(todo) - set(SETS):
        ap.error(f"--sets: unknown data set(s) {', '.join(sorted(unknown))}; use {', '.join(SETS)}")
    lambdas = [float(v) for v in args.lambdas.split(",")]
    res = {"sets": {}}
    if set(todo) != set(SETS) and old:
        res["sets"] = {k: analyse({"date": old["date"], **v}) for k, v in old["sets"].items() if k not in todo}
        res["colour_data"] = old.get("colour_data")
    today = time.strftime("%Y-%m-%d")
    minutes = {"fashion-mnist": args.minutes, "colour-photos-64": args.colour_minutes}
    for name in todo:
        res["sets"][name] = {"date": today, **run_set(name, lambdas, minutes[name], args.n_test, args.refine,
                                                      args.keep)}
    if "colour-photos-64" in todo:
        res["colour_data"] = ("64 px crops split by source photo: 1,350 from the 79 photos of photos/ for training "
                              "and validation, 150 from the 24 Kodak images for testing")
    res["sets"] = {k: res["sets"][k] for k in SETS if k in res["sets"]}
    plot(res, RESULTS / "codec_rd.png")
    save("codec", res)


if __name__ == "__main__":
    main()
