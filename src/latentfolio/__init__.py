"""latentfolio: one learned latent space for an image collection.

The Python API mirrors the CLI; heavy modules are imported only when a function is called::

    import latentfolio as lf
    result = lf.train("fashion-mnist", "models/fm", latent_dim=32)
    model = lf.load("models/fm")            # encode / decode / reconstruct
    lf.evaluate("models/fm", "fashion-mnist")
    lf.index("models/fm", "~/art", "art.catalog"); lf.similar("art.catalog", "query.png", k=12)
    lf.sample("models/fm", "samples.png", n=64)

Every CLI command has a function of the same name here (``map`` is ``latent_map``, ``models``
is ``list_models``: ``latentfolio.models`` is the subpackage).
"""

__version__ = "0.1.0"


def train(data, out, model: str | None = None, *, lambdas=None, **kwargs):
    """Train an autoencoder; see :func:`latentfolio.training.train.train`.

    With ``lambdas`` (codec): one model per λ under ``out``, the lowest λ first and each higher
    λ fine-tuning the one before (:func:`latentfolio.training.train.train_lambdas`); returns a list of results.
    """
    from .training.train import train as _train, train_lambdas

    if lambdas is not None:
        return train_lambdas(data, out, list(lambdas), model, **kwargs)
    return _train(data, out, model, **kwargs)


def load(model_dir, device: str = "cpu"):
    """Load a model folder (JSON + safetensors, no pickle) -> model in eval mode."""
    from .saved import load_model

    return load_model(model_dir, device)


def evaluate(model_dir, data, split: str = "test", **kwargs) -> dict:
    from .evaluation import evaluate as _evaluate

    return _evaluate(model_dir, data, split, **kwargs)


def reconstruct(model_dir, inputs, out, force: bool = False) -> dict:
    from .evaluation import reconstruct as _reconstruct

    return _reconstruct(model_dir, inputs, out, force)


def info(model_dir) -> dict:
    from .modelinfo import model_info

    return model_info(load(model_dir))


def list_models() -> dict:
    """The registered model types and their config fields with defaults (``latentfolio models``)."""
    import dataclasses

    from .models import MODELS

    return {name: {f.name: f.default for f in dataclasses.fields(cls.Config)} for name, cls in sorted(MODELS.items())}


def load_data(source, **kwargs):
    """Any source (folder, IDX, CIFAR, dataset name) -> ImageSet of uint8 pixels."""
    from .data import load_data as _load_data

    return _load_data(source, **kwargs)


def demo(out: str = "latentfolio-demo", **kwargs) -> dict:
    from .reports.demo import demo as _demo

    return _demo(out, **kwargs)


# The tools, by CLI command name -> (module, function). Each is imported on first use.
_TOOLS = {
    "index": ("tools.catalog", "index"), "similar": ("tools.organize", "similar"),
    "duplicates": ("tools.organize", "duplicates"), "cluster": ("tools.organize", "cluster"),
    "latent_map": ("tools.organize", "latent_map"), "anomalies": ("tools.organize", "anomalies"),
    "sample": ("tools.generate", "sample"), "interpolate": ("tools.generate", "interpolate"),
    "blend": ("tools.generate", "blend"), "traverse": ("tools.generate", "traverse"),
    "sweep": ("reports.sweep", "sweep"), "compare_latent": ("reports.compare", "compare_latent"),
    "report": ("reports.report", "model_report"), "fit_density": ("tools.latent", "fit_density_cmd"),
    "noise": ("tools.denoise", "add_noise"), "denoise": ("tools.denoise", "denoise"),
    "compress": ("tools.codec", "compress"), "decompress": ("tools.codec", "decompress"),
    "codec_eval": ("tools.codec", "codec_eval"),
}


def __getattr__(name: str):
    if name in _TOOLS:
        import importlib

        module, attr = _TOOLS[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'latentfolio' has no attribute {name!r}")
