"""The approximate-search index of a big catalog: exact search below IVF_FROM images, IVF above:
IVF-Flat while the codes fit in FLAT_BYTES of memory, IVF-PQ (compressed codes) past it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import _io
from .store import FAISS, IVF_FROM, Catalog


FLAT_BYTES = 4 << 30  # past this many bytes of float32 codes, the index holds PQ codes instead


def _pq_parts(dim: int) -> int:
    """Sub-quantisers for IVF-PQ: 4 dimensions each (8 bits), the largest divisor of dim <= dim/4."""
    return max(m for m in range(1, max(1, dim // 4) + 1) if dim % m == 0)


def build_ann(cat: Catalog, nprobe: int = 32, seed: int = 0, flat_bytes: int | None = None,
              target: Path | None = None) -> str:
    """Exact search below IVF_FROM images; an IVF index (Jégou et al. 2011) above: IVF-Flat, or
    IVF-PQ when the codes are over ``flat_bytes`` (default FLAT_BYTES). The catalog re-ranks
    every candidate by its exact code (read from the memory-mapped file), so PQ costs recall
    only where the right neighbour falls out of the candidates. ``target``: the file (default
    the catalog's own index; a features space has its own)."""
    import faiss  # heavy: imported on first use

    n = len(cat)
    target = target or cat.path / FAISS
    if n < IVF_FROM:
        target.unlink(missing_ok=True)
        return "flat"
    lat = cat.latents()
    nlist = int(4 * np.sqrt(n))
    rng = np.random.default_rng(seed)
    train = np.ascontiguousarray(lat[np.sort(rng.choice(n, min(n, 64 * nlist), replace=False))])
    quant = faiss.IndexFlatL2(cat.dim)
    pq = n * cat.dim * 4 > (FLAT_BYTES if flat_bytes is None else flat_bytes)
    ivf = faiss.IndexIVFPQ(quant, cat.dim, nlist, _pq_parts(cat.dim), 8) if pq else faiss.IndexIVFFlat(quant, cat.dim, nlist)
    ivf.cp.niter = 10  # not faiss's 25: 2/5 of the build (recall: benchmarks/scale.py)
    ivf.train(train)
    for s in range(0, n, 65536):
        ivf.add(np.ascontiguousarray(lat[s:s + 65536]))
    _io.atomic_write(target, lambda p: faiss.write_index(ivf, str(p)))
    return f"ivf{nlist}-pq" if pq else f"ivf{nlist}"
