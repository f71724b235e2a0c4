"""The ``latentfolio`` command. Thin: each command parses flags and calls one library function.

Heavy imports (torch, lightning) happen inside the commands, so ``latentfolio --help`` is instant.
A :class:`LatentfolioError` becomes one ``error: ...`` line on stderr and exit status 2.
"""

from . import core, create, organize  # noqa: F401  (each registers its commands on ``app``)
from .app import app, main

__all__ = ["app", "main"]
