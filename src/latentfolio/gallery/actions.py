"""What the gallery changes, each journaled or atomic: setting duplicates aside and undoing it,
naming clusters and writing them to folders, rescanning the collection, building thumbnails.

The page names images by catalog id and plans by the id the server gave them; no path a client
sends is ever moved, and a journal is only read from the catalog's ``journals/`` folder.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np

from .. import _io
from ..commands import journal
from ..commands.cluster import cluster
from ..commands.duplicates import duplicates as find_duplicates, journal_for, plan_moves
from ..commands.folders import check_out, clear_previous, folder_name, write_cluster_folders
from ..commands.index import index
from ..errors import LatentfolioError
from .selection import absolute_folder
from .state import Gallery
from .views import CLUSTER_NAMES, cluster_names


# --- duplicates --------------------------------------------------------------------------------
def duplicates(g: Gallery, threshold: float | None = None, keep: str = "largest", same_psnr: float = 32.0) -> dict:
    """The groups in tiers, with keepers, under a plan id the Apply button quotes back. Copies
    already set aside (no longer at their path) are left out."""
    with g.lock:
        r = find_duplicates(g.cat, threshold=threshold, keep=keep, same_psnr=same_psnr)
    files = g.cat.meta["source"].get("kind") == "folder"
    groups = []
    for grp in r["groups"]:
        if files:
            grp["images"] = [im for im in grp["images"] if os.path.lexists(im["path"])]
            if len(grp["images"]) < 2 or grp["keep"] not in {im["id"] for im in grp["images"]}:
                continue
        for im in grp["images"]:
            im["name"] = Path(im["path"]).name if files else im["path"]
        groups.append(grp)
    plan_id = secrets.token_hex(8)
    g.dup_plans.put(plan_id, groups)
    return {"plan": plan_id, "threshold": r["threshold"], "keep": keep, "same_psnr": same_psnr, "groups": groups,
            "tiers": {t: sum(gr["tier"] == t for gr in groups) for t in ("identical", "same", "near")}}


def _chosen(g: Gallery, plan_id: str, chosen: list[int] | None, keepers: dict) -> tuple[list[dict], dict[int, int]]:
    groups = g.dup_plans.get(plan_id)
    if groups is None:
        raise LatentfolioError("this duplicates view is out of date; reload it")
    pick = range(len(groups)) if chosen is None else [int(i) for i in chosen]
    if any(not 0 <= i < len(groups) for i in pick):
        raise LatentfolioError("a chosen group is not in this duplicates view")
    sel = [groups[i] for i in pick]
    keep = {n: int(keepers[str(i)]) for n, i in enumerate(pick) if str(i) in keepers}
    return sel, keep


def plan(g: Gallery, plan_id: str, chosen=None, keepers=None) -> dict:
    """The dry run: every move Apply would make, and nothing moved."""
    sel, keep = _chosen(g, plan_id, chosen, keepers or {})
    with g.lock:
        moves = plan_moves(g.cat, sel, keep)
    return {"moves": [{"from": a, "to": b} for a, b in moves], "groups": len(sel)}


def apply(g: Gallery, plan_id: str, chosen=None, keepers=None, mode: str = "move") -> dict:
    """Write the journal, then make its moves: a kill between two moves loses nothing."""
    sel, keep = _chosen(g, plan_id, chosen, keepers or {})
    with g.lock:
        path = journal_for(g.cat, sel, keep, mode)
        res = journal.apply(path)
    g.dup_plans.clear()
    return res | {"name": path.name}


def journals(g: Gallery) -> dict:
    d = g.path / "journals"
    out = []
    for p in sorted(d.glob("*.json"), reverse=True) if d.is_dir() else []:
        try:
            j = journal.read_journal(p)
        except LatentfolioError:
            continue
        out.append({"name": p.name, "state": j.get("state"), "mode": j["mode"], "moves": len(j["moves"]),
                    "created": j.get("created")})
    return {"journals": out}


def undo(g: Gallery, name: str) -> dict:
    d = (g.path / "journals").resolve()
    p = (d / os.path.basename(str(name))).resolve()
    if p.parent != d or not p.is_file():
        raise LatentfolioError(f"{name}: no such journal in {g.path.name}/journals")
    with g.lock:
        res = journal.undo(p)
    g.dup_plans.clear()
    return res


# --- clusters ----------------------------------------------------------------------------------
def compute_clusters(g: Gallery, k: int | None = None, method: str = "kmeans") -> dict:
    with g.lock:
        res = cluster(g.cat, method=method, k=k)
    g.refresh_rows()
    return {k: res[k] for k in ("method", "clusters", "sizes")}


def rename_cluster(g: Gallery, cluster_id: int, name: str) -> dict:
    with g.lock:  # read, change, write: two renames at once must not lose one
        return _rename(g, cluster_id, name)


def _rename(g: Gallery, cluster_id: int, name: str) -> dict:
    names = cluster_names(g)
    names[str(int(cluster_id))] = folder_name(name)
    if len(set(names.values())) < len(names):
        raise LatentfolioError(f"another cluster is already named {name!r}")
    taken = {f"{v}.png" for v in names.values()} & set(names.values())
    if taken:  # cluster "x" writes its contact sheet as x.png, where "x.png" would be a folder
        raise LatentfolioError(f"cluster name {min(taken)!r} is taken by the contact sheet of cluster "
                               f"{min(taken)[:-4]!r}; choose another name")
    _io.write_json(g.path / CLUSTER_NAMES, names)
    return {"cluster": int(cluster_id), "name": names[str(int(cluster_id))]}


def write_folders(g: Gallery, out: str, mode: str = "symlink", force: bool = False) -> dict:
    """`cluster --organize` with the user's names: the same guards (outside the originals,
    behind a manifest, never over what latentfolio did not write)."""
    if mode not in ("symlink", "copy"):
        raise LatentfolioError(f"mode {mode!r}: use symlink or copy")
    target = absolute_folder(out)
    names = {int(k): v for k, v in cluster_names(g).items()}
    with g.lock:
        labels = np.array([-1 if r["cluster"] is None else r["cluster"] for r in g.cat.rows("cluster")], np.int64)
        if (labels < 0).all():
            raise LatentfolioError("no clusters yet: compute them first")
        check_out(g.cat, target, force)
        clear_previous(target)
        return write_cluster_folders(g.cat, labels, target, mode, names=names)


# --- background tasks ----------------------------------------------------------------------------
def build_thumbnails(g: Gallery):
    def work(task):
        rows = list(g.by_id.values())
        with g.lock:
            pruned = g.thumbs.prune(g.by_id)
        r = g.thumbs.build(g.cat, rows, progress=task.step, stop=g.closing)
        return f"{r['made']} made, {r['cached']} cached, {r['bad']} unreadable, {pruned} removed"
    return g.start("thumbnails", work)


def rescan(g: Gallery):
    """Re-index new or changed files (the catalog's own `index` run), then the map and thumbnails."""
    src = g.cat.meta["source"]
    if src.get("kind") != "folder":
        raise LatentfolioError(f"{g.path.name}: catalogs a dataset; there is nothing to rescan")

    def work(task):
        with g.lock:  # one writer: views wait for the new rows rather than read half of them
            res = index(g.model_dir or g.cat.meta["model_dir"], src["root"], g.path, progress=False,
                        on_advance=task.step)
            g.reopen()
            g.ensure_map(log=lambda m: None)
        build_thumbnails(g)
        return (f"{res['added']} added, {res['changed']} changed, {res['removed']} removed, "
                f"{res['bad']} unreadable")
    return g.start("rescan", work)
