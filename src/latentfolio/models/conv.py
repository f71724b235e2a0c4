"""Strided-conv encoder, transposed-conv decoder, flattened into a linear bottleneck.

Covers the tutorial architectures by config, e.g. the 28 px AE (widths=(16, 32), kernel=3,
batchnorm=True, activation="relu", mlp_width=0, latent_dim=32) and the 128 px colour AE
(widths=(32, 64, 128), kernel=4, batchnorm=False, activation="relu", mlp_width=0, latent_dim=1024).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from .base import Autoencoder, ModelConfig, activation, activation_check
from .registry import register_model


@dataclass
class ConvConfig(ModelConfig):
    # Three stride-2 stages take 28 px to 4x4: small enough that the linear bottleneck is cheap,
    # wide enough (32/64/128) to beat the 16/32 tutorial model at the same latent size and time.
    widths: tuple[int, ...] = (32, 64, 128)
    kernel: int = 3  # 3 keeps every size exact (ceil(s/2)); 4 is the other common tutorial choice
    batchnorm: bool = True  # faster convergence at the high learning rate the default schedule uses
    activation: str = "silu"  # smooth activations train a little better than ReLU here
    convs_per_stage: int = 1  # extra stride-1 convs per stage add depth without shrinking the map
    # The decoder retraces the encoder's sizes exactly (28 -> 14 -> 7 -> 4 -> 7 -> 14 -> 28) instead
    # of doubling to 32 and cropping: about a quarter less decoder work and no wasted border.
    mirror_sizes: bool = True
    # A hidden layer of this width on each side of the latent (0: one linear map). At 28 px it
    # costs 1M parameters and little time, and it wins at equal wall-clock (docs/experiments.md):
    # the convs stay cheap and the MLP does the (de)coding.
    mlp_width: int = 512
    POSITIVE = (*ModelConfig.POSITIVE, "widths", "kernel", "convs_per_stage")
    DEPTH = ("convs_per_stage",)

    def check(self) -> None:
        super().check()
        activation_check(self.activation)

    @classmethod
    def from_saved(cls, d: dict) -> "ConvConfig":
        # Model folders saved before these fields existed were built with the old layout.
        return cls.from_dict({"mirror_sizes": False, "mlp_width": 0, **d})


def _pad(k: int) -> int:
    return (k - 1) // 2


def stage_sizes(size: int, depth: int, kernel: int) -> list[int]:
    """Sides of the feature maps through ``depth`` stride-2 convs, the input's first."""
    sizes = [size]
    for _ in range(depth):
        sizes.append((sizes[-1] + 2 * _pad(kernel) - kernel) // 2 + 1)
    return sizes


def spatial_size(size: int, depth: int, kernel: int) -> int:
    """Side of the feature map after ``depth`` stride-2 convs."""
    return stage_sizes(size, depth, kernel)[-1]


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
        sizes = stage_sizes(c.image_size, len(c.widths), c.kernel)
        layers: list[nn.Module] = []
        widths = list(c.widths)
        for i in range(len(widths) - 1, -1, -1):
            # output_padding picks the output side: the encoder's side at this stage, or double
            out_pad = (sizes[i] - (sizes[i + 1] - 1) * 2 + 2 * p - c.kernel) if c.mirror_sizes else 2 + 2 * p - c.kernel
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
    # With BatchNorm the one-cycle peak can be high: 6e-3 beat 3e-3, and 1e-2 was no better
    # (docs/experiments.md). With Muon it is the AdamW part's peak.
    default_lr = 6e-3
    # Muon on the hidden conv filters (AdamW on the rest) with a linear decay: at equal time it beat
    # AdamW + one-cycle on FashionMNIST, MNIST, digits and a folder of PNGs, and gained nothing on
    # one colour folder (docs/experiments.md). Same batch size and peak LR.
    default_optimizer = "muon"
    default_schedule = "linear"

    def __init__(self, config: ConvConfig):
        super().__init__(config)
        c = config
        self.s = spatial_size(c.image_size, len(c.widths), c.kernel)
        flat = c.widths[-1] * self.s * self.s
        self.encoder = ConvEncoder(c)
        act = lambda: activation(c.activation)  # noqa: E731
        if c.mlp_width:
            self.to_latent = nn.Sequential(nn.Linear(flat, c.mlp_width), act(),
                                           nn.Linear(c.mlp_width, self.latent_out_features()))
            self.from_latent = nn.Sequential(nn.Linear(c.latent_dim, c.mlp_width), act(),
                                             nn.Linear(c.mlp_width, flat), act())
        else:
            self.to_latent = nn.Linear(flat, self.latent_out_features())
            self.from_latent = nn.Sequential(nn.Linear(c.latent_dim, flat), act())
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
