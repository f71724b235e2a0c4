"""The Python API: one function per CLI command, with the command's name and its flags as
keyword arguments, plus ``load`` and ``load_data``.

    import latentfolio as lf
    lf.train("fashion-mnist", "models/fm", latent_dim=32)
    lf.index("models/fm", "~/art", "art.catalog"); lf.similar("art.catalog", "query.png", k=12)

``models`` is ``list_models`` here: ``latentfolio.models`` is the package of models.
"""

from __future__ import annotations

from .commands.clean import denoise, noise
from .commands.cluster import cluster
from .commands.cluster import compare as compare_clusters
from .commands.codec_eval import codec_eval
from .commands.compress import compress, decompress
from .commands.dedupe import apply_duplicates
from .commands.journal import undo
from .commands.create import blend, fit_density, interpolate, sample, traverse
from .commands.model import evaluate, info, reconstruct
from .commands.model import models as list_models
from .commands.index import index
from .commands.organize import anomalies, duplicates, map, similar
from .commands.train import train
from .data import load_data
from .gallery.server import serve
from .reports.compare import compare_latent
from .reports.demo import demo
from .reports.report import report
from .reports.sweep import sweep
from .saved import load_model as load

__all__ = ["anomalies", "apply_duplicates", "blend", "cluster", "codec_eval", "compare_clusters", "compare_latent", "compress", "decompress",
           "demo", "denoise", "duplicates", "evaluate", "fit_density", "index", "info", "interpolate",
           "list_models", "load", "load_data", "map", "noise", "reconstruct", "report", "sample",
           "serve", "similar", "sweep", "train", "traverse", "undo"]
