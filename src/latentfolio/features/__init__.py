"""Pretrained image encoders beside the collection's own autoencoder: a registry of well-known
ONNX image towers, a model store that downloads each once and checks it, and an ONNX Runtime
embedder (ONNX files are graphs and weights, never pickles: loading one runs no code)."""

from .embed import Embedder, open_embedder
from .registry import REGISTRY, Entry, resolve

__all__ = ["Embedder", "Entry", "REGISTRY", "open_embedder", "resolve"]
