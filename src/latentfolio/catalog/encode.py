"""The encoding pass of ``index``: Lightning's ``Trainer.predict`` with a writer that puts each
batch straight into the memory-mapped code file, so memory stays bounded and ``--devices``
spreads a big collection over several devices."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader

from ..data import BadFileWarning
from ..data.decode import BadImage, decode_for_index, decode_measured
from ..imaging import complexity
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
    """Decodes, hashes and measures the complexity of one image per item; a bad file gives ok=0
    and a warning. With ``also`` (files only), the same decode gives the square a content encoder
    takes too (``feature_pixels``)."""

    def __init__(self, items: list[Item], size: int, channels: int, fit: str, array=None, also: int | None = None):
        self.items, self.size, self.channels, self.fit, self.array = items, size, channels, fit, array
        self.also = also

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        it = self.items[i]
        ok, digest, cx, fpx = 1, "", float("nan"), None
        if it.file is None:
            px = np.ascontiguousarray(self.array[it.index])
            digest, cx = hashlib.sha256(px.tobytes()).hexdigest(), complexity(px)
        else:
            try:
                data = Path(it.file).read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                if self.also:
                    px, cx, fpx = decode_for_index(io.BytesIO(data), self.size, self.channels, self.fit, self.also,
                                                   name=it.file)
                else:
                    px, cx = decode_measured(io.BytesIO(data), self.size, self.channels, self.fit, name=it.file)
            except (BadImage, OSError) as e:
                warnings.warn(f"skipped {it.file}: {e}", BadFileWarning, stacklevel=1)
                ok, px = 0, np.zeros((self.size, self.size, self.channels), np.uint8)
        out = {"pixels": torch.from_numpy(np.array(px)), "ok": ok, "i": i, "hash": digest,
               "complexity": torch.tensor(cx, dtype=torch.float64)}
        if self.also:
            out["feature_pixels"] = torch.from_numpy(
                np.array(fpx) if fpx is not None else np.zeros((self.also, self.also, self.channels), np.uint8))
        return out


class Encoder(pl.LightningModule):
    """Each batch -> (codes (B, D), errors (B, 2)): the reconstruction's MSE and 1 - SSIM; with an
    ``embedder`` (a content encoder), its features of the batch's ``feature_pixels`` too."""

    def __init__(self, model, embedder=None):
        super().__init__()
        self.model, self.embedder = model, embedder

    def predict_step(self, batch, batch_idx):
        norm = self.model.config.norm
        x = self.model.preprocess(batch["pixels"].to(self.device))
        z = self.model.embed(x)
        r = self.model.decode(z)
        r01, x01 = to_unit(r.float(), norm).clamp(0, 1), to_unit(x, norm)
        mse = (r01 - x01).pow(2).flatten(1).mean(1)
        out = (z.float().flatten(1), torch.stack([mse, 1 - ssim(r01, x01)], 1))
        if self.embedder is not None:
            out += (torch.from_numpy(self.embedder.embed(batch["feature_pixels"].cpu().numpy())),)
        return out


class Writer(BasePredictionWriter):
    """Each rank writes its own shard in the scratch folder (codes, flags, errors, hashes, and
    which positions it did); rank 0 merges the shards when every rank is done. Ranks on other
    machines only need the catalog folder on storage they share."""

    def __init__(self, scratch: Path, dim: int, on_batch=None):
        super().__init__("batch")
        self.scratch, self.dim, self.on_batch, self.files = scratch, dim, on_batch, None
        self.fdim = 0  # the content features' length, when the run computes them (encode_items sets it)

    def _open(self, trainer, n: int) -> dict:
        r = trainer.global_rank
        shapes = {"codes": (np.float32, (n, self.dim)), "ok": (np.uint8, (n,)), "err": (np.float32, (n, 3)),
                  "hash": ("S64", (n,)), "done": (np.uint8, (n,))}
        if self.fdim:
            shapes["feats"] = (np.float32, (n, self.fdim))
        return {k: np.lib.format.open_memmap(self.scratch / f"shard-{r}-{k}.npy", "w+", dt, shape)
                for k, (dt, shape) in shapes.items()}

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0):
        if self.files is None:
            self.files = self._open(trainer, len(trainer.datamodule.plan["items"]))
        z, err, *feats = (t.cpu().numpy() for t in prediction)
        f, pos = self.files, batch["i"].numpy()
        f["codes"][pos] = z
        if feats:
            f["feats"][pos] = feats[0]
        f["ok"][pos] = batch["ok"].numpy() & np.isfinite(z).all(1)  # a NaN code is a bad image, not a row
        f["err"][pos] = np.column_stack([err, batch["complexity"].numpy()])
        f["hash"][pos] = np.array(batch["hash"], dtype="S64")
        f["done"][pos] = 1
        if self.on_batch is not None:
            self.on_batch(len(pos) * trainer.world_size)

    def on_predict_end(self, trainer, pl_module):
        for m in (self.files or {}).values():
            m.flush()
        self.files = None


class Plan(pl.LightningDataModule):
    """The chunk of items to encode. Global rank 0 holds it; ``setup`` runs on every rank once
    they have all joined, and broadcasts it, so ranks started on other machines (torchrun, SLURM)
    encode exactly rank 0's list. ``last`` tells them to stop."""

    def __init__(self, plan: dict | None, size: int, channels: int, fit: str, array, batch_size: int, workers: int,
                 also: int | None = None):
        super().__init__()
        self.plan, self.size, self.channels, self.fit, self.array = plan, size, channels, fit, array
        self.batch_size, self.workers, self.also = batch_size, workers, also

    def setup(self, stage: str) -> None:
        self.plan = self.trainer.strategy.broadcast(self.plan, src=0)

    def predict_dataloader(self):
        items = self.plan["items"]
        return DataLoader(EncodeSet(items, self.size, self.channels, self.fit, self.array, self.also),
                          batch_size=self.batch_size, shuffle=False, num_workers=self.workers)


def merge_shards(scratch: Path, slots: np.ndarray, latents_path: Path, dim: int, fdim: int = 0):
    """The shards of every rank -> codes in their rows of the latents file; -> (ok, err, hashes,
    content features (N, fdim) or None)."""
    n = len(slots)
    ok, err, hashes = np.zeros(n, np.uint8), np.zeros((n, 3), np.float32), [""] * n
    feats = np.zeros((n, fdim), np.float32) if fdim else None
    lat = np.memmap(latents_path, np.float32, "r+").reshape(-1, dim) if n else None
    for done_file in sorted(scratch.glob("shard-*-done.npy")):
        r = done_file.name.split("-")[1]
        done = np.load(done_file).astype(bool)
        sh = {k: np.load(scratch / f"shard-{r}-{k}.npy", mmap_mode="r")
              for k in ("codes", "ok", "err", "hash", *(("feats",) if fdim else ()))}
        pos = np.flatnonzero(done)
        lat[slots[pos]] = sh["codes"][pos]
        if fdim:
            feats[pos] = sh["feats"][pos]
        ok[pos], err[pos] = sh["ok"][pos], sh["err"][pos]
        for p, h in zip(pos, sh["hash"][pos]):
            hashes[p] = h.decode()
        del sh
    if lat is not None:
        lat.flush()
    for f in scratch.glob("shard-*.npy"):
        f.unlink()
    return ok, err, hashes, feats


def launched_world() -> int:
    """How many processes a launcher (torchrun, SLURM) started for this run; 1 when none did."""
    for k in ("WORLD_SIZE", "SLURM_NTASKS"):
        if int(os.environ.get(k) or 1) > 1:
            return int(os.environ[k])
    return 1


def launched_rank() -> int:
    """This process's global rank in a torchrun or SLURM launch; 0 otherwise."""
    if launched_world() == 1:
        return 0
    return int(os.environ.get("RANK") or os.environ.get("SLURM_PROCID") or 0)


def encode_trainer(model, scratch: Path, devices, accelerator, num_nodes: int, on_batch):
    kw = dict(accelerator=accelerator, devices=devices, num_nodes=num_nodes, logger=False,
              callbacks=[Writer(scratch, code_dim(model), on_batch)], enable_progress_bar=False,
              enable_model_summary=False, precision="32-true")
    if launched_world() > 1:  # every rank is its own process, started by torchrun or SLURM
        return make_trainer(strategy="ddp", **kw)
    trainer = make_trainer(**kw)
    if trainer.num_devices > 1:
        # Forked processes that run only this prediction. Lightning's default DDP launcher re-runs
        # the whole command for each rank, and a second `index` would edit the catalog under rank
        # 0's feet (on 2 CPU processes it marked half the images bad). CUDA is not initialised yet
        # here, so forking is safe on GPUs too.
        trainer = make_trainer(strategy="ddp_fork", **kw)
    return trainer


def _workers(workers: int | None) -> int:
    if workers is None:  # with 2 cores a decoding process only fights the model for them
        cores = os.cpu_count() or 1
        return 0 if cores <= 2 else min(4, cores - 1)
    return workers


def encode_items(model, trainer, items: list[Item] | None, slots: np.ndarray, latents_path: Path, scratch: Path,
                 fit: str, array, batch_size: int = 256, workers: int | None = None, last: bool = False,
                 embedder=None):
    """Encode ``items`` into rows ``slots`` of the latents file with ``trainer`` (from
    :func:`encode_trainer`) -> ((ok, errors, hashes, features), last). ``items`` is None on ranks
    other than 0: they get rank 0's list, and whether it is the ``last``, when the prediction
    starts (see :class:`Plan`); their first value is (None, None, None, None). ``embedder`` (one
    process, files only): a content encoder run on the same decoded pixels, its features returned.

    ``errors`` is (N, 3): the reconstruction's MSE and 1 - SSIM, both in [0, 1] pixel units, and
    the image's complexity (NaN for a bad file).
    """
    c = model.config
    plan = None if items is None else {"items": items, "last": last}
    dm = Plan(plan, c.image_size, c.channels, fit, array, batch_size, _workers(workers),
              embedder.entry.resize if embedder is not None else None)
    writer = next(cb for cb in trainer.callbacks if isinstance(cb, Writer))
    writer.fdim = embedder.dim if embedder is not None else 0
    with torch.inference_mode():
        trainer.predict(Encoder(model, embedder), datamodule=dm, return_predictions=False)
    trainer.strategy.barrier("shards")  # every rank's shard is on disk (a no-op in one process)
    if not trainer.is_global_zero:
        return (None, None, None, None), dm.plan["last"]
    return merge_shards(scratch, slots, latents_path, code_dim(model), writer.fdim), True
