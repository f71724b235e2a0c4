"""What a catalog holds: one item per image of a folder or a dataset, with its label and split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import is_array_source, load_data
from ..data.folder import scan
from ..data.imageset import hash_splits
from ..errors import LatentfolioError


SPLIT_NAMES = {0: "train", 1: "val", 2: "test"}


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
