"""The LightningModule: wraps any registered model with the loss, optimiser and LR schedule."""

from __future__ import annotations

import math
import time

import lightning.pytorch as pl
import torch

from ..metrics import psnr
from ..data.noise import SCAN_TRAIN_SKIP, Noise
from ..data.pages import page_patches, pool_size
from ..latent.flatten import flatten_batch
from ..models import Autoencoder, to_unit
from .config import TrainConfig
from .losses import objective
from .optim import MuonAdamW, muon_params


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; training stops and keeps the last good checkpoint."""


def lr_factor(schedule: str, p: float) -> float:
    """LR multiplier at training progress ``p`` in [0, 1]."""
    p = min(max(p, 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":  # 3% linear warm-up, then cosine to 0 (Loshchilov & Hutter 2017)
        w = 0.03
        return p / w if p < w else 0.5 * (1 + math.cos(math.pi * (p - w) / (1 - w)))
    # one-cycle (Smith & Topin 2018): 1/25 -> 1 over 15%, cosine down to 1/2500.
    # linear: the same warm-up, then a straight line down to 1/2500 ("straight to zero",
    # Bergsma et al. 2025, who find it beats the cosine tail at a fixed budget; with Muon here
    # the difference was inside the run-to-run spread, docs/experiments.md).
    w, lo, end = 0.15, 1 / 25, 1 / 2500
    if p < w:
        return lo + (1 - lo) * 0.5 * (1 - math.cos(math.pi * p / w))
    if schedule == "linear":
        return end + (1 - end) * (1 - p) / (1 - w)
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * (p - w) / (1 - w)))


class AutoencoderModule(pl.LightningModule):
    def __init__(self, model: Autoencoder, cfg: TrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg
        cfg.fill_model_defaults(type(model))  # done already by train(); here for a module built directly
        self.corrupt = None  # (x in [0, 1], generator) -> noisy x, when training a denoiser
        if cfg.denoise:
            self.corrupt = Noise(cfg.denoise, skip=SCAN_TRAIN_SKIP)
            # Pages get no hairs: on a page of ink a hair and a pen stroke look the same, and the
            # stroke is what the user wants kept.
            self.corrupt_page = Noise(cfg.denoise, skip=(*SCAN_TRAIN_SKIP, "hair"))
        self._pages: torch.Tensor | None = None  # rendered pages (N, P, P, C) uint8, built on first use
        self._gen: torch.Generator | None = None
        self._fused = False  # set by configure_optimizers: a fused step, so clip here, not in Lightning
        self.lr_scale = 1.0  # halved by BlowUpGuard after each roll-back
        self._elapsed_before = 0.0  # seconds trained before a resume
        self.budget_s = cfg.max_time * 60 if cfg.max_time else None  # set to fit's share of --max-time
        self._t0: float | None = None

    # --- progress drives the LR, so a --max-time budget still finishes its schedule ----------
    def progress(self) -> float:
        p = self.global_step / max(1, self.trainer.estimated_stepping_batches)
        if self.budget_s:
            p = max(p, self.elapsed() / self.budget_s)
        return p

    def elapsed(self) -> float:
        return self._elapsed_before + (time.monotonic() - self._t0 if self._t0 else 0.0)

    def on_train_start(self) -> None:
        self._t0 = time.monotonic()

    def setup(self, stage: str) -> None:
        # Inputs arrive channels-last already (uint8 NHWC permuted); matching conv weights lets
        # oneDNN / cuDNN skip a layout reorder per layer (faster on CPU). Done here,
        # before the strategy wraps the model (DDP lays its gradient buckets out to match).
        if any(p.dim() == 4 for p in self.model.parameters()):
            self.model.to(memory_format=torch.channels_last)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["latentfolio_elapsed"] = self.elapsed()
        checkpoint["latentfolio_lr_scale"] = self.lr_scale

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._elapsed_before = float(checkpoint.get("latentfolio_elapsed", 0.0))
        self.lr_scale = float(checkpoint.get("latentfolio_lr_scale", 1.0))

    def kl_weight(self) -> float:
        if self.cfg.kl_warmup <= 0:
            return self.cfg.beta
        epochs = self.global_step / max(1, self.trainer.num_training_batches)
        return self.cfg.beta * min(1.0, epochs / self.cfg.kl_warmup)

    # --- steps -------------------------------------------------------------------------------
    def _inputs(self, batch: torch.Tensor, generator: torch.Generator | None = None):
        """-> (model input, target). Denoising: the input is a corrupted copy of the target."""
        x = self.model.preprocess(batch)  # uint8 (B,H,W,C) -> float (B,C,H,W), on the device
        if self.corrupt is None:
            return x, x
        training = generator is None  # validation passes its fixed generator
        if training:
            if self._gen is None or self._gen.device != x.device:
                self._gen = torch.Generator(device=x.device).manual_seed(self.cfg.seed + self.global_rank)
            generator = self._gen
        norm = self.model.config.norm
        k = self._page_count(len(x), training)
        if k:
            x = torch.cat([x[: len(x) - k], self._page_batch(k, x, generator)])
        clean = to_unit(x, norm)
        noisy = self.corrupt(clean[: len(x) - k], generator)
        if k:
            noisy = torch.cat([noisy, self.corrupt_page(clean[len(x) - k:], generator)])
        if self.corrupt.clean_share:
            keep = torch.rand(len(x), generator=generator, device=x.device) < self.corrupt.clean_share
            noisy = torch.where(keep.view(-1, 1, 1, 1), clean, noisy)
        if self.corrupt.page:  # page mode: the model sees the page with its paper divided out, as
            # `denoise --kind page` will show it, and learns the fine scale of what is left
            noisy, clean = flatten_batch(noisy), flatten_batch(clean)
            x = clean * 2 - 1 if norm == "pm1" else clean
        return (noisy * 2 - 1 if norm == "pm1" else noisy), x

    def _page_count(self, n: int, training: bool) -> int:
        """How many of a training batch's n images to replace with rendered pages (none in
        validation, so its numbers stay those of the user's images)."""
        share = self.cfg.pages or 0.0
        if not training or not share or not getattr(self.model, "any_size", False):
            return 0
        return int(n * share + torch.rand((), generator=self._gen, device=self._gen.device).item())

    def _page_batch(self, k: int, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """k pages from the pool, drawn at random, preprocessed like the batch ``x`` (B, C, H, W)."""
        side, c = x.shape[-1], x.shape[1]
        if self._pages is None or self._pages.shape[1] != side or self._pages.shape[-1] != c:
            n = pool_size(side, c)
            self._pages = torch.from_numpy(page_patches(n, side, c, seed=self.cfg.seed * 7919 + self.global_rank))
        idx = torch.randint(len(self._pages), (k,), generator=generator, device=generator.device).cpu()
        return self.model.preprocess(self._pages[idx].to(x.device)).to(x.dtype)

    def fixed_generator(self, device, offset: int = 0) -> torch.Generator:
        """The same corruption every epoch, so validation numbers are comparable."""
        return torch.Generator(device=device).manual_seed(10_000 + offset)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        inp, target = self._inputs(batch)
        out = self.model(inp)
        loss, parts = objective(out, target, self.model.config.norm, self.cfg.loss,
                                self.kl_weight(), self.cfg.ssim_weight, self.cfg.lmbda)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"loss became {loss.item()} at epoch {self.current_epoch}, "
                                f"step {self.global_step}")
        n = len(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        for k in ("kl", "bpp"):
            if k in parts:
                self.log(f"train_{k}", parts[k], on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        inp, target = self._inputs(batch, self.fixed_generator(batch.device, batch_idx))
        out = self.model(inp)
        loss, parts = objective(out, target, self.model.config.norm, self.cfg.loss, self.cfg.beta,
                                self.cfg.ssim_weight, self.cfg.lmbda)
        norm = self.model.config.norm
        p = psnr(to_unit(out.recon.float(), norm).clamp(0, 1), to_unit(target, norm)).mean()
        n = len(batch)
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val_psnr", p, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        if "bpp" in parts:
            self.log("val_bpp", parts["bpp"], on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        if gradient_clip_val and self._fused:
            # Lightning refuses to clip for fused optimisers in case a grad scaler holds the
            # gradients scaled; we only fuse without one, so they are true-scale here.
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), gradient_clip_val)
            return
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self):
        lr, name, schedule = self.cfg.lr, self.cfg.optimizer, self.cfg.schedule
        params = [p for p in self.model.parameters() if p.requires_grad]
        # The fused kernel does Adam's whole update in one pass instead of ~10 foreach ops, which
        # shows on small models (benchmarks/train_speed.py).
        # A grad scaler (fp16) must unscale before clipping, which a fused step can't offer.
        scaler = getattr(self.trainer.precision_plugin, "scaler", None) if self._trainer else None
        self._fused = scaler is None and all(p.device.type in ("cpu", "cuda") for p in params)
        wd = self.cfg.weight_decay
        hidden = muon_params(self.model) if name == "muon" else []
        if hidden:
            ids = {id(p) for p in hidden}
            opt = MuonAdamW([dict(params=[p for p in params if id(p) not in ids], lr=lr, weight_decay=wd),
                             dict(params=hidden, lr=self.cfg.muon_lr, weight_decay=wd, muon=True)],
                            fused=self._fused)
        else:  # adam, adamw, or muon on a model without hidden conv filters (fc): AdamW
            opt_cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
            opt = opt_cls(params, lr=lr, weight_decay=wd, fused=self._fused)
        # LambdaLR scales each group's own peak LR, so Muon's and AdamW's follow one schedule.
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda _step: self.lr_scale * lr_factor(schedule, self.progress() if self._trainer else 0.0))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
