"""Named datasets found under a data root, downloaded (and checksum-verified) when missing.

Layout under the root::

    <root>/mnist/*.gz   <root>/fashion-mnist/*.gz   <root>/cifar10/cifar-10-batches-py/
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import LatentfolioError

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


@dataclass(frozen=True)
class Remote:
    name: str  # file name under the dataset folder
    digest: str  # "sha256:..." or "md5:..." as published by the dataset's authors
    urls: tuple[str, ...]


@dataclass(frozen=True)
class NamedDataset:
    name: str
    folder: str  # under the data root
    files: tuple[Remote, ...]
    extract: str | None = None  # sub-folder an archive unpacks to


def _idx(base_urls: tuple[str, ...], sums: dict[str, str]) -> tuple[Remote, ...]:
    return tuple(Remote(n, f"sha256:{d}", tuple(u + n for u in base_urls)) for n, d in sums.items())


DATASETS = {
    "mnist": NamedDataset("mnist", "mnist", _idx(
        ("https://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        {"train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
         "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
         "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
         "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"})),
    "fashion-mnist": NamedDataset("fashion-mnist", "fashion-mnist", _idx(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {"train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
         "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
         "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
         "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"})),
    "cifar10": NamedDataset("cifar10", "cifar10", (
        Remote("cifar-10-python.tar.gz", "md5:c58f30108f718f92721af3b95e74349a",
               ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)),),
        extract="cifar-10-batches-py"),
}
NAMES = tuple(DATASETS) + ("digits",)


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """``--data-root``, else ``$LATENTFOLIO_DATA``, else the user cache dir."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("LATENTFOLIO_DATA")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("latentfolio")) / "data"


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, digest: str) -> None:
    algo, want = digest.split(":")
    got = _digest(path, algo)
    if got != want:
        raise LatentfolioError(f"{path}: checksum mismatch ({algo} {got[:12]}…, expected {want[:12]}…); "
                               "the file is damaged: delete it to download it again")


def _download(remote: Remote, dest: Path, timeout: float) -> None:
    errors = []
    for url in remote.urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{remote.name}.", dir=dest.parent)
        os.close(fd)
        try:
            req = urllib.request.Request(url, headers={"User-Agent": "latentfolio"})
            with urllib.request.urlopen(req, timeout=timeout) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
            verify(Path(tmp), remote.digest)
            os.replace(tmp, dest)
            return
        except (OSError, LatentfolioError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise OSError("; ".join(errors))


def ensure(name: str, root: str | os.PathLike | None = None, download: bool = True,
           timeout: float = 20.0) -> Path:
    """The folder holding dataset ``name``, downloading it if needed. Offline: a clear error."""
    ds = DATASETS[name]
    folder = data_root(root) / ds.folder
    target = folder / ds.extract if ds.extract else folder
    if ds.extract and (target / "test_batch").exists():
        return target
    missing = [r for r in ds.files if not (folder / r.name).exists()
               and not (not ds.extract and (folder / r.name[:-3]).exists())]
    if missing:
        where = ", ".join(r.name for r in missing)
        if not download:
            raise LatentfolioError(f"{name}: not found; put {where} in {folder}/")
        folder.mkdir(parents=True, exist_ok=True)
        for r in missing:
            try:
                _download(r, folder / r.name, timeout)
            except OSError as e:
                raise LatentfolioError(
                    f"{name}: not found under {folder} and the download failed ({str(e)[:200]}). "
                    f"Offline? Put the original files ({where}) in {folder}/ "
                    f"or point --data-root / LATENTFOLIO_DATA at a folder that has {ds.folder}/") from None
    else:
        for r in ds.files:
            if (folder / r.name).exists():
                verify(folder / r.name, r.digest)
    if ds.extract:
        archive = folder / ds.files[0].name
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")  # 'data' filter: no absolute paths, no links out
    return target
