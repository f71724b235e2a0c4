"""Encoder-side refinement of a latent: a few gradient steps on one image's own rate-distortion loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import LatentfolioError
from ..models import to_unit


REFINE_LR = 0.01  # Adam step on the latent; the result hardly depends on it (docs/experiments.md)
REFINE_TAU = 0.5  # SGA's starting temperature, annealed ×e⁻³ over the steps (Yang et al.: 0.5)


def trained_lambda(model) -> float:
    lm = (model.meta.get("training") or {}).get("config", {}).get("lmbda")
    if not lm:
        raise LatentfolioError(f"{model.model_dir}: --refine needs the λ the codec was trained with, "
                               "and its meta.json has none")
    return float(lm)


def refine_latent(model, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = REFINE_LR,
                  seed: int = 0, mean: torch.Tensor | None = None, bits=None) -> torch.Tensor:
    """Encoder-side refinement: fit this image's latent to the codec's own rate-distortion loss.

    The analysis transform is an amortised guess; a few gradient steps on the latent of one image,
    with the synthesis transform and entropy model fixed, close most of that amortisation gap
    (Campos et al. 2019; Yang, Bamler & Mandt 2020). Rounding is relaxed by stochastic Gumbel
    annealing (SGA, Yang et al.): each value is a soft, random choice between its floor and ceiling
    whose temperature falls towards hard rounding. Only the encoder changes: files keep the format
    and decode with the same model; encoding costs ``steps`` decoder passes. Deterministic: the
    Gumbel noise comes from a generator seeded with ``seed``.

    A hyperprior codec codes y − μ, so rounding is relaxed around its ``mean``, and the rate is
    its ``bits(y)`` under the (fixed) side information; by default the factorized prior's.
    """
    lm = trained_lambda(model)
    h, w = x.shape[-2:]
    target = to_unit(x, model.config.norm)
    gen = torch.Generator().manual_seed(seed)
    was = model.training
    model.eval()
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    y = y.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    try:
        with torch.enable_grad():
            for step in range(steps):
                tau = REFINE_TAU * math.exp(-3.0 * step / steps)
                v = y if mean is None else y - mean
                floor = torch.floor(v).detach()
                frac = (v - floor).clamp(1e-5, 1 - 1e-5)
                logits = torch.stack([-torch.atanh(frac), -torch.atanh(1 - frac)], -1) / tau
                gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=gen).clamp_min(1e-10)))
                y_soft = floor + torch.softmax(logits + gumbel, -1)[..., 1]
                y_soft = y_soft if mean is None else y_soft + mean
                recon = to_unit(model.decode(y_soft)[..., :h, :w], model.config.norm)
                rate = bits(y_soft) if bits else -torch.log2(model.density.likelihood(y_soft)).sum()
                loss = lm * 255.0**2 * F.mse_loss(recon, target) + rate / (x.shape[0] * h * w)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    finally:
        for p, g in zip(model.parameters(), frozen):
            p.requires_grad_(g)
        model.train(was)
    return y.detach()
