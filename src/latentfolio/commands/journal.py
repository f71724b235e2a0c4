"""A journal of file moves, written before any file is touched, so that every tidy-up can be undone.

A journal (docs/formats.md) lists each move as ``[from, to, bytes, sha256]``: a file of the
collection and its place in the ``_duplicates/`` folder beside it. ``apply`` carries out the moves
that are not done yet and ``undo`` reverses the ones that are, each one checked against the disk,
so a run killed halfway is finished by applying again or reversed by undoing. Nothing is deleted:
a move never replaces an existing file (a hard link, then the old name removed, refuses a taken
name), and a link mode only adds symbolic links. Every folder a move needs is made with a marker
(``.latentfolio-duplicates``) that tells ``scan`` not to index it again.

A journal is a file anyone could have written, so it is trusted only as far as the disk agrees:
it must lie in a catalog's ``journals/`` folder, every move must go from a file below that
catalog's collection to the ``_duplicates/`` folder beside it (resolved, so no link leads out),
and a file is only moved back when it is the one the journal set aside (its size and SHA-256).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from .. import _io
from ..catalog.store import META, read_header
from ..data.folder import DUPLICATES_MARKER
from ..errors import LatentfolioError

JOURNAL_VERSION = 2  # 2: each move carries the file's size and SHA-256; 1: [from, to] only
MODES = ("move", "symlink")
ASIDE = "_duplicates"  # the folder beside a file that its set-aside copies go to


def write_journal(folder: Path, kind: str, moves: list[tuple[str, str]], mode: str, note: dict) -> Path:
    """A new journal in ``folder`` (``kind-YYYYmmdd-HHMMSS.json``), written atomically. Each
    move's file is measured now (size, SHA-256), so undo can tell it from another file later."""
    if mode not in MODES:
        raise LatentfolioError(f"mode {mode!r}: use {' or '.join(MODES)}")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{kind}-{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{kind}-{stamp}-{n}.json"
    rows = [[str(a), str(b), os.stat(a).st_size, _io.sha256_file(a)] for a, b in moves]
    _io.write_json(path, {"format_version": JOURNAL_VERSION, "kind": kind, "mode": mode, "state": "planned",
                          "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "note": note, "moves": rows})
    return path


def _is_move(m) -> bool:
    if not isinstance(m, list) or len(m) not in (2, 4) or not all(isinstance(p, str) and p for p in m[:2]):
        return False
    return len(m) == 2 or (type(m[2]) is int and m[2] >= 0 and isinstance(m[3], str) and len(m[3]) == 64)


def read_journal(path) -> dict:
    j = _io.read_json(path, "journal")
    if not (isinstance(j, dict) and j.get("mode") in MODES and isinstance(j.get("moves"), list)
            and all(_is_move(m) for m in j["moves"])):
        raise LatentfolioError(f"{path}: not a latentfolio journal")
    version = j.get("format_version", 1)
    if type(version) is not int or version > JOURNAL_VERSION:
        raise LatentfolioError(f"{path}: journal format {version!r} is newer than this latentfolio")
    return j


def collection_of(journal: Path) -> Path:
    """The folder a journal may move files in: the collection of the catalog whose ``journals/``
    holds it (resolved). A journal anywhere else is refused."""
    cat = journal.resolve().parent.parent
    if journal.resolve().parent.name != "journals" or not (cat / META).is_file():
        raise LatentfolioError(f"{journal}: not in a catalog's journals/ folder; a journal is only "
                               "read from there")
    source = read_header(cat / META)["source"]
    if source.get("kind") != "folder":
        raise LatentfolioError(f"{journal}: its catalog indexes a dataset, whose images have no files to move")
    return Path(os.path.realpath(source["root"]))


def _check(j: dict, path: Path, root: Path) -> list[tuple]:
    """(from, to, bytes or None, sha256 or None) of every move, or one line refusing the whole
    journal when any move would reach outside ``root`` or is not a move into ``_duplicates/``."""
    out = []
    for n, (a, b, *known) in enumerate(j["moves"], 1):
        a, b = Path(a), Path(b)
        why = None
        if "\0" in str(a) or "\0" in str(b) or not (a.is_absolute() and b.is_absolute()):
            why = "is not a pair of absolute paths"
        elif ".." in a.parts or ".." in b.parts or b.parent.name != ASIDE or b.parent.parent != a.parent:
            why = f"does not go to the {ASIDE}/ folder beside the file"
        else:
            real = Path(os.path.realpath(a.parent))
            if not (real == root or root in real.parents):
                why = f"leaves the collection {root}"
            elif os.path.lexists(b.parent) and Path(os.path.realpath(b.parent)) != real / ASIDE:
                why = f"goes through a link out of {a.parent}"
        if why:
            raise LatentfolioError(f"{path}: move {n} ({a} -> {b}) {why}; nothing was done")
        out.append((a, b, *(known or (None, None))))
    return out


def _set_state(path, j: dict, state: str) -> None:
    j["state"] = state
    j[state] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _io.write_json(path, j)


def _make_folder(d: Path) -> None:
    if not d.is_dir():
        d.mkdir(parents=True)
    marker = d / DUPLICATES_MARKER
    if not marker.exists():
        _io.write_text(marker, "Copies set aside by latentfolio; `latentfolio undo JOURNAL` puts them back.\n")


def _move(a: Path, b: Path) -> None:
    """Rename ``a`` to ``b``, refusing (not replacing) a taken ``b``."""
    try:
        os.link(a, b, follow_symlinks=False)  # fails if b exists: nothing is ever replaced
        _io.kill_point("journal-linked")
        os.unlink(a)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some file systems): check, then rename
        if os.path.lexists(b):
            raise FileExistsError(str(b)) from None
        os.rename(a, b)


def _one_file(a: Path, b: Path) -> bool:
    """Both names are one file: a move killed between its link and its unlink."""
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return stat.S_ISREG(sa.st_mode) and (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _matches(p: Path, size: int | None, digest: str | None) -> bool:
    """``p`` is a regular file (not a link) and, where the journal measured it, that same file."""
    try:
        st = os.lstat(p)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    return size is None or (st.st_size == size and _io.sha256_file(p) == digest)


def apply(journal, progress=None) -> dict:
    """Carry out the journal's moves that are not done yet -> counts."""
    path = Path(journal)
    j = read_journal(path)
    moves = _check(j, path, collection_of(path))
    done = already = missing = 0
    for n, (a, b, size, digest) in enumerate(moves):
        if j["mode"] == "symlink":
            if b.is_symlink() and os.readlink(b) == str(a):
                already += 1
            elif os.path.lexists(b) or not _matches(a, size, digest):
                missing += 1
            else:
                _make_folder(b.parent)
                os.symlink(a, b)
                done += 1
        elif _one_file(a, b):  # killed between link and unlink: finish the move
            os.unlink(a)
            done += 1
        elif os.path.lexists(b) and not os.path.lexists(a):
            already += 1
        elif os.path.lexists(b) or not _matches(a, size, digest):
            missing += 1  # gone, changed, or its place is taken: left as it is, and counted
        else:
            _make_folder(b.parent)
            _move(a, b)
            done += 1
        if progress:
            progress(n + 1, len(moves))
    _set_state(path, j, "applied")
    return {"journal": str(path), "mode": j["mode"], "moved" if j["mode"] == "move" else "linked": done,
            "already": already, "skipped": missing}


def undo(journal, progress=None) -> dict:
    """Reverse every move of the journal that was made (all of them, or those a killed run made).
    A file in ``_duplicates/`` that is not the one the journal set aside stays where it is."""
    path = Path(journal)
    j = read_journal(path)
    moves = _check(j, path, collection_of(path))
    restored = left = changed = 0
    folders = set()
    for n, (a, b, size, digest) in enumerate(reversed(moves)):
        folders.add(b.parent)
        if j["mode"] == "symlink":
            if b.is_symlink() and os.readlink(b) == str(a):
                b.unlink()  # the link this journal made, never what it points to
                restored += 1
        elif _one_file(a, b):  # killed between link and unlink: the original name is whole
            os.unlink(b)
            restored += 1
        elif os.path.lexists(b) and not os.path.lexists(a):
            if _matches(b, size, digest):
                _move(b, a)
                restored += 1
            else:
                changed += 1  # not the file this journal set aside: left alone
        elif os.path.lexists(b):
            left += 1  # both names taken: the original's name was reused meanwhile; keep both
        if progress:
            progress(n + 1, len(moves))
    for d in sorted(folders, key=lambda p: len(str(p)), reverse=True):  # only aside folders left empty
        if d.is_dir() and not d.is_symlink() and {p.name for p in d.iterdir()} <= {DUPLICATES_MARKER}:
            (d / DUPLICATES_MARKER).unlink(missing_ok=True)
            d.rmdir()
    _set_state(path, j, "undone")
    return {"journal": str(path), "restored": restored, "left": left, "changed": changed}
