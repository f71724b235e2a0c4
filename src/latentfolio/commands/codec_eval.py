"""The ``codec-eval`` command: real .lfz bytes, quality and speed over a split of a data set."""

from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image

from ..codec.entropy import estimated_bits
from ..codec.hyper import is_hyper
from ..codec.image import decompress_bytes, encode_image, require_codec
from ..errors import ArgumentError, LatentfolioError
from ..metrics import psnr, ssim
from ..saved import load_for_model, load_model
from .compress import check_refine


@torch.no_grad()
def codec_eval(model_dir, data, *, split: str = "test", limit: int | None = None, data_root=None,
               refine: int = 0) -> dict:
    """Compress and decode each image of a split as real .lfz bytes; report rate, quality, speed."""
    if limit is not None and limit < 1:
        raise ArgumentError("limit", limit, "must be at least 1")
    model = load_model(model_dir)
    require_codec(model)
    check_refine(model, refine)
    ds = load_for_model(model, data, data_root)
    idx = ds.indices(split)[:limit]
    if len(idx) == 0:
        raise LatentfolioError(f"{data}: the {split} split is empty")
    sizes, est, ps, ss, tenc, tdec = [], [], [], [], 0.0, 0.0
    for i in idx:
        a = np.asarray(ds.images[i])
        img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        t0 = time.perf_counter()
        blob, sym = encode_image(model, img, refine)
        tenc += time.perf_counter() - t0
        t0 = time.perf_counter()
        back = np.asarray(decompress_bytes(model, blob), np.float32).reshape(a.shape) / 255
        tdec += time.perf_counter() - t0
        sizes.append(len(blob))
        if not is_hyper(model):  # a hyperprior's sym is ŷ, not table symbols
            est.append(estimated_bits(model, sym) / 8)
        x, y = (torch.from_numpy(v).permute(2, 0, 1)[None].float() for v in (a.astype(np.float32) / 255, back))
        ps.append(float(psnr(y, x)[0]))
        ss.append(float(ssim(y, x)[0]))
    n, px = len(idx), ds.image_size**2
    return {"model": str(model_dir), "data": str(data), "split": split, "n": n, "refine": refine,
            "bytes_per_image": float(np.mean(sizes)), "bpp": float(np.mean(sizes)) * 8 / px,
            "estimated_payload_bytes": float(np.mean(est)) if est else None, "psnr_db": float(np.mean(ps)),
            "ssim": float(np.mean(ss)), "encode_images_per_s": n / tenc, "decode_images_per_s": n / tdec}
