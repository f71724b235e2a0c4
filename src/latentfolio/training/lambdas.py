"""Several rates of a rate-distortion model in one go, each fine-tuning the one before."""

from __future__ import annotations

import os
from pathlib import Path

from .. import _io
from ..errors import ArgumentError
from ..models import get_model_class
from ..saved import META, WEIGHTS, read_config
from .train import LAST_CKPT, RUN_DIR, TrainResult, train


FINETUNE_LR = 1 / 3  # --lambdas: each fine-tuned rate's peak LR, relative to the first rate's


def train_lambdas(data: str | os.PathLike, out: str | os.PathLike, lambdas: list[float], model: str | None = None,
                  **kwargs) -> list[TrainResult]:
    """Several qualities of a rate-distortion model in one go: ``out/lambda-<λ>`` for each λ.

    The lowest λ trains first (from scratch, or from ``init``); each higher λ then fine-tunes the
    model before it: the transforms carry over and only the rate trade-off moves. High rates need
    the most training (from scratch in a short budget the highest λ falls short: docs/experiments.md),
    and this order gives them everyone's training before theirs.
    """
    if not lambdas:
        raise ArgumentError("lambdas", None, "give at least one value")
    if any(not v > 0 for v in lambdas):
        raise ArgumentError("lambdas", ",".join(map(str, lambdas)), "every value must be positive")
    results: list[TrainResult] = []
    init = kwargs.pop("init", None)
    resume = kwargs.pop("resume", False)
    lr = kwargs.pop("lr", None)
    step_lr = lr
    for i, v in enumerate(sorted(set(lambdas))):
        d = Path(out) / f"lambda-{v:g}"
        if resume and (d / WEIGHTS).exists():  # finished before the kill: keep it
            meta = _io.read_json(d / META, "model meta")
            r = TrainResult(d, meta.get("metrics", {}), meta.get("training", {}).get("epochs", 0),
                            meta.get("training", {}).get("seconds", 0.0), "completed")
        else:
            again = resume and (d / RUN_DIR / "checkpoints" / LAST_CKPT).exists()
            r = train(data, d, model, lmbda=v, init=None if again else init, resume=again, lr=step_lr, **kwargs)
        results.append(r)
        init = str(r.model_dir)
        if i == 0:
            # Fine-tuning peaks at a third of the first model's LR: at the full peak the trained
            # transforms blow up (docs/experiments.md).
            first = _io.read_json(Path(init) / META, "model meta").get("training", {}).get("config", {}).get("lr")
            step_lr = (lr or first or get_model_class(read_config(init)["type"]).default_lr) * FINETUNE_LR
    return results
