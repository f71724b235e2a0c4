"""The ``.lfa`` archive: many coded images and a JSON index; each image decodes on its own.

Version 1 holds ``.lfz`` blobs only. Version 2 (written when any entry is another codec's file,
as ``compress --target-psnr`` makes them) records each entry's codec in the index: ``lfz``,
``avif``, ``webp``, ``jxl``, ``jxl-lossless`` or ``jpeg-jxl``.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

from .. import _io
from ..errors import LatentfolioError
from .format import FP_LEN

ARCHIVE_MAGIC, ARCHIVE_VERSION = b"LFA\x1a", 2
READS = (1, 2)


_FOOTER = struct.Struct("<QII4s")  # index offset, index length, index crc32, magic


def write_archive(path: Path, entries: list[tuple], fp: bytes) -> None:
    """``entries``: (name, blob) for .lfz blobs, or (name, blob, codec)."""
    version = 2 if any(len(e) > 2 and e[2] != "lfz" for e in entries) else 1

    def write(tmp: Path):
        with open(tmp, "wb") as f:
            f.write(ARCHIVE_MAGIC + bytes([version]) + fp)
            index = []
            for name, blob, *codec in entries:
                index.append({"name": name, "offset": f.tell(), "length": len(blob),
                              **({"codec": codec[0]} if version == 2 else {})})
                f.write(blob)
            raw = json.dumps({"entries": index}).encode()
            off = f.tell()
            f.write(raw)
            f.write(_FOOTER.pack(off, len(raw), zlib.crc32(raw), ARCHIVE_MAGIC))

    _io.atomic_write(path, write)


class Archive:
    """An .lfa file: many .lfz blobs and an index; each image decodes on its own."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        data = self.path.read_bytes()
        if len(data) < 6 + FP_LEN + _FOOTER.size or data[:4] != ARCHIVE_MAGIC:
            raise LatentfolioError(f"{self.path}: not a latentfolio .lfa archive")
        if data[4] not in READS:
            raise LatentfolioError(f"{self.path}: archive version {data[4]} is not supported")
        off, ln, crc, magic = _FOOTER.unpack(data[-_FOOTER.size:])
        raw = data[off:off + ln] if off + ln <= len(data) - _FOOTER.size else b""
        if magic != ARCHIVE_MAGIC or zlib.crc32(raw) != crc:
            raise LatentfolioError(f"{self.path}: corrupted or truncated archive (index CRC mismatch)")
        self.fingerprint = data[5:5 + FP_LEN]
        self.entries = _entries(raw, len(data) - _FOOTER.size, self.path)
        self._data = data

    def names(self) -> list[str]:
        return list(self.entries)

    def codec(self, name: str) -> str:
        return self.entries[name].get("codec", "lfz")

    def blob(self, name: str) -> bytes:
        if name not in self.entries:
            raise LatentfolioError(f"{self.path}: no entry {name!r}")
        e = self.entries[name]
        return self._data[e["offset"]:e["offset"] + e["length"]]


def _entries(raw: bytes, end: int, path: Path) -> dict[str, dict]:
    """The index, type-checked: a name, and an offset and length inside the archive, per entry."""
    bad = LatentfolioError(f"{path}: corrupt archive index")
    try:
        index = json.loads(raw)
    except (ValueError, RecursionError):
        raise bad from None
    entries = index.get("entries") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        raise bad
    out = {}
    for e in entries:
        ok = (isinstance(e, dict) and isinstance(e.get("name"), str) and e["name"]
              and all(type(e.get(k)) is int and e[k] >= 0 for k in ("offset", "length"))
              and e["offset"] + e["length"] <= end and isinstance(e.get("codec", "lfz"), str))
        if not ok or not safe_name(e["name"]):
            raise bad
        if e["name"] in out:  # two entries of one name: one would be dropped without a word
            raise LatentfolioError(f"{path}: corrupt archive index (the name {e['name']!r} is there twice)")
        out[e["name"]] = e
    return out


def safe_name(name: str) -> bool:
    """An entry name that can be written below an output folder: a relative path of plain
    components (no ``.``, ``..``, empty or NUL), each at most 255 bytes."""
    if len(name) > 4096 or name.startswith("/") or "\0" in name:
        return False
    parts = name.split("/")
    return all(p not in ("", ".", "..") and len(p.encode("utf-8", "surrogatepass")) <= 255 for p in parts)
