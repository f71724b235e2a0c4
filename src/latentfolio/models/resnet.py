"""Deeper residual conv autoencoder for colour art at 64-256 px.

Residual blocks with GroupNorm and SiLU (He et al. 2016 blocks with the normalisation of
Wu & He 2018, as in the Stable Diffusion VAE). The stem halves the resolution at once and
the decoder upsamples by sub-pixel convolution (Shi et al. 2016), so no full-resolution
conv runs on wide feature maps: that is what makes 128 px training affordable on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .base import Autoencoder, ModelConfig
from .conv import fit_size, spatial_size
from .registry import register_model


@dataclass
class ResNetConfig(ModelConfig):
    image_size: int = 64  # built for 64-256 px colour images
    channels: int = 3
    latent_dim: int = 256
    widths: tuple[int, ...] = (32, 64, 128, 128)  # one stride-2 step each: 64 px -> 4x4, 128 px -> 8x8
    POSITIVE = (*ModelConfig.POSITIVE, "widths")
    DEPTH = ("blocks",)
    # Residual blocks per stage (an int applies to every stage). None in the first, half-resolution
    # stage: there a block costs as much as all the others together, for little gain in a fixed time.
    blocks: tuple[int, ...] | int = (0, 1, 1, 1)
    # False: the encoder's last map is flattened into a latent vector (what organize, sample and
    # the density tools need). True: the latent stays a map of latent_dim / s² channels at the
    # last stage's s x s (the Stable Diffusion VAE's layout: 128 px, widths 32/64/128, latent
    # 1024 -> 4 x 16 x 16). Same number of values, but each one describes its own neighbourhood,
    # so far more detail survives: the choice for compressing and cleaning colour art.
    latent_map: bool = False

    def check(self) -> None:
        super().check()
        b = self.blocks if isinstance(self.blocks, tuple) else (self.blocks,)
        if not b or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in b):
            raise ValueError(f"blocks: expected whole numbers >= 0 (one per stage, or one for all), "
                             f"not {self.blocks!r}")

    def stage_blocks(self) -> list[int]:
        b = self.blocks
        return [b] * len(self.widths) if isinstance(b, int) else list(b) + [b[-1]] * (len(self.widths) - len(b))


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


def upsample(cin: int, cout: int) -> nn.Sequential:
    """x2 by sub-pixel convolution: a conv at the low resolution, then depth-to-space."""
    return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, 1, 1), nn.PixelShuffle(2))


@register_model("resnet")
class ResNetAutoencoder(Autoencoder):
    Config = ResNetConfig

    def __init__(self, config: ResNetConfig):
        super().__init__(config)
        c, w, nb = config, list(config.widths), config.stage_blocks()  # nb: residual blocks per stage
        self.s = spatial_size(c.image_size, len(w), 3)
        enc: list[nn.Module] = [nn.Conv2d(c.channels, w[0], 3, 2, 1)]  # stem: (B, w0, H/2, W/2)
        cin = w[0]
        for i, wi in enumerate(w):
            if i:
                enc.append(nn.Conv2d(cin, wi, 3, 2, 1))  # downsample
                cin = wi
            enc += [ResBlock(wi, wi) for _ in range(nb[i])]
        enc += [nn.GroupNorm(_groups(cin), cin), nn.SiLU()]
        self.encoder = nn.Sequential(*enc)
        if c.latent_map:
            if c.latent_dim % (self.s * self.s):
                raise ValueError(f"latent_map: latent_dim {c.latent_dim} is not a whole number of "
                                 f"{self.s}x{self.s} channels (try {max(1, c.latent_dim // self.s**2) * self.s**2})")
            lc = c.latent_dim // (self.s * self.s)
            self.to_latent = nn.Conv2d(w[-1], lc, 3, 1, 1)  # (B, lc, s, s)
            self.from_latent = nn.Conv2d(lc, w[-1], 3, 1, 1)
        else:
            flat = w[-1] * self.s * self.s
            self.to_latent = nn.Linear(flat, c.latent_dim)
            self.from_latent = nn.Linear(c.latent_dim, flat)
        dec: list[nn.Module] = []
        for i in range(len(w) - 1, -1, -1):
            dec += [ResBlock(w[i], w[i]) for _ in range(nb[i])]
            if i:
                dec.append(upsample(w[i], w[i - 1]))
        dec += [nn.GroupNorm(_groups(w[0]), w[0]), nn.SiLU(), upsample(w[0], c.channels)]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: Tensor) -> Tensor:
        h = self.encoder(x)
        return self.to_latent(h if self.config.latent_map else h.flatten(1))  # (B, lc, s, s) | (B, latent)

    def embed(self, x: Tensor) -> Tensor:
        """The code as one vector, a latent map flattened (channel-major): every vector tool
        (index, search, clustering, density, sampling, traversal) sees a map through this view."""
        return self.encode(x).flatten(1)

    def decode(self, z: Tensor) -> Tensor:
        if self.config.latent_map and z.dim() == 2:  # a flattened map, from embed or a vector tool
            z = z.view(-1, self.config.latent_dim // (self.s * self.s), self.s, self.s)
        h = self.from_latent(z).view(-1, self.config.widths[-1], self.s, self.s)
        return self.output_activation(fit_size(self.decoder(h), self.config.image_size))
