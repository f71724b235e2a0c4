"""latentfolio: one learned latent space for an image collection.

The Python API mirrors the CLI; heavy modules are imported only when a function is called::

    import latentfolio as lf
    result = lf.train("fashion-mnist", "models/fm", latent_dim=32)
    model = lf.load("models/fm")            # encode / decode / reconstruct
    lf.evaluate("models/fm", "fashion-mnist")
"""

__version__ = "0.1.0"


def train(data, out, model: str = "conv", **kwargs):
    """Train an autoencoder; see :func:`latentfolio.training.train.train`."""
    from .training.train import train as _train

    return _train(data, out, model, **kwargs)


def load(model_dir, device: str = "cpu"):
    """Load a model folder (JSON + safetensors, no pickle) -> model in eval mode."""
    from .saved import load_model

    return load_model(model_dir, device)


def evaluate(model_dir, data, split: str = "test", **kwargs) -> dict:
    from .evaluate import evaluate as _evaluate

    return _evaluate(model_dir, data, split, **kwargs)


def reconstruct(model_dir, inputs, out, force: bool = False) -> dict:
    from .evaluate import reconstruct as _reconstruct

    return _reconstruct(model_dir, inputs, out, force)


def info(model_dir) -> dict:
    from .info import model_info

    return model_info(load(model_dir))


def load_data(source, **kwargs):
    """Any source (folder, IDX, CIFAR, dataset name) -> ImageSet of uint8 pixels."""
    from .data import load_data as _load_data

    return _load_data(source, **kwargs)


def demo(out: str = "latentfolio-demo", **kwargs) -> dict:
    from .reports.demo import demo as _demo

    return _demo(out, **kwargs)
