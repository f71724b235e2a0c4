"""Denoising: latentfolio's denoiser against scikit-image's classical denoisers, same noisy inputs.

Data: FashionMNIST test split (a fixed subset) and a colour set split by source photo: 64 px
crops of photos/ to train and tune on, crops of the Kodak images (which no model here trained on)
to test on. Noise: Gaussian σ = 0.1, 0.2, 0.3 and the `scan` preset, seeded. Each classical
method's parameter is tuned per noise on a validation subset (best PSNR). latentfolio trains two
blind `denoiser`s per data set under a fixed time budget each, one per kind of damage, as a user
would: `--denoise scan` (the preset draws Gaussian noise up to σ 0.3, dust, hairs, smudges, grain,
uneven light and JPEG at random; 20% of its images are left clean) for the `scan` rows and clean
inputs, and `--denoise gaussian:0.05-0.35` (one model for every σ in the range, like DnCNN-B) for
the Gaussian rows. The scan model's Gaussian scores are reported too.
Prints JSON and writes benchmarks/results/denoise.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from skimage import restoration
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .common import RESULTS, data_root, save

import latentfolio as lf
from latentfolio.latent.tiles import denoise_array
from latentfolio.data.noise import Noise

NOISES = ["gaussian:0.1", "gaussian:0.2", "gaussian:0.3", "scan"]
TRAIN_SPECS = {"scan": "scan", "gaussian": "gaussian:0.05-0.35"}  # noise family -> training spec


def corrupt(images: np.ndarray, spec: str, seed: int) -> np.ndarray:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return Noise(spec)(x, torch.Generator().manual_seed(seed)).permute(0, 2, 3, 1).numpy()


def sigma_of(noisy):
    return float(np.mean(restoration.estimate_sigma(noisy, channel_axis=-1, average_sigmas=True)))


CLASSICAL = {
    # name: (function(noisy (H,W,C), param) -> clean, parameter grid)
    "nl_means": (lambda a, p: restoration.denoise_nl_means(
        a, h=p * max(sigma_of(a), 1e-3), sigma=sigma_of(a), patch_size=5, patch_distance=6,
        fast_mode=True, channel_axis=-1), [0.4, 0.6, 0.8, 1.0, 1.3, 1.7]),
    "tv_chambolle": (lambda a, p: restoration.denoise_tv_chambolle(a, weight=p, channel_axis=-1),
                     [0.02, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6]),
    "wavelet": (lambda a, p: restoration.denoise_wavelet(
        a, sigma=p * max(sigma_of(a), 1e-3), mode="soft", method="BayesShrink", channel_axis=-1,
        rescale_sigma=True), [0.5, 0.75, 1.0, 1.5, 2.0, 3.0]),
    "bilateral": (lambda a, p: restoration.denoise_bilateral(
        a, sigma_color=p, sigma_spatial=1.5, channel_axis=-1), [0.05, 0.1, 0.2, 0.3, 0.5]),
    # BM3D (Dabov et al. 2007), the strongest classical denoiser: σ as a multiple of the estimate
    "bm3d": (lambda a, p: _bm3d(a, p * max(sigma_of(a), 1e-3)), [0.5, 0.75, 1.0, 1.25, 1.5, 2.0]),
}


def _bm3d(a: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d  # the `bench` extra

    if a.shape[-1] == 1:
        return bm3d.bm3d(a[..., 0], sigma_psd=sigma)[..., None]
    return bm3d.bm3d_rgb(a, sigma_psd=sigma)


def classical_rows(test: np.ndarray, val: np.ndarray, spec: str, k: int) -> dict:
    """Every classical method on the test images with ``spec``'s seeded damage, its parameter
    tuned on the validation images (never on the test ones)."""
    clean_t, clean_v = test.astype(np.float32) / 255, val.astype(np.float32) / 255
    noisy_t, noisy_v = corrupt(test, spec, 100 + k), corrupt(val, spec, 200 + k)
    row = {}
    for cname, (fn, grid) in CLASSICAL.items():
        t0 = time.perf_counter()
        best = max(grid, key=lambda p: scores(clean_v, np.stack([fn(a, p) for a in noisy_v]))[0])
        pt, st = scores(clean_t, np.stack([fn(a, best) for a in noisy_t]))
        row[cname] = {"param": best, "grid": grid, "psnr_db": pt, "ssim": st,
                      "seconds": round(time.perf_counter() - t0, 1)}
    return row


def reclassify(row: dict) -> None:
    """The best classical method of a noise's row, and latentfolio's gain over it."""
    best_c = max(CLASSICAL, key=lambda c: row[c]["psnr_db"])
    row["best_classical"] = best_c
    row["gain_over_best_classical_db"] = round(row["latentfolio"]["psnr_db"] - row[best_c]["psnr_db"], 2)


def scores(clean: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    ps, ss = [], []
    for c, o in zip(clean, out):
        o = np.clip(np.asarray(o), 0, 1).reshape(c.shape)  # some skimage denoisers drop a 1-channel axis
        ps.append(min(100.0, peak_signal_noise_ratio(c, o, data_range=1.0)))
        win = min(7, c.shape[0] - (1 - c.shape[0] % 2))
        ss.append(structural_similarity(c, o, data_range=1.0, channel_axis=-1, win_size=win))
    return float(np.mean(ps)), float(np.mean(ss))


def run_set(name, data, train_kw, n_test, n_val, minutes: dict[str, float], root) -> dict:
    from latentfolio.data import ImageSet

    ds = data if isinstance(data, ImageSet) else lf.load_data(data, data_root=root, **train_kw.get("load", {}))
    test = np.ascontiguousarray(ds.images[ds.indices("test")[:n_test]])
    val = np.ascontiguousarray(ds.images[ds.indices("val")[:n_val]])
    clean_t = test.astype(np.float32) / 255
    models, out = {}, {"images_test": len(test), "images_val_for_tuning": len(val), "denoisers": {}}
    with tempfile.TemporaryDirectory() as d:
        for family, spec in TRAIN_SPECS.items():
            t0 = time.perf_counter()
            res = lf.train(data, Path(d) / family, model="denoiser", data_root=root, max_time=minutes[family],
                           denoise=spec, progress=False, **train_kw.get("train", {}))
            models[family] = lf.load(Path(d) / family)
            out["denoisers"][family] = {"train_spec": spec, "train_minutes": minutes[family], "epochs": res.epochs,
                                        "train_seconds": round(time.perf_counter() - t0, 1),
                                        "model_options": train_kw.get("train", {}).get("model_options", {})}
            print(f"{name} denoiser {spec}: {res.epochs} epochs", flush=True)

    def ours(family, noisy):
        return np.stack([denoise_array(models[family], a) for a in noisy])

    # A blind model must leave clean pages alone: the scan model sees 20% of its images clean.
    out["clean_input"] = {family: dict(zip(("psnr_db", "ssim"), scores(clean_t, ours(family, clean_t))))
                          for family in TRAIN_SPECS}
    out["noises"] = {}
    for k, spec in enumerate(NOISES):
        family = spec.split(":")[0]
        noisy_t = corrupt(test, spec, 100 + k)
        row = {"noisy": dict(zip(("psnr_db", "ssim"), scores(clean_t, noisy_t))),
               **classical_rows(test, val, spec, k)}
        for fam in dict.fromkeys([family, "scan"]):  # the model for this damage; the scan model too
            t0 = time.perf_counter()
            pt, st = scores(clean_t, ours(fam, noisy_t))
            row["latentfolio" if fam == family else "latentfolio_scan_model"] = {
                "model": TRAIN_SPECS[fam], "psnr_db": pt, "ssim": st, "seconds": round(time.perf_counter() - t0, 1)}
        pt = row["latentfolio"]["psnr_db"]
        reclassify(row)
        best_c = row["best_classical"]
        out["noises"][spec] = row
        print(f"{name} {spec}: noisy {row['noisy']['psnr_db']:.2f}  {best_c} {row[best_c]['psnr_db']:.2f}  "
              f"latentfolio {pt:.2f}", flush=True)
    out["targets"] = {spec: out["noises"][spec]["gain_over_best_classical_db"] >= 3
                      for spec in ("gaussian:0.2", "scan")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=5.0, help="FashionMNIST: each model's training budget")
    ap.add_argument("--colour-minutes", type=float, default=20.0, help="colour photos: the scan model's training budget")
    ap.add_argument("--colour-gaussian-minutes", type=float, default=20.0,
                    help="colour photos: the Gaussian model's training budget")
    ap.add_argument("--colour-width", type=int, default=32,
                    help="colour photos: the denoiser's width (`--set width=32`; 16, the default, suits 28 px grey)")
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--n-val", type=int, default=40)
    ap.add_argument("--classical-only", action="store_true",
                    help="measure the classical methods again (BM3D among them) on the same seeded test and "
                         "validation images of --sets, keeping latentfolio's rows from results/denoise.json")
    ap.add_argument("--sets", default="fashion-mnist,colour-photos-64",
                    help="data sets to run; the others keep their results from results/denoise.json "
                         "(each set records its own date)")
    args = ap.parse_args()
    todo = args.sets.split(",")
    if unknown := set(todo) - {"fashion-mnist", "colour-photos-64"}:
        ap.error(f"--sets: unknown data set(s) {', '.join(sorted(unknown))}; use fashion-mnist, colour-photos-64")
    root = data_root()
    if args.classical_only:
        return classical_only(todo, root)
    res = {"sets": {}}
    old = RESULTS / "denoise.json"
    if set(todo) != {"fashion-mnist", "colour-photos-64"} and old.exists():
        kept = json.loads(old.read_text())
        date = kept["date"]
        res["sets"] = {k: {"date": v.get("date", date), **v} for k, v in kept["sets"].items() if k not in todo}
        res["colour_data"] = kept.get("colour_data")
    today = time.strftime("%Y-%m-%d")
    if "fashion-mnist" in todo:
        res["sets"]["fashion-mnist"] = {"date": today, **run_set(
            "fashion-mnist", "fashion-mnist", {}, args.n_test, args.n_val,
            {"scan": args.minutes, "gaussian": args.minutes}, root)}
    if "colour-photos-64" not in todo:
        save("denoise", res)
        return
    from .quality import colour_sets

    with tempfile.TemporaryDirectory() as tmp:
        data = colour_sets(Path(tmp), size=64, n_train=1350, n_test=150, seed=1)
        res["sets"]["colour-photos-64"] = {"date": today, **run_set(
            "colour-photos-64", data, {"train": {"image_size": 64, "channels": 3,
                                                        "model_options": {"width": args.colour_width}}},
            min(args.n_test, 150), args.n_val, {"scan": args.colour_minutes, "gaussian": args.colour_gaussian_minutes},
            None)}
    res["colour_data"] = ("64 px random crops split by source photo: 1350 of photos/ for training and tuning "
                          "(validation: a hash split of those crops), 150 of the 24 Kodak images for testing")
    save("denoise", res)


def classical_only(sets: list[str], root) -> None:
    """The classical rows of ``sets`` measured again, on the very images and seeded damage the
    results were measured on (the split and the seeds are fixed), latentfolio's rows kept with
    their date."""
    res = json.loads((RESULTS / "denoise.json").read_text())
    for name in sets:
        if name != "fashion-mnist":
            raise SystemExit(f"--classical-only: {name} is not rerun this way (only fashion-mnist is)")
        r = res["sets"][name]
        ds = lf.load_data(name, data_root=root)
        test = np.ascontiguousarray(ds.images[ds.indices("test")[:r["images_test"]]])
        val = np.ascontiguousarray(ds.images[ds.indices("val")[:r["images_val_for_tuning"]]])
        for k, spec in enumerate(NOISES):
            row = r["noises"][spec]
            noisy = scores(test.astype(np.float32) / 255, corrupt(test, spec, 100 + k))[0]
            if abs(noisy - row["noisy"]["psnr_db"]) > 1e-6:  # the damage model changed since: not the same images
                r.setdefault("not_remeasured", {})[spec] = (
                    f"the damage model has changed since (noisy {noisy:.2f} dB now, {row['noisy']['psnr_db']:.2f} then)")
                continue
            row.update(classical_rows(test, val, spec, k))
            reclassify(row)
            print(f"{name} {spec}: best classical {row['best_classical']} "
                  f"{row[row['best_classical']]['psnr_db']:.2f}; latentfolio {row['latentfolio']['psnr_db']:.2f}",
                  flush=True)
        r["targets"] = {spec: r["noises"][spec]["gain_over_best_classical_db"] >= 3 for spec in r["targets"]}
        r["classical_measured"] = time.strftime("%Y-%m-%d")
    (RESULTS / "denoise.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
