"""Deeper residual conv autoencoder for colour art at 64-256 px.

Residual blocks with GroupNorm and SiLU (the block of He et al. 2016 with the normalisation of
Wu & He 2018, as used in the Stable Diffusion VAE), stride-2 downsampling, and a linear bottleneck.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from .base import Autoencoder, ModelConfig
from .conv import fit_size, spatial_size
from .registry import register_model


@dataclass
class ResNetConfig(ModelConfig):
    image_size: int = 64  # built for 64-256 px colour images
    channels: int = 3
    latent_dim: int = 256
    widths: tuple[int, ...] = (32, 64, 128, 128)  # one stride-2 stage each: 64 px -> 4x4
    blocks: int = 1  # residual blocks per stage; 2 is sharper and twice as slow


def _groups(c: int) -> int:
    return 8 if c % 8 == 0 else 1


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(_groups(cin), cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, 1, 1),
            nn.GroupNorm(_groups(cout), cout), nn.SiLU(), nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.body(x)


class Upsample(nn.Module):
    """Nearest x2 then conv: no checkerboard artefacts, unlike transposed convs."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


@register_model("resnet")
class ResNetAutoencoder(Autoencoder):
    Config = ResNetConfig

    def __init__(self, config: ResNetConfig):
        super().__init__(config)
        c = config
        w = list(c.widths)
        self.s = spatial_size(c.image_size, len(w), 3)
        enc: list[nn.Module] = [nn.Conv2d(c.channels, w[0], 3, 1, 1)]
        cin = w[0]
        for wi in w:
            for _ in range(c.blocks):
                enc.append(ResBlock(cin, wi))
                cin = wi
            enc.append(nn.Conv2d(wi, wi, 3, 2, 1))  # downsample
        enc += [nn.GroupNorm(_groups(cin), cin), nn.SiLU()]
        self.encoder = nn.Sequential(*enc)
        flat = w[-1] * self.s * self.s
        self.to_latent = nn.Linear(flat, c.latent_dim)
        self.from_latent = nn.Linear(c.latent_dim, flat)
        dec: list[nn.Module] = []
        cin = w[-1]
        for wi in reversed(w):
            for _ in range(c.blocks):
                dec.append(ResBlock(cin, wi))
                cin = wi
            dec.append(Upsample(wi))
        dec += [nn.GroupNorm(_groups(cin), cin), nn.SiLU(), nn.Conv2d(cin, c.channels, 3, 1, 1)]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: Tensor) -> Tensor:
        return self.to_latent(self.encoder(x).flatten(1))

    def decode(self, z: Tensor) -> Tensor:
        h = self.from_latent(z).view(-1, self.config.widths[-1], self.s, self.s)
        return self.output_activation(fit_size(self.decoder(h), self.config.image_size))
