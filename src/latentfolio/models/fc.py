"""Fully connected autoencoder: the classic 784 -> 256 -> 64 -> latent MLP (Hinton & Salakhutdinov 2006)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .base import Autoencoder, ModelConfig, activation, activation_check
from .registry import register_model


@dataclass
class FCConfig(ModelConfig):
    hidden: tuple[int, ...] = (256, 64)  # encoder widths; the decoder mirrors them
    POSITIVE = (*ModelConfig.POSITIVE, "hidden")
    activation: str = "relu"  # the tutorial's choice; fine for MLPs

    def check(self) -> None:
        super().check()
        activation_check(self.activation)


@register_model("fc")
class FCAutoencoder(Autoencoder):
    Config = FCConfig

    def __init__(self, config: FCConfig):
        super().__init__(config)
        c = config
        d = c.channels * c.image_size * c.image_size
        enc: list[nn.Module] = []
        for w in c.hidden:
            enc += [nn.Linear(d, w), activation(c.activation)]
            d = w
        enc += [nn.Linear(d, c.latent_dim)]
        dec: list[nn.Module] = []
        d = c.latent_dim
        for w in reversed(c.hidden):
            dec += [nn.Linear(d, w), activation(c.activation)]
            d = w
        dec += [nn.Linear(d, c.channels * c.image_size * c.image_size)]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x.flatten(1))  # (B, C*H*W) -> (B, latent)

    def decode(self, z: Tensor) -> Tensor:
        return self.output_activation(self.decoder(z)).view(-1, *self.input_shape)
