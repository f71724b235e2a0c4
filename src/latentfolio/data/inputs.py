"""The files a user names on the command line: folders walked, images decoded, bad ones named."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import LatentfolioError
from .decode import BadImage, decode_image, header
from .folder import BadFileWarning, is_document, not_regular


def collect_images(inputs: list[str | os.PathLike]) -> list[Path]:
    """Files named directly, plus every non-hidden file below named folders (sorted) but documents
    (notes, checksums, sidecars: :func:`folder.is_document`). Entries
    that are not regular files (FIFOs, devices, broken links) are named once and passed over."""
    files: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            for f in sorted(f for f in p.rglob("*") if not f.name.startswith(".") and not f.is_dir()
                            and not is_document(f.name)):
                why = not_regular(f)
                if why:
                    warnings.warn(f"skipped {f}: {why}", BadFileWarning, stacklevel=2)
                else:
                    files.append(f)
        elif p.exists() or p.is_symlink():
            why = not_regular(p)
            if why:
                warnings.warn(f"skipped {p}: {why}", BadFileWarning, stacklevel=2)
            else:
                files.append(p)
        else:
            raise LatentfolioError(f"{p}: no such file or folder")
    if not files:
        raise LatentfolioError("no input images: " + ", ".join(map(str, inputs)))
    return files


def decode_inputs(inputs, size: int, channels: int, fit: str = "squash",
                  strict: bool = False) -> tuple[np.ndarray, list[Path]]:
    """Decode user-named image files; bad ones are named in a warning and skipped.

    ``strict``: a bad file is an error naming it (for commands where each input has a role).
    """
    arrays, used = [], []
    files = collect_images(inputs)
    for f in files:
        try:
            arrays.append(decode_image(str(f), size, channels, fit))
            used.append(f)
        except BadImage as e:
            if strict:
                raise LatentfolioError(f"{f}: {e}") from None
            warnings.warn(f"skipped {f}: {e}", stacklevel=2)
    if not arrays:
        raise LatentfolioError(f"no readable image among {len(files)} input file(s)")
    if channels == 1:  # said once, so a grey result from colour art is not a surprise
        colour = sum(header(str(f))[0] == 3 for f in used)
        if colour:
            warnings.warn(f"the model is greyscale: {colour} colour input(s) read as grey", stacklevel=2)
    return np.stack(arrays), used
