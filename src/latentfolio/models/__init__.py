"""Models: one contract (``encode``/``decode``/``forward``), found through a registry."""

from .base import AEOutput, Autoencoder, DiagonalGaussian, ModelConfig, to_unit
from .registry import MODELS, build_model, get_model_class, register_model

# Importing the modules registers their models.
from . import codec, conv, denoiser, fc, hyperprior, resnet, vae  # noqa: E402,F401  isort: skip

__all__ = ["AEOutput", "Autoencoder", "DiagonalGaussian", "ModelConfig", "MODELS", "build_model",
           "get_model_class", "register_model", "to_unit"]
