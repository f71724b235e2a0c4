"""A model's summary for ``info``: its layers, output shapes, parameter counts and compression ratio."""

from __future__ import annotations

import torch

from .base import Autoencoder


def _shape(t) -> list[int]:
    if isinstance(t, torch.Tensor):
        return list(t.shape[1:])
    if hasattr(t, "mean"):  # DiagonalGaussian
        return list(t.mean.shape[1:])
    return []


@torch.no_grad()
def model_info(model: Autoencoder) -> dict:
    """Layer table from one forward pass of a single dummy image, with forward hooks."""
    rows: list[dict] = []
    hooks = []
    for name, mod in model.named_modules():
        if name and not list(mod.children()):  # leaves only
            def hook(m, _inp, out, name=name):
                rows.append({"layer": name, "type": type(m).__name__, "output": _shape(out),
                             "params": sum(p.numel() for p in m.parameters(recurse=False))})
            hooks.append(mod.register_forward_hook(hook))
    was = model.training
    model.eval()
    try:
        x = torch.zeros(1, *model.input_shape, device=next(model.parameters()).device)
        model(x)  # one pass through every layer, with the hooks recording shapes
    finally:
        for h in hooks:
            h.remove()
    z = model.embed(x)
    model.train(was)
    c = model.config
    values = c.channels * c.image_size**2
    latent_shape = list(z.shape[1:])  # (D,) for a vector code, (C, h, w) for a latent map
    return {"type": model.type_name, "config": c.to_dict(), "latent_dim": c.latent_dim,
            "latent_shape": latent_shape, "input_values": values,
            "compression_ratio": values / z[0].numel(),
            "parameters": sum(p.numel() for p in model.parameters()), "layers": rows,
            "fingerprint": getattr(model, "fingerprint", None),
            "metrics": getattr(model, "meta", {}).get("metrics")}
