"""The encoding pass of ``index``: Lightning's ``Trainer.predict`` with a writer that puts each
batch straight into the memory-mapped code file, so memory stays bounded and ``--devices``
spreads a big collection over several devices."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader

from ..data import BadFileWarning
from ..data.decode import BadImage, decode_image
from ..latent.encode import require_vector_latent
from ..metrics import ssim
from ..models import to_unit
from ..training.trainer import make_trainer
from .sources import Item


def code_dim(model) -> int:
    """The length of the model's code vector; a model without one cannot make a catalog."""
    require_vector_latent(model, "a catalog")
    return int(model.config.latent_dim)


class EncodeSet:
    """Decodes (and hashes) one image per item; a bad file gives ok=0 and a warning."""

    def __init__(self, items: list[Item], slots: np.ndarray, size: int, channels: int, fit: str, array=None):
        self.items, self.slots, self.size, self.channels, self.fit, self.array = items, slots, size, channels, fit, array

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        it = self.items[i]
        ok, digest = 1, ""
        if it.file is None:
            px = np.ascontiguousarray(self.array[it.index])
            digest = hashlib.sha256(px.tobytes()).hexdigest()
        else:
            try:
                data = Path(it.file).read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                px = decode_image(io.BytesIO(data), self.size, self.channels, self.fit, name=it.file)
            except (BadImage, OSError) as e:
                warnings.warn(f"skipped {it.file}: {e}", BadFileWarning, stacklevel=1)
                ok, px = 0, np.zeros((self.size, self.size, self.channels), np.uint8)
        return {"pixels": torch.from_numpy(np.array(px)), "ok": ok, "slot": int(self.slots[i]), "i": i, "hash": digest}


class Encoder(pl.LightningModule):
    """Each batch -> (codes (B, D), errors (B, 2)): the reconstruction's MSE and 1 - SSIM."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def predict_step(self, batch, batch_idx):
        norm = self.model.config.norm
        x = self.model.preprocess(batch["pixels"].to(self.device))
        z = self.model.embed(x)
        r = self.model.decode(z)
        r01, x01 = to_unit(r.float(), norm).clamp(0, 1), to_unit(x, norm)
        mse = (r01 - x01).pow(2).flatten(1).mean(1)
        return z.float().flatten(1), torch.stack([mse, 1 - ssim(r01, x01)], 1)


class Writer(BasePredictionWriter):
    """Writes each batch's codes into their rows of the code file, and its flags, errors and
    hashes into scratch arrays that every DDP rank shares through the disk."""

    def __init__(self, latents_path: Path, scratch: Path, dim: int, on_batch=None):
        super().__init__("batch")
        self.latents_path, self.scratch, self.dim, self.on_batch = latents_path, scratch, dim, on_batch

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0):
        z, err = (t.cpu().numpy() for t in prediction)
        lat = np.memmap(self.latents_path, np.float32, "r+").reshape(-1, self.dim)
        lat[batch["slot"].numpy()] = z
        lat.flush()
        ok = np.load(self.scratch / "ok.npy", mmap_mode="r+")
        er = np.load(self.scratch / "err.npy", mmap_mode="r+")
        hs = np.load(self.scratch / "hash.npy", mmap_mode="r+")
        pos = batch["i"].numpy()
        ok[pos] = batch["ok"].numpy() & np.isfinite(z).all(1)  # a NaN code is a bad image, not a row
        er[pos] = err
        hs[pos] = np.array(batch["hash"], dtype="S64")
        for m in (ok, er, hs):
            m.flush()
        if self.on_batch is not None:
            self.on_batch(len(pos) * trainer.world_size)


@contextmanager
def progress_bar(total: int, label: str, show: bool | None = None):
    """A progress bar on a terminal with images/s and the time left -> ``advance(n)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    show = sys.stderr.isatty() if show is None else show
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=not show) as prog:
        task = prog.add_task(label, total=total, rate="")

        def advance(n: int) -> None:
            prog.advance(task, n)
            speed = prog.tasks[0].speed
            prog.update(task, rate=f"{speed:,.0f} images/s" if speed else "")
        yield advance


def encode_items(model, items: list[Item], slots: np.ndarray, latents_path: Path, scratch: Path,
                 fit: str, array, devices="auto", accelerator="auto", batch_size: int = 256,
                 workers: int | None = None, on_batch=None):
    """Encode ``items`` into rows ``slots`` of the latents file; -> (ok, errors, hashes), or
    (None, None, None) on a DDP rank other than 0.

    ``errors`` is (N, 2): the reconstruction's MSE and 1 - SSIM, both in [0, 1] pixel units.
    """
    c = model.config
    n_total = len(slots)
    np.lib.format.open_memmap(scratch / "ok.npy", "w+", np.uint8, (n_total,))
    np.lib.format.open_memmap(scratch / "err.npy", "w+", np.float32, (n_total, 2))
    np.lib.format.open_memmap(scratch / "hash.npy", "w+", "S64", (n_total,))
    if workers is None:  # with 2 cores a decoding process only fights the model for them
        cores = os.cpu_count() or 1
        workers = 0 if cores <= 2 else min(4, cores - 1)
    dl = DataLoader(EncodeSet(items, slots, c.image_size, c.channels, fit, array), batch_size=batch_size,
                    shuffle=False, num_workers=workers)
    cbs = [Writer(latents_path, scratch, code_dim(model), on_batch)]
    kw = dict(accelerator=accelerator, devices=devices, logger=False, callbacks=cbs,
              enable_progress_bar=False, enable_model_summary=False, precision="32-true")
    trainer = make_trainer(**kw)
    if trainer.num_devices > 1:
        # Forked processes that run only this prediction. Lightning's default DDP launcher re-runs
        # the whole command for each rank, and a second `index` would edit the catalog under rank
        # 0's feet (on 2 CPU processes it marked half the images bad). CUDA is not initialised yet
        # here, so forking is safe on GPUs too.
        trainer = make_trainer(strategy="ddp_fork", **kw)
    with torch.inference_mode():
        trainer.predict(Encoder(model), dataloaders=dl, return_predictions=False)
    if not trainer.is_global_zero:
        return None, None, None
    ok = np.load(scratch / "ok.npy")
    err = np.load(scratch / "err.npy")
    hashes = [h.decode() for h in np.load(scratch / "hash.npy")]
    return ok, err, hashes
