"""The one contract every autoencoder follows, and its typed outputs.

``encode(x)`` -> latent (a :class:`DiagonalGaussian` for the VAE), ``decode(z)`` -> image,
``forward(x)`` -> :class:`AEOutput`. Inputs are float (B, C, H, W) in the range ``config.norm``
names; :meth:`Autoencoder.preprocess` turns the uint8 (B, H, W, C) pixels of an ImageSet into
that. Losses live in ``latentfolio.training.losses``, not here; :func:`to_unit` maps a model's range
to the [0, 1] they and the metrics work in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn


MAX_STAGES = 16  # values in a per-stage tuple (widths, hidden, blocks)
MAX_DEPTH = 64  # a DEPTH field's largest value


@dataclass
class ModelConfig:
    """Fields every model has. Subclasses add their own, each with a why-comment."""

    image_size: int = 28  # square input side in px; the data is resized to this once
    channels: int = 1  # 1 = grey, 3 = colour
    latent_dim: int = 32  # bottleneck width: compression ratio = image_size² · channels / latent_dim
    norm: str = "01"  # pixel range: "01" -> [0, 1] with sigmoid out, "pm1" -> [-1, 1] with tanh out
    # Whole-number fields where 0 means nothing sensible (others use 0 for "none", e.g. mlp_width).
    POSITIVE: ClassVar[tuple[str, ...]] = ("image_size", "channels", "latent_dim")
    # Fields that repeat layers: bounded before a model is built, since building even on the meta
    # device (to count parameters) takes time per layer: a crafted 10^6 would hang.
    DEPTH: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(names)
        if unknown:
            raise ValueError(f"unknown config field(s) {sorted(unknown)} for {cls.__name__}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        for k, v in kw.items():  # a flag like --set batchnorm=maybe is an error, not "truthy"
            default = names[k].default
            if isinstance(v, tuple) and len(v) > MAX_STAGES:
                raise ValueError(f"{k}: at most {MAX_STAGES} values, not {len(v)}")
            if k in cls.DEPTH and any(type(x) is int and x > MAX_DEPTH for x in (v if isinstance(v, tuple) else (v,))):
                raise ValueError(f"{k}: at most {MAX_DEPTH}, not {v!r}")
            if isinstance(default, bool):
                if not isinstance(v, bool):
                    raise ValueError(f"{k}: expected true or false, not {v!r}")
            elif isinstance(default, int) and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"{k}: expected a whole number >= {int(k in cls.POSITIVE)}, not {v!r}")
            if k in cls.POSITIVE:
                ok = all(isinstance(x, int) and not isinstance(x, bool) and x >= 1
                         for x in (v if isinstance(v, tuple) else (v,)))
                if not ok or v == ():
                    what = "whole numbers >= 1" if isinstance(default, tuple) else "a whole number >= 1"
                    raise ValueError(f"{k}: expected {what}, not {v!r}")
        config = cls(**kw)
        config.check()
        return config

    def check(self) -> None:
        """Raise ValueError, naming the field, for a value no model can be built from. Run by
        from_dict, so a bad flag is caught before any data is read."""
        if self.norm not in ("01", "pm1"):
            raise ValueError(f"norm must be '01' or 'pm1', not {self.norm!r}")

    @classmethod
    def from_saved(cls, d: dict) -> "ModelConfig":
        """A config read from a model folder: fields added since it was saved get the values the
        model was built with, which are not always today's defaults."""
        return cls.from_dict(d)


@dataclass
class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))), as returned by the VAE's ``encode``."""

    mean: Tensor  # (B, D)
    logvar: Tensor  # (B, D)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device,
                          dtype=self.mean.dtype)
        return self.mean + eps * torch.exp(0.5 * self.logvar)  # reparameterisation trick

    def mode(self) -> Tensor:
        return self.mean

    def kl(self) -> Tensor:
        """KL(q || N(0, I)) per sample, summed over latent dims -> (B,)."""
        return 0.5 * torch.sum(self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar, dim=1)


@dataclass
class AEOutput:
    recon: Tensor  # (B, C, H, W), same range as the input
    z: Tensor  # (B, latent_dim): the code that was decoded
    posterior: DiagonalGaussian | None = None  # VAE only
    likelihoods: Tensor | None = None  # codec only: p(ŷ) per latent element, for the rate term


def to_unit(x: Tensor, norm: str) -> Tensor:
    """Model range (``config.norm``) -> [0, 1]: losses and metrics are defined there."""
    return (x + 1) * 0.5 if norm == "pm1" else x


ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "silu": nn.SiLU,
               "gelu": nn.GELU}


def activation_check(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}")


def activation(name: str) -> nn.Module:
    activation_check(name)
    return ACTIVATIONS[name]()


class Autoencoder(nn.Module):
    """Base class: the shared contract plus pixel conversion. Subclasses set ``Config``."""

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    type_name: ClassVar[str] = ""
    # Linear output while training, clamped to the range at inference. A sigmoid/tanh output can
    # saturate in the first Adam steps of a network without normalisation and never recover.
    linear_output: ClassVar[bool] = False
    default_lr: ClassVar[float] = 3e-3  # peak one-cycle LR when the user gives no --lr
    # What `train` uses when no --optimizer / --schedule is given (see ConvAutoencoder for Muon).
    default_optimizer: ClassVar[str] = "adamw"
    default_schedule: ClassVar[str] = "onecycle"
    # Fully convolutional models take any input size; the others (a dense bottleneck) only
    # config.image_size, so tiling tools must feed them exactly that.
    any_size: ClassVar[bool] = False
    # Trained on native-resolution patches of a folder by default (data.patches), not thumbnails:
    # what a codec or a denoiser learns is the detail that squashing removes.
    patch_default: ClassVar[bool] = False
    # The peak LR on patches when no --lr is given (None: default_lr). GDN codecs at 3e-3 on
    # 256 px photo crops blew up within 10 steps (the inverse GDN grows as x²); at 1e-3 they train.
    patch_lr: ClassVar[float | None] = None
    # Trained only with --denoise: a model with skips around its bottleneck (the U-Net
    # denoiser) learns the identity from clean inputs, and scores a perfect, useless PSNR.
    needs_noise: ClassVar[bool] = False
    # Prefixes of weights that `train --init` may find missing in the model it starts from (an
    # optional input the older model lacks): they keep their initial values, which must leave the
    # outputs as they were.
    init_optional: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.check()
        self.config = config

    # --- pixels <-> model range ---------------------------------------------------------
    def preprocess(self, pixels: Tensor) -> Tensor:
        """uint8 (B, H, W, C) -> float (B, C, H, W) in the model's range."""
        x = pixels.permute(0, 3, 1, 2).float().div_(255.0)
        return x.mul_(2).sub_(1) if self.config.norm == "pm1" else x

    def postprocess(self, x: Tensor) -> Tensor:
        """float (B, C, H, W) in the model's range -> uint8 (B, H, W, C)."""
        if self.config.norm == "pm1":
            x = (x + 1) / 2
        return x.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1)

    def output_activation(self, x: Tensor) -> Tensor:
        if self.linear_output:
            if self.training:
                return x
            return x.clamp(-1, 1) if self.config.norm == "pm1" else x.clamp(0, 1)
        return torch.tanh(x) if self.config.norm == "pm1" else torch.sigmoid(x)

    # --- the contract --------------------------------------------------------------------
    def encode(self, x: Tensor):
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> AEOutput:
        z = self.encode(x)
        return AEOutput(recon=self.decode(z), z=z)

    def embed(self, x: Tensor) -> Tensor:
        """A deterministic code for ``x`` (the posterior mean for a VAE)."""
        z = self.encode(x)
        return z.mode() if isinstance(z, DiagonalGaussian) else z

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.embed(x))

    def finalize(self) -> None:
        """Called once after training, before saving (the codec freezes its entropy tables here)."""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c = self.config
        return (c.channels, c.image_size, c.image_size)
