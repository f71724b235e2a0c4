"""The catalog's database and the code file it points at: the connection (read-only where the
disk is), the schema, and the generation that ties the rows to ``latents.f32``, with the step
that finishes or rolls back a compaction a kill cut short (``catalog.index._compact``)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..errors import LatentfolioError

DB, LATENTS = "catalog.sqlite", "latents.f32"
SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
  id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, hash TEXT NOT NULL, bytes INTEGER,
  mtime_ns INTEGER, label TEXT, split TEXT, recon_error REAL, ssim_error REAL, cluster INTEGER,
  x REAL, y REAL, complexity REAL,
  row INTEGER UNIQUE);
CREATE INDEX IF NOT EXISTS images_hash ON images(hash);
CREATE TABLE IF NOT EXISTS bad (path TEXT PRIMARY KEY, bytes INTEGER, mtime_ns INTEGER);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
NEXT = ".gen-"  # latents.f32.gen-N: the code file of generation N, written aside before its commit


def generation(db: sqlite3.Connection) -> int:
    """How many times the catalog's rows were committed: every change to which image is at which
    row raises it, in the same transaction (0 for catalogs from before it was kept)."""
    try:
        r = db.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()
    except sqlite3.OperationalError:  # opened read-only, from before the table existed
        return 0
    return int(r[0]) if r else 0


def next_generation(db: sqlite3.Connection) -> int:
    """Raise the generation, inside the caller's transaction -> the new one."""
    g = generation(db) + 1
    db.execute("INSERT OR REPLACE INTO state VALUES ('generation', ?)", (g,))
    return g


def pending_codes(folder: Path) -> list[tuple[int, Path]]:
    """(generation, file) of code files written aside by a compaction (``latents.f32.gen-N``)."""
    out = []
    for f in folder.glob(LATENTS + NEXT + "*"):
        n = f.name[len(LATENTS + NEXT):]
        if n.isdigit():
            out.append((int(n), f))
    return sorted(out)


def settle(folder: Path, committed: int, roll_back: bool = False) -> None:
    """Finish or roll back a compaction that a kill cut short. Its code file is written aside as
    generation N, then the rows are renumbered and the generation set to N in one transaction,
    then the file is renamed over ``latents.f32``. A file of the committed generation is renamed
    now (the commit happened: any process may finish it); with ``roll_back`` (only a writer that
    holds the catalog's lock: another file may be one a live writer is still writing) any other is
    removed (its commit never happened)."""
    for n, f in pending_codes(folder):
        try:
            if n == committed:
                os.replace(f, folder / LATENTS)
            elif roll_back:
                f.unlink()
        except OSError:  # a read-only catalog: `latents_file` reads the committed one where it is
            pass


def latents_file(folder: Path, committed: int) -> Path:
    """The code file of the committed generation: ``latents.f32``, or its file written aside when
    a read-only catalog could not rename it."""
    return next((f for n, f in pending_codes(folder) if n == committed), folder / LATENTS)


def latest_generation(folder: Path) -> int | None:
    """The generation last committed, read through a fresh connection (outside any snapshot);
    None for a catalog opened as immutable (read-only), which cannot change."""
    probe = connect_probe(folder / DB)
    if probe is None:
        return None
    try:
        return generation(probe)
    except sqlite3.DatabaseError:
        return None
    finally:
        probe.close()


def connect_probe(path: Path) -> sqlite3.Connection | None:
    """A read-only connection that sees the latest commit (None where the catalog is read-only)."""
    if not _writable(path):
        return None
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None


def _writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def connect(path: Path, shared: bool = False) -> sqlite3.Connection:
    """The catalog's database; opened read-only (as it is, no schema upgrade) where the folder
    cannot be written, so a catalog on a read-only disk can still be searched."""
    db = None
    try:
        if not _writable(path):
            if not path.exists():
                raise LatentfolioError(f"{path}: no catalog database, and the folder cannot be written")
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                 check_same_thread=not shared)
            db.row_factory = sqlite3.Row
            db.execute("SELECT COUNT(*) FROM images")
            return db
        db = sqlite3.connect(str(path), check_same_thread=not shared)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")  # another process's commit: wait for it, not fail
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        cols = {r[1] for r in db.execute("PRAGMA table_info(images)")}
        if "ssim_error" not in cols:  # catalogs from before the structural error: NULL until re-indexed
            db.execute("ALTER TABLE images ADD COLUMN ssim_error REAL")
        if "complexity" not in cols:  # before complexity: NULL, and re-encoded by the next index
            db.execute("ALTER TABLE images ADD COLUMN complexity REAL")
    except sqlite3.DatabaseError as e:
        if db is not None:
            db.close()
        if "full" in str(e):
            raise LatentfolioError(f"{path}: the disk is full ({e}); free some space and run again") from None
        raise LatentfolioError(f"{path}: not a readable catalog database ({e})") from None
    return db
