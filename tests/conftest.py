"""Shared fixtures: tiny generated data of every kind. No test downloads anything."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_ENV = os.environ.get("LATENTFOLIO_DATA")  # read before the autouse fixture hides it


@pytest.fixture(scope="session")
def model_store_dir(tmp_path_factory) -> Path:
    """One model store for the session (the built-in encoder is converted into it once)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory, monkeypatch, model_store_dir):
    """Each test gets its own decode cache; no test sees the user's data root or model store.
    `index` adds no content features unless a test asks (`LATENTFOLIO_FEATURES`): the built-in
    encoder costs tens of ms an image, and the tests of it ask for it."""
    monkeypatch.setenv("LATENTFOLIO_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("LATENTFOLIO_MODELS", str(model_store_dir))
    monkeypatch.setenv("LATENTFOLIO_FEATURES", "none")
    monkeypatch.delenv("LATENTFOLIO_DATA", raising=False)


def shapes_image(rng: np.random.Generator, size: int = 24, colour: bool = False) -> np.ndarray:
    """A random bright rectangle and disc on a dark background: learnable, not noise."""
    yy, xx = np.mgrid[:size, :size]
    img = np.zeros((size, size, 3), np.float32)
    x0, y0 = rng.integers(0, size // 2, 2)
    w, h = rng.integers(size // 4, size // 2, 2)
    col = rng.uniform(0.5, 1.0, 3) if colour else np.ones(3) * rng.uniform(0.5, 1.0)
    img[y0:y0 + h, x0:x0 + w] = col
    cx, cy, r = *rng.integers(size // 4, 3 * size // 4, 2), rng.integers(2, size // 4)
    img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = col[::-1]
    return (img * 255).astype(np.uint8)


def write_shapes(root: Path, n: int, size: int = 24, colour: bool = False, seed: int = 0) -> Path:
    """``n`` shape PNGs (grey or colour) in ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = shapes_image(rng, size, colour)
        Image.fromarray(a if colour else a[:, :, 0]).save(root / f"{i:03d}.png")
    return root


@pytest.fixture
def shapes_folder(tmp_path) -> Path:
    """Two labelled subfolders of 24 px grey PNGs (60 images)."""
    root = tmp_path / "shapes"
    for k, label in enumerate(("a", "b")):
        write_shapes(root / label, 30, seed=k)
    return root


def write_idx(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = np.stack([shapes_image(rng, 28)[:, :, 0] for _ in range(n)])
        labels = rng.integers(0, 10, n).astype(np.uint8)
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + imgs.tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())
    return folder


@pytest.fixture
def idx_folder(tmp_path) -> Path:
    return write_idx(tmp_path / "fashion-mnist")


def write_cifar(folder: Path, per_batch: int = 10) -> Path:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        data = np.stack([shapes_image(rng, 32, colour=True).transpose(2, 0, 1).reshape(-1)
                         for _ in range(per_batch)])
        d = {b"data": data, b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
             b"batch_label": name.encode()}
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {b"label_names": [n.encode() for n in "abcdefghij"]}, protocol=2))
    return folder


@pytest.fixture
def cifar_folder(tmp_path) -> Path:
    return write_cifar(tmp_path / "cifar10" / "cifar-10-batches-py")


@pytest.fixture
def real_data_root() -> Path:
    for root in (Path(DATA_ENV) if DATA_ENV else None, SHARED):
        if root and (root / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").exists():
            return root
    pytest.skip("no FashionMNIST under $LATENTFOLIO_DATA or ../shared/data")


def run_cli(*args: str, env: dict | None = None, timeout: int = 300):
    """Run the real console entry point in a subprocess (for exit codes and stderr)."""
    import subprocess
    import sys

    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "latentfolio.cli", *args], capture_output=True,
                          text=True, env=e, timeout=timeout)


def cli(capsys, monkeypatch, *args):
    """Run ``latentfolio ARGS`` in-process through the real entry point -> (code, stdout, stderr)."""
    import sys

    from latentfolio import cli as cli_mod

    monkeypatch.setattr(sys, "argv", ["latentfolio", *map(str, args)])
    capsys.readouterr()  # drop what fixtures printed
    code = 0
    try:
        cli_mod.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err
