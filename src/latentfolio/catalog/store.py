"""The catalog's store: every image of a collection with its latent code, for search and organizing.

    CATALOG/catalog.json     format version, model fingerprint and folder, source, latent size
    CATALOG/catalog.sqlite   one row per image: path, content hash, size, label, split,
                             reconstruction error, cluster id, 2-D map coordinates, vector row
    CATALOG/latents.f32      float32 codes, row-major (rows x dim), memory-mapped; 1M x 256 = 1 GB
    CATALOG/index.faiss      an IVF index, only for catalogs past IVF_FROM images (else exact search)

A catalog belongs to one model: another model is refused. ``catalog.index`` fills and updates
it; ``catalog.encode`` is the encoding pass.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path

import numpy as np

from .. import _io
from ..data import load_data
from ..data.decode import BadImage, decode_image
from ..errors import LatentfolioError
from ..saved import load_model
from .db import DB, LATENTS, connect, connect_probe, generation, latents_file, settle
from .lock import writer_active

FORMAT_VERSION = 1
META, FAISS = "catalog.json", "index.faiss"
IVF_FROM = 100_000  # exact search below this many images, IVF above



class Catalog:
    """An open catalog folder. ``Catalog(path)`` opens an existing one.

    ``check`` refuses a catalog whose code file does not cover its rows (damaged, or an index run
    that was killed); ``index`` opens without it, because it repairs exactly that. ``shared``: the
    connection may be used from several threads, one at a time (the gallery holds a lock).
    """

    def __init__(self, path: str | os.PathLike, check: bool = True, shared: bool = False, pin: bool = False):
        self.path = Path(path)
        if not (self.path / META).exists():
            raise LatentfolioError(f"{self.path}: not a latentfolio catalog (no {META}); make one with "
                                   "`latentfolio index MODEL_DIR DATA --catalog PATH`")
        self.meta = read_header(self.path / META)
        self.dim = self.meta["dim"]
        self.db = connect(self.path / DB, shared)
        self.pinned = None  # with pin: the row count of the snapshot this connection reads
        try:
            if pin:  # one read transaction from here on: the check and every later read see one state
                self.db.execute("BEGIN")
            self.generation = generation(self.db)
            settle(self.path, self.generation)
            self.latents_path = latents_file(self.path, self.generation)
        except sqlite3.DatabaseError as e:
            self.close()
            raise LatentfolioError(f"{self.path / DB}: not a readable catalog database ({e})") from None
        if check:
            try:
                rows, top = self.db.execute("SELECT COUNT(*), COALESCE(MAX(row), -1) FROM images").fetchone()
            except sqlite3.DatabaseError as e:
                self.close()
                raise LatentfolioError(f"{self.path / DB}: not a readable catalog database ({e})") from None
            have = file_rows(self.path, self.dim, self.latents_path)
            if have == rows and top < have and len(nonfinite_rows(self.path, self.dim, self.latents_path)):
                self.close()
                raise LatentfolioError(f"{self.path / LATENTS}: holds codes that are not numbers (damaged); "
                                       "run `latentfolio index` again to repair it")
            if have != rows or top >= have:
                # closed now, not whenever the error's traceback is collected: a connection left
                # open keeps SQLite's per-process view of the file (and its WAL) alive
                self.close()
                who = writer_active(self.path)
                if who is not None:
                    raise LatentfolioError(f"{self.path}: being updated by another latentfolio process{who}; "
                                           "run this again when it finishes")
                raise LatentfolioError(f"{self.path / LATENTS}: holds {have} codes for {rows} images (damaged, or "
                                       "an interrupted index); run `latentfolio index` again to repair it")
        self._index = None
        self._array = None
        self._lat = None
        self.space = self.space_features = self.space_map = None  # see set_space
        self._faiss_file = self.path / FAISS
        if pin:
            self._pin()

    def _pin(self) -> None:
        """Map the codes now, for the rows of this snapshot. A compaction that committed and
        switched the file since the snapshot began is caught: the mapped file must be the one of
        this generation, or the catalog is refused (open it again)."""
        self.pinned = self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        self.latents()
        probe = connect_probe(self.path / DB)
        try:
            now = generation(probe) if probe is not None else self.generation
        finally:
            if probe is not None:
                probe.close()
        if now != self.generation:
            self.close()
            raise LatentfolioError(f"{self.path}: changed while it was opened; open it again")

    def repin(self) -> bool:
        """Hold the snapshot again after a write of this connection ended it -> False when the
        rows were renumbered meanwhile (then open the catalog anew)."""
        if self.pinned is None or self.db.in_transaction:
            return True
        self.db.execute("BEGIN")
        return generation(self.db) == self.generation

    def close(self) -> None:
        self._lat = self._index = None
        self.db.close()

    @property
    def fit(self) -> str:
        """How the catalog's model resized images (``--fit``), so a query is resized alike."""
        return self.meta.get("fit", "squash")

    # rows ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def rows(self, columns: str = "id, path, label, split, recon_error, cluster, row") -> list[sqlite3.Row]:
        return self.db.execute(f"SELECT {columns} FROM images ORDER BY row").fetchall()

    def rows_at(self, rows, columns: str = "id, path, label, row") -> dict[int, sqlite3.Row]:
        """The rows numbered ``rows`` (only those, for a million-image catalog), by row number."""
        out: dict[int, sqlite3.Row] = {}
        rows = [int(r) for r in rows]
        for s in range(0, len(rows), 900):  # SQLite's bound-parameter limit
            chunk = rows[s:s + 900]
            q = f"SELECT {columns} FROM images WHERE row IN ({','.join('?' * len(chunk))})"
            out.update((r["row"], r) for r in self.db.execute(q, chunk))
        return out

    def set_space(self, name: str, vectors: np.ndarray, index_file: Path | None, space_map, features: str) -> None:
        """From now on the vector tools see ``vectors`` (N, d, row order) as the catalog's codes
        (``catalog.features.use_space``): ``space_map(codes, feats)`` maps a query the same way."""
        if self.space is None:
            self._codes = (self.latents(), self.dim)  # the model's own, still there: model_latents()
        self.space, self.space_features, self.space_map = name, features, space_map
        self._lat, self.dim, self._index = vectors, int(vectors.shape[1]), None
        self._faiss_file = index_file

    def model_latents(self) -> np.ndarray:
        """The model's codes (N, code dim), whatever space the vector tools are set to."""
        return self._codes[0] if self.space is not None else self.latents()

    def latents(self) -> np.ndarray:
        """(N, dim) float32, memory-mapped, in row order."""
        if self.space is not None:
            return self._lat
        n = file_rows(self.path, self.dim, self.latents_path)  # rows are compacted: file = table
        if self.pinned is not None:  # a snapshot: the rows it holds, though a writer appends more
            if self._lat is not None:
                return self._lat
            n = min(n, self.pinned)
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._lat is None or len(self._lat) != n:
            self._lat = np.memmap(self.latents_path, np.float32, "r", shape=(n, self.dim))
        return self._lat

    def labels(self) -> tuple[np.ndarray, list[str]]:
        """Integer labels in row order (-1 = none) and the class names."""
        labs = [r[0] for r in self.db.execute("SELECT label FROM images ORDER BY row")]
        names = sorted({lab for lab in labs if lab is not None})
        ix = {n: i for i, n in enumerate(names)}
        return np.array([ix.get(lab, -1) for lab in labs], np.int64), names

    def find(self, query: str) -> sqlite3.Row | None:
        """A row by id, catalog path, or file path."""
        cur = self.db.execute("SELECT * FROM images WHERE path = ?", (query,)).fetchone()
        if cur is None and Path(query).exists():
            cur = self.db.execute("SELECT * FROM images WHERE path = ?", (str(Path(query).resolve()),)).fetchone()
        if cur is None and query.isdigit():
            cur = self.db.execute("SELECT * FROM images WHERE id = ?", (int(query),)).fetchone()
        return cur

    def set_column(self, column: str, rows: np.ndarray, values) -> None:
        """Write ``values`` to ``column`` for vector rows ``rows`` (one transaction), refused when
        the rows were renumbered since this catalog was opened (they would land on other images)."""
        assert column in ("cluster", "x", "y")
        if self.db.in_transaction:  # a pinned snapshot ends here: a write needs the newest state
            self.db.commit()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")  # the check and the update under one write lock
            if generation(self.db) != self.generation:
                raise LatentfolioError(f"{self.path}: changed by another process (an index run) while this "
                                       "was computed; run it again")
            self.db.executemany(f"UPDATE images SET {column} = ? WHERE row = ?",
                                [(None if v is None else (int(v) if column == "cluster" else float(v)), int(r))
                                 for r, v in zip(rows, values)])

    # search --------------------------------------------------------------------------------
    def index(self):
        """The FAISS index over the rows: exact (flat L2) or the saved IVF index."""
        if self._index is None:
            import faiss

            if self._faiss_file is not None and self._faiss_file.exists():
                self._index = faiss.read_index(str(self._faiss_file))
                self._index.nprobe = int(self.meta.get("nprobe", 32))
            else:
                self._index = faiss.IndexFlatL2(self.dim)
                lat = self.latents()
                for s in range(0, len(lat), 65536):
                    self._index.add(np.ascontiguousarray(lat[s:s + 65536]))
        return self._index

    def search(self, z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, rows) of the ``k`` nearest codes to each query; distances are L2."""
        k = max(1, min(k, self.index().ntotal))  # not COUNT(*): that scans the table on every query
        q = np.ascontiguousarray(z, dtype=np.float32).reshape(-1, self.dim)
        pq = type(self.index()).__name__ == "IndexIVFPQ"  # compressed codes: 4x the candidates, re-ranked
        _, i = self.index().search(q, min(4 * k, self.index().ntotal) if pq else k)
        # FAISS computes |a|^2 + |b|^2 - 2ab, which is not exactly 0 for a code and itself: re-measure
        lat = self.latents()
        d = np.linalg.norm(np.asarray(lat[np.maximum(i, 0)], np.float64) - q.astype(np.float64)[:, None, :], axis=2)
        d[i < 0] = np.inf
        order = np.argsort(d, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)

    # pixels for pictures -------------------------------------------------------------------
    def thumbnails(self, rows: list[sqlite3.Row], model_config: dict | None = None) -> np.ndarray:
        """uint8 (N, s, s, C) images for catalog rows, decoded from the files or the dataset."""
        size, ch, fit = int(self.meta["image_size"]), int(self.meta["channels"]), self.fit
        out = np.full((len(rows), size, size, ch), 255, np.uint8)
        for j, r in enumerate(rows):
            p = r["path"]
            if self.meta["source"]["kind"] == "folder":
                try:
                    out[j] = decode_image(p, size, ch, fit)
                except BadImage:
                    pass  # moved or broken since indexing: a blank tile
            else:
                if self._array is None:  # a dataset's pixels: loaded (memory-mapped) once
                    self._array = load_data(self.meta["source"]["name"], image_size=size, channels=ch, fit=fit,
                                            data_root=self.meta.get("data_root")).images
                out[j] = self._array[int(p.rsplit(":", 1)[1])]
        return out

    def model(self, model_dir=None):
        """The catalog's model (or ``model_dir``), refused if its fingerprint differs."""
        d = model_dir or self.meta["model_dir"]
        m = load_model(d)
        check_model(m, self.meta, self.path)
        return m


def row_summary(r, distance: float | None = None) -> dict:
    """What a tool reports of a catalog row: its id, path and label (and a distance)."""
    d = {"id": r["id"], "path": r["path"], "label": r["label"]}
    if distance is not None:
        d["distance"] = round(float(distance), 5)
    return d


HEADER_TYPES = {"dim": int, "image_size": int, "channels": int, "model_fingerprint": str, "source": dict}


def read_header(path: Path) -> dict:
    """catalog.json, type-checked: a damaged or crafted header is one line, not a traceback later."""
    meta = _io.read_json(path, "catalog header")
    if not isinstance(meta, dict):
        raise LatentfolioError(f"{path}: not a catalog header (expected a JSON object)")
    version = meta.get("format_version", 1)
    if type(version) is not int:
        raise LatentfolioError(f"{path}: bad catalog header field format_version={version!r}")
    if version > FORMAT_VERSION:
        raise LatentfolioError(f"{path}: unknown catalog format version {version!r} (this latentfolio reads "
                               f"{FORMAT_VERSION}); upgrade latentfolio")
    missing = sorted(set(HEADER_TYPES) - set(meta))
    if missing:
        raise LatentfolioError(f"{path}: not a catalog header (no {', '.join(missing)})")
    for k, t in HEADER_TYPES.items():
        if type(meta[k]) is not t or (t is int and not 1 <= meta[k] <= 1 << 20):
            raise LatentfolioError(f"{path}: bad catalog header field {k}={meta[k]!r}")
    if meta["source"].get("kind") == "folder" and not isinstance(meta["source"].get("root"), str):
        raise LatentfolioError(f"{path}: bad catalog header field source={meta['source']!r}")
    return meta


def check_model(model, meta: dict, where) -> None:
    if model.fingerprint != meta["model_fingerprint"]:
        raise LatentfolioError(
            f"{where}: this catalog was made with another model (fingerprint "
            f"{meta['model_fingerprint'][:12]}, not {model.fingerprint[:12]} from {model.model_dir}); "
            "use that model, or a new --catalog")


def file_rows(folder: Path, dim: int, f: Path | None = None) -> int:
    f = f or folder / LATENTS
    return f.stat().st_size // (4 * dim) if f.exists() else 0


def nonfinite_rows(folder: Path, dim: int, f: Path | None = None, chunk: int = 1 << 16) -> np.ndarray:
    """Rows of the code file holding NaN or infinity (a damaged file), read in chunks."""
    f = f or folder / LATENTS
    n = file_rows(folder, dim, f)
    if n == 0:
        return np.zeros(0, np.int64)
    lat = np.memmap(f, np.float32, "r", shape=(n, dim))
    bad = [s + np.flatnonzero(~np.isfinite(lat[s:s + chunk]).all(1)) for s in range(0, n, chunk)]
    return np.concatenate(bad)


def with_catalog(fn):
    """Let ``fn`` take an open :class:`Catalog` or a path; a catalog opened here is closed here."""

    @functools.wraps(fn)
    def wrapper(catalog, *args, **kwargs):
        if isinstance(catalog, Catalog):
            return fn(catalog, *args, **kwargs)
        cat = Catalog(catalog)
        try:
            return fn(cat, *args, **kwargs)
        finally:
            cat.close()

    return wrapper
