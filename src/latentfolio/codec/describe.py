"""What a coded file holds, without decoding it: the `info` command on an ``.lfz`` file or an
``.lfa`` archive (its size and mode, the model it needs and whether that model is in the store,
its colour profile and EXIF)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..data import metadata
from ..errors import LatentfolioError
from .archive import ARCHIVE_MAGIC, Archive
from .format import MAGIC, parse
from .store import stored


def describe(path) -> dict:
    """``path``'s header as a dict; a file that is neither an .lfz nor an .lfa is an error."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(4)
    if head == MAGIC:
        return describe_lfz(path.read_bytes(), str(path))
    if head == ARCHIVE_MAGIC:
        arc = Archive(path)
        sizes = {n: e["length"] for n, e in arc.entries.items()}
        return {"file": str(path), "format": "lfa", "entries": len(sizes), "bytes": path.stat().st_size,
                "codecs": dict(Counter(arc.codec(n) for n in sizes).most_common()),
                "model": _model(arc.fingerprint) if any(arc.fingerprint) else None}
    raise LatentfolioError(f"{path}: neither a model folder, an .lfz file nor an .lfa archive")


def describe_lfz(data: bytes, name: str) -> dict:
    hd = parse(data, name)  # damage is a one-line error, as in decompress
    out = {"file": name, "format": "lfz", "version": hd.version, "width": hd.width, "height": hd.height,
           "mode": hd.mode, "bytes": len(data), "bpp": 8 * len(data) / (hd.width * hd.height),
           "alpha": hd.alpha is not None, "model": _model(hd.fingerprint)}
    out["colour_profile"] = metadata.profile_name(hd.icc) if hd.icc else None
    out["exif"] = {"bytes": len(hd.exif), **metadata.exif_summary(hd.exif)} if hd.exif else None
    return out


def _model(fp: bytes) -> dict:
    """The model a file needs: its fingerprint, and its folder in the store where one matches."""
    found = stored(fp)
    return {"fingerprint": fp.hex(), "stored": str(found[0]) if len(found) == 1 else None}
