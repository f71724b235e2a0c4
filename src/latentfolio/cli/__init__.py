"""The ``latentfolio`` command. Thin: each command parses flags and calls the function of
:mod:`latentfolio.api` of its name, imported from its command's module when it runs, so
``latentfolio --help`` is instant and a quick command loads only what it needs.

A :class:`LatentfolioError` becomes one ``error: ...`` line on stderr and exit status 2.
"""

import os

# Help is plain click text: typer's rich help costs 0.2 s of imports on every call, which would
# double the time of `latentfolio --help`. Tables and progress bars still use rich.
os.environ.setdefault("TYPER_USE_RICH", "0")

# Each module registers its commands on ``app``, in the README's order of the groups.
from . import model, compress, clean, organize, create, reports  # noqa: E402,F401  isort: skip
from .app import app, main  # noqa: E402

__all__ = ["app", "main"]
