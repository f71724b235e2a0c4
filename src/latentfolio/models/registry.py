"""Models are found by name through a small registry, never by if/elif on names."""

from __future__ import annotations

from typing import Any

from .base import Autoencoder, ModelConfig

MODELS: dict[str, type[Autoencoder]] = {}


def register_model(name: str):
    """Class decorator: ``@register_model("conv")`` makes the model buildable and loadable."""

    def deco(cls: type[Autoencoder]) -> type[Autoencoder]:
        cls.type_name = name
        MODELS[name] = cls
        return cls

    return deco


def get_model_class(name: str) -> type[Autoencoder]:
    if name not in MODELS:
        raise KeyError(f"unknown model type {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def build_model(name: str, **fields: Any) -> Autoencoder:
    """Build ``name`` from its config defaults overridden by ``fields``."""
    cls = get_model_class(name)
    config: ModelConfig = cls.Config.from_dict(fields)
    return cls(config)
