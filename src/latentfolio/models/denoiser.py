"""A denoising autoencoder that keeps detail: fully convolutional, with a spatial latent.

Flattened bottlenecks blur (a 32-number code cannot hold a pen line's exact position), so this
model keeps a latent *map* at half resolution, (B, latent_dim, H/2, W/2), and uses plain residual
blocks with no normalisation (normalisation shifts brightness, which a restorer must not do;
Lim et al. 2017, EDSR). Trained on corrupted inputs with clean targets it is the denoising
autoencoder of Vincent et al. 2008. Being fully convolutional it runs on any image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import AEOutput, Autoencoder, ModelConfig
from .registry import register_model


@dataclass
class DenoiserConfig(ModelConfig):
    latent_dim: int = 32  # channels of the latent map at half resolution
    width: int = 48  # feature channels at full resolution; x2 at half resolution
    blocks: int = 2  # residual blocks at each resolution, in encoder and decoder


class PlainResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1))
        # Each block starts as the identity (Fixup, Zhang et al. 2019): with no normalisation this
        # is what keeps a deep residual stack stable at the trainer's high learning rate.
        nn.init.zeros_(self.body[2].weight)
        nn.init.zeros_(self.body[2].bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@register_model("denoiser")
class Denoiser(Autoencoder):
    Config = DenoiserConfig
    spatial = True  # the latent is a map, not a vector
    linear_output = True  # restorers (DnCNN, EDSR) regress pixels directly: no sigmoid to saturate
    default_lr = 1e-3  # no normalisation: at 3e-3 the loss spikes by orders of magnitude

    def __init__(self, config: DenoiserConfig):
        super().__init__(config)
        c, w = config, config.width
        self.encoder = nn.Sequential(
            nn.Conv2d(c.channels, w, 3, 1, 1), *[PlainResBlock(w) for _ in range(c.blocks)],
            nn.Conv2d(w, 2 * w, 3, 2, 1), *[PlainResBlock(2 * w) for _ in range(c.blocks)],
            nn.Conv2d(2 * w, c.latent_dim, 1))  # (B, latent_dim, H/2, W/2)
        self.decoder = nn.Sequential(
            nn.Conv2d(c.latent_dim, 2 * w, 1), *[PlainResBlock(2 * w) for _ in range(c.blocks)],
            nn.Conv2d(2 * w, 4 * w, 3, 1, 1), nn.PixelShuffle(2),  # sub-pixel upsampling to full size
            *[PlainResBlock(w) for _ in range(c.blocks)], nn.Conv2d(w, c.channels, 3, 1, 1))
        nn.init.zeros_(self.decoder[-1].weight)  # start as the identity map
        nn.init.zeros_(self.decoder[-1].bias)

    def encode(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        return self.encoder(F.pad(x, (0, w % 2, 0, h % 2), mode="replicate"))  # odd sizes: pad 1 px

    def decode(self, z: Tensor) -> Tensor:
        """The correction the latent map encodes, (B, C, 2h, 2w); ``forward`` adds it to the input."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> AEOutput:
        # Residual learning (Zhang et al. 2017, DnCNN): predict what to change, add the input back.
        # Clean input then needs no change at all, and training starts from the identity.
        z = self.encode(x)
        return AEOutput(recon=self.output_activation(x + self.decode(z)[..., : x.shape[-2], : x.shape[-1]]), z=z)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.forward(x).recon
