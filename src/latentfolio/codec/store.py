"""The model store: a copy of each codec model under its fingerprint, so ``decompress`` finds
the model a file needs without being told."""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import _io
from ..errors import LatentfolioError
from ..saved import CONFIG, META, WEIGHTS, load_model, model_store
from .image import fingerprint


def register(model) -> Path:
    """Keep a copy of the model folder under its fingerprint, so `decompress` can find it."""
    dst = model_store() / fingerprint(model).hex()
    if not (dst / WEIGHTS).exists():
        dst.mkdir(parents=True, exist_ok=True)
        for f in (CONFIG, META, WEIGHTS):
            src = Path(model.model_dir) / f
            if src.exists():
                _io.atomic_write(dst / f, lambda p, s=src: shutil.copyfile(s, p))
    return dst


def stored(fp: bytes) -> list[Path]:
    """The store's model folders whose fingerprint starts with ``fp`` (a file keeps 4 or 8 bytes)."""
    return sorted(model_store().glob(fp.hex() + "*")) if model_store().is_dir() else []


def model_for(fp: bytes, given, cache: dict, name: str):
    if given is not None:
        return given
    if fp not in cache:
        found = stored(fp)
        if not found:
            raise LatentfolioError(f"{name}: needs model {fp.hex()}, which is not in {model_store()}; "
                                   "pass --model MODEL_DIR")
        if len(found) > 1:  # two stored models share the file's short fingerprint
            raise LatentfolioError(f"{name}: model {fp.hex()} is ambiguous in {model_store()}; "
                                   "pass --model MODEL_DIR")
        cache[fp] = load_model(found[0])
    return cache[fp]
