"""The training configuration: one typed dataclass, saved as JSON in the run folder."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..data.noise import PRESETS, parse_spec
from ..data.pages import PAGE_SHARE
from ..errors import ArgumentError
from ..models.registry import MODELS, get_model_class
from .losses import LOSSES


@dataclass
class TrainConfig:
    epochs: int | None = None  # None: 20, or more for small sets so every run gets >= 2000 steps
    max_time: float | None = None  # minutes; the LR schedule then runs on wall-clock progress
    batch_size: int | None = None  # None: n_train/32 clamped to 8..128, so small sets still get 32 steps an epoch
    lr: float | None = None  # peak LR of the schedule; None: the model's (default_lr, or patch_lr on patches)
    optimizer: str | None = None  # adam | adamw | muon (Muon on the hidden conv filters, AdamW on the rest); None: the model's
    muon_lr: float = 0.02  # optimizer=muon: peak LR of the Muon-driven conv filters (the rest use lr)
    weight_decay: float = 1e-5  # tiny: autoencoders underfit long before they overfit
    schedule: str | None = None  # onecycle | linear | cosine | constant; None: the model's
    loss: str = "mse"  # mse | bce | l1 | ssim
    ssim_weight: float = 0.84  # with loss=ssim: α·(1−SSIM) + (1−α)·MSE; 1.0 = pure SSIM
    beta: float = 1.0  # VAE only: weight of the KL term (β-VAE, Higgins et al. 2017)
    kl_warmup: float = 0.0  # VAE only: epochs over which β ramps up from 0 (Bowman et al. 2016)
    patience: int | None = None  # early stopping on val loss after this many flat epochs
    seed: int = 0
    precision: str = "auto"  # auto = bf16-mixed on a GPU that has it, else 32-true
    accelerator: str = "auto"
    devices: str = "auto"  # "auto", a count, or a list like "0,1"
    strategy: str = "auto"  # e.g. ddp
    num_nodes: int = 1
    grad_clip: float = 1.0  # clip the gradient norm: a safety net at high learning rates
    lmbda: float = 0.01  # codec only: rate-distortion trade-off λ (loss = λ·255²·MSE + bpp)
    denoise: str | None = None  # noise spec (e.g. "scan"): corrupt inputs on the fly, clean targets
    pages: float | None = None  # share of each batch that is a rendered page of text or drawing, so a
    # denoiser learns to keep ink; None: PAGE_SHARE for `scan` on native patches, else 0
    init: str | None = None  # a model folder whose weights start training (fine-tuning); same model and config

    OPTIMIZERS = ("adam", "adamw", "muon")
    SCHEDULES = ("onecycle", "linear", "cosine", "constant")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def fill_model_defaults(self, model_cls, patches: bool = False) -> None:
        """Fill in what the model decides when no flag does: peak LR, optimizer, schedule, pages."""
        if self.pages is None:
            scan = bool(self.denoise) and any(n in PRESETS for n, _, _ in parse_spec(self.denoise))
            self.pages = PAGE_SHARE if scan and patches else 0.0
        self.lr = self.lr or (patches and model_cls.patch_lr) or model_cls.default_lr
        self.optimizer = self.optimizer or model_cls.default_optimizer
        self.schedule = self.schedule or model_cls.default_schedule

    def check(self) -> None:
        """Raise ArgumentError naming the argument for any value out of range."""
        if self.optimizer is not None and self.optimizer not in self.OPTIMIZERS:
            raise ArgumentError("optimizer", self.optimizer, f"use one of {', '.join(self.OPTIMIZERS)}")
        if self.schedule is not None and self.schedule not in self.SCHEDULES:
            raise ArgumentError("schedule", self.schedule, f"use one of {', '.join(self.SCHEDULES)}")
        if self.loss not in LOSSES:
            raise ArgumentError("loss", self.loss, f"use one of {', '.join(LOSSES)}")
        if self.epochs is not None and self.epochs < 1:
            raise ArgumentError("epochs", self.epochs, "must be at least 1")
        if self.max_time is not None and not 0 < self.max_time < math.inf:
            raise ArgumentError("max_time", self.max_time, "must be a positive number of minutes")
        if self.batch_size is not None and self.batch_size < 1:
            raise ArgumentError("batch_size", self.batch_size, "must be at least 1")
        if self.lr is not None and not 0 < self.lr < math.inf:
            raise ArgumentError("lr", self.lr, "must be positive")
        if not 0 < self.muon_lr < math.inf:
            raise ArgumentError("muon_lr", self.muon_lr, "must be positive")
        if not 0 <= self.beta < math.inf:
            raise ArgumentError("beta", self.beta, "must be >= 0")
        if not 0 <= self.kl_warmup < math.inf:
            raise ArgumentError("kl_warmup", self.kl_warmup, "must be >= 0 epochs")
        if not 0 <= self.ssim_weight <= 1:
            raise ArgumentError("ssim_weight", self.ssim_weight, "must be from 0 (pure MSE) to 1 (pure SSIM)")
        if self.patience is not None and self.patience < 0:
            raise ArgumentError("patience", self.patience, "must be >= 0 epochs")
        if not 0 <= self.seed < 2**32:
            raise ArgumentError("seed", self.seed, "must be from 0 to 2**32 - 1")
        if not 0 <= self.weight_decay < math.inf:
            raise ValueError(f"weight_decay {self.weight_decay}: must be >= 0")
        if not 0 <= self.grad_clip < math.inf:
            raise ValueError(f"grad_clip {self.grad_clip}: must be >= 0 (0: off)")
        if not 0 < self.lmbda < math.inf:
            raise ArgumentError("lmbda", self.lmbda, "must be positive")
        if self.pages is not None and not 0 <= self.pages <= 0.9:
            raise ArgumentError("pages", self.pages, "is a share of each batch, from 0 to 0.9")
        if self.pages and not self.denoise:
            raise ArgumentError("pages", self.pages, "teaches a denoiser what to keep: give --denoise too")
        if self.denoise is not None:
            try:
                parse_spec(self.denoise)
            except ValueError as e:
                raise ArgumentError("denoise", None, f"{e}") from None


DEFAULT_MODEL = "conv"  # what `train` builds when no model is named


def help_defaults(model: str | None = None) -> dict[str, str]:
    """``train --help``'s default of each flag, read from where the default lives: this dataclass,
    and each model's config and class (so the help cannot disagree with what a run does). With
    ``model``: that model's defaults only; else every model's, where they differ."""
    notes = {f.name: f"default: {f.default}" for f in dataclasses.fields(TrainConfig)
             if f.default is not None and f.default is not dataclasses.MISSING}
    names = [model] if model in MODELS else sorted(MODELS)

    def per_model(value_of) -> str:
        values = {n: value_of(get_model_class(n)) for n in names}
        if len(set(values.values())) == 1:
            return f"default{' for ' + model if model in MODELS else ''}: {next(iter(values.values()))}"
        return "defaults: " + ", ".join(f"{n} {v}" for n, v in values.items())

    notes["latent_dim"] = per_model(lambda c: c.Config().latent_dim)
    notes["lr"] = per_model(lambda c: f"{c.default_lr:g}" + (f" ({c.patch_lr:g} on patches)" if c.patch_lr else ""))
    notes["optimizer"] = per_model(lambda c: c.default_optimizer)
    notes["schedule"] = per_model(lambda c: c.default_schedule)
    notes["model"] = f"default: {DEFAULT_MODEL}"
    return notes
