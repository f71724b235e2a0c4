"""The approximate-search index of a big catalog: exact search below IVF_FROM images, IVF above."""

from __future__ import annotations

import numpy as np

from .. import _io
from .store import FAISS, IVF_FROM, Catalog


def build_ann(cat: Catalog, nprobe: int = 32, seed: int = 0) -> str:
    """Exact search below IVF_FROM images; an IVF-Flat index (Jégou et al. 2011) above."""
    import faiss  # heavy: imported on first use

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
