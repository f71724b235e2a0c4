"""The released model: a folder anyone can load without running code, and what it says about
the data it takes.

    MODEL_DIR/config.json        {"format_version", "type", image_size, channels, norm, ...}
    MODEL_DIR/model.safetensors  weights (no pickle)
    MODEL_DIR/meta.json          data fingerprint, split sizes, metrics, history, versions

Resume checkpoints are a different thing and live in ``MODEL_DIR/run/``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from . import _io
from .data import ImageSet, load_data
from .errors import LatentfolioError
from .models import Autoencoder, get_model_class
from .version import __version__

FORMAT_VERSION = 1
CONFIG, WEIGHTS, META = "config.json", "model.safetensors", "meta.json"
# A config is checked before its model is built: past this many parameters (8 GB of float32) it is
# refused, so a crafted config.json (latent_dim 1e7, width 1e5) cannot make us allocate terabytes.
MAX_PARAMETERS = 2_000_000_000


def count_parameters(cls, config) -> int:
    """The model's parameter count, from a build on the meta device: no memory is allocated."""
    with torch.device("meta"):
        return sum(p.numel() for p in cls(config).parameters())


def versions() -> dict[str, str]:
    import lightning
    import numpy

    return {"latentfolio": __version__, "torch": torch.__version__, "lightning": lightning.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


def save_model(model: Autoencoder, out_dir: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write config, weights and meta; each file atomically. Returns the weights' fingerprint."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"format_version": FORMAT_VERSION, "type": model.type_name, **model.config.to_dict()}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # the config rides in the weights' header too, so the weights' hash (the fingerprint every
    # .lfz, archive and catalog names) covers it: an edited config.json is caught on load
    saved = {"type": model.type_name, "config": json.dumps(cfg, sort_keys=True)}
    _io.atomic_write(out / WEIGHTS, lambda p: save_file(state, str(p), metadata=saved))
    _io.write_json(out / CONFIG, cfg)
    fp = _io.sha256_file(out / WEIGHTS)
    _io.write_json(out / META, {"model_fingerprint": fp, "versions": versions(), **(meta or {})})
    return out


def read_config(model_dir: str | os.PathLike) -> dict:
    d = Path(model_dir)
    if not d.is_dir():
        raise LatentfolioError(f"{d}: no such model folder")
    if not (d / CONFIG).exists():
        raise LatentfolioError(f"{d}: not a latentfolio model folder (no {CONFIG})")
    cfg = _io.read_json(d / CONFIG, "model config")
    if not isinstance(cfg, dict) or "type" not in cfg or "format_version" not in cfg:
        raise LatentfolioError(f"{d / CONFIG}: not a latentfolio model config (no type/format_version)")
    if not isinstance(cfg["format_version"], int) or cfg["format_version"] > FORMAT_VERSION:
        raise LatentfolioError(f"{d / CONFIG}: format version {cfg['format_version']} is newer than this "
                               f"latentfolio reads ({FORMAT_VERSION}); upgrade latentfolio")
    return cfg


def load_model(model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Autoencoder:
    """Rebuild a model from its folder. Reads JSON and safetensors only; runs no code from it.

    The model comes back in eval mode with ``.meta`` (dict) and ``.fingerprint`` (weights hash).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    d = Path(model_dir)
    cfg = read_config(d)
    fields = {k: v for k, v in cfg.items() if k not in ("format_version", "type")}
    try:
        cls = get_model_class(cfg["type"])
        config = cls.Config.from_saved(fields)
        n = count_parameters(cls, config)
        if n > MAX_PARAMETERS:
            raise ValueError(f"a model of {n:,} parameters is past the {MAX_PARAMETERS:,} this loads")
        model = cls(config)
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise LatentfolioError(f"{d / CONFIG}: {e.args[0] if e.args else e}") from None
    if not (d / WEIGHTS).exists():
        raise LatentfolioError(f"{d}: model folder has no {WEIGHTS}")
    try:
        state = load_file(str(d / WEIGHTS), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise LatentfolioError(f"{d / WEIGHTS}: corrupt weights file ({e})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise LatentfolioError(f"{d / WEIGHTS}: weights do not match {CONFIG} ({first})") from None
    try:
        _check_saved_config(d, cls, config)
    except (SafetensorError, OSError) as e:
        raise LatentfolioError(f"{d / WEIGHTS}: corrupt weights file ({e})") from None
    meta = _io.read_json(d / META, "model meta") if (d / META).exists() else {}
    if not isinstance(meta, dict):
        raise LatentfolioError(f"{d / META}: not a model meta file (expected a JSON object)")
    model.meta = meta
    model.fingerprint = _io.sha256_file(d / WEIGHTS)
    model.model_dir = d
    return model.to(device).eval()


def _check_saved_config(d: Path, cls, config) -> None:
    """The config saved inside the weights (models saved since it was kept there) must be the one
    config.json gives: an edited config would build another network around the same weights and
    decode files wrongly under a fingerprint that still matches."""
    from safetensors import safe_open

    with safe_open(str(d / WEIGHTS), framework="pt") as f:
        saved = (f.metadata() or {}).get("config")
    if saved is None:
        return  # saved before the config was kept in the weights: its hash covers the weights alone
    try:
        fields = {k: v for k, v in json.loads(saved).items() if k not in ("format_version", "type")}
        theirs = cls.Config.from_saved(fields).to_dict()
    except (ValueError, TypeError, AttributeError):
        raise LatentfolioError(f"{d / WEIGHTS}: the config saved with the weights is damaged") from None
    ours = config.to_dict()
    diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if diff:
        k = diff[0]
        raise LatentfolioError(f"{d / CONFIG}: does not match the weights ({k} is {ours.get(k)!r} here, "
                               f"{theirs.get(k)!r} in the model that was saved); restore config.json")


def model_store() -> Path:
    """The one model store, where released models are kept by latentfolio itself (codecs under
    their fingerprint, pretrained encoders under their name): ``$LATENTFOLIO_MODELS``, else
    ``models/`` in the user's data folder (not a cache: a coded file needs its model)."""
    env = os.environ.get("LATENTFOLIO_MODELS")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("latentfolio")) / "models"


# --- what a saved model says about the data it takes -------------------------------------------
def as_model(model_or_dir) -> Autoencoder:
    """A loaded model as it is, or the model in a folder."""
    return model_or_dir if isinstance(model_or_dir, Autoencoder) else load_model(model_or_dir)


def fit_of(model: Autoencoder) -> str:
    """How the model's training images were resized (``--fit``), so new images are resized alike."""
    data = getattr(model, "meta", {}).get("data")
    return data.get("fit", "squash") if isinstance(data, dict) else "squash"


def load_for_model(model: Autoencoder, data, data_root=None, fit: str | None = None) -> ImageSet:
    """Load ``data`` at the model's image size and channel count, resized as it was trained."""
    c = model.config
    return load_data(data, image_size=c.image_size, channels=c.channels, fit=fit or fit_of(model),
                     data_root=data_root)
