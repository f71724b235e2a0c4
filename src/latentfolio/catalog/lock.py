"""One writer at a time per catalog: an advisory lock on ``CATALOG/.lock`` (flock), held by every
process that changes the catalog's rows or code files (``index``, the gallery's rescan).

The kernel drops the lock when its holder dies, so a killed ``index`` never leaves a catalog
locked. The holder writes its process id into the file, so a second writer can say whom it is
waiting for. Readers never take it: they see the last committed state (SQLite's WAL, and code
files that are switched by one rename, see ``catalog.store``).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from ..errors import LatentfolioError

LOCK = ".lock"


def _holder(f) -> str:
    try:
        f.seek(0)
        pid = f.read(32).strip()
        return f" (pid {pid})" if pid.isdigit() else ""
    except OSError:
        return ""


@contextmanager
def writer_lock(folder: str | os.PathLike, what: str = "index", wait: bool = True, log=None):
    """Hold the catalog's writer lock for the block. Another writer's lock is waited for, with
    one line saying so (``wait``), or refused with one line."""
    import fcntl

    path = Path(folder) / LOCK
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    try:
        f = open(path, "a+", encoding="ascii")
    except OSError as e:
        raise LatentfolioError(f"{folder}: cannot lock the catalog for writing ({e.strerror or e})") from None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(f)
            if not wait:
                raise LatentfolioError(f"{folder}: another latentfolio process{who} is writing this catalog; "
                                       "try again when it finishes") from None
            log(f"{what}: waiting for another latentfolio process{who} that is writing {folder}")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
        except OSError:
            pass  # the pid is only for the waiting message
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def writer_active(folder: str | os.PathLike) -> str | None:
    """When another process holds the writer lock: " (pid N)" (or ""); else None."""
    import fcntl

    path = Path(folder) / LOCK
    try:
        f = open(path, encoding="ascii")
    except OSError:
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(f)
        fcntl.flock(f, fcntl.LOCK_UN)
    return None
