"""A denoising autoencoder that keeps detail: fully convolutional, with a spatial latent.

Flattened bottlenecks blur (a 32-number code cannot hold a pen line's exact position), so this
model keeps a latent *map*, (B, latent_dim, H / 2**levels, W / 2**levels), and uses plain residual
blocks with no normalisation (normalisation shifts brightness, which a restorer must not do;
Lim et al. 2017, EDSR). Most of the work runs at low resolution, where it is cheap, and U-Net
skips (Ronneberger et al. 2015) bring the fine detail back on the way up. Trained on corrupted
inputs with clean targets it is the denoising autoencoder of Vincent et al. 2008. Being fully
convolutional it runs on any image size.
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
    latent_dim: int = 64  # channels of the latent map at 1 / 2**levels resolution
    width: int = 32  # feature channels at the working resolution, doubled at each level down
    POSITIVE = (*ModelConfig.POSITIVE, "width")
    DEPTH = ("blocks", "levels", "unshuffle")
    blocks: int = 2  # residual blocks at each resolution, in encoder and decoder
    levels: int = 0  # stride-2 steps down to the latent map, after the unshuffle
    skips: bool = True  # U-Net skips (Ronneberger et al. 2015): encoder features added on the way up
    unshuffle: int = 2  # reversible downsampling at the input (FFDNet, Zhang et al. 2018): the network
    # sees the image as unshuffle² sub-images at 1/unshuffle resolution, so it does unshuffle² times
    # less work per pixel, and the output is shuffled back to full resolution; 1: off.
    # The defaults (2, width 32, no level, two blocks) are the benchmarked model: fast enough on 2
    # cores in tiles sized for the cache (latent/tiles.py; its speed: benchmarks/denoise_native.py).
    # More levels ran far slower, and unshuffle 4 trained worse in the same time (docs/experiments.md).
    noise_hint: bool = True  # the image's noise level, measured on the whole image (two numbers, Immerkaer
    # 1996), added to the first layer: seeing 42 px, the net cannot tell fine texture from noise.
    # With it, clean photos come back closer to themselves after the same fine-tuning
    # (docs/experiments.md); a denoiser without it fine-tunes into one with it (``init_optional``).

    def check(self) -> None:
        super().check()
        if self.levels > 6:
            raise ValueError(f"levels: at most 6 (a latent at 1/64 resolution), not {self.levels}")
        if self.unshuffle not in (1, 2, 4):
            raise ValueError(f"unshuffle: 1, 2 or 4, not {self.unshuffle}")

    @classmethod
    def from_saved(cls, d: dict) -> "DenoiserConfig":
        # Model folders saved before these fields existed: one level, no skips, full resolution, no hint.
        return cls.from_dict({"levels": 1, "skips": False, "unshuffle": 1, "noise_hint": False, **d})


class PlainResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1))
        # Each block starts as the identity (Fixup, Zhang et al. 2019): with no normalisation this
        # is what keeps a deep residual stack stable at the trainer's high learning rate.
        nn.init.zeros_(self.body[2].weight)
        nn.init.zeros_(self.body[2].bias)

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            return x + self.body(x)
        # Inference (denoise): the same arithmetic in place, no new 32-channel map per op; SiLU
        # and the add were a fifth of a 12 MP scan's time on 2 cores.
        h = F.silu(self.body[0](x), inplace=True)
        return self.body[2](h).add_(x)


@register_model("denoiser")
class Denoiser(Autoencoder):
    Config = DenoiserConfig
    spatial = True  # the latent is a map, not a vector
    linear_output = True  # restorers (DnCNN, EDSR) regress pixels directly: no sigmoid to saturate
    any_size = True
    patch_default = True
    needs_noise = True
    default_lr = 1e-3  # no normalisation: at 3e-3 the loss spikes by orders of magnitude
    init_optional = ("hint.",)  # weights a fine-tuned model may lack: they start at zero, changing nothing

    def __init__(self, config: DenoiserConfig):
        super().__init__(config)
        c, w, b, n = config, config.width, config.blocks, config.levels
        cin = c.channels * c.unshuffle**2
        enc: list[nn.Module] = [nn.Conv2d(cin, w, 3, 1, 1), *[PlainResBlock(w) for _ in range(b)]]
        for i in range(n):
            enc += [nn.Conv2d(w << i, w << (i + 1), 3, 2, 1), *[PlainResBlock(w << (i + 1)) for _ in range(b)]]
        enc.append(nn.Conv2d(w << n, c.latent_dim, 1))
        self.encoder = nn.Sequential(*enc)  # (B, latent_dim, H / 2**levels, W / 2**levels)
        if c.noise_hint:  # the two levels, as a bias on the first layer's features; zero: no effect
            self.hint = nn.Linear(2, w)
            nn.init.zeros_(self.hint.weight)
            nn.init.zeros_(self.hint.bias)
        dec: list[nn.Module] = [nn.Conv2d(c.latent_dim, w << n, 1), *[PlainResBlock(w << n) for _ in range(b)]]
        for i in reversed(range(n)):  # sub-pixel upsampling (Shi et al. 2016), one level at a time
            dec += [nn.Conv2d(w << (i + 1), 4 * (w << i), 3, 1, 1), nn.PixelShuffle(2),
                    *[PlainResBlock(w << i) for _ in range(b)]]
        dec.append(nn.Conv2d(w, cin, 3, 1, 1))
        self.decoder = nn.Sequential(*dec)
        nn.init.zeros_(self.decoder[-1].weight)  # start as the identity map
        nn.init.zeros_(self.decoder[-1].bias)
        # Where the skips leave the encoder (just before each stride-2 conv) and join the decoder
        # (just after each PixelShuffle): positions in the two Sequentials, finest level first.
        self._skip_out = [1 + b + i * (1 + b) for i in range(n)]
        self._skip_in = [len(dec) - 2 - b - i * (2 + b) for i in range(n)]

    @property
    def multiple(self) -> int:
        return self.config.unshuffle << self.config.levels

    def _pad(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        return F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="replicate")  # any size: pad to the stride

    def _encode(self, x: Tensor, hint: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        if self.config.noise_hint and hint is None:
            hint = noise_levels(x)
        if self.config.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.config.unshuffle)
        feats = []
        for i, layer in enumerate(self.encoder):
            if i in self._skip_out:
                feats.append(x)
            x = layer(x)
            if i == 0 and self.config.noise_hint:
                x = x + self.hint(hint.to(x.dtype)).view(x.shape[0], -1, 1, 1)
        return x, feats

    def encode(self, x: Tensor) -> Tensor:
        return self._encode(self._pad(x))[0]

    def decode(self, z: Tensor, skips: list[Tensor] | None = None) -> Tensor:
        """The correction the latent map encodes, (B, C, H, W); ``forward`` adds it to the input.

        With ``skips`` (the encoder's features, as ``forward`` passes them) this is the U-Net's
        decoder; without, it decodes from the latent alone.
        """
        for i, layer in enumerate(self.decoder):
            x = layer(z if i == 0 else x)
            if skips and i in self._skip_in:
                x = x + skips[self._skip_in.index(i)]
        return F.pixel_shuffle(x, self.config.unshuffle) if self.config.unshuffle > 1 else x

    def forward(self, x: Tensor, hint: Tensor | None = None) -> AEOutput:
        """``hint``: (B, 2) noise levels (:func:`noise_levels`) where the input is a tile of a bigger
        image and they were measured on the whole; otherwise they are measured on ``x``."""
        # Residual learning (Zhang et al. 2017, DnCNN): predict what to change, add the input back.
        # Clean input then needs no change at all, and training starts from the identity.
        z, feats = self._encode(self._pad(x), hint)
        delta = self.decode(z, feats if self.config.skips else None)[..., : x.shape[-2], : x.shape[-1]]
        return AEOutput(recon=self.output_activation(x + delta), z=z)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, hint: Tensor | None = None) -> Tensor:
        return self.forward(x, hint).recon


_LAPLACE = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])  # Immerkaer's mask
MAX_HINT_SAMPLES = 1 << 20  # per channel: the estimate of a 50 MP scan reads a strided subset


@torch.no_grad()
def noise_levels(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, 2): two estimates of the noise's standard deviation, averaged over the
    channels, times 4 (so sensor noise of 0.02-0.3 spans about 0.1-1.2). The mask responds to
    noise, not to smooth shading (Immerkaer 1996); its median absolute response ignores edges and
    texture, its mean absolute response counts them, and specks too."""
    b, c, h, w = x.shape
    step = max(1, int(((h - 2) * (w - 2) / MAX_HINT_SAMPLES) ** 0.5))
    r = F.conv2d(x.float().reshape(b * c, 1, h, w), _LAPLACE.to(x.device).view(1, 1, 3, 3))
    r = r[..., ::step, ::step].abs().flatten(1)
    mad = r.median(1).values / (0.6745 * 6)  # |N(0, (6 sigma)^2)| has median 0.6745 * 6 sigma
    mean = r.mean(1) * (torch.pi / 2) ** 0.5 / 6
    return (4 * torch.stack([mad, mean], 1)).view(b, c, 2).mean(1).clamp(max=4.0)
