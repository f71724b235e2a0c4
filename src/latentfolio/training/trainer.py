"""Building Lightning's Trainer: one place for its settings, its chatter, ranks and precision."""

from __future__ import annotations

import logging
import os
import warnings

from ..errors import LatentfolioError
from ..hardware import native_bf16


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*number of training batches.*smaller than the logging.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=r".*Checkpoint directory.*exists and is not empty.*")


def is_worker_process() -> bool:
    """True in a process Lightning launched for another DDP rank (or another node's processes).

    Lightning's DDP launcher re-runs the same command for ranks 1.., after rank 0 has made the
    output folder: those processes must not refuse it as existing, clear it for --force, or write
    to it. Rank 0 owns the folder; Lightning already saves checkpoints only there.
    """
    return any(int(os.environ.get(k) or 0) > 0 for k in ("LOCAL_RANK", "NODE_RANK", "GROUP_RANK"))


def make_trainer(**kw):
    """``pl.Trainer(**kw)``; a bad --accelerator, --devices, --strategy, --num-nodes or --precision is
    one line naming the flags, not Lightning's traceback."""
    import lightning.pytorch as pl
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    _quiet_lightning()  # every Trainer is built here: its INFO lines, tips and fit warnings are not our output
    try:
        return pl.Trainer(**kw)
    except (MisconfigurationException, ValueError, TypeError, ImportError) as e:
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0]  # Lightning names the setting
        raise LatentfolioError(f"Lightning refused the settings: {msg}") from None


def rank_zero_done() -> None:
    """Under DDP, every rank waits here until rank 0 has saved the model folder (its evaluation and
    saving run on rank 0 alone): the next --lambdas rate starts from that folder on every rank."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def resolve_precision(p: str, accelerator: str) -> str:
    """``auto``: bf16-mixed where the hardware does bf16 natively (GPU or CPU), else fp32."""
    if p != "auto":
        return p
    import torch

    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if native_bf16("cuda") else "16-mixed"
    return "bf16-mixed" if native_bf16("cpu") else "32-true"
