"""The Python API: one function per CLI command, with the command's name and its flags as
keyword arguments, plus ``load`` and ``load_data``.

    import latentfolio as lf
    lf.train("fashion-mnist", "models/fm", latent_dim=32)
    lf.index("models/fm", "~/art", "art.catalog"); lf.similar("art.catalog", "query.png", k=12)

``models`` is ``list_models`` here: ``latentfolio.models`` is the package of models.
"""

from __future__ import annotations

# Each name is imported from its command's module on first use, so `lf.similar` loads the catalog
# code and torch, not Lightning or the gallery's server (benchmarks/startup.py measures it).
_WHERE = {
    "anomalies": ("commands.organize", "anomalies"),
    "apply_duplicates": ("commands.duplicates", "apply_duplicates"),
    "blend": ("commands.create", "blend"),
    "cluster": ("commands.cluster", "cluster"),
    "codec_eval": ("commands.codec_eval", "codec_eval"),
    "compare_clusters": ("commands.cluster", "compare"),
    "compare_latent": ("reports.compare", "compare_latent"),
    "compress": ("commands.compress", "compress"),
    "decompress": ("commands.decompress", "decompress"),
    "demo": ("reports.demo", "demo"),
    "denoise": ("commands.clean", "denoise"),
    "duplicates": ("commands.duplicates", "duplicates"),
    "evaluate": ("commands.model", "evaluate"),
    "fit_density": ("commands.create", "fit_density"),
    "index": ("commands.index", "index"),
    "info": ("commands.model", "info"),
    "interpolate": ("commands.create", "interpolate"),
    "list_models": ("commands.model", "models"),
    "load": ("saved", "load_model"),
    "load_data": ("data", "load_data"),
    "map": ("commands.organize", "map"),
    "noise": ("commands.clean", "noise"),
    "reconstruct": ("commands.model", "reconstruct"),
    "report": ("reports.report", "report"),
    "sample": ("commands.create", "sample"),
    "serve": ("gallery.server", "serve"),
    "similar": ("commands.similar", "similar"),
    "sweep": ("reports.sweep", "sweep"),
    "train": ("commands.train", "train"),
    "traverse": ("commands.create", "traverse"),
    "undo": ("commands.journal", "undo"),
}


def __getattr__(name: str):
    import importlib

    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _WHERE[name]
    value = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
    globals()[name] = value  # looked up once
    return value


def __dir__():
    return sorted({*globals(), *__all__})


__all__ = ["anomalies", "apply_duplicates", "blend", "cluster", "codec_eval", "compare_clusters", "compare_latent", "compress", "decompress",
           "demo", "denoise", "duplicates", "evaluate", "fit_density", "index", "info", "interpolate",
           "list_models", "load", "load_data", "map", "noise", "reconstruct", "report", "sample",
           "serve", "similar", "sweep", "train", "traverse", "undo"]
