"""Safe file writes shared by every tool: atomic replace, and no silent overwrite."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

from .errors import LatentfolioError


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``.

    A reader never sees a half-written file, and a crash leaves the old file intact.
    The temp file lives in the same directory so the rename is atomic on POSIX.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


TEMP_NAME_BYTES = 120  # of the target's name in a temp file's: a 255-byte name still has room


def _temp_prefix(name: str, pid: int | None = None) -> str:
    short = os.fsdecode(os.fsencode(name)[:TEMP_NAME_BYTES])
    return f".{short}.{os.getpid() if pid is None else pid}."


def temp_owner(entry: str, name: str) -> int | None:
    """The process id that wrote ``entry`` as a temp file of the file ``name`` (see
    :func:`atomic_write`), or None when ``entry`` is not one."""
    base = _temp_prefix(name, 0)[:-2]  # ".name."
    if not (entry.startswith(base) and entry.endswith(".tmp")):
        return None
    pid, _, rand = entry[len(base):-4].partition(".")
    return int(pid) if pid.isdigit() and len(rand) == 8 else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> int:
    """Remove the temp files a killed writer of ``path`` left beside it (their process is gone)
    -> how many. A live writer's temp file is left alone."""
    path = Path(path)
    gone = 0
    try:
        entries = os.listdir(path.parent)
    except OSError:
        return 0
    for e in entries:
        pid = temp_owner(e, path.name)
        if pid is not None and not alive(pid):
            try:
                os.unlink(path.parent / e)
                gone += 1
            except OSError:
                pass
    return gone


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LatentfolioError(f"{path}: {what} not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LatentfolioError(f"{path}: not a valid JSON {what} ({e})") from None
    except RecursionError:
        raise LatentfolioError(f"{path}: not a valid JSON {what} (nested too deep)") from None
    except OSError as e:
        raise LatentfolioError(f"{path}: cannot read the {what} ({e.strerror or e})") from None


def check_writable(path: str | os.PathLike, force: bool) -> Path:
    """Refuse to replace an existing output unless ``force`` was given."""
    path = Path(path)
    if path.exists() and not force:
        raise LatentfolioError(f"{path}: already exists (use --force to overwrite)")
    return path


def plan_outputs(jobs: list[tuple[Path, Any]], force: bool, files: bool = True) -> list[tuple[Path, Any]]:
    """Check (input, output) pairs before any work, so a refusal leaves nothing half-written.

    The same input named twice is kept once. Two inputs bound for one output (a/x.png and
    b/x.png given as files, or x.jpg and x.png both made into x.png) are a one-line error.
    ``files``: the outputs are paths, so one that is its own input, or that exists (without
    ``force``), is an error too; otherwise they are names, e.g. an archive's entries.
    """
    seen: dict = {}  # output -> its input
    kept = []
    for src, dst in jobs:
        key = Path(os.path.abspath(dst)) if files else dst
        if key in seen:
            if seen[key].resolve() == src.resolve():
                continue
            what = "written to" if files else "stored as"
            raise LatentfolioError(f"{seen[key]} and {src} would both be {what} {dst}; "
                                   "run them separately or rename one")
        if files:
            if key.exists() and key.resolve() == src.resolve():
                raise LatentfolioError(f"{dst}: would overwrite the original; choose another --out")
            check_writable(dst, force)
        seen[key] = src
        kept.append((src, dst))
    return kept


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """``path`` lies at or below ``root`` once every link on the way is followed."""
    p, r = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return p == r or r in p.parents


def read_inside(path: str | os.PathLike, root: str | os.PathLike) -> bytes:
    """The bytes of ``path``, a regular file below ``root`` reached through no link (O_NOFOLLOW on
    the file, its folder resolved): a link planted in a catalog cannot make us read elsewhere.
    FileNotFoundError when it is missing; PermissionError when it is anything else."""
    path = Path(path)
    if "\0" in str(path) or not inside(path.parent, root):
        raise PermissionError(f"{path}: not inside {root}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise FileNotFoundError(str(path)) from None
        raise PermissionError(f"{path}: {e.strerror}") from None  # ELOOP: a link
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PermissionError(f"{path}: not a regular file")
        return f.read()


def kill_point(name: str) -> None:
    """Fault injection for the crash tests: ``LATENTFOLIO_KILL_AT=name`` ends the process here, as
    kill -9 would (no cleanup, no flush). The points are named where they are called."""
    if os.environ.get("LATENTFOLIO_KILL_AT") == name:
        os._exit(137)
