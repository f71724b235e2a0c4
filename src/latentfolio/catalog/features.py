"""Pretrained embeddings in a catalog, beside the model's own codes, and the vector space the
tools work in (``--features``).

    CATALOG/features/NAME.f32    float32 vectors (rows x dim), in catalog row order once compacted
    CATALOG/features/NAME.ids    int64 catalog image id of each vector row
    CATALOG/features/NAME.faiss  an IVF index, past IVF_FROM images

Vectors are appended a chunk at a time (vectors first, then their ids: the ids file says how many
rows are whole), so a killed run keeps its work; a changed image has a new id and is embedded
again; the files are then rewritten in row order. catalog.json's ``features`` records each
encoder's name, file digest and length."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .. import _io
from ..data import BadFileWarning
from ..data.decode import BadImage
from ..errors import ArgumentError, LatentfolioError
from ..features import DEFAULT, REGISTRY, Embedder, open_embedder
from ..progress import progress_bar
from .search import build_ann
from .store import META, Catalog

FOLDER = "features"
CHUNK = 1024  # images embedded between two commits


def _files(cat: Catalog, name: str) -> tuple[Path, Path]:
    return cat.path / FOLDER / f"{name}.f32", cat.path / FOLDER / f"{name}.ids"


def _held(cat: Catalog, name: str, dim: int, repair: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) whole in the files. A torn tail from a kill is left out, and with
    ``repair`` (only ``index`` writes) cut off the files."""
    vec_f, ids_f = _files(cat, name)
    if not ids_f.exists() or not vec_f.exists():
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    n = min(ids_f.stat().st_size // 8, vec_f.stat().st_size // (4 * dim))
    for f, width in ((ids_f, 8), (vec_f, 4 * dim)):
        if repair and f.stat().st_size != n * width:
            os.truncate(f, n * width)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    return np.fromfile(ids_f, np.int64, count=n), np.memmap(vec_f, np.float32, "r", shape=(n, dim))


def _pixels(cat: Catalog, emb: Embedder, rows) -> np.ndarray:
    if cat.meta["source"]["kind"] != "folder":
        return cat.thumbnails(rows)  # a dataset's images, resized by the embedder
    side = emb.entry.resize
    out = np.zeros((len(rows), side, side, 3), np.uint8)
    for j, r in enumerate(rows):
        try:
            out[j] = emb.decode(r["path"])
        except BadImage as e:  # moved or broken since it was indexed
            warnings.warn(f"skipped {r['path']}: {e}", BadFileWarning, stacklevel=1)
    return out


def inline_embedder(cat: Catalog, embedders: dict | None, files: bool, world: int) -> Embedder | None:
    """The content encoder ``index`` runs on the pixels it decodes for the codes, so that a file
    is decoded once for both (the first one asked for or held): only for a folder, in one process
    (ranks of a launch encode codes alone), and only when the catalog's vectors of that name came
    from the same file. The others are filled in by :func:`update_features` after."""
    if not files or world > 1 or not embedders:
        return None
    emb = next(iter(embedders.values()))
    rec = cat.meta.get("features", {}).get(emb.name)
    if rec is None:
        for f in _files(cat, emb.name):  # left by a run killed before its record: not known to be this file's
            f.unlink(missing_ok=True)
    elif rec["digest"] != emb.digest or rec["dim"] != emb.dim:
        return None
    return emb


def append_features(cat: Catalog, emb: Embedder, ids: np.ndarray, vectors: np.ndarray) -> None:
    """Vectors of images ``ids``, appended and made durable (vectors first, then their ids: the ids
    file says how many rows are whole)."""
    (cat.path / FOLDER).mkdir(exist_ok=True)
    _held(cat, emb.name, emb.dim, repair=True)  # a torn tail from a kill, cut before appending
    vec_f, ids_f = _files(cat, emb.name)
    for f, data in ((vec_f, np.ascontiguousarray(vectors, np.float32)), (ids_f, np.asarray(ids, np.int64))):
        with open(f, "ab") as fh:
            fh.write(data.tobytes())
            fh.flush()
            os.fsync(fh.fileno())


def _compact(cat: Catalog, name: str, dim: int, live: list) -> bool:
    """Rewrite the files in row order, with only the live images -> whether anything changed."""
    ids, vec = _held(cat, name, dim)
    if np.array_equal(ids, np.array([r["id"] for r in live], np.int64)):
        return False  # already so: a million vectors are not rewritten for nothing
    at = {int(i): k for k, i in enumerate(ids)}
    order = np.array([at[r["id"]] for r in live], np.int64)
    vec_f, ids_f = _files(cat, name)
    _io.atomic_write(vec_f, lambda p: np.ascontiguousarray(vec[order] if len(order) else vec[:0]).tofile(p))
    _io.atomic_write(ids_f, lambda p: np.array([r["id"] for r in live], np.int64).tofile(p))
    return True


def update_features(cat: Catalog, spec: str, progress: bool | None = None, embedder: Embedder | None = None) -> dict:
    """Embed every image of ``cat`` that has no vector from encoder ``spec`` yet -> its record."""
    emb = embedder or open_embedder(spec)
    name, dim = emb.name, emb.dim
    recs = cat.meta.setdefault("features", {})
    if name in recs and (recs[name]["digest"] != emb.digest or recs[name]["dim"] != dim):
        for f in _files(cat, name):  # another file under the same name: its vectors are not comparable
            f.unlink(missing_ok=True)
    (cat.path / FOLDER).mkdir(exist_ok=True)
    have = set(_held(cat, name, dim, repair=True)[0].tolist())
    live = cat.rows("id, path, label, row")
    todo = [r for r in live if r["id"] not in have]
    with progress_bar(len(todo), f"features {name}", progress) as bar:
        for s in range(0, len(todo), CHUNK):
            part = todo[s:s + CHUNK]
            append_features(cat, emb, np.array([r["id"] for r in part], np.int64), emb.embed(_pixels(cat, emb, part)))
            bar(len(part))
    changed = _compact(cat, name, dim, live)
    rec = {"spec": spec, "dim": dim, "digest": emb.digest, "about": emb.entry.about, "images": len(live)}
    if not changed and recs.get(name) == rec:
        return rec  # nothing new: the files and their search index stand
    recs[name] = rec
    _io.write_json(cat.path / META, cat.meta)
    view = Catalog(cat.path, check=False)
    try:
        use_space(view, name)
        build_ann(view, target=cat.path / FOLDER / f"{name}.faiss")
    finally:
        view.close()
    return recs[name]


def feature_vectors(cat: Catalog, name: str) -> np.ndarray:
    """(N, dim) float32 in row order, memory-mapped; refused when they do not cover the catalog."""
    rec = cat.meta.get("features", {}).get(name)
    if rec is None:
        have = ", ".join(cat.meta.get("features", {})) or "none"
        add = name if name in REGISTRY else "|".join([*REGISTRY, "onnx:PATH"])
        raise LatentfolioError(f"{cat.path}: has no {name!r} features (it has: {have}); add them with "
                               f"`latentfolio index MODEL_DIR DATA --catalog {cat.path} --features {add}`")
    ids, vec = _held(cat, name, rec["dim"])
    want = np.array([r[0] for r in cat.db.execute("SELECT id FROM images ORDER BY row")], np.int64)
    if len(ids) != len(want) or not np.array_equal(ids, want):
        raise LatentfolioError(f"{cat.path}: its {name} features are behind its images; run `latentfolio "
                               f"index` again with --features {rec['spec']}")
    return vec


def _standardised(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each dimension z-scored, the block scaled to unit total variance -> (vectors, shift, scale)."""
    mu = v.mean(0)
    sd = v.std(0) + 1e-8
    scale = sd * np.sqrt(v.shape[1])
    return ((v - mu) / scale).astype(np.float32), mu, scale


CODES = "codes"  # --features codes: the autoencoder's own codes


def default_space(cat: Catalog) -> str:
    """What the vector tools work on when not told: the content features the catalog holds (the
    built-in encoder's first), else the model's codes."""
    held = list(cat.meta.get("features", {}))
    return DEFAULT if DEFAULT in held else (held[0] if held else CODES)


def use_space(cat: Catalog, features: str | None) -> Catalog:
    """Point the catalog's vector tools at ``features``: None (:func:`default_space`), ``codes``
    (the model's codes), a stored encoder's name, ``fused`` or ``fused:NAME`` (codes and
    features, each standardised, side by side). ``cat.space_map(codes, feats)`` then maps a query
    the same way; ``space_name(cat)`` says which it is."""
    features = default_space(cat) if features is None else features
    if not features or features == CODES:
        return cat
    names = list(cat.meta.get("features", {}))
    if features == "fused" or features.startswith("fused:"):
        name = features[6:] or (names[0] if len(names) == 1 else "")
        if not name:
            raise ArgumentError("features", features, f"name the features to fuse: fused:{'|'.join(names) or 'NAME'}")
        a, amu, asc = _standardised(np.asarray(cat.latents(), np.float32))
        b, bmu, bsc = _standardised(np.asarray(feature_vectors(cat, name), np.float32))
        cat.set_space(features, np.concatenate([a, b], 1), None,
                      lambda z, f: np.concatenate([(z - amu) / asc, (f - bmu) / bsc], 1).astype(np.float32), name)
        return cat
    cat.set_space(features, feature_vectors(cat, features), cat.path / FOLDER / f"{features}.faiss",
                  lambda z, f: f, features)
    return cat


def space_name(cat: Catalog) -> str:
    return cat.space or CODES


def query_vector(cat: Catalog, pixels_of, model_codes) -> np.ndarray:
    """A query from outside the catalog in the catalog's current space. ``pixels_of(embedder)``
    decodes it for that encoder; ``model_codes()`` encodes it with the catalog's model."""
    if cat.space is None:
        return model_codes()
    rec = cat.meta["features"][cat.space_features]
    emb = open_embedder(rec["spec"])
    if emb.digest != rec["digest"]:
        raise LatentfolioError(f"{rec['spec']}: is not the file this catalog's {cat.space_features} features came "
                               "from; index again with --features")
    f = emb.embed(pixels_of(emb))
    z = model_codes() if cat.space.startswith("fused") else None
    return cat.space_map(z, f)
