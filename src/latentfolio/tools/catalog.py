"""The catalog: every image of a collection with its latent code, for search and organizing.

    CATALOG/catalog.json     format version, model fingerprint and folder, source, latent size
    CATALOG/catalog.sqlite   one row per image: path, content hash, size, label, split,
                             reconstruction error, cluster id, 2-D map coordinates, vector row
    CATALOG/latents.f32      float32 codes, row-major (rows x dim), memory-mapped; 1M x 256 = 1 GB
    CATALOG/index.faiss      an IVF index, only for catalogs past IVF_FROM images (else exact search)

Encoding runs through Lightning's ``Trainer.predict`` with a prediction writer that puts each
batch straight into the memory-mapped file, so memory stays bounded and ``--devices`` spreads a
big collection over several GPUs. A second run encodes only new or changed files and drops
deleted ones. A catalog belongs to one model: another model is refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import LatentfolioError

FORMAT_VERSION = 1
META, DB, LATENTS, FAISS = "catalog.json", "catalog.sqlite", "latents.f32", "index.faiss"
IVF_FROM = 100_000  # exact search below this many images, IVF above
SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
  id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, hash TEXT NOT NULL, bytes INTEGER,
  mtime_ns INTEGER, label TEXT, split TEXT, recon_error REAL, ssim_error REAL, cluster INTEGER,
  x REAL, y REAL,
  row INTEGER UNIQUE);
CREATE INDEX IF NOT EXISTS images_hash ON images(hash);
CREATE TABLE IF NOT EXISTS bad (path TEXT PRIMARY KEY, bytes INTEGER, mtime_ns INTEGER);
"""
SPLIT_NAMES = {0: "train", 1: "val", 2: "test"}


# --- what to encode --------------------------------------------------------------------------
@dataclass
class Item:
    key: str  # the catalog path: an absolute file path, or "<dataset>:<split>:<index>"
    label: str | None
    split: str
    bytes: int
    mtime_ns: int
    file: str | None = None  # None for images that live in an array source
    index: int = -1


def _folder_items(root: Path) -> list[Item]:
    from ..data.folder import scan
    from ..data.imageset import hash_splits

    files, labels, classes = scan(root)
    rel = [str(f.relative_to(root)) for f in files]
    splits = hash_splits(rel)
    items = []
    for f, lab, s in zip(files, labels, splits):
        st = f.stat()
        items.append(Item(str(f.resolve()), classes[lab] if lab >= 0 else None, SPLIT_NAMES[int(s)],
                          st.st_size, st.st_mtime_ns, file=str(f)))
    return items


def resolve_source(data, image_size: int, channels: int, fit: str, data_root=None):
    """-> (items, array ImageSet or None, source description)."""
    from ..data import is_array_source, load_data

    name = str(data)
    path = Path(name).expanduser()
    if is_array_source(data):
        ds = load_data(data, image_size=image_size, channels=channels, fit=fit, data_root=data_root)
        labels = ds.labels if ds.labels is not None else np.full(len(ds), -1)
        items = [Item(f"{ds.name}:{SPLIT_NAMES[int(s)]}:{i}",
                      (ds.classes[int(lab)] if ds.classes and lab >= 0 else (str(int(lab)) if lab >= 0 else None)),
                      SPLIT_NAMES[int(s)], int(np.prod(ds.images.shape[1:])), 0, index=i)
                 for i, (s, lab) in enumerate(zip(ds.split, labels))]
        return items, ds, {"kind": "dataset", "name": name}
    if not path.is_dir():
        raise LatentfolioError(f"{path}: no such folder, and not a dataset name")
    items = _folder_items(path)
    if not items:
        raise LatentfolioError(f"{path}: no files to index")
    return items, None, {"kind": "folder", "root": str(path.resolve())}


# --- the Lightning encode pass ---------------------------------------------------------------
class _EncodeSet:
    """Decodes (and hashes) one image per item; a bad file gives ok=0 and a warning."""

    def __init__(self, items: list[Item], slots: np.ndarray, size: int, channels: int, fit: str, array=None):
        self.items, self.slots, self.size, self.channels, self.fit, self.array = items, slots, size, channels, fit, array

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        import torch

        from ..data.decode import BadImage, decode_image

        it = self.items[i]
        ok, digest = 1, ""
        if it.file is None:
            px = np.ascontiguousarray(self.array[it.index])
            digest = hashlib.sha256(px.tobytes()).hexdigest()
        else:
            try:
                data = Path(it.file).read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                px = decode_image(io.BytesIO(data), self.size, self.channels, self.fit)
            except (BadImage, OSError) as e:
                from ..data import BadFileWarning

                warnings.warn(f"skipped {it.file}: {e}", BadFileWarning, stacklevel=1)
                ok, px = 0, np.zeros((self.size, self.size, self.channels), np.uint8)
        return {"pixels": torch.from_numpy(np.array(px)), "ok": ok, "slot": int(self.slots[i]), "i": i, "hash": digest}


def _encode(model, items: list[Item], slots: np.ndarray, latents_path: Path, scratch: Path,
            fit: str, array, devices="auto", accelerator="auto", batch_size: int = 256,
            workers: int | None = None, progress: bool | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """Encode ``items`` into rows ``slots`` of the latents file; -> (ok, errors, hashes).

    ``errors`` is (N, 2): the reconstruction's MSE and 1 - SSIM, both in [0, 1] pixel units.
    """
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import BasePredictionWriter
    from torch.utils.data import DataLoader

    from ..metrics import ssim
    from ..training.losses import to_unit
    from ..training.train import make_trainer

    c = model.config
    n_total = len(slots)
    ok_mm = np.lib.format.open_memmap(scratch / "ok.npy", "w+", np.uint8, (n_total,))
    err_mm = np.lib.format.open_memmap(scratch / "err.npy", "w+", np.float32, (n_total, 2))
    hash_mm = np.lib.format.open_memmap(scratch / "hash.npy", "w+", "S64", (n_total,))
    del ok_mm, err_mm, hash_mm  # each process reopens them; they are shared through the disk
    dim = int(_dim(model))

    class Encoder(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def predict_step(self, batch, batch_idx):
            x = self.model.preprocess(batch["pixels"].to(self.device))
            z = self.model.embed(x)
            r = self.model.decode(z)
            r01, x01 = to_unit(r.float(), c.norm).clamp(0, 1), to_unit(x, c.norm)
            mse = (r01 - x01).pow(2).flatten(1).mean(1)
            return z.float().flatten(1), torch.stack([mse, 1 - ssim(r01, x01)], 1)

    class Writer(BasePredictionWriter):
        def __init__(self):
            super().__init__("batch")

        def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                               dataloader_idx=0):
            z, err = (t.cpu().numpy() for t in prediction)
            lat = np.memmap(latents_path, np.float32, "r+")
            lat = lat.reshape(-1, dim)
            lat[batch["slot"].numpy()] = z
            lat.flush()
            ok = np.load(scratch / "ok.npy", mmap_mode="r+")
            er = np.load(scratch / "err.npy", mmap_mode="r+")
            hs = np.load(scratch / "hash.npy", mmap_mode="r+")
            pos = batch["i"].numpy()
            ok[pos] = batch["ok"].numpy()
            er[pos] = err
            hs[pos] = np.array(batch["hash"], dtype="S64")
            for m in (ok, er, hs):
                m.flush()

    if workers is None:  # with 2 cores a decoding process only fights the model for them
        cores = os.cpu_count() or 1
        workers = 0 if cores <= 2 else min(4, cores - 1)
    dl = DataLoader(_EncodeSet(items, slots, c.image_size, c.channels, fit, array), batch_size=batch_size,
                    shuffle=False, num_workers=workers)
    show = sys.stderr.isatty() if progress is None else progress
    cbs = [Writer()]
    if show:
        from lightning.pytorch.callbacks import RichProgressBar

        cbs.append(RichProgressBar())
    kw = dict(accelerator=accelerator, devices=devices, logger=False, callbacks=cbs,
              enable_progress_bar=show, enable_model_summary=False, precision="32-true")
    trainer = make_trainer(**kw)
    if trainer.num_devices > 1:
        # Forked processes that run only this prediction. Lightning's default DDP launcher re-runs
        # the whole command for each rank, and a second `index` would edit the catalog under rank
        # 0's feet (on 2 CPU processes it marked half the images bad). CUDA is not initialised yet
        # here, so forking is safe on GPUs too.
        trainer = make_trainer(strategy="ddp_fork", **kw)
    with torch.inference_mode():
        trainer.predict(Encoder(), dataloaders=dl, return_predictions=False)
    if not trainer.is_global_zero:
        return None, None, None
    ok = np.load(scratch / "ok.npy")
    err = np.load(scratch / "err.npy")
    hashes = [h.decode() for h in np.load(scratch / "hash.npy")]
    return ok, err, hashes


def _dim(model) -> int:
    from .latent import require_vector_latent

    require_vector_latent(model, "a catalog")
    return int(model.config.latent_dim)


# --- the catalog -----------------------------------------------------------------------------
class Catalog:
    """An open catalog folder. ``Catalog(path)`` opens an existing one.

    ``check`` refuses a catalog whose code file does not cover its rows (damaged, or an index run
    that was killed); ``index`` opens without it, because it repairs exactly that.
    """

    def __init__(self, path: str | os.PathLike, check: bool = True):
        self.path = Path(path)
        if not (self.path / META).exists():
            raise LatentfolioError(f"{self.path}: not a latentfolio catalog (no {META}); make one with "
                                   "`latentfolio index MODEL_DIR DATA --catalog PATH`")
        self.meta = _io.read_json(self.path / META, "catalog header")
        if not isinstance(self.meta, dict) or self.meta.get("format_version", 99) > FORMAT_VERSION:
            raise LatentfolioError(f"{self.path / META}: unknown catalog format version "
                                   f"{self.meta.get('format_version') if isinstance(self.meta, dict) else '?'}")
        missing = {"dim", "model_fingerprint", "source", "image_size", "channels"} - set(self.meta)
        if missing:
            raise LatentfolioError(f"{self.path / META}: not a catalog header (no {', '.join(sorted(missing))})")
        self.dim = int(self.meta["dim"])
        self.db = _connect(self.path / DB)
        if check:
            rows, top = self.db.execute("SELECT COUNT(*), COALESCE(MAX(row), -1) FROM images").fetchone()
            have = _file_rows(self.path, self.dim)
            if have != rows or top >= have:
                # closed now, not whenever the error's traceback is collected: a connection left
                # open keeps SQLite's per-process view of the file (and its WAL) alive
                self.close()
                raise LatentfolioError(f"{self.path / LATENTS}: holds {have} codes for {rows} images (damaged, or "
                                       "an interrupted index); run `latentfolio index` again to repair it")
        self._index = None
        self._array = None
        self._lat = None

    def close(self) -> None:
        self.db.close()

    # rows ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def rows(self, columns: str = "id, path, label, split, recon_error, cluster, row") -> list[sqlite3.Row]:
        return self.db.execute(f"SELECT {columns} FROM images ORDER BY row").fetchall()

    def latents(self) -> np.ndarray:
        """(N, dim) float32, memory-mapped, in row order."""
        n = _file_rows(self.path, self.dim)  # rows are compacted: file = table
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._lat is None or len(self._lat) != n:
            self._lat = np.memmap(self.path / LATENTS, np.float32, "r", shape=(n, self.dim))
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
        """Write ``values`` to ``column`` for vector rows ``rows`` (one transaction)."""
        assert column in ("cluster", "x", "y")
        with self.db:
            self.db.executemany(f"UPDATE images SET {column} = ? WHERE row = ?",
                                [(None if v is None else (int(v) if column == "cluster" else float(v)), int(r))
                                 for r, v in zip(rows, values)])

    # search --------------------------------------------------------------------------------
    def index(self):
        """The FAISS index over the rows: exact (flat L2) or the saved IVF index."""
        if self._index is None:
            import faiss

            if (self.path / FAISS).exists():
                self._index = faiss.read_index(str(self.path / FAISS))
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
        _, i = self.index().search(q, k)
        # FAISS computes |a|^2 + |b|^2 - 2ab, which is not exactly 0 for a code and itself: re-measure
        lat = self.latents()
        d = np.stack([np.linalg.norm(lat[np.maximum(row, 0)].astype(np.float64) - qq, axis=1)
                      for row, qq in zip(i, q.astype(np.float64))])
        d[i < 0] = np.inf
        order = np.argsort(d, axis=1, kind="stable")
        return np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)

    # pixels for pictures -------------------------------------------------------------------
    def thumbnails(self, rows: list[sqlite3.Row], model_config: dict | None = None) -> np.ndarray:
        """uint8 (N, s, s, C) images for catalog rows, decoded from the files or the dataset."""
        from ..data.decode import BadImage, decode_image

        size, ch, fit = int(self.meta["image_size"]), int(self.meta["channels"]), self.meta.get("fit", "squash")
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
                    from ..data import load_data

                    self._array = load_data(self.meta["source"]["name"], image_size=size, channels=ch, fit=fit,
                                            data_root=self.meta.get("data_root")).images
                out[j] = self._array[int(p.rsplit(":", 1)[1])]
        return out

    def model(self, model_dir=None):
        """The catalog's model (or ``model_dir``), refused if its fingerprint differs."""
        from ..saved import load_model

        d = model_dir or self.meta["model_dir"]
        m = load_model(d)
        check_model(m, self.meta, self.path)
        return m


def check_model(model, meta: dict, where) -> None:
    if model.fingerprint != meta["model_fingerprint"]:
        raise LatentfolioError(
            f"{where}: this catalog was made with another model (fingerprint "
            f"{meta['model_fingerprint'][:12]}, not {model.fingerprint[:12]} from {model.model_dir}); "
            "use that model, or a new --catalog")


def _file_rows(folder: Path, dim: int) -> int:
    f = folder / LATENTS
    return f.stat().st_size // (4 * dim) if f.exists() else 0


def _connect(path: Path) -> sqlite3.Connection:
    db = None
    try:
        db = sqlite3.connect(str(path))
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        cols = {r[1] for r in db.execute("PRAGMA table_info(images)")}
        if "ssim_error" not in cols:  # catalogs from before the structural error: NULL until re-indexed
            db.execute("ALTER TABLE images ADD COLUMN ssim_error REAL")
    except sqlite3.DatabaseError as e:
        if db is not None:
            db.close()
        raise LatentfolioError(f"{path}: not a readable catalog database ({e})") from None
    return db


def build_ann(cat: Catalog, nprobe: int = 32, seed: int = 0) -> str:
    """Exact search below IVF_FROM images; an IVF-Flat index (Jégou et al. 2011) above."""
    import faiss

    n = len(cat)
    target = cat.path / FAISS
    if n < IVF_FROM:
        target.unlink(missing_ok=True)
        return "flat"
    lat = cat.latents()
    nlist = int(4 * np.sqrt(n))
    rng = np.random.default_rng(seed)
    train = np.ascontiguousarray(lat[np.sort(rng.choice(n, min(n, 64 * nlist), replace=False))])
    quant = faiss.IndexFlatL2(cat.dim)
    ivf = faiss.IndexIVFFlat(quant, cat.dim, nlist)
    ivf.train(train)
    for s in range(0, n, 65536):
        ivf.add(np.ascontiguousarray(lat[s:s + 65536]))
    _io.atomic_write(target, lambda p: faiss.write_index(ivf, str(p)))
    return f"ivf{nlist}"


def _compact(cat_path: Path, db: sqlite3.Connection, dim: int, chunk: int = 65536) -> None:
    """Rewrite latents so rows are 0..N-1 in id order (drops rows of deleted or changed images)."""
    live = db.execute("SELECT id, row FROM images ORDER BY id").fetchall()
    src = cat_path / LATENTS
    old = np.memmap(src, np.float32, "r").reshape(-1, dim) if src.stat().st_size else np.zeros((0, dim), np.float32)
    rows = np.array([r["row"] for r in live], np.int64)
    tmp = cat_path / (LATENTS + ".tmp")
    new = np.memmap(tmp, np.float32, "w+", shape=(max(1, len(rows)), dim))
    for s in range(0, len(rows), chunk):
        new[s:s + chunk] = old[rows[s:s + chunk]]
    new.flush()
    del new, old
    os.replace(tmp, src)
    if len(rows) == 0:
        os.truncate(src, 0)
    with db:
        db.execute("UPDATE images SET row = -id")  # two passes keep UNIQUE(row) happy
        db.executemany("UPDATE images SET row = ? WHERE id = ?", [(i, r["id"]) for i, r in enumerate(live)])


def index(model_dir, data, catalog=None, data_root=None, devices="auto", accelerator="auto",
          batch_size: int = 256, workers: int | None = None, progress: bool | None = None) -> dict:
    """Create or update the catalog of ``data`` under ``model_dir``'s latent space."""
    from ..saved import load_model
    from ..training.train import make_trainer

    if workers is not None and workers < 0:
        raise LatentfolioError(f"--workers {workers}: must be 0 (decode in this process) or more")
    if batch_size < 1:
        raise LatentfolioError(f"--batch-size {batch_size}: must be at least 1")
    model = load_model(model_dir)
    dim = _dim(model)
    # bad --devices / --accelerator: one line now, before the catalog is created or changed
    make_trainer(accelerator=accelerator, devices=devices, logger=False, enable_progress_bar=False,
                 enable_model_summary=False)
    c = model.config
    fit = model.meta.get("data", {}).get("fit", "squash")
    catalog = Path(catalog or f"{Path(str(data)).name or 'data'}.catalog")
    items, ds, source = resolve_source(data, c.image_size, c.channels, fit, data_root)
    if (catalog / META).exists():
        cat = Catalog(catalog, check=False)
        try:
            check_model(model, cat.meta, catalog)
            if cat.meta["source"] != source:
                raise LatentfolioError(f"{catalog}: this catalog indexes {cat.meta['source']}, not {data}; "
                                       "use another --catalog")
        except LatentfolioError:
            cat.close()
            raise
    else:
        if catalog.exists() and any(catalog.iterdir()):
            raise LatentfolioError(f"{catalog}: exists and is not a catalog")
        catalog.mkdir(parents=True, exist_ok=True)
        (catalog / LATENTS).touch()
        _io.write_json(catalog / META, {
            "format_version": FORMAT_VERSION, "model_fingerprint": model.fingerprint,
            "model_dir": str(Path(model_dir).resolve()), "model_type": model.type_name, "dim": dim,
            "image_size": c.image_size, "channels": c.channels, "fit": fit, "source": source,
            "data_root": str(data_root) if data_root else None, "search": "flat"})
        cat = Catalog(catalog)
    try:
        db = cat.db
        with db:  # rows whose codes the file lacks (a damaged file, a killed run) are encoded again
            db.execute("DELETE FROM images WHERE row >= ?", (_file_rows(catalog, dim),))
        known = {r["path"]: r for r in db.execute("SELECT path, hash, bytes, mtime_ns, row FROM images")}
        known_bad = {r["path"]: (r["bytes"], r["mtime_ns"]) for r in db.execute("SELECT * FROM bad")}
        seen = {it.key for it in items}
        deleted = [p for p in known if p not in seen]
        # unchanged files that were unreadable last time are not tried again
        still_bad = [it for it in items if known_bad.get(it.key) == (it.bytes, it.mtime_ns)]
        skip = {it.key for it in still_bad}
        todo = [it for it in items if it.key not in skip and (
            it.key not in known
            or (it.file is not None and (known[it.key]["bytes"], known[it.key]["mtime_ns"]) != (it.bytes, it.mtime_ns)))]
        n_before = len(known)
        if deleted:
            with db:
                db.executemany("DELETE FROM images WHERE path = ?", [(p,) for p in deleted])
        added = changed = bad = 0
        with db:
            db.execute("DELETE FROM bad")
            db.executemany("INSERT INTO bad VALUES (?, ?, ?)", [(it.key, it.bytes, it.mtime_ns) for it in still_bad])
        if todo:
            end = db.execute("SELECT COALESCE(MAX(row), -1) FROM images").fetchone()[0] + 1
            end = max(end, _file_rows(catalog, dim))
            slots = np.arange(end, end + len(todo))
            with open(catalog / LATENTS, "r+b") as f:
                f.truncate((end + len(todo)) * dim * 4)
            scratch = catalog / ".pending"
            scratch.mkdir(exist_ok=True)
            print(f"index: encoding {len(todo)} image(s) into {catalog}", file=sys.stderr, flush=True)
            ok, err, hashes = _encode(model, todo, slots, catalog / LATENTS, scratch, fit, ds.images if ds else None,
                                      devices, accelerator, batch_size, workers, progress)
            if ok is None:  # a non-zero DDP rank: rank 0 writes the rows
                return {}
            rows = []
            for it, slot, o, e, h in zip(todo, slots, ok, err, hashes):
                if not o:
                    bad += 1
                    db.execute("INSERT OR REPLACE INTO bad VALUES (?, ?, ?)", (it.key, it.bytes, it.mtime_ns))
                    continue
                rows.append((it.key, h, it.bytes, it.mtime_ns, it.label, it.split, float(e[0]), float(e[1]), int(slot)))
                if it.key in known:
                    changed += 1
                else:
                    added += 1
            with db:
                db.executemany("DELETE FROM images WHERE path = ?", [(it.key,) for it in todo if it.key in known])
                db.executemany("INSERT INTO images (path, hash, bytes, mtime_ns, label, split, recon_error, "
                               "ssim_error, row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            for f in scratch.iterdir():
                f.unlink()
            scratch.rmdir()
        if deleted or changed or bad or _file_rows(catalog, dim) != len(cat):  # (a killed run leaves spare rows)
            _compact(catalog, db, dim)
        search = build_ann(cat) if (deleted or todo or not (catalog / FAISS).exists()) else cat.meta.get("search", "flat")
        if search != cat.meta.get("search"):
            cat.meta["search"] = search
            _io.write_json(catalog / META, cat.meta)
        n = len(cat)
        if n == 0:
            raise LatentfolioError(f"{data}: no readable image to index ({bad} bad file(s))")
        return {"catalog": str(catalog), "images": n, "added": added, "changed": changed,
                "removed": len(deleted), "bad": bad + len(still_bad), "unchanged": n_before - len(deleted) - changed,
                "search": search, "dim": dim}
    finally:
        cat.close()  # now, not when the garbage collector gets to it
