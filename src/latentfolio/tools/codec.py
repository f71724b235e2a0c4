"""Real files from a trained ``codec`` model: the ``.lfz`` format, ``.lfa`` archives, evaluation.

``.lfz`` layout, version 2 (little-endian)::

    magic   b"LFZ\\x1a"  4 bytes  -- never changes
    version u8          1        -- this module writes 2 and reads 1 and 2; others are refused
    flags   u8          1        -- bit 0: alpha plane present; bits 1-7: Pillow mode code (MODES),
                                    127 = the mode's name follows the size
    model   4 bytes              -- first 4 bytes of the SHA-256 of model.safetensors
    width, height  LEB128        -- 1 byte each up to 127 px, at most 65535 px
    [mode   u8 length + ASCII]   -- only for a mode outside MODES
    [alpha  LEB128 length + zlib] -- lossless alpha, when flag bit 0 is set
    payload                      -- ANS-coded latent symbols (constriction's 32-bit words, little-
                                    endian), up to 3 zero bytes at the very end dropped
    crc32   u32                  -- of every byte before it

Version 1 (still read): flags = alpha bit only, an 8-byte model fingerprint, u16 width and
height, the mode as u8 length + ASCII, a u32 alpha length, and whole 32-bit payload words. The
v2 header is 16 bytes for a small image instead of 24, which matters at 28 px, where a whole
file is 50 to 300 bytes.

The symbols are coded with the integer tables frozen into the model folder, never with floats
recomputed at decode time, so a file decodes to the same symbols on any machine.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import _io
from ..errors import LatentfolioError
from .denoise import _merge, _split

MAGIC, VERSION = b"LFZ\x1a", 2
READS = (1, 2)
ARCHIVE_MAGIC, ARCHIVE_VERSION = b"LFA\x1a", 1
FP_LEN = 8  # model store folders and archive headers; an .lfz v2 file keeps the first FP_LEN_V2
FP_LEN_V2 = 4
FLAG_ALPHA = 1
MODES = ("L", "RGB", "RGBA", "P", "LA", "1", "I;16", "I;16L", "I;16B", "I", "F", "CMYK", "YCbCr", "LAB",
         "HSV", "RGBX", "PA", "La", "RGBa")  # codes 0..: append only, never reorder
MODE_NAMED = 127
_FOOTER = struct.Struct("<QII4s")  # index offset, index length, index crc32, magic


def _fp(model, n: int = FP_LEN) -> bytes:
    return bytes.fromhex(model.fingerprint)[:n]


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_leb128(data: bytes, pos: int, name: str) -> tuple[int, int]:
    n = shift = 0
    for i in range(pos, min(pos + 5, len(data))):
        n |= (data[i] & 0x7F) << shift
        shift += 7
        if not data[i] & 0x80:
            return n, i + 1
    raise LatentfolioError(f"{name}: malformed .lfz file")


def _require_codec(model) -> None:
    from ..models.codec import Codec

    if not isinstance(model, Codec):
        raise LatentfolioError(f"{getattr(model, 'model_dir', 'model')}: a {model.type_name!r} model cannot "
                               "compress; train one with --model codec")
    if not model.frozen:
        raise LatentfolioError(f"{model.model_dir}: the codec's entropy tables are not frozen")


@dataclass
class Header:
    version: int
    flags: int
    fingerprint: bytes
    width: int
    height: int
    mode: str
    alpha: bytes | None
    payload: bytes


def parse(data: bytes, name: str = "file") -> Header:
    """Validate and split an .lfz file. Any damage is a LatentfolioError naming the problem."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise LatentfolioError(f"{name}: not a latentfolio .lfz file (bad magic number)")
    if len(data) < 6 + FP_LEN_V2 + 2 + 4:
        raise LatentfolioError(f"{name}: truncated .lfz file ({len(data)} bytes)")
    version, flags = data[4], data[5]
    if version not in READS:
        raise LatentfolioError(f"{name}: .lfz format version {version} is not supported "
                               f"(this latentfolio reads versions {', '.join(map(str, READS))})")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    if zlib.crc32(body) != crc:
        raise LatentfolioError(f"{name}: corrupted or truncated .lfz file (CRC mismatch)")
    try:
        return (_parse_v1 if version == 1 else _parse_v2)(body, flags, name)
    except (struct.error, IndexError, UnicodeDecodeError):
        raise LatentfolioError(f"{name}: malformed .lfz file") from None


def _parse_v2(body: bytes, flags: int, name: str) -> Header:
    pos = 6
    fp = body[pos:pos + FP_LEN_V2]
    width, pos = _read_leb128(body, pos + FP_LEN_V2, name)
    height, pos = _read_leb128(body, pos, name)
    code = flags >> 1
    if code == MODE_NAMED:
        mode = body[pos + 1:pos + 1 + body[pos]].decode("ascii")
        pos += 1 + body[pos]
    elif code < len(MODES):
        mode = MODES[code]
    else:
        raise LatentfolioError(f"{name}: malformed .lfz file (unknown mode code {code})")
    alpha = None
    if flags & FLAG_ALPHA:
        alen, pos = _read_leb128(body, pos, name)
        alpha, pos = body[pos:pos + alen], pos + alen
    if pos > len(body) or not 0 < width <= 65535 or not 0 < height <= 65535:
        raise LatentfolioError(f"{name}: malformed .lfz file")
    payload = body[pos:]
    return Header(2, flags, fp, width, height, mode, alpha, payload + bytes(-len(payload) % 4))


def _parse_v1(body: bytes, flags: int, name: str) -> Header:
    pos = 6
    fp = body[pos:pos + FP_LEN]
    pos += FP_LEN
    width, height = struct.unpack_from("<HH", body, pos)
    pos += 4
    mlen = body[pos]
    mode = body[pos + 1:pos + 1 + mlen].decode("ascii", "replace")
    pos += 1 + mlen
    alpha = None
    if flags & FLAG_ALPHA:
        (alen,) = struct.unpack_from("<I", body, pos)
        alpha = body[pos + 4:pos + 4 + alen]
        pos += 4 + alen
    payload = body[pos:]
    if pos > len(body) or len(payload) % 4 or width == 0 or height == 0:
        raise LatentfolioError(f"{name}: malformed .lfz file")
    return Header(1, flags, fp, width, height, mode, alpha, payload)


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


def _tables(model):
    import constriction

    Categorical = constriction.stream.model.Categorical  # a Rust extension: no submodule imports
    freq, lo, ln = (model.table_freq.numpy(), model.table_lo.numpy(), model.table_len.numpy())
    total = float(1 << 16)
    cats = [Categorical(freq[m, : ln[m]].astype(np.float64) / total, perfect=False) for m in range(len(ln))]
    return cats, lo, ln, freq


def _latent(model, planes: np.ndarray, refine: int = 0) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
    x = x * 2 - 1 if model.config.norm == "pm1" else x
    with torch.no_grad():
        y = model.encode(x)
    if refine:
        y = refine_latent(model, x, y, refine)
    r = model.config.max_symbol
    return torch.round(y).clamp(-r, r).to(torch.int32).numpy()  # (P, M, h, w)


REFINE_LR = 0.01  # Adam step on the latent. On a colour codec, 100 steps at 0.005 or 0.02 and 250 at
# 0.01 all ended within 0.5% of each other in bytes at equal PSNR
REFINE_TAU = 0.5  # SGA's starting temperature, annealed ×e⁻³ over the steps (Yang et al.: 0.5)


def trained_lambda(model) -> float:
    lm = (model.meta.get("training") or {}).get("config", {}).get("lmbda")
    if not lm:
        raise LatentfolioError(f"{model.model_dir}: --refine needs the λ the codec was trained with, "
                               "and its meta.json has none")
    return float(lm)


def refine_latent(model, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = REFINE_LR,
                  seed: int = 0) -> torch.Tensor:
    """Encoder-side refinement: fit this image's latent to the codec's own rate-distortion loss.

    The analysis transform is an amortised guess; a few gradient steps on the latent of one image,
    with the synthesis transform and entropy model fixed, close most of that amortisation gap
    (Campos et al. 2019; Yang, Bamler & Mandt 2020). Rounding is relaxed by stochastic Gumbel
    annealing (SGA, Yang et al.): each value is a soft, random choice between its floor and ceiling
    whose temperature falls towards hard rounding. Only the encoder changes: files keep the format
    and decode with the same model; encoding costs ``steps`` decoder passes. Deterministic: the
    Gumbel noise comes from a generator seeded with ``seed``.
    """
    from ..training.losses import to_unit

    lm = trained_lambda(model)
    h, w = x.shape[-2:]
    target = to_unit(x, model.config.norm)
    gen = torch.Generator().manual_seed(seed)
    was = model.training
    model.eval()
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    y = y.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    try:
        with torch.enable_grad():
            for step in range(steps):
                tau = REFINE_TAU * math.exp(-3.0 * step / steps)
                floor = torch.floor(y).detach()
                frac = (y - floor).clamp(1e-5, 1 - 1e-5)
                logits = torch.stack([-torch.atanh(frac), -torch.atanh(1 - frac)], -1) / tau
                gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=gen).clamp_min(1e-10)))
                y_soft = floor + torch.softmax(logits + gumbel, -1)[..., 1]
                recon = to_unit(model.decode(y_soft)[..., :h, :w], model.config.norm)
                bits = -torch.log2(model.density.likelihood(y_soft)).sum()
                loss = lm * 255.0**2 * F.mse_loss(recon, target) + bits / (x.shape[0] * h * w)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    finally:
        for p, g in zip(model.parameters(), frozen):
            p.requires_grad_(g)
        model.train(was)
    return y.detach()


@torch.no_grad()
def _synth(model, sym: np.ndarray, h: int, w: int) -> np.ndarray:
    from ..training.losses import to_unit

    out = model.decode(torch.from_numpy(sym.astype(np.float32)))[..., :h, :w]
    return to_unit(out, model.config.norm).clamp(0, 1).numpy()


def code_symbols(model, sym: np.ndarray) -> bytes:
    """(P, M, h, w) integer latents -> ANS payload, channel by channel with that channel's table."""
    import constriction

    cats, lo, ln, _ = _tables(model)
    r = model.config.max_symbol
    coder = constriction.stream.stack.AnsCoder()
    for m in reversed(range(sym.shape[1])):  # ANS is a stack: encode in reverse decode order
        s = np.clip(sym[:, m].ravel() + r - lo[m], 0, ln[m] - 1).astype(np.int32)
        coder.encode_reverse(s, cats[m])
    raw = coder.get_compressed().astype("<u4").tobytes()
    k = 0
    while k < 3 and k < len(raw) and raw[-1 - k] == 0:  # the top word's zero high bytes: the
        k += 1  # reader pads back to whole words, so this is exact
    return raw[:len(raw) - k]


def decode_symbols(model, payload: bytes, shape: tuple[int, int, int, int]) -> np.ndarray:
    import constriction

    cats, lo, ln, _ = _tables(model)
    r = model.config.max_symbol
    p, m_, h, w = shape
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    out = np.empty(shape, np.int32)
    for m in range(m_):
        out[:, m] = (coder.decode(cats[m], p * h * w).astype(np.int32) - r + lo[m]).reshape(p, h, w)
    return out


def estimated_bits(model, sym: np.ndarray) -> float:
    """Information content of the symbols under the frozen integer tables, in bits."""
    _, lo, ln, freq = _tables(model)
    r = model.config.max_symbol
    bits = 0.0
    for m in range(sym.shape[1]):
        s = np.clip(sym[:, m].ravel() + r - lo[m], 0, ln[m] - 1)
        bits += float(-np.log2(freq[m, s] / 65536.0).sum())
    return bits


def compress_image(model, img: Image.Image, refine: int = 0) -> bytes:
    """A Pillow image -> the bytes of an .lfz file (``refine``: SGA steps, see :func:`refine_latent`)."""
    return _compress_image(model, img, refine)[0]


def _compress_image(model, img: Image.Image, refine: int = 0) -> tuple[bytes, np.ndarray]:
    """The .lfz bytes and the latent symbols they code."""
    _require_codec(model)
    w, h = img.size
    if w > 65535 or h > 65535:
        raise LatentfolioError(f"image is {w}x{h}: .lfz holds at most 65535 px a side")
    a, info = _split(img)
    sym = _latent(model, _planes(model, a), refine)
    code = MODES.index(img.mode) if img.mode in MODES else MODE_NAMED
    flags, extra = code << 1, b""
    if code == MODE_NAMED:
        mode = img.mode.encode("ascii")
        extra += bytes([len(mode)]) + mode
    if "alpha" in info:
        flags |= FLAG_ALPHA
        z = zlib.compress(np.asarray(info["alpha"], np.uint8).tobytes(), 9)
        extra += _leb128(len(z)) + z
    head = MAGIC + bytes([VERSION, flags]) + _fp(model, FP_LEN_V2) + _leb128(w) + _leb128(h)
    body = head + extra + code_symbols(model, sym)
    return body + struct.pack("<I", zlib.crc32(body)), sym


def decompress_bytes(model, data: bytes, name: str = "file") -> Image.Image:
    """The bytes of an .lfz file -> a Pillow image of the original size and mode."""
    hd = parse(data, name)
    _require_codec(model)
    if hd.fingerprint != _fp(model, len(hd.fingerprint)):
        raise LatentfolioError(f"{name}: was compressed with another model (fingerprint "
                               f"{hd.fingerprint.hex()}, this model is {_fp(model, len(hd.fingerprint)).hex()})")
    k = 1 if hd.mode in ("L", "LA", "1", "I", "I;16", "I;16L", "I;16B", "F") else 3
    p = k if model.config.channels == 1 else 1
    shape = (p, model.config.latent_dim, -(-hd.height // model.stride), -(-hd.width // model.stride))
    try:
        sym = decode_symbols(model, hd.payload, shape)
    except Exception as e:  # a payload the tables cannot decode
        raise LatentfolioError(f"{name}: corrupt coded data ({e})") from None
    a = _unplanes(model, _synth(model, sym, hd.height, hd.width), k)
    info: dict = {"mode": hd.mode}
    if hd.mode in ("I;16", "I;16L", "I;16B", "I"):
        info["scale"] = 65535.0
    if hd.alpha is not None:
        try:
            alpha = np.frombuffer(zlib.decompress(hd.alpha), np.uint8).reshape(hd.height, hd.width)
        except (zlib.error, ValueError):
            raise LatentfolioError(f"{name}: corrupt alpha plane") from None
        info["alpha"] = Image.fromarray(alpha, "L")
    if hd.mode == "P":
        return _merge(a, {"mode": "RGB"}).quantize(256)
    if hd.mode not in ("L", "RGB", "RGBA", "LA") and "scale" not in info:
        return _merge(a, {"mode": "RGB"}).convert(hd.mode)
    return _merge(a, info)


# --- finding the model a file needs ----------------------------------------------------------
def model_store() -> Path:
    env = os.environ.get("LATENTFOLIO_MODELS")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("latentfolio")) / "models"


def register(model) -> Path:
    """Keep a copy of the model folder under its fingerprint, so `decompress` can find it."""
    from ..saved import CONFIG, META, WEIGHTS

    dst = model_store() / _fp(model).hex()
    if not (dst / WEIGHTS).exists():
        dst.mkdir(parents=True, exist_ok=True)
        for f in (CONFIG, META, WEIGHTS):
            src = Path(model.model_dir) / f
            if src.exists():
                _io.atomic_write(dst / f, lambda p, s=src: shutil.copyfile(s, p))
    return dst


def _model_for(fp: bytes, given, cache: dict, name: str):
    from ..saved import load_model

    if given is not None:
        return given
    if fp not in cache:
        found = sorted(model_store().glob(fp.hex() + "*")) if model_store().is_dir() else []
        if not found:
            raise LatentfolioError(f"{name}: needs model {fp.hex()}, which is not in {model_store()}; "
                                   "pass --model MODEL_DIR")
        if len(found) > 1:  # two stored models share the file's short fingerprint
            raise LatentfolioError(f"{name}: model {fp.hex()} is ambiguous in {model_store()}; "
                                   "pass --model MODEL_DIR")
        cache[fp] = load_model(found[0])
    return cache[fp]


# --- archives -----------------------------------------------------------------------------------
def write_archive(path: Path, entries: list[tuple[str, bytes]], fp: bytes) -> None:
    def write(tmp: Path):
        with open(tmp, "wb") as f:
            f.write(ARCHIVE_MAGIC + bytes([ARCHIVE_VERSION]) + fp)
            index = []
            for name, blob in entries:
                index.append({"name": name, "offset": f.tell(), "length": len(blob)})
                f.write(blob)
            raw = json.dumps({"entries": index}).encode()
            off = f.tell()
            f.write(raw)
            f.write(_FOOTER.pack(off, len(raw), zlib.crc32(raw), ARCHIVE_MAGIC))

    _io.atomic_write(path, write)


class Archive:
    """An .lfa file: many .lfz blobs and an index; each image decodes on its own."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        data = self.path.read_bytes()
        if len(data) < 6 + FP_LEN + _FOOTER.size or data[:4] != ARCHIVE_MAGIC:
            raise LatentfolioError(f"{self.path}: not a latentfolio .lfa archive")
        if data[4] != ARCHIVE_VERSION:
            raise LatentfolioError(f"{self.path}: archive version {data[4]} is not supported")
        off, ln, crc, magic = _FOOTER.unpack(data[-_FOOTER.size:])
        raw = data[off:off + ln] if off + ln <= len(data) - _FOOTER.size else b""
        if magic != ARCHIVE_MAGIC or zlib.crc32(raw) != crc:
            raise LatentfolioError(f"{self.path}: corrupted or truncated archive (index CRC mismatch)")
        self.fingerprint = data[5:5 + FP_LEN]
        self.entries = {e["name"]: e for e in json.loads(raw)["entries"]}
        self._data = data

    def names(self) -> list[str]:
        return list(self.entries)

    def blob(self, name: str) -> bytes:
        if name not in self.entries:
            raise LatentfolioError(f"{self.path}: no entry {name!r}")
        e = self.entries[name]
        return self._data[e["offset"]:e["offset"] + e["length"]]


# --- commands -----------------------------------------------------------------------------------
def _check_refine(model, refine: int) -> None:
    if refine < 0:
        raise LatentfolioError(f"--refine {refine}: must be 0 (off) or a number of steps")
    if refine:
        trained_lambda(model)


def compress(model_dir, inputs: list, out, force: bool = False, refine: int = 0,
             progress: bool | None = None) -> dict:
    """Compress images to ``out``: a folder of .lfz files, or one .lfa archive if ``out`` ends in .lfa.

    ``refine``: gradient steps on each image's latent before coding (see :func:`refine_latent`):
    smaller files at the same quality, at ``refine`` decoder passes per image.
    """
    from ..data.decode import each_image
    from ..evaluation import collect_images
    from ..saved import load_model

    model = load_model(model_dir)
    _require_codec(model)
    _check_refine(model, refine)
    out = Path(out)
    archive = out.suffix == ".lfa"
    rels = [(f, (f.relative_to(p) if p.is_dir() else Path(f.name)).as_posix())
            for p in map(Path, inputs) for f in collect_images([p])]
    if archive:
        _io.check_writable(out, force)
        pairs = _io.plan_outputs(rels, force, files=False)
    else:
        pairs = _io.plan_outputs([(f, out / (rel + ".lfz")) for f, rel in rels], force)
    rows, entries = [], []
    for (f, dst), img in each_image(pairs, "compressing", progress):
        t0 = time.perf_counter()
        blob = compress_image(model, img, refine)
        dt = time.perf_counter() - t0
        row = {"input": str(f), "bytes": len(blob), "original_bytes": f.stat().st_size,
               "bpp": 8 * len(blob) / (img.size[0] * img.size[1]), "seconds": round(dt, 4)}
        if archive:
            entries.append((dst, blob))
        else:
            _io.write_bytes(dst, blob)
            row["output"] = str(dst)
        rows.append(row)
    if not rows:
        raise LatentfolioError("no readable image to compress")
    if archive:
        write_archive(out, entries, _fp(model))
    register(model)
    total = sum(r["bytes"] for r in rows)
    return {"out": str(out), "archive": archive, "refine": refine, "images": len(rows), "bytes": total,
            "original_bytes": sum(r["original_bytes"] for r in rows), "files": rows}


def decompress(files: list, out, model_dir=None, only: list[str] | None = None, force: bool = False) -> dict:
    """Decode .lfz files and .lfa archives into ``out`` (PNG; TIFF for CMYK)."""
    from ..saved import load_model

    given = load_model(model_dir) if model_dir else None
    cache: dict = {}
    out = Path(out)
    written = []
    made: dict[str, str] = {}  # output -> what it was decoded from

    def emit(name: str, blob: bytes, src: str):
        hd = parse(blob, src)
        model = _model_for(hd.fingerprint, given, cache, src)
        img = decompress_bytes(model, blob, src)
        stem = name[:-4] if name.endswith(".lfz") else name
        ext = ".tiff" if img.mode == "CMYK" else ".png"
        dst = out / (str(Path(stem).with_suffix("")) + ext)
        if not dst.resolve().is_relative_to(out.resolve()):
            raise LatentfolioError(f"{src}: entry {name!r} would be written outside {out}")
        label = src if name == Path(src).name else f"{src} ({name})"  # a file, or an archive's entry
        if str(dst) in made:  # x.jpg.lfz and x.png.lfz both decode to x.png
            raise LatentfolioError(f"{made[str(dst)]} and {label} would both be written to {dst}; "
                                   "decompress them into separate folders")
        if dst.exists() and not force:
            raise LatentfolioError(f"{dst}: already exists (use --force to overwrite)")
        made[str(dst)] = label
        buf = io.BytesIO()
        img.save(buf, format="TIFF" if ext == ".tiff" else "PNG")
        _io.write_bytes(dst, buf.getvalue())
        written.append({"input": src, "output": str(dst), "size": list(img.size), "mode": img.mode})

    jobs: list[tuple[Path, str]] = []  # (file, its name under out)
    for f in map(Path, files):
        if f.is_dir():  # a folder `compress` wrote: its .lfz files and .lfa archives, structure kept
            found = sorted(g for g in f.rglob("*") if g.suffix in (".lfz", ".lfa") and g.is_file())
            if not found:
                raise LatentfolioError(f"{f}: no .lfz or .lfa files in this folder")
            jobs += [(g, g.relative_to(f).as_posix()) for g in found]
        elif f.is_file():
            jobs.append((f, f.name))
        else:
            raise LatentfolioError(f"{f}: no such file")
    for f, name in jobs:
        with f.open("rb") as fh:
            head = fh.read(4)
        if head == ARCHIVE_MAGIC:
            arc = Archive(f)
            for entry in only or arc.names():
                emit(entry, arc.blob(entry), f"{f}:{entry}")
        else:
            emit(name, f.read_bytes(), str(f))
    return {"out": str(out), "written": written}


@torch.no_grad()
def codec_eval(model_dir, data, split: str = "test", limit: int | None = None, data_root=None,
               refine: int = 0) -> dict:
    """Compress and decode each image of a split as real .lfz bytes; report rate, quality, speed."""
    from ..evaluation import load_for_model
    from ..metrics import psnr, ssim
    from ..saved import load_model

    if limit is not None and limit < 1:
        raise LatentfolioError(f"--limit {limit}: must be at least 1")
    model = load_model(model_dir)
    _require_codec(model)
    _check_refine(model, refine)
    ds = load_for_model(model, data, data_root)
    idx = ds.indices(split)[:limit]
    if len(idx) == 0:
        raise LatentfolioError(f"{data}: the {split} split is empty")
    sizes, est, ps, ss, tenc, tdec = [], [], [], [], 0.0, 0.0
    for i in idx:
        a = np.asarray(ds.images[i])
        img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        t0 = time.perf_counter()
        blob, sym = _compress_image(model, img, refine)
        tenc += time.perf_counter() - t0
        t0 = time.perf_counter()
        back = np.asarray(decompress_bytes(model, blob), np.float32).reshape(a.shape) / 255
        tdec += time.perf_counter() - t0
        sizes.append(len(blob))
        est.append(estimated_bits(model, sym) / 8)
        x, y = (torch.from_numpy(v).permute(2, 0, 1)[None].float() for v in (a.astype(np.float32) / 255, back))
        ps.append(float(psnr(y, x)[0]))
        ss.append(float(ssim(y, x)[0]))
    n, px = len(idx), ds.image_size**2
    return {"model": str(model_dir), "data": str(data), "split": split, "n": n, "refine": refine,
            "bytes_per_image": float(np.mean(sizes)), "bpp": float(np.mean(sizes)) * 8 / px,
            "estimated_payload_bytes": float(np.mean(est)), "psnr_db": float(np.mean(ps)),
            "ssim": float(np.mean(ss)), "encode_images_per_s": n / tenc, "decode_images_per_s": n / tdec}
