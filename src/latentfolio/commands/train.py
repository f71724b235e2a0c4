"""The ``train`` command: one model, or one per rate with ``lambdas``."""

from __future__ import annotations

import os

from ..training.lambdas import train_lambdas
from ..training.train import TrainResult, train as train_one


def train(data, out: str | os.PathLike, *, model: str | None = None, lambdas=None,
          **kwargs) -> TrainResult | list[TrainResult]:
    """Train an autoencoder on ``data`` into the model folder ``out``
    (:func:`latentfolio.training.train.train` has the options).

    With ``lambdas`` (rate-distortion models): one model per λ under ``out``, the lowest λ first
    and each higher λ fine-tuning the one before; returns one result per λ.
    """
    if lambdas is not None:
        return train_lambdas(data, out, list(lambdas), model, **kwargs)
    return train_one(data, out, model, **kwargs)
