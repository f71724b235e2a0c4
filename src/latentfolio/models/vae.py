"""Convolutional VAE (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

Same conv trunk as ``conv``; the bottleneck emits a mean and a log-variance, and ``encode``
returns the :class:`DiagonalGaussian` q(z|x). The β-weighted KL lives in the training loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from .base import AEOutput, DiagonalGaussian
from .conv import ConvAutoencoder, ConvConfig
from .registry import register_model


@dataclass
class VAEConfig(ConvConfig):
    logvar_clamp: float = 10.0  # |log σ²| bound: keeps exp() finite in the first steps


@register_model("vae")
class ConvVAE(ConvAutoencoder):
    Config = VAEConfig
    default_lr = 3e-3  # the KL term makes the high conv LR less safe
    # The VAE keeps AdamW + one-cycle: its samples (benchmarks/generate.py) were measured so,
    # and Muon was not tried on it.
    default_optimizer = "adamw"
    default_schedule = "onecycle"

    def latent_out_features(self) -> int:
        return 2 * self.config.latent_dim  # mean and log-variance

    def encode(self, x: Tensor) -> DiagonalGaussian:
        mean, logvar = self.features(x).chunk(2, dim=1)
        c = self.config.logvar_clamp
        return DiagonalGaussian(mean, logvar.clamp(-c, c))

    def forward(self, x: Tensor) -> AEOutput:
        q = self.encode(x)
        z = q.sample() if self.training else q.mode()
        return AEOutput(recon=self.decode(z), z=z, posterior=q)
