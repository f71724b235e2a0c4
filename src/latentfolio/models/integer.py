"""Integer networks: a float conv stack frozen into fixed-point layers that give the same integers
on every machine (after Ballé, Johnston & Minnen 2019, "Integer networks for data compression
with latent-variable models", ICLR).

Why: a hyperprior codec picks each latent's entropy table from the output of its hyper-synthesis
network. Run in floats, that output depends on the CPU, the GPU, the thread count and the batch
(summation order, FMA, TF32, Winograd), and one flipped table index decodes a file into garbage
(CompressAI issue #279). Here the decoder's side of the entropy model is pure integer arithmetic.

The proof. Every value is an integer: inputs, weights (``round(w · 2**FRAC_W)``), biases and
activations (``FRAC_A`` fractional bits, clamped to ±ACT_LIMIT). A layer is an im2col copy and one
matrix product in float64. A product of two integers and every partial sum of such products is an
integer; while each magnitude stays below 2**53 it is represented exactly, so any summation order,
blocking or FMA gives the same exact result. :func:`freeze` checks that bound for every output of
every layer (Σ|w|·ACT_LIMIT + |b| < 2**53) and refuses a network that could pass it. Rescaling is a
division by a power of two (exact) and a floor (exact). No float rounding is left anywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FRAC_W = 12  # fractional bits of weights
FRAC_A = 8  # fractional bits of activations and outputs
ACT_LIMIT = float(2**24)  # |activation| bound, in units of 2**-FRAC_A (a value of 65536)
EXACT = float(2**53)  # float64 holds every integer below this exactly
ROWS = 32  # output rows per im2col block: bounds memory at any image size


def conv_form(layer: nn.Module) -> tuple[Tensor, int, int, bool]:
    """A Conv2d or a stride-s ConvTranspose2d as (weight of the equivalent stride-1-or-s conv,
    stride, padding, upsample): a transposed conv is a zero-inserted input, padded, convolved with
    the flipped, transposed kernel. Exact: only moves numbers."""
    w = layer.weight.detach().double()
    if isinstance(layer, nn.ConvTranspose2d):
        return w.flip(2, 3).transpose(0, 1).contiguous(), 1, layer.padding[0], True
    return w, layer.stride[0], layer.padding[0], False


def _upsample(x: Tensor, layer_padding: int, k: int, output_padding: int) -> Tensor:
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h - 1, 2 * w - 1)
    up[:, :, ::2, ::2] = x
    lo = k - 1 - layer_padding
    return F.pad(up, (lo, lo + output_padding, lo, lo + output_padding))


def exact_conv(x: Tensor, w: Tensor, stride: int, pad: int) -> Tensor:
    """Integer-valued float64 conv: im2col and one matmul per block of output rows."""
    o, c, k, _ = w.shape
    if pad:
        x = F.pad(x, (pad, pad, pad, pad))
    b, _, h, wd = x.shape
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    flat = w.reshape(o, -1)
    out = x.new_empty(b, o, oh, ow)
    for r0 in range(0, oh, ROWS):
        r1 = min(oh, r0 + ROWS)
        band = x[:, :, r0 * stride:(r1 - 1) * stride + k]
        cols = F.unfold(band, k, stride=stride)  # (B, C·k·k, rows·ow)
        out[:, :, r0:r1] = (flat @ cols).view(b, o, r1 - r0, ow)
    return out


class IntegerStack(nn.Module):
    """The frozen form of a conv stack: integer weight and bias buffers, one per layer, with the
    layers' geometry. ``relu[i]``: a ReLU follows layer i (the last layer has none)."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.geometry: list[tuple[int, int, bool, int, int]] = []
        for i, layer in enumerate(layers):
            w, stride, pad, up = conv_form(layer)
            op = layer.output_padding[0] if up else 0
            self.register_buffer(f"w{i}", torch.zeros(w.shape, dtype=torch.int32))
            self.register_buffer(f"b{i}", torch.zeros(w.shape[0], dtype=torch.int64))
            self.geometry.append((stride, pad, up, op, w.shape[-1]))

    @torch.no_grad()
    def freeze(self, layers: list[nn.Module]) -> None:
        """Quantise the float layers into the buffers, checking the exactness bound."""
        for i, layer in enumerate(layers):
            w, *_ = conv_form(layer)
            wq = torch.round(w * 2**FRAC_W)
            fa_in = 0 if i == 0 else FRAC_A
            bq = torch.round(layer.bias.detach().double() * 2.0 ** (FRAC_W + fa_in))
            bound = float((wq.abs().flatten(1).sum(1) * ACT_LIMIT + bq.abs()).max())
            if bound >= EXACT or wq.abs().max() >= 2**31:
                raise ValueError(f"integer layer {i}: weights too large for exact arithmetic (bound {bound:.3g})")
            getattr(self, f"w{i}").copy_(wq.to(torch.int32))
            getattr(self, f"b{i}").copy_(bq.to(torch.int64))

    @torch.no_grad()
    def forward(self, z: Tensor) -> Tensor:
        """Integer input (any dtype, integer values, |z| <= ACT_LIMIT) -> integer outputs in units of
        2**-FRAC_A (float64 holding integers), identical on every machine."""
        x = z.detach().to(torch.float64)
        n = len(self.geometry)
        for i, (stride, pad, up, op, k) in enumerate(self.geometry):
            w = getattr(self, f"w{i}").to(x.device, torch.float64)
            b = getattr(self, f"b{i}").to(x.device, torch.float64)
            if up:
                x, stride, pad = _upsample(x, pad, k, op), 1, 0
            acc = exact_conv(x, w, stride, pad) + b.view(1, -1, 1, 1)
            fa_in = 0 if i == 0 else FRAC_A
            x = torch.floor(acc / 2.0 ** (FRAC_W + fa_in - FRAC_A))  # exact: a power-of-two shift
            if i < n - 1:
                x = x.clamp(0, ACT_LIMIT)  # ReLU, and the bound the proof needs
            else:
                x = x.clamp(-ACT_LIMIT, ACT_LIMIT)
        return x
