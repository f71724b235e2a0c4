"""The k-NN graph behind `duplicates`: the IVF graph finds the same close pairs as exact search."""

import numpy as np

from latentfolio.latent import duplicates as dup


def clustered(n: int, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, set]:
    """Clustered codes with planted near-copies -> (codes, the planted pairs)."""
    rng = np.random.default_rng(seed)
    mid = rng.standard_normal((50, dim)).astype(np.float32) * 3
    x = mid[rng.integers(0, 50, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    src, dst = rng.choice(n, 2 * (n // 50), replace=False).reshape(2, -1)
    x[dst] = x[src] + 0.01 * rng.standard_normal((len(src), dim)).astype(np.float32)
    x[dst[:5]] = x[src[:5]]  # exact copies: distance exactly 0
    return x, {(min(a, b), max(a, b)) for a, b in zip(src.tolist(), dst.tolist())}


def close_pairs(dist, rows, t):
    me = np.repeat(np.arange(len(rows)), rows.shape[1])
    keep = (rows.ravel() >= 0) & (rows.ravel() != me) & (dist.ravel() <= t)
    a, b = me[keep], rows.ravel()[keep]
    return set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist()))


def test_ivf_graph_finds_what_exact_search_finds(monkeypatch):
    x, planted = clustered(6000)
    exact_d, exact_i = dup.neighbour_graph(x, 8)
    monkeypatch.setattr(dup, "EXACT_BELOW", 1000)  # 6000 codes: 23 lists of ~256
    d, i = dup.neighbour_graph(x, 8)
    assert d.shape == i.shape == (6000, 8)
    t = dup.default_threshold(exact_d, exact_i)
    want = close_pairs(exact_d, exact_i, t)
    assert planted <= want  # the planted copies are what "close" means here
    got = close_pairs(d, i, t)
    assert len(got & want) / len(want) >= 0.99 and got <= want
    assert np.all(np.diff(d, axis=1) >= 0)  # sorted, exact distances
    assert (i[:, 0] == np.arange(6000)).mean() > 0.99  # each code finds itself first (copies tie)


def test_exact_copies_are_at_distance_zero():
    x, _ = clustered(3000)
    x[10] = x[20]
    d, i = dup.neighbour_graph(x, 4)
    assert 20 in i[10] and d[10][list(i[10]).index(20)] == 0.0
