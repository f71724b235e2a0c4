"""Filling and updating a catalog: only new or changed files are encoded, deleted ones go, and
unreadable files are remembered and not retried until they change."""

from __future__ import annotations

import os
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import LatentfolioError
from ..progress import progress_bar
from .features import append_features, inline_embedder, update_features
from .encode import code_dim, encode_items, encode_trainer, launched_rank, launched_world
from .search import build_ann
from .sources import Item, resolve_source
from .lock import LOCK, writer_lock
from .db import LATENTS, NEXT, generation, next_generation, settle
from .store import FAISS, FORMAT_VERSION, META, Catalog, check_model, file_rows, nonfinite_rows


def _compact(cat_path: Path, db: sqlite3.Connection, dim: int, chunk: int = 65536) -> None:
    """Rewrite latents so rows are 0..N-1 in id order (drops rows of deleted or changed images).

    Atomic under a kill at any point: the new codes go to a file of the next generation beside
    the old one; one transaction renumbers the rows and sets that generation (the commit); then
    the file is renamed over the old. Whoever opens the catalog next finishes the rename, or
    removes a file whose commit never happened (``store.settle``)."""
    live = db.execute("SELECT id, row FROM images ORDER BY id").fetchall()
    src = cat_path / LATENTS
    old = np.memmap(src, np.float32, "r").reshape(-1, dim) if src.stat().st_size else np.zeros((0, dim), np.float32)
    rows = np.array([r["row"] for r in live], np.int64)
    nxt = cat_path / f"{LATENTS}{NEXT}{generation(db) + 1}"
    with open(nxt, "wb") as f:
        f.truncate(len(rows) * dim * 4)
    if len(rows):
        new = np.memmap(nxt, np.float32, "r+", shape=(len(rows), dim))
        for s in range(0, len(rows), chunk):
            new[s:s + chunk] = old[rows[s:s + chunk]]
        new.flush()
        del new
    del old
    with open(nxt, "rb") as f:
        os.fsync(f.fileno())  # on disk before the commit that makes it the catalog's
    _io.kill_point("compact-written")
    with db:
        db.execute("UPDATE images SET row = -id")  # two passes keep UNIQUE(row) happy
        db.executemany("UPDATE images SET row = ? WHERE id = ?", [(i, r["id"]) for i, r in enumerate(live)])
        g = next_generation(db)
    assert nxt.name.endswith(f"{NEXT}{g}")
    _io.kill_point("compact-committed")
    try:
        os.replace(nxt, src)
    except FileNotFoundError:  # a reader opened the catalog in between and finished the rename
        pass


def open_catalog(model, model_dir, out: Path, data, source: dict, fit: str, data_root) -> Catalog:
    """The catalog at ``out`` for this model and source: opened, or created when there is none."""
    if (out / META).exists():
        cat = Catalog(out, check=False)
        try:
            check_model(model, cat.meta, out)
            if cat.meta["source"] != source:
                raise LatentfolioError(f"{out}: this catalog indexes {cat.meta['source']}, not {data}; "
                                       "use another --catalog")
        except LatentfolioError:
            cat.close()
            raise
        return cat
    if out.exists() and any(p.name != LOCK for p in out.iterdir()):
        raise LatentfolioError(f"{out}: exists and is not a catalog")
    out.mkdir(parents=True, exist_ok=True)
    (out / LATENTS).touch()
    c = model.config
    _io.write_json(out / META, {
        "format_version": FORMAT_VERSION, "model_fingerprint": model.fingerprint,
        "model_dir": str(Path(model_dir).resolve()), "model_type": model.type_name, "dim": code_dim(model),
        "image_size": c.image_size, "channels": c.channels, "fit": fit, "source": source,
        "data_root": str(data_root) if data_root else None, "search": "flat"})
    return Catalog(out)


@dataclass
class Changes:
    """What an update has to do, against what the catalog holds."""

    known: dict  # catalog path -> its row
    todo: list[Item]  # new or changed: to encode
    deleted: list[str]  # catalogued, gone from the source
    still_bad: list[Item]  # unreadable last time and unchanged since: not tried again


def changes(db: sqlite3.Connection, items: list[Item]) -> Changes:
    known = {r["path"]: r for r in db.execute("SELECT path, hash, bytes, mtime_ns, row, complexity FROM images")}
    known_bad = {r["path"]: (r["bytes"], r["mtime_ns"]) for r in db.execute("SELECT * FROM bad")}
    seen = {it.key for it in items}
    still_bad = [it for it in items if known_bad.get(it.key) == (it.bytes, it.mtime_ns)]
    skip = {it.key for it in still_bad}
    todo = [it for it in items if it.key not in skip and (
        it.key not in known
        or known[it.key]["complexity"] is None  # catalogued before complexity was measured
        or (it.file is not None and (known[it.key]["bytes"], known[it.key]["mtime_ns"]) != (it.bytes, it.mtime_ns)))]
    return Changes(known, todo, [p for p in known if p not in seen], still_bad)


CHUNK = 4096  # images encoded between two commits: a killed run loses at most this much work


def _encode_todo(cat: Catalog, model, ch: Changes, fit: str, array, progress: bool | None = None,
                 devices="auto", accelerator="auto", num_nodes: int = 1, on_advance=None,
                 **encode_options) -> tuple[int, int, int]:
    """Encode the new and changed items into fresh rows, CHUNK at a time, each chunk committed
    before the next starts (a kill keeps the work done; the next run goes on from there) ->
    (added, changed, bad). Ranks started by a launcher get each chunk from here (the last one
    tells them to stop), so they are sent an empty last chunk when there is nothing to do.
    ``on_advance(done, total)`` hears of each batch (the gallery's rescan shows it)."""
    scratch = cat.path / ".pending"
    scratch.mkdir(exist_ok=True)
    totals = np.zeros(3, np.int64)
    with progress_bar(len(ch.todo), "indexing", progress) as bar:
        done = [0]

        def advance(n: int) -> None:
            bar(n)
            done[0] += n
            if on_advance:
                on_advance(done[0], len(ch.todo))
        trainer = encode_trainer(model, scratch, devices, accelerator, num_nodes, advance)
        chunks = [ch.todo[s:s + CHUNK] for s in range(0, len(ch.todo), CHUNK)] or [[]]
        for k, todo in enumerate(chunks):
            totals += _encode_chunk(cat, model, ch, todo, fit, array, announce=len(ch.todo) if k == 0 else 0,
                                    trainer=trainer, last=k == len(chunks) - 1, **encode_options)
    for f in scratch.iterdir():
        f.unlink()
    scratch.rmdir()
    return tuple(int(v) for v in totals)


def serve_encoding(model, out: Path, fit: str, array, devices="auto", accelerator="auto", num_nodes: int = 1,
                   progress: bool | None = None, **encode_options) -> None:
    """A rank other than 0, started by torchrun or SLURM: encode the chunks rank 0 sends, into
    this rank's shards in the catalog's scratch folder, until the last one. It never touches the
    catalog's rows."""
    scratch = out / ".pending"
    trainer = encode_trainer(model, scratch, devices, accelerator, num_nodes, None)
    last = False
    while not last:
        _, last = encode_items(model, trainer, None, np.zeros(0, np.int64), out / LATENTS, scratch, fit, array,
                               **encode_options)


def _encode_chunk(cat: Catalog, model, ch: Changes, todo: list[Item], fit: str, array, trainer,
                  announce: int = 0, **encode_options) -> tuple[int, int, int]:
    db, dim = cat.db, cat.dim
    end = db.execute("SELECT COALESCE(MAX(row), -1) FROM images").fetchone()[0] + 1
    end = max(end, file_rows(cat.path, dim))
    slots = np.arange(end, end + len(todo))
    size = (end + len(todo)) * dim * 4
    with open(cat.path / LATENTS, "r+b") as f:
        f.truncate(size)
        try:  # the blocks are claimed now: a full disk is an error here, not a SIGBUS in the writer
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as e:
            f.truncate(end * dim * 4)
            raise LatentfolioError(f"{cat.path / LATENTS}: cannot make room for {len(todo)} codes "
                                   f"({e.strerror or e})") from None
    if announce:  # once the room is made: a full disk is the only line then
        print(f"index: encoding {announce} image(s) into {cat.path}", file=sys.stderr, flush=True)
    (ok, err, hashes, feats), _ = encode_items(model, trainer, todo, slots, cat.path / LATENTS,
                                               cat.path / ".pending", fit, array, **encode_options)
    rows, added, changed, bad = [], 0, 0, 0
    for it, slot, o, e, h in zip(todo, slots, ok, err, hashes):
        if not o:
            bad += 1
            db.execute("INSERT OR REPLACE INTO bad VALUES (?, ?, ?)", (it.key, it.bytes, it.mtime_ns))
            continue
        rows.append((it.key, h, it.bytes, it.mtime_ns, it.label, it.split, float(e[0]), float(e[1]),
                     float(e[2]), int(slot)))
        changed, added = (changed + 1, added) if it.key in ch.known else (changed, added + 1)
    _io.kill_point("chunk-encoded")
    with db:
        db.executemany("DELETE FROM images WHERE path = ?", [(it.key,) for it in todo if it.key in ch.known])
        db.executemany("INSERT INTO images (path, hash, bytes, mtime_ns, label, split, recon_error, "
                       "ssim_error, complexity, row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        next_generation(db)
    if feats is not None:  # the content features of the same decode, under the rows' new ids
        at = dict(db.execute(f"SELECT row, id FROM images WHERE row IN ({','.join(map(str, slots)) or '-1'})"))
        keep = [k for k, s in enumerate(slots) if int(s) in at]
        append_features(cat, encode_options["embedder"], np.array([at[int(slots[k])] for k in keep], np.int64),
                        feats[keep])
    return added, changed, bad


def update_catalog(model, model_dir, data, out: Path, data_root=None, fit: str = "squash",
                   embedders: dict | None = None, **encode_options) -> dict:
    """Create or update the catalog ``out`` of ``data`` in ``model``'s latent space -> counts.
    ``embedders`` ({name: Embedder}) add pretrained features; those it holds are updated."""
    c = model.config
    on_advance = encode_options.pop("on_advance", None)
    items, ds, source = resolve_source(data, c.image_size, c.channels, fit, data_root)
    if launched_rank() > 0:  # another rank of a torchrun / SLURM launch: encode what rank 0 sends
        serve_encoding(model, out, fit, ds.images if ds else None, **encode_options)
        return {}
    if not (out / META).exists():
        out.mkdir(parents=True, exist_ok=True)
    with writer_lock(out, "index"):  # one writer at a time; readers see the last commit
        return _update(model, model_dir, data, out, items, ds, source, fit, data_root, embedders,
                       on_advance, encode_options)


def _update(model, model_dir, data, out: Path, items, ds, source, fit, data_root, embedders, on_advance,
            encode_options) -> dict:
    cat = open_catalog(model, model_dir, out, data, source, fit, data_root)
    try:
        db, dim = cat.db, cat.dim
        settle(out, cat.generation, roll_back=True)  # a killed compaction's file: finished or removed
        (out / (LATENTS + ".tmp")).unlink(missing_ok=True)  # the same, from before generations
        with db:  # rows whose codes the file lacks (a damaged file, a killed run) are encoded again
            gone = db.execute("DELETE FROM images WHERE row >= ?", (file_rows(out, dim),)).rowcount
            gone += db.executemany("DELETE FROM images WHERE row = ?",
                                   [(int(r),) for r in nonfinite_rows(out, dim)]).rowcount
            if gone > 0:
                next_generation(db)
        ch = changes(db, items)
        with db:
            db.executemany("DELETE FROM images WHERE path = ?", [(p,) for p in ch.deleted])
            db.execute("DELETE FROM bad")
            db.executemany("INSERT INTO bad VALUES (?, ?, ?)", [(it.key, it.bytes, it.mtime_ns) for it in ch.still_bad])
            if ch.deleted:
                next_generation(db)
        added = changed = bad = 0
        if ch.todo or launched_world() > 1:
            inline = inline_embedder(cat, embedders, files=ds is None, world=launched_world())
            added, changed, bad = _encode_todo(cat, model, ch, fit, ds.images if ds else None,
                                               on_advance=on_advance, embedder=inline, **encode_options)
        if ch.deleted or changed or bad or file_rows(out, dim) != len(cat):  # (a killed run leaves spare rows)
            _compact(out, db, dim)
        search = build_ann(cat) if (ch.deleted or ch.todo or not (out / FAISS).exists()) else cat.meta.get("search", "flat")
        if search != cat.meta.get("search"):
            cat.meta["search"] = search
            _io.write_json(out / META, cat.meta)
        n = len(cat)
        if n == 0:
            raise LatentfolioError(f"{data}: no readable image to index ({bad} bad file(s))")
        feats = {}  # every encoder the catalog holds is kept up to date, and the new ones added
        for name, emb in {**{k: None for k in cat.meta.get("features", {})}, **(embedders or {})}.items():
            spec = emb.spec if emb is not None else cat.meta["features"][name]["spec"]
            feats[name] = update_features(cat, spec, encode_options.get("progress"), emb)["dim"]
        return {"catalog": str(out), "images": n, "added": added, "changed": changed,
                "removed": len(ch.deleted), "bad": bad + len(ch.still_bad),
                "unchanged": len(ch.known) - len(ch.deleted) - changed, "search": search, "dim": dim,
                "features": feats}
    finally:
        cat.close()  # now, not when the garbage collector gets to it
