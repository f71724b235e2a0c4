"""What a run trains on: thumbnails of the whole images, or native-resolution patches of them."""

from __future__ import annotations

from pathlib import Path

from ..data import ImageSet, is_array_source, load_data
from ..data.patches import load_patches
from ..errors import ArgumentError


def describe(ds: ImageSet) -> str:
    s = ds.split_sizes()
    lab = f", {len(ds.classes)} labels" if ds.labels is not None else ", no labels"
    if ds.patches_from:
        pad = f", {ds.padded} smaller than a patch and padded" if ds.padded else ""
        return (f"{ds.name}: {len(ds)} native-resolution patches {ds.image_size}x{ds.image_size}x{ds.channels} "
                f"from {ds.patches_from} images{pad} (train {s['train']} / val {s['val']} / test {s['test']}{lab})")
    return (f"{ds.name}: {len(ds)} images {ds.image_size}x{ds.image_size}x{ds.channels} "
            f"(train {s['train']} / val {s['val']} / test {s['test']}{lab})")


def patch_setting(patch: int | None, image_size: int | None, model_cls, data) -> int | None:
    """The patch side to train on, or None for thumbnails: --patch, else the model's default on an
    image folder when no --image-size is given."""
    folder = not isinstance(data, ImageSet) and not is_array_source(data) and Path(str(data)).expanduser().is_dir()
    if patch is not None:
        if not model_cls.any_size:
            raise ArgumentError("patch", patch, f"needs a fully convolutional model (codec, hyperprior, meanscale, "
                                f"denoiser); {model_cls.type_name} takes --image-size")
        if image_size is not None:
            raise ArgumentError("patch", patch, "give --patch or --image-size, not both")
        if not 16 <= patch <= 1024:
            raise ArgumentError("patch", patch, "must be between 16 and 1024 px")
        if not folder:
            raise ArgumentError("patch", patch, f"{data} is not a folder of image files")
        return patch
    return 0 if model_cls.patch_default and image_size is None and folder else None


def training_data(data, patch: int | None, image_size: int | None, channels: int | None, fit: str,
                  data_root, deadline: float | None = None) -> ImageSet:
    """``deadline`` (time.monotonic): when a patch bank must be done, under --max-time."""
    if patch is not None:
        return load_patches(data, patch or None, channels, deadline=deadline)
    return load_data(data, image_size=image_size, channels=channels, fit=fit, data_root=data_root)
