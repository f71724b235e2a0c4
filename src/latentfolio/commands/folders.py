"""Folders of a catalog's images (``cluster --organize``), written so that no original can be lost.

The output folder must lie outside every catalogued source: it may not be, contain, or sit
inside a source folder, nor hold a catalogued file. Before writing anything, a manifest
(``.latentfolio-organize.json``, docs/formats.md) lists every link, copy, folder and contact
sheet the run will write; ``--force`` removes exactly those, one file at a time, and never a
folder that still holds anything else. Only files under the catalog's source folder are acted
on: a row that points elsewhere (a crafted catalog) is passed over with a warning.
"""

from __future__ import annotations

import errno
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from .. import _io
from ..catalog import Catalog
from ..data.folder import ORGANIZE_MANIFEST, BadFileWarning
from ..errors import LatentfolioError
from ..imaging import auto_scale, make_grid, save_picture, to_pil

MANIFEST_VERSION = 1



def cluster_name(given: dict, c: int) -> str:
    """A cluster's name: the user's (``given``, by cluster id as int or text), else ``cluster-NN``
    (``noise`` for HDBSCAN's -1). Its folder, its contact sheet and the gallery all use it."""
    name = given.get(c) or given.get(str(c))
    return name or ("noise" if c < 0 else f"cluster-{c:02d}")

def _inside(a: Path, b: Path) -> bool:
    """True when ``a`` is ``b`` or lies below it (both resolved)."""
    return a == b or b in a.parents


def check_out(cat: Catalog, out: Path, force: bool) -> None:
    """Refuse an output that overlaps the catalogued originals, or that holds anything but an
    earlier run's output (and that only with ``force``), before anything is touched."""
    if out.exists() and not out.is_dir():
        raise LatentfolioError(f"{out}: is a file, not a folder; --organize needs a folder")
    target = out.resolve()
    if cat.meta["source"].get("kind") == "folder":
        root = Path(cat.meta["source"]["root"]).resolve()
        if _inside(target, root) or _inside(root, target):
            raise LatentfolioError(f"{out}: overlaps the catalogued folder {root}; write the cluster "
                                   "folders somewhere outside it")
    for (p,) in cat.db.execute("SELECT path FROM images"):
        if _inside(Path(os.path.realpath(p)), target):
            raise LatentfolioError(f"{out}: holds catalogued images ({p}); write the cluster folders "
                                   "somewhere else")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise LatentfolioError(f"{out}: already exists (use --force to replace an earlier --organize output)")
        manifest = _read_manifest(out)
        _refuse_foreign(out, manifest)


def _read_manifest(out: Path) -> dict | None:
    path = out / ORGANIZE_MANIFEST
    if not path.exists():
        return None
    m = _io.read_json(path, "organize manifest")
    if not isinstance(m, dict) or not all(isinstance(m.get(k, []), list) and all(isinstance(v, str) for v in m.get(k, []))
                                          for k in ("files", "folders", "sheets")):
        raise LatentfolioError(f"{path}: not an organize manifest; remove the folder's contents by hand")
    return m


def _listed(out: Path, rel) -> Path | None:
    """``out / rel`` when ``rel`` names an entry below ``out`` that no link leads out of: a
    relative path without ``..``, whose folders resolve to the same folders below ``out``."""
    if not isinstance(rel, str) or not rel or "\0" in rel or rel.startswith("/") or ".." in rel.split("/"):
        return None
    p = out / rel
    base = Path(os.path.realpath(out))
    return p if Path(os.path.realpath(p.parent)) == (base / rel).parent else None


def _temp_of_ours(rel: str, ours: set) -> bool:
    """A temp file that a killed run of ours left beside one of its listed files."""
    folder, _, name = rel.rpartition("/")
    return any(_io.temp_owner(name, o.rpartition("/")[2]) is not None
               for o in ours if o.rpartition("/")[0] == folder)


def _foreign(out: Path, manifest: dict) -> list[str]:
    """Entries of ``out`` that the manifest does not list: what latentfolio did not write."""
    folders = set(manifest.get("folders", []))
    ours = {ORGANIZE_MANIFEST, *folders, *manifest.get("sheets", []), *manifest.get("files", [])}
    unsafe = sorted(str(rel) for rel in ours if _listed(out, rel) is None)
    if unsafe:  # a crafted manifest: a path out of the folder, or through a link
        return unsafe
    found = []
    for p in out.rglob("*"):
        rel = p.relative_to(out).as_posix()
        # a listed folder replaced by a link is not ours: removing "its" files would reach elsewhere
        if (rel not in ours and not _temp_of_ours(rel, ours)) or \
                (rel in folders and (p.is_symlink() or not p.is_dir())):
            found.append(rel)
    return sorted(found)


def _refuse_foreign(out: Path, manifest: dict | None) -> None:
    left = ["(no manifest)"] if manifest is None else _foreign(out, manifest)
    if left:
        raise LatentfolioError(f"{out}: holds {len(left)} entr{'y' if len(left) == 1 else 'ies'} latentfolio "
                               f"did not write (first: {left[0]}); choose a new or empty folder")


def clear_previous(out: Path) -> None:
    """Empty ``out`` of exactly what an earlier run listed in its manifest (checked by
    :func:`check_out`). Anything else in it stays, and is an error."""
    if not out.exists() or not any(out.iterdir()):
        return
    manifest = _read_manifest(out)
    _refuse_foreign(out, manifest)  # checked again here: nothing is removed unless all there is ours
    listed = manifest.get("files", []) + manifest.get("sheets", [])
    for rel in listed:
        p = _listed(out, rel)  # checked again, each path resolved: nothing outside is reached
        if p is not None and (p.is_symlink() or p.is_file()):
            p.unlink()  # a link or a copy this tool wrote: never what a link points to
    for p in list(out.rglob("*.tmp")):
        rel = p.relative_to(out).as_posix()
        if _temp_of_ours(rel, set(listed)) and _listed(out, rel) is not None and not p.is_symlink():
            p.unlink()  # a killed run's half-written copy
    for rel in sorted(manifest.get("folders", []), key=len, reverse=True):
        d = _listed(out, rel)
        if d is not None and d.is_dir() and not d.is_symlink() and not any(d.iterdir()):
            d.rmdir()
    (out / ORGANIZE_MANIFEST).unlink()


def _plan(cat: Catalog, labels: np.ndarray, given: dict[int, str] | None = None,
          skip: int | None = None) -> tuple[list[tuple[str, list, list]], int]:
    """Per cluster: (folder name, its rows, their file names); and how many rows were passed over.
    ``given``: folder names the user gave some clusters (checked by :func:`folder_name`); rows
    labelled ``skip`` get no folder."""
    rows = cat.rows("id, path, label, row")
    folder_kind = cat.meta["source"]["kind"] == "folder"
    root = Path(cat.meta["source"]["root"]).resolve() if folder_kind else None
    plan, outside = [], 0
    for c in np.unique(labels):
        if skip is not None and c == skip:
            continue
        name = cluster_name(given or {}, int(c))
        members, names, used = [], [], set()
        for i in np.flatnonzero(labels == c):
            r = rows[i]
            if folder_kind and not _inside(Path(os.path.realpath(r["path"])), root):
                outside += 1
                warnings.warn(f"skipped {r['path']}: not under the catalogued folder {root}", BadFileWarning)
                continue
            if folder_kind and not os.path.isfile(r["path"]):  # set aside or deleted since indexing
                outside += 1
                warnings.warn(f"skipped {r['path']}: no longer there (moved or deleted since `index`)",
                              BadFileWarning)
                continue
            base = Path(r["path"]).name if folder_kind else r["path"].replace(":", "_") + ".png"
            base = base if base not in used else f"{r['id']}-{base}"
            used.add(base)
            members.append(r)
            names.append(base)
        plan.append((name, members, names))
    return plan, outside


def folder_name(name: str) -> str:
    """A cluster's name as the user typed it, if it can be one folder's name, else an error."""
    name = str(name).strip()
    if not name or len(name) > 100 or name in (".", "..") or any(c in name for c in '/\\\0') or name.startswith("."):
        raise LatentfolioError(f"cluster name {name!r}: use 1-100 characters, no slashes, not starting with a dot")
    return name


def contact_sheet(cat: Catalog, rows: list, path: Path) -> None:
    """The thumbnails of ``rows``, 8 to a line, as one picture at ``path``."""
    sheet = cat.thumbnails(rows)
    save_picture(make_grid(sheet, 8, scale=auto_scale(sheet.shape[1], 64)), path)


def write_cluster_folders(cat: Catalog, labels: np.ndarray, out: Path, mode: str, sheet_max: int = 64,
                          names: dict[int, str] | None = None, skip: int | None = None) -> dict:
    """OUT/cluster-XX/ holds links (or copies) of its images, OUT/cluster-XX.png a contact sheet.

    Originals are only read. Images from a dataset (no file) are written as PNGs.
    """
    plan, outside = _plan(cat, labels, names, skip)
    folders = [name for name, _, _ in plan]
    if len(set(folders)) < len(plan):
        raise LatentfolioError("two clusters have the same name; rename one")
    clash = sorted(set(folders) & {f"{name}.png" for name in folders})
    if clash:  # cluster "x" has its contact sheet x.png, where cluster "x.png" has its folder
        raise LatentfolioError(f"cluster name {clash[0]!r} is taken by the contact sheet of cluster "
                               f"{clash[0][:-4]!r}; rename one")
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"format_version": MANIFEST_VERSION, "catalog": str(cat.path.resolve()), "mode": mode,
                "folders": [name for name, _, _ in plan],
                "files": [f"{name}/{n}" for name, _, names in plan for n in names],
                "sheets": [f"{name}.png" for name, _, _ in plan]}
    _io.write_json(out / ORGANIZE_MANIFEST, manifest)  # first: a killed run is cleaned up by --force
    folder_kind = cat.meta["source"]["kind"] == "folder"
    written = {}
    for name, members, names in plan:
        d = out / name
        d.mkdir(exist_ok=True)
        for r, n in zip(members, names):
            dest = d / n
            if not folder_kind:
                save_picture(to_pil(cat.thumbnails([r])[0]), dest)
            elif mode == "symlink":
                os.symlink(os.path.realpath(r["path"]), dest)
            else:
                try:
                    _io.atomic_write(dest, lambda p, s=r["path"]: (shutil.copy2(s, p), _io.kill_point("organize-copy")))
                except OSError as e:  # the output's fault (a full disk), not the original's
                    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                        raise LatentfolioError(f"{dest}: cannot write the copy ({e.strerror}); the original "
                                               f"{r['path']} is untouched") from None
                    raise
        if members:
            contact_sheet(cat, members[:sheet_max], out / f"{name}.png")
        written[name] = len(members)
    return {"out": str(out), "mode": mode, "folders": written, "passed_over": outside}
