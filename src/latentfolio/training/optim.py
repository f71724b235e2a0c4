"""Optimisers: Adam / AdamW from torch, and Muon for conv filters with AdamW for the rest.

Muon (Jordan et al. 2024, "Muon: an optimizer for hidden layers") replaces each weight matrix's
momentum update by its nearest semi-orthogonal matrix, computed with a few Newton-Schulz
iterations. ``torch.optim.Muon`` takes 2-D parameters only; conv filters are matrices too once
flattened to (out, in·k·k), which is how Keller Jordan's CIFAR-10 speed runs use it. Those are
what it gets here; biases, norms and the dense layers keep (fused) AdamW. The dense bottleneck
layers of the 28 px default are 2048 x 512: orthogonalising them every step would cost as much
as the step itself on a CPU, while the conv filters are at most a few hundred wide.
"""

from __future__ import annotations

import torch
import torch.optim.adamw as _adamw
from torch import Tensor, nn

from ..hardware import native_bf16

# Quintic Newton-Schulz coefficients (Jordan et al. 2024; torch.optim.Muon's defaults).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5


def orthogonalize(g: Tensor, steps: int = NS_STEPS, dtype: torch.dtype | None = None) -> Tensor:
    """~U Vᵀ of a 2-D ``g = U S Vᵀ``: singular values pushed into about [0.7, 1.2]. A 3-D ``g`` is
    a stack of same-shaped matrices, each orthogonalised on its own in one batched chain of
    matmuls. ``dtype``: the iteration's (Jordan et al. run it in bf16; the norm is taken first, in
    ``g``'s own precision)."""
    a, b, c = NS_COEFFICIENTS
    x = g / (g.norm(dim=(-2, -1), keepdim=True) + 1e-7)  # spectral norm <= Frobenius norm <= 1
    x = x.to(dtype or x.dtype)
    single = x.dim() == 2
    if single:
        x = x.unsqueeze(0)
    wide = x.size(1) <= x.size(2)
    if not wide:
        x = x.mT
    for _ in range(steps):
        gram = torch.bmm(x, x.mT)  # the smaller side's Gram matrix: cheap for wide matrices
        # x <- a·x + (b·gram + c·gram²)·x, as two fused multiply-adds
        x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    x = x if wide else x.mT
    return x[0] if single else x


def muon_params(model: nn.Module) -> list[nn.Parameter]:
    """The conv filters between the first and the last: Muon is for hidden layers. The input
    and output layers are tied to pixels, not to other features, and keep AdamW."""
    convs = [p for p in model.parameters() if p.dim() == 4 and p.requires_grad]
    return convs[1:-1]


class MuonAdamW(torch.optim.Optimizer):
    """One optimiser, two rules: param groups with ``muon=True`` get Muon (Nesterov momentum,
    then orthogonalised), the others AdamW. One object, so Lightning's automatic optimisation,
    the LR scheduler and checkpoint/resume see a single ordinary optimiser.

    Muon's step is scaled by 0.2·sqrt(max(rows, cols)), which gives it the RMS of an AdamW step
    (Liu et al. 2025, "Muon is scalable for LLM training"; torch's ``match_rms_adamw``): the
    same schedule drives both rules, the Muon groups at their own peak LR.
    """

    def __init__(self, groups: list[dict], *, betas=(0.9, 0.999), eps: float = 1e-8,
                 momentum: float = 0.95, fused: bool = False):
        for g in groups:
            g.setdefault("muon", False)
        # "fused" lives in the groups, where torch's load_state_dict looks for it to keep
        # AdamW's step counters on the parameters' device (a resume on a GPU needs that).
        super().__init__(groups, dict(betas=betas, eps=eps, momentum=momentum, weight_decay=0.0, fused=fused))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for g in self.param_groups:
            params = [p for p in g["params"] if p.grad is not None]
            if params:
                (self._muon if g["muon"] else self._adamw)(g, params)
        return loss

    def _muon(self, g: dict, params: list[Tensor]) -> None:
        bufs = []
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            bufs.append(state["momentum_buffer"])
        grads = [p.grad for p in params]
        torch._foreach_lerp_(bufs, grads, 1 - g["momentum"])
        updates = torch._foreach_lerp(grads, bufs, g["momentum"])  # Nesterov
        # Filters of the same (out, in·k·k) shape, e.g. an encoder conv and its mirror in the
        # decoder, are orthogonalised together: half the small matmuls of one at a time.
        same: dict[tuple[int, int], list[int]] = {}
        for i, u in enumerate(updates):
            same.setdefault((len(u), u[0].numel()), []).append(i)
        # bf16 where the hardware has it: in fp32 the iteration is about a seventh of a 28 px
        # training step on a CPU, in bf16 a twentieth
        dtype = torch.bfloat16 if native_bf16(params[0].device.type) else None
        for (rows, cols), idx in same.items():
            ortho = orthogonalize(torch.stack([updates[i].reshape(rows, cols) for i in idx]), dtype=dtype)
            for i, o in zip(idx, ortho):
                p = params[i]
                p.mul_(1 - g["lr"] * g["weight_decay"])
                p.add_(o.view_as(p), alpha=-g["lr"] * 0.2 * max(rows, cols) ** 0.5)

    def _adamw(self, g: dict, params: list[Tensor]) -> None:
        for p in params:
            state = self.state[p]
            if "step" not in state:
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device if g["fused"] else "cpu")
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        st = [self.state[p] for p in params]
        beta1, beta2 = g["betas"]
        _adamw.adamw(params, [p.grad for p in params], [s["exp_avg"] for s in st],
                     [s["exp_avg_sq"] for s in st], [], [s["step"] for s in st],
                     fused=g["fused"] or None, foreach=None if g["fused"] else True,
                     amsgrad=False, beta1=beta1, beta2=beta2, lr=g["lr"],
                     weight_decay=g["weight_decay"], eps=g["eps"], maximize=False)
