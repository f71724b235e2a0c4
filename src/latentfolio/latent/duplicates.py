"""Near-duplicates as connected components of the "closer than a threshold" graph of codes."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError


def default_threshold(dist: np.ndarray, rows: np.ndarray) -> float:
    """A quarter of the median distance between an image and its nearest other image, so
    "duplicate" means much closer than two typical different neighbours."""
    own = rows == np.arange(len(rows))[:, None]
    other = np.where(own | (rows < 0), np.inf, dist)
    nn1 = other.min(1)
    nn1 = nn1[np.isfinite(nn1)]
    return 0.25 * float(np.median(nn1)) if len(nn1) else 0.0


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
