"""Training throughput on FashionMNIST, one model, three loops, one run.

(a) latentfolio's trainer (Lightning), (b) the tutorial loop (DataLoader + per-image PIL),
(c) a pure compute loop over float tensors already in memory. Same model (the 28 px tutorial
conv AE), batch 256, Adam 1e-3, MSE. Prints JSON and writes benchmarks/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn

from .common import TUTORIAL_28, data_root, save, tutorial_loop

import latentfolio as lf
from latentfolio.models import build_model

EPOCHS = 2  # each run trains 2 epochs; the 2nd is timed, so start-up costs bias no loop


class TrainLoopTimer(pl.Callback):
    """Images/s of the training batches of each epoch (epoch start to the end of its last batch)."""

    def __init__(self):
        self.rates: list[float] = []

    def on_train_epoch_start(self, trainer, module):
        self.t0, self.images = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.images += len(batch)
        if batch_idx == trainer.num_training_batches - 1:
            self.rates.append(self.images / (time.perf_counter() - self.t0))


def compute_loop(model: nn.Module, x: torch.Tensor, epochs: int, batch_size: int) -> list[float]:
    """Loop (c): float tensors already in memory, random batches by index, nothing else."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    g = torch.Generator().manual_seed(0)
    rates = []
    for _ in range(epochs):
        seen, t0 = 0, time.perf_counter()
        perm = torch.randperm(len(x), generator=g)
        for s in range(0, len(x) - batch_size + 1, batch_size):
            xb = x[perm[s:s + batch_size]]
            loss = nn.functional.mse_loss(model(xb).recon, xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(xb)
        rates.append(seen / (time.perf_counter() - t0))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (a, b, c, a, b, c, ...)")
    args = ap.parse_args()
    root = data_root()
    ds = lf.load_data("fashion-mnist", data_root=root)
    pixels = np.ascontiguousarray(ds.images[ds.indices("train")])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255).contiguous()
    bs = 256
    def fresh():
        torch.manual_seed(0)
        return build_model("conv", image_size=28, channels=1, latent_dim=32, **TUTORIAL_28)

    def run_a() -> float:
        timer = TrainLoopTimer()
        orig = pl.Trainer.__init__

        def patched(self, *a, **k):
            k["callbacks"] = list(k.get("callbacks") or []) + [timer]
            orig(self, *a, **k)

        pl.Trainer.__init__ = patched
        try:
            with tempfile.TemporaryDirectory() as d:
                # the tutorial recipe: constant LR, no gradient clipping
                lf.train("fashion-mnist", d + "/m", model="conv", data_root=root, model_options=TUTORIAL_28,
                         latent_dim=32, epochs=EPOCHS, batch_size=bs, lr=1e-3, optimizer="adam",
                         weight_decay=0.0, schedule="constant", grad_clip=0.0, progress=False,
                         precision="32-true")  # like for like: (b) and (c) are fp32
        finally:
            pl.Trainer.__init__ = orig
        return timer.rates[-1]

    def run_b() -> float:
        ends = []
        tutorial_loop(fresh(), pixels, EPOCHS, bs, on_epoch=lambda ep, t: ends.append(t))
        return len(pixels) / (ends[-1] - ends[-2]) if len(ends) > 1 else len(pixels) / ends[-1]

    def run_c() -> float:
        return compute_loop(fresh(), x, EPOCHS, bs)[-1]

    rounds = {"a_latentfolio": [], "b_tutorial": [], "c_compute": []}
    for _ in range(args.rounds):
        for key, fn in (("a_latentfolio", run_a), ("b_tutorial", run_b), ("c_compute", run_c)):
            rounds[key].append(round(fn(), 1))
    res = {k: {"images_per_s": float(np.median(v)), "rounds": v} for k, v in rounds.items()}
    res["a_latentfolio"]["note"] = ("training batches of `latentfolio train` (Lightning): data feed, "
                                    "step, logging; validation and per-epoch outputs excluded")
    a, b, c = (res[k]["images_per_s"] for k in ("a_latentfolio", "b_tutorial", "c_compute"))
    res["ratios"] = {"a_over_c": round(a / c, 3), "a_over_b": round(a / b, 3), "b_over_c": round(b / c, 3)}
    res["target"] = "a_over_c >= 0.9"
    res["met"] = a / c >= 0.9
    save("train_speed", {"dataset": "fashion-mnist train split (54k images)",
                         "model": "tutorial conv AE 28px (1-16-32, BN, latent 32)",
                         "batch_size": bs, "timed": f"epoch {EPOCHS} of {EPOCHS} of each run (steady state), "
                         "median over interleaved rounds", **res})


if __name__ == "__main__":
    main()
