"""Per-epoch outputs of a run: reconstruction grids, history CSV and a loss-curve PNG."""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from .. import _io
from ..imaging import auto_scale, fig_to_pil, make_grid, pyplot, save_png


class ReconGrid(pl.Callback):
    """After each validation: fixed validation images (top row) over their reconstructions."""

    def __init__(self, run_dir: Path, pixels: np.ndarray):
        self.dir = Path(run_dir) / "grids"
        self.pixels = torch.from_numpy(np.ascontiguousarray(pixels))  # (n, H, W, C) uint8

    @torch.no_grad()
    def on_validation_epoch_end(self, trainer: pl.Trainer, module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        model = module.model
        x, _ = module._inputs(self.pixels.to(module.device), module.fixed_generator(module.device))
        was = model.training
        model.eval()
        recon = model.postprocess(model.reconstruct(x).float()).cpu().numpy()
        model.train(was)
        src = model.postprocess(x.float()).cpu().numpy()  # the (maybe corrupted) input
        grid = make_grid(np.concatenate([src, recon]), ncol=len(src), scale=auto_scale(src.shape[1], 64))
        save_png(grid, self.dir / f"epoch_{trainer.current_epoch + 1:03d}.png")


class History(pl.Callback):
    """One row per epoch in ``history.csv`` + ``loss_curve.png``; survives resume via state_dict."""

    KEYS = ("train_loss", "val_loss", "val_psnr")

    def __init__(self, run_dir: Path, echo: bool):
        self.dir, self.echo = Path(run_dir), echo
        self.rows: list[dict] = []

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.rows = list(state.get("rows", []))

    def on_train_epoch_end(self, trainer: pl.Trainer, module) -> None:
        if not trainer.is_global_zero:
            return
        m = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step,
               "seconds": round(module.elapsed(), 2),
               "lr": trainer.optimizers[0].param_groups[0]["lr"]}
        for k in self.KEYS:
            row[k] = float(m[k]) if k in m else float("nan")
        self.rows.append(row)
        self.write()
        if self.echo:
            print(f"epoch {row['epoch']:>3}  train {row['train_loss']:.5f}  val {row['val_loss']:.5f}  "
                  f"psnr {row['val_psnr']:.2f} dB  ({row['seconds']:.0f}s)", file=sys.stderr, flush=True)

    def write(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(self.rows[0]))
        w.writeheader()
        w.writerows(self.rows)
        _io.write_text(self.dir / "history.csv", buf.getvalue())
        save_png(loss_curve(self.rows), self.dir / "loss_curve.png")


def loss_curve(rows: list[dict]):
    """Train and validation loss per epoch (log scale) as a Pillow image."""
    plt = pyplot()
    ep = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    for k, style in (("train_loss", "-o"), ("val_loss", "-s")):
        ys = [r[k] for r in rows]
        if any(math.isfinite(y) for y in ys):
            ax.plot(ep, ys, style, ms=3, label=k.replace("_", " "))
    ax.set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss")
    if all(r["train_loss"] > 0 for r in rows):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig_to_pil(fig)
