"""One image <-> the bytes of one ``.lfz`` file, with a trained rate-distortion model."""

from __future__ import annotations

import zlib

import numpy as np
import torch
from PIL import Image

from ..data import metadata
from ..errors import LatentfolioError
from ..imaging import image_to_pixels, pixels_to_image, to_float, to_pixels
from ..models import to_unit
from ..models.codec import Codec
from ..models.hyperprior import gaussian_likelihood
from .entropy import code_symbols, decode_symbols, min_payload_bytes
from .format import FP_LEN, pack, parse
from .hyper import code_hyper, decode_hyper, is_hyper, side_info, table_scales
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


# Images are coded in tiles of TILE px, each analysed with MARGIN px of its neighbours around it
# and synthesised from MARGIN / stride latent rows and columns around it, then cropped to the
# tile: the 61 px receptive field of the transforms lies inside the margin, so the seams match a
# whole-image pass (to float rounding), and memory stays that of one tile at any image size.
# The tiling depends on the image size only, so every machine decodes a file the same way.
TILE, MARGIN = 1024, 64


def _planes(model, x: np.ndarray) -> np.ndarray:
    """(H, W, K) float -> (P, C, H, W) planes the model codes: a grey model codes each channel."""
    c = model.config.channels
    x = x.transpose(2, 0, 1)
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


def _windows(n: int, core: int, margin: int) -> list[tuple[int, int, int, int]]:
    """(window start, window end, core start, core end) along one axis of length ``n``."""
    return [(max(0, c - margin), min(n, c + core + margin), c, min(n, c + core)) for c in range(0, n, core)]


def _latent(model, pixels: np.ndarray, info: dict, refine: int = 0, side: tuple | None = None) -> np.ndarray:
    """Integer pixels (H, W, K) -> the float latent (P, M, ceil(H/s), ceil(W/s)), tile by tile.
    ``side``: a hyperprior's (means, scales) of the whole latent, which ``refine`` fits against."""
    s = model.stride
    h, w = pixels.shape[:2]
    y_all = None
    for wy0, wy1, cy0, cy1 in _windows(h, TILE, MARGIN):
        for wx0, wx1, cx0, cx1 in _windows(w, TILE, MARGIN):
            x = torch.from_numpy(np.ascontiguousarray(_planes(model, to_float(pixels[wy0:wy1, wx0:wx1], info))))
            x = x * 2 - 1 if model.config.norm == "pm1" else x
            with torch.no_grad():
                y = model.encode(x)
            if refine:
                y = refine_latent(model, x, y, refine, **_crop_side(side, wy0 // s, wx0 // s, y.shape))
            y = y.numpy()  # (P, M, wh, ww)
            if y_all is None:
                y_all = np.empty(y.shape[:2] + (-(-h // s), -(-w // s)), np.float32)
            ly, lx = (cy0 - wy0) // s, (cx0 - wx0) // s
            ny, nx = -(-(cy1 - cy0) // s), -(-(cx1 - cx0) // s)
            y_all[:, :, cy0 // s:cy0 // s + ny, cx0 // s:cx0 // s + nx] = y[:, :, ly:ly + ny, lx:lx + nx]
    return y_all


def _crop_side(side: tuple | None, ly: int, lx: int, shape) -> dict:
    """The refine arguments for one tile: its window of the hyperprior's means and scales."""
    if side is None:
        return {}
    h, w = shape[-2:]
    mu, sigma = (torch.from_numpy(np.ascontiguousarray(a[:, :, ly:ly + h, lx:lx + w])) for a in side)
    return {"mean": mu, "bits": lambda v: -torch.log2(gaussian_likelihood(v - mu, sigma)).sum()}


def _symbols(model, y: np.ndarray) -> np.ndarray:
    r = model.config.max_symbol
    return np.clip(np.round(y), -r, r).astype(np.int32)


@torch.no_grad()
def _synth(model, sym: np.ndarray, h: int, w: int, info: dict, k: int) -> np.ndarray:
    """The decoded latent ŷ -> integer pixels (H, W, K), synthesised tile by tile."""
    s, lm = model.stride, MARGIN // model.stride
    out = None
    for wy0, wy1, cy0, cy1 in _windows(sym.shape[2], TILE // s, lm):
        for wx0, wx1, cx0, cx1 in _windows(sym.shape[3], TILE // s, lm):
            z = torch.from_numpy(np.ascontiguousarray(sym[:, :, wy0:wy1, wx0:wx1], np.float32))
            a = to_unit(model.decode(z), model.config.norm).clamp(0, 1).numpy()
            py, px = (cy0 - wy0) * s, (cx0 - wx0) * s
            y0, x0 = cy0 * s, cx0 * s
            th, tw = min(h, cy1 * s) - y0, min(w, cx1 * s) - x0
            tile = _unplanes(model, a[:, :, py:py + th, px:px + tw], k)
            if out is None:
                out = np.empty((h, w, tile.shape[2]), to_pixels(tile[:1, :1], info).dtype)
            out[y0:y0 + th, x0:x0 + tw] = to_pixels(tile, info)
    return out


def compress_image(model, img: Image.Image, refine: int = 0, name: str = "image") -> bytes:
    """A Pillow image -> the bytes of an .lfz file (``refine``: SGA steps, see :func:`refine_latent`)."""
    return encode_image(model, img, refine, name)[0]


def encode_image(model, img: Image.Image, refine: int = 0, name: str = "image") -> tuple[bytes, np.ndarray]:
    """The .lfz bytes and the latent they code (a hyperprior's: ŷ, as the decoder rebuilds it)."""
    require_codec(model)
    w, h = img.size
    if w > 65535 or h > 65535:
        raise LatentfolioError(f"image is {w}x{h}: .lfz holds at most 65535 px a side")
    check_size(model, w, h, name)
    pixels, info = image_to_pixels(img)
    if is_hyper(model):
        y = _latent(model, pixels, info)
        side = None
        if refine:  # refined against the side information of the unrefined latent, which is sent
            side = side_info(model, y)
            y = _latent(model, pixels, info, refine, (side[2].astype(np.float32), table_scales(model, side[1])))
        payload, sym = code_hyper(model, y, side)
    else:
        sym = _symbols(model, _latent(model, pixels, info, refine))
        payload = code_symbols(model, sym)
    alpha = zlib.compress(np.asarray(info["alpha"], np.uint8).tobytes(), 9) if "alpha" in info else None
    icc, exif = metadata.needed_profile(img), img.info.get("exif")  # version 3 when either is there
    return pack(0, fingerprint(model), w, h, img.mode, alpha, payload, icc, exif), sym


# The modes a decoded image can be rebuilt in (and written as PNG or TIFF); a file naming any other
# mode is refused at once, and `compress` refuses to make one (e.g. a floating-point TIFF, mode F).
DECODABLE = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "I", "I;16", "I;16L", "I;16B",
                       "CMYK", "YCbCr", "LAB"})
MEMORY_BUDGET = 12 << 30  # bytes a compress or decompress may take; past it, an image is refused


def memory_need(model, width: int, height: int) -> int:
    """Bytes one image takes to code, by an estimate: the tile's activations (five float32 maps of
    ``width`` channels at half resolution, over a tile with its margins), plus what grows with the
    image: three integer copies of its pixels (the input, the output, Pillow's) and its int32
    latent. A hyperprior keeps its whole latent for the side information: about eight more
    latent-sized maps (its residual, means, indices and the hyper-synthesis, in float64). A 400 MP
    scan needs about 6 GB with the default codec."""
    win = TILE + 2 * MARGIN
    tile = 5 * 4 * (win * win // 4) * getattr(model.config, "width", 96)
    latent = 4 * model.config.latent_dim * (width * height) // (model.stride ** 2)
    return tile + 3 * 4 * width * height + latent * (9 if is_hyper(model) else 1)


def check_size(model, width: int, height: int, name: str) -> None:
    """Refuse an image over Pillow's pixel limit (a decompression bomb), or one whose
    :func:`memory_need` is past MEMORY_BUDGET."""
    limit = Image.MAX_IMAGE_PIXELS or 1 << 62
    if width * height > limit:
        raise LatentfolioError(f"{name}: decompression bomb: {width}x{height} pixels is over the {limit:,} pixel limit")
    need = memory_need(model, width, height)
    if need > MEMORY_BUDGET:
        raise LatentfolioError(f"{name}: {width}x{height} is too large to code here (about "
                               f"{need / 2**30:.0f} GB, over {MEMORY_BUDGET / 2**30:.0f} GB); scale it down first")


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


def _decode_factorized(model, payload: bytes, shape, name: str, hd) -> np.ndarray:
    if len(payload) < min_payload_bytes(model, shape):
        raise LatentfolioError(f"{name}: truncated or corrupt .lfz file ({len(payload)} bytes of coded data "
                               f"cannot hold a {hd.width}x{hd.height} image)")
    try:
        return decode_symbols(model, payload, shape)
    except Exception as e:  # a payload the tables cannot decode
        raise LatentfolioError(f"{name}: corrupt coded data ({e})") from None


def decompress_bytes(model, data: bytes, name: str = "file") -> Image.Image:
    """The bytes of an .lfz file -> a Pillow image of the original size and mode, with the colour
    profile and EXIF the file carries in ``info``."""
    hd = parse(data, name)
    img = _rebuild(model, hd, name)
    for key, blob in (("icc_profile", hd.icc), ("exif", hd.exif)):
        if blob:
            img.info[key] = blob
    return img


def _rebuild(model, hd, name: str) -> Image.Image:
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
    if is_hyper(model):
        sym = decode_hyper(model, hd.payload, shape, name)
    else:
        sym = _decode_factorized(model, hd.payload, shape, name, hd)
    info: dict = {"mode": hd.mode, "scale": 255.0}
    if hd.mode in ("I;16", "I;16L", "I;16B", "I"):
        info.update(scale=65535.0, wide=True)
    p = _synth(model, sym, hd.height, hd.width, info, k)
    if hd.alpha is not None:
        info["alpha"] = Image.fromarray(_alpha(hd, name), "L")
    if hd.mode in ("P", "PA") and "alpha" in info:  # palette transparency: kept, as RGBA
        return pixels_to_image(p, {"mode": "RGBA", "scale": 255.0, "alpha": info["alpha"]})
    if hd.mode == "P":
        return pixels_to_image(p, {"mode": "RGB", "scale": 255.0}).quantize(256)
    if hd.mode not in ("L", "RGB", "RGBA", "LA") and not info.get("wide"):
        return pixels_to_image(p, {"mode": "RGB", "scale": 255.0}).convert(hd.mode)
    return pixels_to_image(p, info)
