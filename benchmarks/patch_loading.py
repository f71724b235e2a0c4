"""Patch training's data loading against its training step, in the same run.

The patch bank of ``../shared/data/photos`` (79 photographs, 4-24 MP, decoded once) feeds
batches of 8 native-resolution patches, flipped at random; each is timed against one training step
(forward, backward, AdamW) of the ``codec`` and ``hyperprior`` models on that batch. Target:
loading ≤ 10% of a step. Also reports the one-off cost of building the bank and its size.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .common import data_root, run

from latentfolio.data import patches
from latentfolio.models import build_model
from latentfolio.training.batches import PixelBatches
from latentfolio.training.losses import objective


def bench(patch: int = 256, batch: int = 8, steps: int = 12) -> dict:
    folder = Path(data_root()) / "photos"
    os.environ["LATENTFOLIO_CACHE"] = tempfile.mkdtemp(prefix="lf-patch-bench-")
    t0 = time.perf_counter()
    ds = patches.load_patches(folder, patch)
    build_s = time.perf_counter() - t0
    data = PixelBatches(ds.images, ds.indices("train"), flips=True)
    rng = np.random.default_rng(0)
    out = {"patch": patch, "batch": batch, "images": ds.patches_from, "patches": len(ds),
           "bank_bytes": int(ds.images.nbytes), "bank_build_s": build_s, "models": {}}
    for name in ("codec", "hyperprior"):
        torch.manual_seed(0)
        net = build_model(name, image_size=patch, channels=3)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
        load = step = 0.0
        for i in range(steps + 2):
            t0 = time.perf_counter()
            b = data.__getitems__(list(rng.integers(0, len(data), batch)))
            t1 = time.perf_counter()
            x = net.preprocess(b)
            loss, _ = objective(net(x), x, "01", "mse", lmbda=0.01)
            opt.zero_grad()
            loss.backward()
            opt.step()
            t2 = time.perf_counter()
            if i >= 2:  # warm-up steps left out
                load, step = load + t1 - t0, step + t2 - t1
        out["models"][name] = {"load_ms": 1000 * load / steps, "step_ms": 1000 * step / steps,
                               "load_share": load / (load + step)}
    out["met"] = all(m["load_share"] <= 0.10 for m in out["models"].values())
    return out


if __name__ == "__main__":
    run("patch_loading", bench, patch=256, batch=8, steps=12)
