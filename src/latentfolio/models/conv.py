"""Strided-conv encoder, transposed-conv decoder, flattened into a linear bottleneck.

Covers the tutorial architectures by config, e.g. the 28 px AE (channels=(16, 32), kernel=3,
batchnorm=True, activation="relu", latent_dim=32) and the 128 px colour AE (channels=(32, 64, 128),
kernel=4, latent_dim=1024).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Autoencoder, ModelConfig, activation
from .registry import register_model


@dataclass
class ConvConfig(ModelConfig):
    # Three stride-2 stages take 28 px to 4x4: small enough that the linear bottleneck is cheap,
    # wide enough (32/64/128) to beat the 16/32 tutorial model by >2 dB at the same latent size.
    widths: tuple[int, ...] = (32, 64, 128)
    kernel: int = 3  # 3 keeps every size exact (ceil(s/2)); 4 is the other common tutorial choice
    batchnorm: bool = True  # faster convergence at the high learning rate the default schedule uses
    activation: str = "silu"  # smooth activations train a little better than ReLU here
    convs_per_stage: int = 1  # extra stride-1 convs per stage add depth without shrinking the map


def _pad(k: int) -> int:
    return (k - 1) // 2


def spatial_size(size: int, depth: int, kernel: int) -> int:
    """Side of the feature map after ``depth`` stride-2 convs."""
    for _ in range(depth):
        size = (size + 2 * _pad(kernel) - kernel) // 2 + 1
    return size


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, widths[-1], s, s)."""

    def __init__(self, c: ConvConfig):
        super().__init__()
        layers: list[nn.Module] = []
        cin = c.channels
        for w in c.widths:
            for j in range(c.convs_per_stage):
                stride = 2 if j == 0 else 1
                k = c.kernel if stride == 2 else 3
                layers += [nn.Conv2d(cin, w, k, stride, _pad(k), bias=not c.batchnorm)]
                layers += [nn.BatchNorm2d(w)] if c.batchnorm else []
                layers += [activation(c.activation)]
                cin = w
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """(B, widths[-1], s, s) -> (B, C, H, W) logits, mirroring :class:`ConvEncoder`."""

    def __init__(self, c: ConvConfig):
        super().__init__()
        p = _pad(c.kernel)
        out_pad = 2 + 2 * p - c.kernel  # makes each transposed conv exactly double the side
        layers: list[nn.Module] = []
        widths = list(c.widths)
        for i in range(len(widths) - 1, -1, -1):
            cin = widths[i]
            for _ in range(c.convs_per_stage - 1):
                layers += [nn.Conv2d(cin, cin, 3, 1, 1, bias=not c.batchnorm)]
                layers += [nn.BatchNorm2d(cin)] if c.batchnorm else []
                layers += [activation(c.activation)]
            last = i == 0
            cout = c.channels if last else widths[i - 1]
            layers += [nn.ConvTranspose2d(cin, cout, c.kernel, 2, p, out_pad, bias=last or not c.batchnorm)]
            if not last:
                layers += [nn.BatchNorm2d(cout)] if c.batchnorm else []
                layers += [activation(c.activation)]
        self.net = nn.Sequential(*layers)
        self.size = c.image_size

    def forward(self, h: Tensor) -> Tensor:
        return fit_size(self.net(h), self.size)


def fit_size(x: Tensor, size: int) -> Tensor:
    """Centre-crop (or, rarely, resize up) a decoder output to ``size``."""
    s = x.shape[-1]
    if s == size:
        return x
    if s > size:
        o = (s - size) // 2
        return x[..., o:o + size, o:o + size]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


@register_model("conv")
class ConvAutoencoder(Autoencoder):
    """Convolutional autoencoder with a dense bottleneck (Masci et al. 2011 style)."""

    Config = ConvConfig

    def __init__(self, config: ConvConfig):
        super().__init__(config)
        c = config
        self.s = spatial_size(c.image_size, len(c.widths), c.kernel)
        flat = c.widths[-1] * self.s * self.s
        self.encoder = ConvEncoder(c)
        self.to_latent = nn.Linear(flat, self.latent_out_features())
        self.from_latent = nn.Sequential(nn.Linear(c.latent_dim, flat), activation(c.activation))
        self.decoder = ConvDecoder(c)

    def latent_out_features(self) -> int:
        return self.config.latent_dim

    def features(self, x: Tensor) -> Tensor:
        return self.to_latent(self.encoder(x).flatten(1))  # (B, latent_out_features)

    def encode(self, x: Tensor):
        return self.features(x)

    def decode(self, z: Tensor) -> Tensor:
        h = self.from_latent(z).view(-1, self.config.widths[-1], self.s, self.s)
        return self.output_activation(self.decoder(h))
