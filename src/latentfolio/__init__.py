"""latentfolio: one learned latent space for an image collection.

The Python API (:mod:`latentfolio.api`) mirrors the CLI: every command has a function of its
name, with its flags as keyword arguments::

    import latentfolio as lf
    result = lf.train("fashion-mnist", "models/fm", latent_dim=32)
    model = lf.load("models/fm")            # encode / decode / reconstruct
    lf.evaluate("models/fm", "fashion-mnist")
    lf.index("models/fm", "~/art", "art.catalog"); lf.similar("art.catalog", "query.png", k=12)
    lf.sample("models/fm", "samples.png", n=64)

Importing the API imports torch, so it is loaded on first use: ``import latentfolio`` (and the
CLI's ``--help``) stays instant.
"""

from .version import __version__

__all__ = ["__version__"]  # and every name of latentfolio.api, loaded on first use


def __getattr__(name: str):
    import importlib.util

    # A submodule not imported yet (``from . import _io``) is not an API name: Python imports it
    # after this AttributeError. Anything else is looked up in the API, loaded now.
    if name.startswith("__") or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import api  # the library, on first use (it imports torch)

    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    from . import api

    return sorted({*globals(), *api.__all__})
