"""Hyperprior codecs: the scale hyperprior of Ballé, Minnen, Singh, Hwang & Johnston 2018
("Variational image compression with a scale hyperprior", ICLR) as ``hyperprior``, and the
mean-and-scale hyperprior of Minnen, Ballé & Toderici 2018 ("Joint autoregressive and
hierarchical priors for learned image compression", NeurIPS), without its serial context
model so decoding stays parallel, as ``meanscale``.

The latent y of the analysis transform is coded with a Gaussian whose scale (and mean) a second,
small autoencoder predicts from a hyper-latent z, which is sent first with a factorized prior.
Each latent is coded with one of SCALES integer tables, chosen by its predicted scale.

Exact decoding: the hyper-synthesis runs as an :class:`~.integer.IntegerStack` when coding files,
so the table indices and means are the same integers on every machine. Training uses its float
twin; :meth:`Hyperprior.finalize` freezes it (weights to 12 fractional bits, activations to 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .base import AEOutput
from .codec import Codec, CodecConfig, FactorizedDensity, integer_table
from .integer import FRAC_A, IntegerStack
from .registry import register_model

SCALE_MIN, SCALE_MAX, SCALES = 0.11, 64.0, 64  # the table scales, log-spaced (CompressAI: 0.11..256)


@dataclass
class HyperpriorConfig(CodecConfig):
    latent_dim: int = 128  # M: channels of y (CompressAI's bmshj2018-hyperprior: 192 for quality 1-5)
    width: int = 96  # N: channels of the transforms (CompressAI: 128)
    hyper_dim: int = 96  # channels of the hyper-latent z, at 1/4 of y's resolution
    POSITIVE = (*CodecConfig.POSITIVE, "hyper_dim")

    @classmethod
    def from_saved(cls, d: dict) -> "HyperpriorConfig":
        return cls.from_dict(d)


def gaussian_likelihood(v: Tensor, sigma: Tensor) -> Tensor:
    """Mass of the unit interval around ``v`` under N(0, σ²), from the flatter tail."""
    v = v.abs()
    upper = 0.5 * torch.erfc((v - 0.5) / (sigma * math.sqrt(2)))
    lower = 0.5 * torch.erfc((v + 0.5) / (sigma * math.sqrt(2)))
    return (upper - lower).clamp_min(1e-9)


def scale_levels() -> np.ndarray:
    """The table scales' logarithms in units of 2**-FRAC_A (integers): what indices compare against."""
    logs = np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALES)
    return np.round(logs * 2**FRAC_A).astype(np.int64)


def gaussian_table(level: int, max_symbol: int) -> tuple[int, np.ndarray]:
    """The integer table of N(0, σ²) over -R..R, σ = exp(level / 2**FRAC_A)."""
    sigma = math.exp(level / 2**FRAC_A)
    k = np.arange(-max_symbol, max_symbol + 1, dtype=np.float64)
    cdf = np.vectorize(lambda t: 0.5 * math.erfc(-t / (sigma * math.sqrt(2))))
    return integer_table(np.maximum(cdf(k + 0.5) - cdf(k - 0.5), 0.0))


@register_model("hyperprior")
class Hyperprior(Codec):
    Config = HyperpriorConfig
    predicts_means = False
    default_lr = 1e-3  # thumbnails too: the hyper-synthesis feeds exp(), which 3e-3 overshoots

    def __init__(self, config: HyperpriorConfig):
        super().__init__(config)
        m, n, nz = config.latent_dim, config.width, config.hyper_dim
        self.hyper_encoder = nn.Sequential(nn.Conv2d(m, n, 3, 1, 1), nn.ReLU(), nn.Conv2d(n, n, 5, 2, 2),
                                           nn.ReLU(), nn.Conv2d(n, nz, 5, 2, 2))
        if self.predicts_means:  # Minnen et al.: widening to 2M outputs (scales, then means)
            mid, out = (m, m * 3 // 2), 2 * m
        else:
            mid, out = (n, n), m
        self.hyper_decoder = nn.Sequential(nn.ConvTranspose2d(nz, mid[0], 5, 2, 2, 1), nn.ReLU(),
                                           nn.ConvTranspose2d(mid[0], mid[1], 5, 2, 2, 1), nn.ReLU(),
                                           nn.Conv2d(mid[1], out, 3, 1, 1))
        self.density = FactorizedDensity(nz)  # the prior of z; the tables below are z's
        width = 2 * config.max_symbol + 1
        self.register_buffer("table_freq", torch.zeros(nz, width, dtype=torch.int32))
        self.register_buffer("table_lo", torch.zeros(nz, dtype=torch.int32))
        self.register_buffer("table_len", torch.zeros(nz, dtype=torch.int32))
        self.hyper_integer = IntegerStack(self._hyper_layers())
        self.register_buffer("scale_log", torch.zeros(SCALES, dtype=torch.int64))
        self.register_buffer("gauss_freq", torch.zeros(SCALES, width, dtype=torch.int32))
        self.register_buffer("gauss_lo", torch.zeros(SCALES, dtype=torch.int32))
        self.register_buffer("gauss_len", torch.zeros(SCALES, dtype=torch.int32))

    def _hyper_layers(self) -> list[nn.Module]:
        return [m for m in self.hyper_decoder if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]

    # --- training (float) ------------------------------------------------------------------
    def side(self, z_hat: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
        """Float hyper-synthesis: -> (means, scales), each (B, M, h, w)."""
        p = self.hyper_decoder(z_hat)[..., :h, :w]
        m = self.config.latent_dim
        log_s = p[:, :m]
        mu = p[:, m:] if self.predicts_means else torch.zeros_like(log_s)
        # clamped before exp: exp() overflowing to inf would make the clamp's zero gradient a NaN
        return mu, torch.exp(log_s.clamp(math.log(SCALE_MIN), math.log(SCALE_MAX)))

    def hyper_input(self, y: Tensor) -> Tensor:
        return y if self.predicts_means else y.abs()

    def forward(self, x: Tensor) -> AEOutput:
        y = self.encode(x)
        r = self.config.max_symbol
        with torch.autocast(x.device.type, enabled=False):  # the side information and rate need fp32
            y = y.float()  # (in bf16 the hyper-analysis gave gradient norms of 1e9 and NaNs by step 8)
            z_hat = self.quantize(self.hyper_encoder(self.hyper_input(y)))
            z_lik = self.density.likelihood(z_hat)
            mu, sigma = self.side(z_hat, *y.shape[-2:])
            if self.training:
                y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            else:
                y_hat = torch.round(y - mu).clamp(-r, r) + mu
            y_lik = gaussian_likelihood(y_hat - mu, sigma)
        recon = self.decode(y_hat)[..., : x.shape[-2], : x.shape[-1]]
        return AEOutput(recon=recon, z=y_hat, likelihoods=torch.cat([y_lik.flatten(), z_lik.flatten()]))

    # --- coding (exact) --------------------------------------------------------------------
    @torch.no_grad()
    def hyper_symbols(self, y: Tensor) -> Tensor:
        """Float y (P, M, h, w) -> the integer hyper-latent (P, Z, ceil(h/4), ceil(w/4)) to send."""
        r = self.config.max_symbol
        return torch.round(self.hyper_encoder(self.hyper_input(y))).clamp(-r, r).to(torch.int32)

    @torch.no_grad()
    def entropy_parameters(self, z_sym: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
        """Integer hyper-latent -> (table index per latent, int64; mean per latent in units of
        2**-FRAC_A, float64 holding integers), bit-identical on every machine."""
        out = self.hyper_integer(z_sym)[..., :h, :w]
        m = self.config.latent_dim
        log_q = out[:, :m].contiguous()
        idx = torch.searchsorted(self.scale_log.to(torch.float64), log_q).clamp_max(SCALES - 1)
        means = out[:, m:].contiguous() if self.predicts_means else torch.zeros_like(log_q)
        return idx, means

    def finalize(self) -> None:
        super().finalize()  # z's factorized tables
        self.hyper_integer.freeze(self._hyper_layers())
        levels = scale_levels()
        self.scale_log.copy_(torch.from_numpy(levels))
        self.gauss_freq.zero_()
        for i, level in enumerate(levels):
            lo, freq = gaussian_table(int(level), self.config.max_symbol)
            self.gauss_lo[i], self.gauss_len[i] = lo, len(freq)
            self.gauss_freq[i, : len(freq)] = torch.from_numpy(freq.astype(np.int32))

    @property
    def frozen(self) -> bool:
        return super().frozen and bool((self.gauss_len > 0).all())


@register_model("meanscale")
class MeanScale(Hyperprior):
    predicts_means = True
