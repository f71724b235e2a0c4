"""Per-epoch work of a run: reconstruction grids, history CSV, a loss-curve PNG, the blow-up guard."""

from __future__ import annotations

import copy
import csv
import io
import math
import sys
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from .. import _io
from ..imaging import auto_scale, make_grid, save_picture
from ..render.curves import loss_curve


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
        save_picture(grid, self.dir / f"epoch_{trainer.current_epoch + 1:03d}.png")


class BlowUpGuard(pl.Callback):
    """Recover from a training blow-up instead of finishing the run on a broken model.

    When the validation loss jumps to ``factor`` times its best so far (or stops being finite),
    the model and optimiser go back to the best epoch's state and the rest of the schedule runs at
    half the learning rate. A one-cycle peak that suits most data can be too high for some (a
    64 px colour codec blew up at one peak and was smooth at a lower one: docs/experiments.md).
    Healthy runs never come near ``factor``,
    so they are untouched. The snapshot lives in CPU memory (one copy of the weights and Adam state);
    after a resume the guard starts over from the first epoch it sees.
    """

    def __init__(self, factor: float = 3.0, max_rollbacks: int = 3, echo: bool = True):
        self.factor, self.max_rollbacks, self.echo = factor, max_rollbacks, echo
        self.best = math.inf
        self.best_epoch = 0
        self.snapshot: dict | None = None
        self.events: list[dict] = []  # one per roll-back, for meta.json

    def on_validation_end(self, trainer: pl.Trainer, module) -> None:
        if trainer.sanity_checking or "val_loss" not in trainer.callback_metrics:
            return
        loss = float(trainer.callback_metrics["val_loss"])  # synced across ranks: all decide alike
        epoch = trainer.current_epoch + 1
        if math.isfinite(loss) and loss < self.best:
            self.best, self.best_epoch = loss, epoch
            # Kept on the CPU, so a GPU run does not hold a second copy of the weights and Adam state
            self.snapshot = {"model": _cpu_copy(module.model.state_dict()),
                             "optimizers": [_cpu_copy(o.state_dict()) for o in trainer.optimizers]}
            return
        blown = not math.isfinite(loss) or loss > self.factor * self.best
        if not blown or self.snapshot is None or len(self.events) >= self.max_rollbacks:
            return
        module.model.load_state_dict(self.snapshot["model"])
        for opt, state in zip(trainer.optimizers, self.snapshot["optimizers"]):
            opt.load_state_dict(copy.deepcopy(state))  # a copy: on the CPU, loading would alias it
        module.lr_scale *= 0.5
        self.events.append({"epoch": epoch, "val_loss": loss, "best_val_loss": self.best,
                            "back_to_epoch": self.best_epoch, "lr_scale": module.lr_scale})
        if self.echo and trainer.is_global_zero:
            print(f"epoch {epoch}: validation loss jumped to {loss:.4g} (best {self.best:.4g}, epoch "
                  f"{self.best_epoch}): a blow-up; back to epoch {self.best_epoch}'s weights, "
                  f"learning rate x{module.lr_scale:g}", file=sys.stderr, flush=True)


def _cpu_copy(obj):
    """A deep copy of a (nested) state dict with every tensor copied to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


def _left(module, row: dict) -> str:
    """Time left, in words: the sooner of the epochs left at this pace and the --max-time budget."""
    t, done = row["seconds"], row["epoch"]
    total = module.trainer.max_epochs
    left = t / max(done, 1) * max(total - done, 0) if total and 0 < total < 10_000 else float("inf")
    budget = getattr(module, "budget_s", None)
    if budget:
        left = min(left, max(budget - t, 0))
    if left == float("inf"):
        return "no end set"
    return f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f}s left"


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
            of = "" if getattr(module.cfg, "max_time", None) and trainer.max_epochs >= 10_000 else f"/{trainer.max_epochs}"
            print(f"epoch {row['epoch']:>3}{of}  train {row['train_loss']:.5f}  "
                  f"val {row['val_loss']:.5f}  psnr {row['val_psnr']:.2f} dB  ({row['seconds']:.0f}s, "
                  f"{_left(module, row)})", file=sys.stderr, flush=True)

    def write(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(self.rows[0]))
        w.writeheader()
        w.writerows(self.rows)
        _io.write_text(self.dir / "history.csv", buf.getvalue())
        save_picture(loss_curve(self.rows), self.dir / "loss_curve.png")
