"""Shared benchmark helpers: machine description, result files, the tutorial baselines."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

RESULTS = Path(__file__).parent / "results"

# The tutorial 28 px conv AE: 1 -> 16 -> 32, 3x3 stride 2, BatchNorm, ReLU, 32-d latent (one linear map).
TUTORIAL_28 = dict(widths=(16, 32), kernel=3, batchnorm=True, activation="relu", mlp_width=0)
# The tutorial 128 px colour AE: 4x4 kernels, stride 2, 32/64/128 channels, 1024-d latent.
TUTORIAL_128 = dict(widths=(32, 64, 128), kernel=4, batchnorm=False, activation="relu", mlp_width=0)


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "date": time.strftime("%Y-%m-%d"), "machine": machine(), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path


class PILDataset(torch.utils.data.Dataset):
    """The tutorial Dataset: each __getitem__ goes uint8 -> PIL -> (optional resize) -> float tensor."""

    def __init__(self, images: np.ndarray, size: int | None = None):
        self.images, self.size = images, size

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        a = self.images[i]
        img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        if self.size:
            img = img.resize((self.size, self.size), Image.BILINEAR)
        x = np.asarray(img, dtype=np.float32) / 255.0  # ToTensor()
        x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(x))


def tutorial_loop(model: nn.Module, images: np.ndarray, epochs: int | None, batch_size: int = 256,
                  lr: float = 1e-3, size: int | None = None, seconds: float | None = None,
                  on_epoch=None) -> dict:
    """Loop (b): torch DataLoader over PILDataset, shuffle, Adam, MSE. Stops at epochs or seconds."""
    dl = torch.utils.data.DataLoader(PILDataset(images, size), batch_size=batch_size, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    seen, t0, ep = 0, time.perf_counter(), 0
    while epochs is None or ep < epochs:
        for x in dl:
            out = model(x)
            loss = nn.functional.mse_loss(out.recon, x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(x)
            if seconds and time.perf_counter() - t0 > seconds:
                return {"images": seen, "seconds": time.perf_counter() - t0, "epochs": ep}
        ep += 1
        if on_epoch:
            on_epoch(ep, time.perf_counter() - t0)
    return {"images": seen, "seconds": time.perf_counter() - t0, "epochs": ep}


def synthetic_catalog(cat_dir: Path, n: int, dim: int, rng: np.random.Generator, centres: int = 1000,
                      chunk: int = 100_000, errors: bool = False) -> np.memmap:
    """A catalog folder of ``n`` clustered synthetic codes (no image files) -> its codes. With
    ``errors``, rows carry reconstruction errors too, for `anomalies`."""
    from latentfolio.catalog import store as cat_mod

    mid = rng.standard_normal((centres, dim)).astype(np.float32) * 3
    cat_dir.mkdir()
    lat = np.memmap(cat_dir / cat_mod.LATENTS, np.float32, "w+", shape=(n, dim))
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        lat[s:s + m] = mid[rng.integers(0, centres, m)] + rng.standard_normal((m, dim)).astype(np.float32)
    lat.flush()
    (cat_dir / cat_mod.META).write_text(json.dumps({
        "format_version": 1, "model_fingerprint": "synthetic", "model_dir": "", "dim": dim, "image_size": 28,
        "channels": 1, "source": {"kind": "synthetic"}, "search": "flat"}))
    err = rng.gamma(2.0, 0.005, n) if errors else None
    db = cat_mod.connect(cat_dir / cat_mod.DB)
    with db:
        if errors:
            db.executemany("INSERT INTO images (path, hash, row, recon_error, ssim_error) VALUES (?, ?, ?, ?, ?)",
                           ((f"synthetic:{i}", "", i, float(err[i]), float(min(1, 20 * err[i]))) for i in range(n)))
        else:
            db.executemany("INSERT INTO images (path, hash, row) VALUES (?, ?, ?)",
                           ((f"synthetic:{i}", "", i) for i in range(n)))
    db.close()
    return lat


def data_root() -> str | None:
    for p in (os.environ.get("LATENTFOLIO_DATA"), str(Path(__file__).parents[2] / "shared" / "data")):
        if p and Path(p, "fashion-mnist").exists():
            return p
    sys.exit("benchmarks need FashionMNIST: set LATENTFOLIO_DATA to a folder holding fashion-mnist/")


def run(name: str, fn, **defaults) -> None:
    """``python -m benchmarks.NAME [--arg value ...]``: flags from ``defaults``, then save(fn(...))."""
    import argparse

    ap = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}")
    for k, v in defaults.items():
        ap.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=v)
    save(name, fn(**vars(ap.parse_args())))
