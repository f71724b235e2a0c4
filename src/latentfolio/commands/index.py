"""The ``index`` command: a catalog of a collection's codes, made or brought up to date."""

from __future__ import annotations

from pathlib import Path

from ..catalog.encode import code_dim
from ..catalog.index import update_catalog
from ..errors import ArgumentError
from ..features import NONE, default_specs, open_embedder
from ..saved import fit_of, load_model
from ..training.trainer import make_trainer


def index(model_dir, data, out=None, *, data_root=None, devices="auto", accelerator="auto", num_nodes: int = 1,
          batch_size: int = 256, workers: int | None = None, progress: bool | None = None, on_advance=None,
          features: list[str] | None = None) -> dict:
    """Create or update the catalog ``out`` (default ``./<data name>.catalog``) of ``data`` in the
    latent space of ``model_dir``: only new or changed files are encoded, deleted ones go.
    ``features``: the pretrained encoders whose vectors to add (None: :func:`default_specs`, the
    built-in content encoder; ``["none"]``: none); those the catalog holds are kept up to date.

    Under torchrun or SLURM (``num_nodes`` machines of ``devices`` each), every rank runs this;
    rank 0 owns the catalog and returns the counts, the others encode their share and return {}."""
    if workers is not None and workers < 0:
        raise ArgumentError("workers", workers, "must be 0 (decode in this process) or more")
    if batch_size < 1:
        raise ArgumentError("batch_size", batch_size, "must be at least 1")
    model = load_model(model_dir)
    code_dim(model)
    # bad --devices / --accelerator: one line now, before the catalog is created or changed
    make_trainer(accelerator=accelerator, devices=devices, num_nodes=num_nodes, logger=False,
                 enable_progress_bar=False, enable_model_summary=False)
    # pretrained encoders (--features): fetched and loaded now, so a bad name or a missing file is
    # one line before any work
    specs = default_specs() if features is None else [f for f in features if f != NONE]
    embedders = {e.name: e for e in (open_embedder(f) for f in specs)}
    out = Path(out or f"{Path(str(data)).name or 'data'}.catalog")
    return update_catalog(model, model_dir, data, out, data_root, fit_of(model), embedders, devices=devices,
                          accelerator=accelerator, num_nodes=num_nodes, batch_size=batch_size, workers=workers, progress=progress,
                          on_advance=on_advance)
