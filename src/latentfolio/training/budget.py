"""What ``--max-time`` bounds: the whole ``train`` command, reading the data and the final score
included, not only its training loop; and the bounded validation that keeps epochs short."""

from __future__ import annotations

from .config import TrainConfig

# Validation runs every epoch: on at most this many pixels (256 patches of 256 px; all of a 28 px
# dataset's validation images), each with its damage drawn once (AutoencoderModule.fixed_generator).
VAL_PIXELS = 1 << 24
# What --max-time leaves for the final score, the saving and the latent density after fit.
FINISH_RESERVE_S = 20.0
# The share of --max-time a patch bank may take to decode (the rest trains on what it cut).
BANK_SHARE = 0.4


def bank_deadline(cfg: TrainConfig, started: float) -> float | None:
    """When a patch bank must stop decoding (time.monotonic), or None without --max-time."""
    return None if not cfg.max_time else started + BANK_SHARE * cfg.max_time * 60


def fit_budget(cfg: TrainConfig, spent: float, resume: bool) -> float | None:
    """Minutes of training that keep the whole command within --max-time: the budget less what
    reading the data took and a reserve for the final score (a resumed run keeps Lightning's own
    clock, which its checkpoint carries)."""
    if not cfg.max_time or resume:
        return cfg.max_time
    total = cfg.max_time * 60
    return max(total - spent - min(FINISH_RESERVE_S, 0.1 * total), min(5.0, total)) / 60
