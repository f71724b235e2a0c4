"""One image <-> the bytes of one ``.lfz`` file, with a trained rate-distortion model."""

from __future__ import annotations

import zlib

import numpy as np
import torch
from PIL import Image

from ..errors import LatentfolioError
from ..imaging import array_to_image, image_to_array
from ..models import to_unit
from ..models.codec import Codec
from .entropy import code_symbols, decode_symbols, min_payload_bytes
from .format import FP_LEN, pack, parse
from .refine import refine_latent


def fingerprint(model, n: int = FP_LEN) -> bytes:
    """The first ``n`` bytes of the SHA-256 of the model's weights, as files record it."""
    return bytes.fromhex(model.fingerprint)[:n]


def require_codec(model) -> None:
    if not isinstance(model, Codec):
        raise LatentfolioError(f"{getattr(model, 'model_dir', 'model')}: a {model.type_name!r} model cannot "
                               "compress; train one with --model codec")
    if not model.frozen:
        raise LatentfolioError(f"{model.model_dir}: the codec's entropy tables are not frozen")


def _planes(model, a: np.ndarray) -> np.ndarray:
    """(H, W, K) float -> (P, C, H, W) planes the model codes: a grey model codes each channel."""
    c = model.config.channels
    x = a.transpose(2, 0, 1)
    if c == 1:
        return x[:, None]
    if x.shape[0] == 1:
        return np.repeat(x, 3, 0)[None]
    return x[None]


def _unplanes(model, planes: np.ndarray, k: int) -> np.ndarray:
    if model.config.channels == 1:
        return planes[:, 0].transpose(1, 2, 0)
    out = planes[0].transpose(1, 2, 0)
    return out.mean(2, keepdims=True) if k == 1 else out


def _latent(model, planes: np.ndarray, refine: int = 0) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
    x = x * 2 - 1 if model.config.norm == "pm1" else x
    with torch.no_grad():
        y = model.encode(x)
    if refine:
        y = refine_latent(model, x, y, refine)
    r = model.config.max_symbol
    return torch.round(y).clamp(-r, r).to(torch.int32).numpy()  # (P, M, h, w)


@torch.no_grad()
def _synth(model, sym: np.ndarray, h: int, w: int) -> np.ndarray:
    out = model.decode(torch.from_numpy(sym.astype(np.float32)))[..., :h, :w]
    return to_unit(out, model.config.norm).clamp(0, 1).numpy()


def compress_image(model, img: Image.Image, refine: int = 0, name: str = "image") -> bytes:
    """A Pillow image -> the bytes of an .lfz file (``refine``: SGA steps, see :func:`refine_latent`)."""
    return encode_image(model, img, refine, name)[0]


def encode_image(model, img: Image.Image, refine: int = 0, name: str = "image") -> tuple[bytes, np.ndarray]:
    """The .lfz bytes and the latent symbols they code."""
    require_codec(model)
    w, h = img.size
    if w > 65535 or h > 65535:
        raise LatentfolioError(f"image is {w}x{h}: .lfz holds at most 65535 px a side")
    check_size(model, w, h, name)
    a, info = image_to_array(img)
    sym = _latent(model, _planes(model, a), refine)
    alpha = zlib.compress(np.asarray(info["alpha"], np.uint8).tobytes(), 9) if "alpha" in info else None
    return pack(0, fingerprint(model), w, h, img.mode, alpha, code_symbols(model, sym)), sym


# The modes a decoded image can be rebuilt in (and written as PNG or TIFF); a file naming any other
# mode is refused at once, and `compress` refuses to make one (e.g. a floating-point TIFF, mode F).
DECODABLE = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "I", "I;16", "I;16L", "I;16B",
                       "CMYK", "YCbCr", "LAB"})
MEMORY_BUDGET = 12 << 30  # bytes a whole-image pass may take; past it, an image is refused with a message


def check_size(model, width: int, height: int, name: str) -> None:
    """Refuse an image the whole-image transforms cannot hold: over Pillow's pixel limit (a
    decompression bomb), or past MEMORY_BUDGET by an estimate of the peak: five float32 maps of
    ``width`` channels at half resolution. Measured with the default width-96 codec, a 12 MP photo
    peaked at 5.4 GB (estimate 5.8); 24 MP is allowed (11.6), 8000 x 8000 is not (31)."""
    limit = Image.MAX_IMAGE_PIXELS or 1 << 62
    if width * height > limit:
        raise LatentfolioError(f"{name}: decompression bomb: {width}x{height} pixels is over the {limit:,} pixel limit")
    need = 5 * 4 * (width * height // 4) * getattr(model.config, "width", 96)
    if need > MEMORY_BUDGET:
        raise LatentfolioError(f"{name}: {width}x{height} is too large to code in one pass here (about "
                               f"{need / 2**30:.0f} GB of activations, over {MEMORY_BUDGET / 2**30:.0f} GB); "
                               "scale it down first")


def _alpha(hd, name: str) -> np.ndarray:
    """The lossless alpha plane, inflated to at most width x height bytes (no zlib bomb)."""
    n = hd.width * hd.height
    d = zlib.decompressobj()
    try:
        raw = d.decompress(hd.alpha, n)
    except zlib.error:
        raw = b""
    if len(raw) != n or d.unconsumed_tail:
        raise LatentfolioError(f"{name}: corrupt alpha plane")
    return np.frombuffer(raw, np.uint8).reshape(hd.height, hd.width)


def decompress_bytes(model, data: bytes, name: str = "file") -> Image.Image:
    """The bytes of an .lfz file -> a Pillow image of the original size and mode."""
    hd = parse(data, name)
    require_codec(model)
    if hd.mode not in DECODABLE:
        raise LatentfolioError(f"{name}: holds an image of mode {hd.mode!r}, which latentfolio cannot rebuild")
    if hd.fingerprint != fingerprint(model, len(hd.fingerprint)):
        raise LatentfolioError(f"{name}: was compressed with another model (fingerprint "
                               f"{hd.fingerprint.hex()}, this model is {fingerprint(model, len(hd.fingerprint)).hex()})")
    k = 1 if hd.mode in ("L", "LA", "1", "I", "I;16", "I;16L", "I;16B", "F") else 3
    p = k if model.config.channels == 1 else 1
    shape = (p, model.config.latent_dim, -(-hd.height // model.stride), -(-hd.width // model.stride))
    check_size(model, hd.width, hd.height, name)
    if len(hd.payload) < min_payload_bytes(model, shape):
        raise LatentfolioError(f"{name}: truncated or corrupt .lfz file ({len(hd.payload)} bytes of coded data "
                               f"cannot hold a {hd.width}x{hd.height} image)")
    try:
        sym = decode_symbols(model, hd.payload, shape)
    except Exception as e:  # a payload the tables cannot decode
        raise LatentfolioError(f"{name}: corrupt coded data ({e})") from None
    a = _unplanes(model, _synth(model, sym, hd.height, hd.width), k)
    info: dict = {"mode": hd.mode}
    if hd.mode in ("I;16", "I;16L", "I;16B", "I"):
        info["scale"] = 65535.0
    if hd.alpha is not None:
        info["alpha"] = Image.fromarray(_alpha(hd, name), "L")
    if hd.mode in ("P", "PA") and "alpha" in info:  # palette transparency: kept, as RGBA
        return array_to_image(a, {"mode": "RGBA", "alpha": info["alpha"]})
    if hd.mode == "P":
        return array_to_image(a, {"mode": "RGB"}).quantize(256)
    if hd.mode not in ("L", "RGB", "RGBA", "LA") and "scale" not in info:
        return array_to_image(a, {"mode": "RGB"}).convert(hd.mode)
    return array_to_image(a, info)
