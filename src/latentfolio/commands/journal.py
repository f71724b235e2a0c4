"""A journal of file moves, written before any file is touched, so that every tidy-up can be undone.

A journal (docs/formats.md) lists each move as ``[from, to]``. ``apply`` carries out the moves that
are not done yet and ``undo`` reverses the ones that are, each one checked against the disk, so a
run killed halfway is finished by applying again or reversed by undoing. Nothing is deleted:
a move never replaces an existing file (a hard link, then the old name removed, refuses a taken
name), and a link mode only adds symbolic links. Every folder a move needs is made with a marker
(``.latentfolio-duplicates``) that tells ``scan`` not to index it again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .. import _io
from ..data.folder import DUPLICATES_MARKER
from ..errors import LatentfolioError

JOURNAL_VERSION = 1
MODES = ("move", "symlink")


def write_journal(folder: Path, kind: str, moves: list[tuple[str, str]], mode: str, note: dict) -> Path:
    """A new journal in ``folder`` (``kind-YYYYmmdd-HHMMSS.json``), written atomically."""
    if mode not in MODES:
        raise LatentfolioError(f"mode {mode!r}: use {' or '.join(MODES)}")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{kind}-{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{kind}-{stamp}-{n}.json"
    _io.write_json(path, {"format_version": JOURNAL_VERSION, "kind": kind, "mode": mode, "state": "planned",
                          "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "note": note,
                          "moves": [[str(a), str(b)] for a, b in moves]})
    return path


def read_journal(path) -> dict:
    j = _io.read_json(path, "journal")
    ok = (isinstance(j, dict) and j.get("mode") in MODES and isinstance(j.get("moves"), list)
          and all(isinstance(m, list) and len(m) == 2 and all(isinstance(p, str) for p in m) for m in j["moves"]))
    if not ok:
        raise LatentfolioError(f"{path}: not a latentfolio journal")
    if j.get("format_version", 1) > JOURNAL_VERSION:
        raise LatentfolioError(f"{path}: journal format {j['format_version']} is newer than this latentfolio")
    return j


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
        os.unlink(a)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some file systems): check, then rename
        if os.path.lexists(b):
            raise FileExistsError(str(b)) from None
        os.rename(a, b)


def apply(journal, progress=None) -> dict:
    """Carry out the journal's moves that are not done yet -> counts."""
    path = Path(journal)
    j = read_journal(path)
    done = already = missing = 0
    for n, (a, b) in enumerate(j["moves"]):
        a, b = Path(a), Path(b)
        if j["mode"] == "symlink":
            if b.is_symlink() and os.readlink(b) == str(a):
                already += 1
            elif os.path.lexists(b) or not a.exists():
                missing += 1
            else:
                _make_folder(b.parent)
                os.symlink(a, b)
                done += 1
        elif os.path.lexists(b) and not os.path.lexists(a):
            already += 1
        elif not os.path.lexists(a) or os.path.lexists(b):
            missing += 1  # gone, or its place is taken: left as it is, and counted
        else:
            _make_folder(b.parent)
            _move(a, b)
            done += 1
        if progress:
            progress(n + 1, len(j["moves"]))
    _set_state(path, j, "applied")
    return {"journal": str(path), "mode": j["mode"], "moved" if j["mode"] == "move" else "linked": done,
            "already": already, "skipped": missing}


def undo(journal, progress=None) -> dict:
    """Reverse every move of the journal that was made (all of them, or those a killed run made)."""
    path = Path(journal)
    j = read_journal(path)
    restored = left = 0
    folders = set()
    for n, (a, b) in enumerate(reversed(j["moves"])):
        a, b = Path(a), Path(b)
        folders.add(b.parent)
        if j["mode"] == "symlink":
            if b.is_symlink() and os.readlink(b) == str(a):
                b.unlink()  # the link this journal made, never what it points to
                restored += 1
        elif os.path.lexists(b) and not os.path.lexists(a):
            _move(b, a)
            restored += 1
        elif os.path.lexists(b):
            left += 1  # both names taken: the original's name was reused meanwhile; keep both
        if progress:
            progress(n + 1, len(j["moves"]))
    for d in sorted(folders, key=lambda p: len(str(p)), reverse=True):  # only folders left empty
        if d.is_dir() and not d.is_symlink() and {p.name for p in d.iterdir()} <= {DUPLICATES_MARKER}:
            (d / DUPLICATES_MARKER).unlink(missing_ok=True)
            d.rmdir()
    _set_state(path, j, "undone")
    return {"journal": str(path), "restored": restored, "left": left}
