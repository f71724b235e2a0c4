"""Near-duplicates as connected components of the "closer than a threshold" graph of codes."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError


EXACT_BELOW = 20_000  # exact k-NN below this many codes; an IVF graph of fixed-size lists above
LIST_SIZE, NPROBE = 256, 8  # codes per inverted list, lists searched per code
HNSW_FROM = 4096  # lists past which the coarse quantizer is an HNSW graph, not a flat scan


def neighbour_graph(lat: np.ndarray, k: int, batch: int = 16384, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(distances, rows), (N, k): each code's ``k`` nearest codes, itself among them, with exact
    L2 distances (-1 and inf where fewer were found).

    Exact below EXACT_BELOW codes. Above, an IVF-Flat index of lists of about LIST_SIZE codes,
    each code searching its NPROBE nearest lists: every query scans a fixed number of codes, so
    the graph costs O(n), not the O(n^1.5) of a search index whose lists grow as sqrt(n). A
    near-duplicate is far closer than the lists are wide, so it is almost always found (recall
    of the duplicate pairs: docs/experiments.md)."""
    import faiss  # heavy: imported on first use

    n, dim = lat.shape
    k = max(1, min(k, n))
    nlist = n // LIST_SIZE
    if n < EXACT_BELOW or nlist < 2:
        index = faiss.IndexFlatL2(dim)
    else:
        quantizer = faiss.IndexHNSWFlat(dim, 32) if nlist >= HNSW_FROM else faiss.IndexFlatL2(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist)
        index.cp.niter, index.cp.max_points_per_centroid = 10, 64
        sample = np.sort(np.random.default_rng(seed).choice(n, min(n, 64 * nlist), replace=False))
        index.train(np.ascontiguousarray(lat[sample]))
        index.nprobe = NPROBE
    for s in range(0, n, 65536):
        index.add(np.ascontiguousarray(lat[s:s + 65536], dtype=np.float32))
    dist = np.empty((n, k), np.float32)
    rows = np.empty((n, k), np.int64)
    for s in range(0, n, batch):
        q = np.ascontiguousarray(lat[s:s + batch], dtype=np.float32)
        _, i = index.search(q, k)
        # FAISS's flat search computes |a|^2 + |b|^2 - 2ab, not exactly 0 for a code and its copy: re-measure
        d = np.linalg.norm(np.asarray(lat[np.maximum(i, 0)], np.float32) - q[:, None, :], axis=2)
        d[i < 0] = np.inf
        order = np.argsort(d, axis=1, kind="stable")
        dist[s:s + batch], rows[s:s + batch] = np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)
    return dist, rows


def default_threshold(dist: np.ndarray, rows: np.ndarray) -> float:
    """A quarter of the median distance between an image and its nearest other image, so
    "duplicate" means much closer than two typical different neighbours."""
    own = rows == np.arange(len(rows))[:, None]
    other = np.where(own | (rows < 0), np.inf, dist)
    nn1 = other.min(1)
    nn1 = nn1[np.isfinite(nn1)]
    return 0.25 * float(np.median(nn1)) if len(nn1) else 0.0


def close_pairs(dist: np.ndarray, rows: np.ndarray, threshold: float | None = None) -> list[list[int]]:
    """The pairs of a neighbour graph closer than ``threshold`` (default: :func:`default_threshold`)."""
    t = default_threshold(dist, rows) if threshold is None else threshold
    me = np.repeat(np.arange(len(rows)), rows.shape[1])
    keep = (rows.ravel() >= 0) & (rows.ravel() != me) & (dist.ravel() <= t)
    return np.column_stack([me[keep], rows.ravel()[keep]]).tolist()


def duplicate_components(dist: np.ndarray, rows: np.ndarray, same_bytes: list[list[int]],
                         threshold: float | None = None) -> tuple[np.ndarray, float]:
    """-> (component id per code, threshold used).

    ``dist`` and ``rows`` (N, k) are each code's nearest neighbours (itself among them); pairs
    closer than ``threshold`` are joined, transitively, and so are the rows in each group of
    ``same_bytes`` (identical files are duplicates whatever the threshold).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if threshold is not None and not threshold >= 0:
        raise ArgumentError("threshold", threshold, "must be >= 0")
    n = len(rows)
    t = default_threshold(dist, rows) if threshold is None else float(threshold)
    me = np.repeat(np.arange(n), rows.shape[1])
    keep = (rows.ravel() >= 0) & (rows.ravel() != me) & (dist.ravel() <= t)
    a, b = [me[keep]], [rows.ravel()[keep]]
    for group in same_bytes:
        a.append(np.full(len(group) - 1, group[0]))
        b.append(np.asarray(group[1:]))
    a, b = np.concatenate(a).astype(np.int64), np.concatenate(b).astype(np.int64)
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1], t


def group_members(comp: np.ndarray) -> list[np.ndarray]:
    """The members (row numbers, ascending) of each component with two or more, from one sort."""
    order = np.argsort(comp, kind="stable")
    _, start, count = np.unique(comp[order], return_index=True, return_counts=True)
    return [order[a:a + c] for a, c in zip(start, count) if c > 1]
