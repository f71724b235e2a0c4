"""Rate-distortion autoencoder: the learned image codec of Ballé, Laparra & Simoncelli 2017,
"End-to-end optimized image compression" (ICLR), with the factorized entropy model of
Ballé et al. 2018 ("Variational image compression with a scale hyperprior", appendix 6.1).

Training replaces rounding by additive uniform noise; the loss is λ·255²·MSE + bits per pixel.
After training, :meth:`Codec.finalize` freezes each latent channel's density into an integer
frequency table (16-bit, summing to 2¹⁶), stored with the weights. Encoder and decoder then
use exactly these integers, so a file decodes to the same symbols on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import AEOutput, Autoencoder, ModelConfig
from .registry import register_model

TABLE_PRECISION = 16  # bits: frequencies sum to 2**16
TAIL = 1e-9  # probability mass left outside a channel's symbol range (clamped into its ends)


@dataclass
class CodecConfig(ModelConfig):
    latent_dim: int = 64  # M: channels of the latent map at 1 / 2**stages resolution
    width: int = 96  # N: channels of the hidden layers (Ballé 2017 used 128-192 for photos)
    POSITIVE = (*ModelConfig.POSITIVE, "width")
    DEPTH = ("stages",)
    max_symbol: int = 64  # |ŷ| is clamped to this; tables have 2·max_symbol+1 entries per channel
    stages: int = 4  # stride-2 convs in each transform: a 1/16 latent, as in Ballé et al. 2018 (smaller
    # files than 3 stages at 28 px: docs/experiments.md)

    def check(self) -> None:
        super().check()
        if not 2 <= self.stages <= 6:
            raise ValueError(f"stages: from 2 to 6 (a latent at 1/4 to 1/64 resolution), not {self.stages}")

    @classmethod
    def from_saved(cls, d: dict) -> "CodecConfig":
        return cls.from_dict({"stages": 3, **d})  # folders saved before `stages` existed


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al. 2016): x_i / sqrt(β_i + Σ_j γ_ij x_j²)."""

    def __init__(self, c: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(c))
        self.gamma = nn.Parameter(0.1 * torch.eye(c))

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        with torch.autocast(x.device.type, enabled=False):  # x² and sqrt need fp32 range
            x = x.float()
            beta = self.beta.abs() + 1e-6  # keep the denominator positive
            gamma = self.gamma.abs().view(c, c, 1, 1)
            norm = torch.sqrt(F.conv2d(x * x, gamma, beta))
            return x * norm if self.inverse else x / norm


class FactorizedDensity(nn.Module):
    """A learned, per-channel univariate density given by its CDF (Ballé et al. 2018, 6.1).

    c(x) = sigmoid(f_K ∘ … ∘ f_1(x)), f_k(x) = h_k(softplus(H_k) x + b_k), h_k(x) = x + tanh(a_k) tanh(x):
    monotone by construction. The likelihood of a (noisy or rounded) value is c(x+½) − c(x−½).
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def logits_cdf(self, v: Tensor) -> Tensor:
        """(C, 1, N) -> (C, 1, N) logits of the CDF."""
        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            v = torch.matmul(F.softplus(m), v) + b
            if i < len(self.factors):
                v = v + torch.tanh(self.factors[i]) * torch.tanh(v)
        return v

    def likelihood(self, y: Tensor) -> Tensor:
        """(B, C, h, w) -> probability mass of the unit interval around each value, same shape."""
        b, c, h, w = y.shape
        v = y.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lo, hi = self.logits_cdf(v - 0.5), self.logits_cdf(v + 0.5)
        s = -torch.sign(lo + hi).detach()  # evaluate in the flatter tail: numerically stable
        p = (torch.sigmoid(s * hi) - torch.sigmoid(s * lo)).abs()
        return p.clamp_min(1e-9).reshape(c, b, h, w).permute(1, 0, 2, 3)

    @torch.no_grad()
    def pmf_table(self, max_symbol: int) -> Tensor:
        """(C, 2R+1) probabilities of the integers -R..R (float64)."""
        c = self.matrices[0].shape[0]
        k = torch.arange(-max_symbol, max_symbol + 1, dtype=torch.float32)
        edges = torch.cat([k - 0.5, k[-1:] + 0.5]).view(1, 1, -1).expand(c, 1, -1)
        cdf = torch.sigmoid(self.logits_cdf(edges.contiguous())).double()[:, 0]
        return (cdf[:, 1:] - cdf[:, :-1]).clamp_min(0)


def integer_table(pmf: np.ndarray, precision: int = TABLE_PRECISION) -> tuple[int, np.ndarray]:
    """One channel's pmf over -R..R -> (first symbol index, integer frequencies summing to 2**precision).

    Keeps the smallest contiguous range holding all but TAIL of the mass; every kept symbol gets a
    frequency >= 1 so any clamped value stays encodable.
    """
    pmf = pmf / pmf.sum()
    cum = np.cumsum(pmf)
    lo = int(np.searchsorted(cum, TAIL / 2))
    hi = max(lo, int(np.searchsorted(cum, 1 - TAIL / 2)))
    hi = min(hi, len(pmf) - 1)
    p = pmf[lo:hi + 1].copy()
    p[0] += cum[lo] - pmf[lo]  # fold the tails into the end symbols
    p[-1] += 1 - cum[hi]
    total = 1 << precision
    freq = np.maximum(1, np.floor(p / p.sum() * (total - len(p)))).astype(np.int64)
    freq[np.argmax(freq)] += total - freq.sum()  # exact sum, adjusting the likeliest symbol
    return lo, freq


@register_model("codec")
class Codec(Autoencoder):
    Config = CodecConfig
    spatial = True
    linear_output = True  # as in Ballé et al.: the synthesis transform regresses pixels directly
    any_size = True
    patch_default = True
    patch_lr = 1e-3

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        c, n, m = config.channels, config.width, config.latent_dim
        k = config.stages - 2  # middle layers
        enc = [nn.Conv2d(c, n, 5, 2, 2), GDN(n)]
        for _ in range(k):
            enc += [nn.Conv2d(n, n, 5, 2, 2), GDN(n)]
        self.encoder = nn.Sequential(*enc, nn.Conv2d(n, m, 5, 2, 2))  # g_a: (B, C, H, W) -> (B, M, H/s, W/s)
        dec = [nn.ConvTranspose2d(m, n, 5, 2, 2, 1), GDN(n, inverse=True)]
        for _ in range(k):
            dec += [nn.ConvTranspose2d(n, n, 5, 2, 2, 1), GDN(n, inverse=True)]
        self.decoder = nn.Sequential(*dec, nn.ConvTranspose2d(n, c, 5, 2, 2, 1))  # synthesis transform g_s
        self.density = FactorizedDensity(m)
        width = 2 * config.max_symbol + 1
        # Frozen integer tables (filled by finalize): fixed shapes so load_state_dict just works.
        self.register_buffer("table_freq", torch.zeros(m, width, dtype=torch.int32))
        self.register_buffer("table_lo", torch.zeros(m, dtype=torch.int32))  # first symbol, as -R..R index
        self.register_buffer("table_len", torch.zeros(m, dtype=torch.int32))

    # --- the autoencoder contract ----------------------------------------------------------
    def encode(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        s = self.stride
        ph, pw = (-h) % s, (-w) % s  # any size: pad to a multiple of the total stride
        return self.encoder(F.pad(x, (0, pw, 0, ph), mode="replicate"))  # (B, M, ceil(H/s), ceil(W/s))

    @property
    def stride(self) -> int:
        return 1 << self.config.stages

    def decode(self, z: Tensor) -> Tensor:
        return self.output_activation(self.decoder(z))  # (B, C, stride·h, stride·w)

    def quantize(self, y: Tensor) -> Tensor:
        """Additive uniform noise while training (the relaxation of rounding), rounding otherwise."""
        if self.training:
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        return torch.round(y).clamp(-self.config.max_symbol, self.config.max_symbol)

    def forward(self, x: Tensor) -> AEOutput:
        y = self.encode(x)
        y_hat = self.quantize(y)
        recon = self.decode(y_hat)[..., : x.shape[-2], : x.shape[-1]]
        with torch.autocast(x.device.type, enabled=False):  # bf16 would wreck the rate estimate
            lik = self.density.likelihood(y_hat.float())
        return AEOutput(recon=recon, z=y_hat, likelihoods=lik)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        was = self.training
        self.eval()
        out = self.forward(x).recon
        self.train(was)
        return out

    def embed(self, x: Tensor) -> Tensor:
        return self.encode(x)

    # --- entropy tables ----------------------------------------------------------------------
    def finalize(self) -> None:
        """Freeze the learned densities into integer frequency tables (after training)."""
        pmf = self.density.pmf_table(self.config.max_symbol).cpu().numpy()
        self.table_freq.zero_()
        for ch in range(pmf.shape[0]):
            lo, freq = integer_table(pmf[ch])
            self.table_lo[ch] = lo
            self.table_len[ch] = len(freq)
            self.table_freq[ch, : len(freq)] = torch.from_numpy(freq.astype(np.int32))

    @property
    def frozen(self) -> bool:
        return bool((self.table_len > 0).all())
