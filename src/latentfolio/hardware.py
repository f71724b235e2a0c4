"""What this machine's hardware does natively, probed once: the one place that decides it."""

from __future__ import annotations

import functools

import torch


@functools.cache
def native_bf16(device_type: str) -> bool:
    """True where the hardware multiplies bf16 natively: CUDA GPUs that support it, and CPUs with
    AVX512-BF16 or AMX (there bf16 runs about twice as fast as fp32). Decides every
    ``--precision auto``: training's autocast, Muon's Newton-Schulz iteration, tiled inference."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers moved: stay on the safe side
        return False
