"""``duplicates``: groups of near-duplicates (found by ``latent.duplicates``), each group's tier
and suggested keeper, and setting the other copies aside (``duplicates --apply``, the gallery's
Apply) behind a journal that ``undo`` reverses (``commands.journal``).

Tiers, each with its own test:
    identical   the same bytes (content hash)
    same        the same picture re-encoded or resized: 64 px greyscale versions within
                ``same_psnr`` dB of the keeper's
    near        codes closer than the latent threshold (the same work at another stage)

A group's tier is the loosest relation of any member to its keeper. Keepers: the ``largest``
(most pixels, then bytes), the ``sharpest`` (variance of the Laplacian at 256 px) or the
``oldest`` (modification time) file, with the rule and its value shown.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..catalog import Catalog
from ..catalog.features import space_name, use_space
from ..catalog.store import row_summary, with_catalog
from ..data.decode import BadImage, decode_image
from ..data.formats import open_any
from ..errors import ArgumentError, LatentfolioError
from ..latent.duplicates import close_pairs, duplicate_components, group_members, neighbour_graph
from ..metrics import image_psnr
from . import journal
from .journal import ASIDE

TIERS = ("identical", "same", "near")
KEEP_RULES = ("largest", "sharpest", "oldest")


def _pixels(path: str) -> int:
    try:
        with open_any(path) as img:
            return int(img.size[0] * img.size[1])
    except Exception:
        return 0


def _grey(path: str) -> np.ndarray | None:
    try:
        return decode_image(path, 256, 1, "squash")[..., 0].astype(np.float64)
    except BadImage:
        return None


def _sharpness(g: np.ndarray) -> float:
    lap = g[1:-1, 1:-1] * 4 - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


def _psnr64(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two 256 px greyscale pictures, compared at 64 px (resizing and re-encoding
    leave that nearly untouched; another stage of a work does not)."""
    a, b = (g.reshape(64, 4, 64, 4).mean((1, 3)) for g in (a, b))
    return image_psnr(a, b, 255.0)


def _describe(rule: str, m: dict) -> str:
    if rule == "largest":
        return f"largest: {m['pixels']:,} px, {m['bytes']:,} bytes"
    if rule == "sharpest":
        return f"sharpest: Laplacian variance {m['sharpness']:.0f}"
    return f"oldest: modified {np.datetime64(int(m['mtime_ns']), 'ns').astype('datetime64[s]')}"


def annotate(cat: Catalog, groups: list[dict], rows: dict, keep: str = "largest", same_psnr: float = 32.0) -> None:
    """Give each group of ``organize.duplicates`` its ``tier``, ``keep`` (an id) and ``rule``, and
    each image its ``relation`` to the keeper, in place. Files are read for pixel counts, and
    decoded at 256 px only where a tier or the rule needs it. ``rows``: catalog rows (with id,
    hash, bytes, mtime_ns) by id."""
    if keep not in KEEP_RULES:
        raise ArgumentError("keep", keep, f"use one of {', '.join(KEEP_RULES)}")
    if not same_psnr > 0:
        raise ArgumentError("same_psnr", same_psnr, "must be > 0 dB")
    files = cat.meta["source"].get("kind") == "folder"
    for g in groups:
        ids = [im["id"] for im in g["images"]]
        info = {i: dict(rows[i]) for i in ids}
        grey = {}
        for im in g["images"]:
            m = info[im["id"]]
            m["pixels"] = _pixels(im["path"]) if files else 0
            if files and (keep == "sharpest" or not g["exact"]):
                grey[im["id"]] = _grey(im["path"])
            m["sharpness"] = _sharpness(grey[im["id"]]) if grey.get(im["id"]) is not None else 0.0
            im.update(bytes=m["bytes"], pixels=m["pixels"])
        score = {"largest": lambda m: (m["pixels"], m["bytes"] or 0),
                 "sharpest": lambda m: (m["sharpness"], m["pixels"]),
                 "oldest": lambda m: (-(m["mtime_ns"] or 0), m["pixels"])}[keep]
        best = max(ids, key=lambda i: (score(info[i]), -i))
        worst = 0
        for im in g["images"]:
            m, k = info[im["id"]], info[best]
            if m["hash"] == k["hash"]:
                rel = "identical"
            else:
                a, b = grey.get(im["id"]), grey.get(best)
                same = a is not None and b is not None and _psnr64(a, b) >= same_psnr
                rel = "same" if same else "near"
            im["relation"] = "keep" if im["id"] == best else rel
            worst = max(worst, TIERS.index(rel))
        g.update(tier=TIERS[worst], keep=best, rule=_describe(keep, info[best]))


def plan_moves(cat: Catalog, groups: list[dict], keepers: dict[int, int] | None = None) -> list[tuple[str, str]]:
    """(from, to) for every copy but each group's keeper: into ``_duplicates/`` beside it, under
    a name not taken there. ``keepers`` maps a group's index to the id the user chose instead."""
    if cat.meta["source"].get("kind") != "folder":
        raise LatentfolioError(f"{cat.path}: catalogs a dataset, whose images have no files to set aside")
    root = Path(cat.meta["source"]["root"]).resolve()
    moves, taken = [], set()
    for n, g in enumerate(groups):
        keep = (keepers or {}).get(n, g["keep"])
        if keep not in {im["id"] for im in g["images"]}:
            raise LatentfolioError(f"group {n + 1}: image {keep} is not one of its images")
        for im in g["images"]:
            src = Path(im["path"])
            if im["id"] == keep or not src.is_file():
                continue
            real = Path(os.path.realpath(src))
            if root not in real.parents:
                raise LatentfolioError(f"{src}: not under the catalogued folder {root}; nothing was moved")
            aside = src.parent / ASIDE
            dst, k = aside / src.name, 1
            while str(dst) in taken or os.path.lexists(dst):
                k += 1
                dst = aside / f"{src.stem}-{k}{src.suffix}"
            taken.add(str(dst))
            moves.append((str(src), str(dst)))
    return moves


def journal_for(cat: Catalog, groups: list[dict], keepers: dict[int, int] | None, mode: str) -> Path:
    """Plan the moves and write them to a journal in ``CATALOG/journals/`` -> its path. Nothing
    is moved yet: ``journal.apply`` does that."""
    moves = plan_moves(cat, groups, keepers)
    if not moves:
        raise LatentfolioError("nothing to set aside: every group holds only its keeper")
    return journal.write_journal(cat.path / "journals", "duplicates", moves, mode,
                         {"catalog": str(cat.path.resolve()), "groups": len(groups)})


CLOSENESS = ((0.5, "very close"), (1.0, "similar"))  # the farthest member from the keeper, in thresholds


def closeness(distance: float, threshold: float) -> str:
    """A group's farthest member from its keeper in words: "very close" within half the threshold,
    "similar" within it, "related" beyond (joined through another member)."""
    for frac, word in CLOSENESS:
        if distance <= frac * threshold:
            return word
    return "related"


@with_catalog
def apply_duplicates(catalog, groups: list[dict], keepers: dict[int, int] | None = None, mode: str = "move") -> dict:
    """``duplicates --apply``: journal the moves of ``groups`` (from ``duplicates``), then make them."""
    return journal.apply(journal_for(catalog, groups, keepers, mode))


@with_catalog
def duplicates(catalog, *, threshold: float | None = None, neighbours: int = 16, keep: str = "largest",
               same_psnr: float = 32.0, features: str | None = None) -> dict:
    """Groups of near-duplicates: codes closer than ``threshold`` (L2), joined transitively, and
    identical files whatever the threshold. Default threshold: :func:`default_threshold`. Each
    group has a tier and a suggested keeper (:func:`annotate`: ``keep`` is the rule, ``same_psnr``
    the test of "the same picture")."""
    annotate(catalog, [], {}, keep, same_psnr)  # the flags, checked before any work
    cat: Catalog = use_space(catalog, features)
    n = len(cat)
    if n < 2:
        if threshold is not None and not threshold >= 0:
            raise ArgumentError("threshold", threshold, "must be >= 0")
        return {"threshold": threshold, "groups": [], "images_in_groups": 0}
    lat = cat.latents()
    dist, rows = neighbour_graph(lat, neighbours)
    same: dict[str, list[int]] = {}  # identical files, in one query
    for h, r in cat.db.execute("SELECT hash, row FROM images WHERE hash IN (SELECT hash FROM images "
                               "GROUP BY hash HAVING COUNT(*) > 1) ORDER BY hash, row"):
        same.setdefault(h, []).append(r)
    joined = list(same.values())
    if cat.space is not None:
        # on content features a re-encoded or resized copy is close, and so, on a model of the
        # collection's own pixels, is it in the codes: pairs close in either are joined (the tiers
        # then say which are the same picture, and near groups are never set aside unasked)
        joined += close_pairs(*neighbour_graph(cat.model_latents(), neighbours))
    comp, t = duplicate_components(dist, rows, joined, threshold)
    del dist, rows
    members_of = group_members(comp)  # one sort, not a scan of every code per group
    wanted = np.concatenate(members_of) if members_of else np.zeros(0, np.int64)
    by_row = cat.rows_at(wanted, "id, path, label, hash, bytes, mtime_ns, row")
    groups = []
    for members in members_of:
        v = np.asarray(lat[np.sort(members)])
        spread = float(np.linalg.norm(v - v.mean(0), axis=1).max())
        groups.append({"size": int(len(members)), "spread": round(spread, 5),
                       "exact": len({by_row[int(m)]["hash"] for m in members}) == 1,
                       "images": [row_summary(by_row[int(m)]) for m in members]})
    annotate(cat, groups, {r["id"]: r for r in by_row.values()}, keep, same_psnr)
    row_of = {r["id"]: row for row, r in by_row.items()}
    for g, members in zip(groups, members_of):
        k = np.asarray(lat[row_of[g["keep"]]])
        far = max(float(np.linalg.norm(np.asarray(lat[int(m)]) - k)) for m in members)
        g["distance"], g["closeness"] = round(far, 5), closeness(far, t)
    groups.sort(key=lambda g: (TIERS.index(g["tier"]), -g["size"], g["spread"]))
    return {"threshold": round(t, 6), "space": space_name(cat), "keep": keep, "same_psnr": same_psnr, "groups": groups,
            "images_in_groups": int(sum(g["size"] for g in groups))}
