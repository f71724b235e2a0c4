"""Reconstruction quality at equal wall-clock time, FashionMNIST, latent 32.

Baseline: the tutorial conv AE (1->16->32, BN, latent 32), Adam 1e-3, batch 256, 20 epochs of the
tutorial loop (DataLoader + per-image PIL). Its wall time T sets every other model's budget,
measured in the same run. Each latentfolio model is trained by `latentfolio train` with
`--max-time T` and otherwise default flags; the default is also trained with T/4.
Also: colour 128 px folder, `resnet` vs the 3-layer 128 px tutorial AE trained with a per-epoch
PIL decode-and-resize loop, batch 32, in the same time.

Prints JSON and writes benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .common import TUTORIAL_28, TUTORIAL_128, data_root, save, tutorial_loop

import latentfolio as lf
from latentfolio.latent.evaluate import evaluate_model
from latentfolio.models import build_model


def baseline_28(ds, epochs: int) -> dict:
    torch.manual_seed(0)
    m = build_model("conv", image_size=28, channels=1, latent_dim=32, **TUTORIAL_28)
    px = np.ascontiguousarray(ds.images[ds.indices("train")])
    r = tutorial_loop(m, px, epochs, 256)
    return {"seconds": round(r["seconds"], 1), "epochs": epochs, **evaluate_model(m.eval(), ds, "test")}


def run_latentfolio(data, minutes: float, model: str, root, **kw) -> dict:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = lf.train(data, Path(d) / "m", model=model, max_time=minutes, data_root=root, progress=False, **kw)
        wall = time.perf_counter() - t0
    return {"train_seconds": round(res.seconds, 1), "command_seconds": round(wall, 1),
            "epochs": res.epochs, **res.metrics}


def mean_of_runs(rs: list[dict]) -> dict:
    """One run as is; several (seeds 0, 1, ...): the mean metrics, and each run under ``runs``."""
    if len(rs) == 1:
        return rs[0]
    out = {k: float(np.mean([r[k] for r in rs])) for k in ("mse", "psnr_db", "ssim", "train_seconds")}
    out.update(epochs=[r["epochs"] for r in rs], n=rs[0]["n"],
               runs=[{"seed": i, **{k: r[k] for k in ("epochs", "psnr_db", "ssim")}} for i, r in enumerate(rs)])
    return out


def colour_folder(out: Path, n: int = 1200, size: int = 128, seed: int = 0) -> Path:
    """Random 128 px crops (at random scales) of scikit-image's bundled colour photos."""
    from PIL import Image
    from skimage import data as skd

    names = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
             "retina", "colorwheel"]  # the colour photos that ship inside scikit-image (no download)
    photos = []
    for nme in names:
        try:
            a = getattr(skd, nme)()
        except Exception:
            continue
        if a.ndim == 3 and a.shape[2] >= 3:
            photos.append(np.ascontiguousarray(a[:, :, :3]))
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        p = photos[i % len(photos)]
        h, w = p.shape[:2]
        s = int(rng.integers(size, min(h, w) + 1))
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        Image.fromarray(p[y:y + s, x:x + s]).resize((size, size), Image.BICUBIC).save(out / f"{i:05d}.png")
    return out


def colour_sets(tmp: Path, size: int = 128, n_train: int = 1000, n_test: int = 150, seed: int = 0):
    """Colour crops split by source photo, never by crop: train and validation crops from the 79
    photos of ``photos/`` (its own hash split of the crops: the photos are all training material),
    test crops from the 24 Kodak images, which no model here has trained on. -> an ImageSet
    whose rows keep their files (the tutorial loop reads them)."""
    from latentfolio.data.imageset import TEST, VAL, ImageSet

    root = Path(data_root())
    photos = sorted(p for p in (root / "photos").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    kodak = sorted((root / "kodak").glob("kodim*.png"))
    sets = [lf.load_data(crops(src, tmp / name, n, size, seed + k), image_size=size, channels=3)
            for k, (name, src, n) in enumerate((("train", photos, n_train), ("test", kodak, n_test)))]
    tr, te = sets
    split = np.concatenate([np.where(tr.split == TEST, VAL, tr.split), np.full(len(te.images), TEST)]).astype(np.uint8)
    return ImageSet(images=np.concatenate([np.asarray(tr.images), np.asarray(te.images)]), split=split,
                    name=f"colour-{size}", paths=[*tr.paths, *te.paths])


def crops(sources: list[Path], out: Path, n: int, size: int, seed: int) -> Path:
    """``n`` random square crops (at random scales, resized to ``size``) spread over ``sources``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    per = -(-n // len(sources))
    k = 0
    for src in sources:
        with Image.open(src) as im:
            im.draft("RGB", (1024, 1024))  # big JPEGs decode at a fraction of their size
            p = np.asarray(im.convert("RGB"))
        h, w = p.shape[:2]
        for _ in range(min(per, n - k)):
            s = int(rng.integers(size, min(h, w) + 1))
            y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
            Image.fromarray(p[y:y + s, x:x + s]).resize((size, size), Image.BICUBIC).save(out / f"{k:05d}.png")
            k += 1
    return out


class FileDataset(torch.utils.data.Dataset):
    """The tutorial colour Dataset: open, decode and resize a file in every __getitem__."""

    def __init__(self, files, size):
        self.files, self.size = files, size

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.open(self.files[i]).convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0)


def baseline_128(ds, seconds: float) -> dict:
    torch.manual_seed(0)
    m = build_model("conv", image_size=128, channels=3, latent_dim=1024, **TUTORIAL_128)
    files = [ds.paths[i] for i in ds.indices("train")]
    dl = torch.utils.data.DataLoader(FileDataset(files, 128), batch_size=32, shuffle=True)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    t0, seen, ep = time.perf_counter(), 0, 0
    while time.perf_counter() - t0 < seconds:
        for x in dl:
            loss = torch.nn.functional.mse_loss(m(x).recon, x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(x)
            if time.perf_counter() - t0 > seconds:
                break
        ep += 1
    return {"seconds": round(time.perf_counter() - t0, 1), "images_seen": seen,
            **evaluate_model(m.eval(), ds, "test")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--baseline-epochs", type=int, default=20)
    ap.add_argument("--models", default="default,conv-adamw,fc,vae,resnet,conv-tutorial")
    ap.add_argument("--seeds", type=int, default=3, help="runs (seeds 0..N-1) of the default, reported as their mean")
    ap.add_argument("--colour-minutes", type=float, default=3.0)
    ap.add_argument("--skip-colour", action="store_true",
                    help="keep the colour part of the last results (it trains only resnet models)")
    ap.add_argument("--only-colour", action="store_true", help="rerun the colour part, keep the rest")
    args = ap.parse_args()
    root = data_root()
    old = last_results()
    if args.only_colour:  # the FashionMNIST part keeps its date; the colour part carries its own
        res = {k: v for k, v in old.items() if k not in ("benchmark", "machine", "colour_128")}
        res["colour_128"] = colour_part(args.colour_minutes)
        save("quality", res)
        return
    ds = lf.load_data("fashion-mnist", data_root=root)
    res: dict = {"dataset": "fashion-mnist (train 54k / val 6k / official test 10k), test split reported",
                 "latent_dim": 32}
    base = baseline_28(ds, args.baseline_epochs)
    res["baseline"] = {"what": "tutorial conv AE 1-16-32 BN, Adam 1e-3, batch 256, tutorial PIL loop",
                       **base}
    T = base["seconds"] / 60
    print(f"baseline: {base['psnr_db']:.2f} dB in {base['seconds']} s", flush=True)
    runs = {
        "default": ("conv", {}),
        "fc": ("fc", {}),
        "conv": ("conv", {}),
        "vae": ("vae", {}),
        "resnet": ("resnet", {"model_options": {"widths": (32, 64, 128)}}),
        "conv-tutorial": ("conv", {"model_options": TUTORIAL_28}),
        # the default before 2026-11-22: AdamW + one-cycle, the same batch and peak LR
        "conv-adamw": ("conv", {"optimizer": "adamw", "schedule": "onecycle"}),
    }
    res["models"] = {}
    for name in args.models.split(","):
        model, kw = runs[name]
        # The target row is the mean over seeds: one run of it varies by about ±0.05 dB (±1 epoch
        # in the budget on this shared machine), as much as the margin it is judged by.
        seeds = range(args.seeds if name == "default" else 1)
        r = mean_of_runs([run_latentfolio("fashion-mnist", T, model, root, latent_dim=32, seed=s, **kw)
                          for s in seeds])
        res["models"][name] = {"model": model, **{k: v for k, v in kw.items()}, **r}
        print(f"{name}: {r['psnr_db']:.2f} dB", flush=True)
    q = run_latentfolio("fashion-mnist", T / 4, "conv", root, latent_dim=32)
    res["models"]["default@T/4"] = {"model": "conv", **q}
    d = res["models"].get("default")
    res["targets"] = {
        "default_minus_baseline_db": round(d["psnr_db"] - base["psnr_db"], 2) if d else None,
        "default_at_quarter_time_minus_baseline_db": round(q["psnr_db"] - base["psnr_db"], 2),
        "met_plus_2db": bool(d and d["psnr_db"] >= base["psnr_db"] + 2),
        "met_quarter_time": q["psnr_db"] >= base["psnr_db"],
    }
    if not args.skip_colour:
        res["colour_128"] = colour_part(args.colour_minutes)
    elif "colour_128" in old:
        res["colour_128"] = {"date": old["date"], **old["colour_128"]}
    save("quality", res)


def last_results() -> dict:
    import json

    from .common import RESULTS

    f = RESULTS / "quality.json"
    return json.loads(f.read_text()) if f.exists() else {}


def colour_part(minutes: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cds = colour_sets(Path(tmp))
        b = baseline_128(cds, minutes * 60)
        # The same number of latent values as the tutorial model (1024), so every comparison is at
        # equal compression (48x): as one flat vector, and as a 4 x 16 x 16 map (latent_map).
        sizes = cds.split_sizes()
        out = {"date": time.strftime("%Y-%m-%d"),
               "data": f"128 px crops split by source photo: train {sizes['train']} and validation {sizes['val']} "
                       f"from the 79 photos of photos/, test {sizes['test']} from the 24 Kodak images",
               "budget_minutes": minutes,
               "tutorial_128": {"what": "3-layer conv AE 4x4 s2 32/64/128, latent 1024, batch 32, "
                                        "PIL decode+resize per item", **b}}
        for name, opts in (("resnet", {}), ("resnet_map", {"widths": (32, 64, 128), "latent_map": True})):
            r = run_latentfolio(cds, minutes, "resnet", None, image_size=128, latent_dim=1024,
                                model_options=opts)
            out[name] = {"latent_dim": 1024, "model_options": opts, **r,
                         "gain_db": round(r["psnr_db"] - b["psnr_db"], 2)}
            print(f"colour {name}: {r['psnr_db']:.2f} dB (tutorial {b['psnr_db']:.2f})", flush=True)
        out["gain_db"] = max(out["resnet"]["gain_db"], out["resnet_map"]["gain_db"])
        out["met_plus_3db"] = out["gain_db"] >= 3
        return out


if __name__ == "__main__":
    main()
