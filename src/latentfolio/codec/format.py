"""The ``.lfz`` file: one compressed image. Parsing and packing live here and nowhere else.

``.lfz`` layout, versions 2 and 3 (little-endian)::

    magic   b"LFZ\\x1a"  4 bytes  -- never changes
    version u8          1        -- 3 where the image carries a colour profile or EXIF, else 2
                                    (byte for byte as before); reads 1 to 3, refuses others
    flags   u8          1        -- bit 0: alpha plane present; bits 1-7: Pillow mode code (MODES),
                                    127 = the mode's name follows the size
    model   4 bytes              -- first 4 bytes of the SHA-256 of model.safetensors
    width, height  LEB128        -- 1 byte each up to 127 px, at most 65535 px
    [mode   u8 length + ASCII]   -- only for a mode outside MODES
    [alpha  LEB128 length + zlib] -- lossless alpha, when flag bit 0 is set
    [extras u8]                  -- version 3 only: bit 0 an ICC profile follows, bit 1 EXIF
    [icc    LEB128 length + zlib] [exif  LEB128 length + zlib]
    payload                      -- ANS-coded latent symbols (constriction's 32-bit words, little-
                                    endian), up to 3 zero bytes at the very end dropped
    crc32   u32                  -- of every byte before it

Version 1 (still read): flags = alpha bit only, an 8-byte model fingerprint, u16 width and
height, the mode as u8 length + ASCII, a u32 alpha length, and whole 32-bit payload words. The
v2 header is 16 bytes for a small image instead of 24, which matters at 28 px, where a whole
file is 50 to 300 bytes.

docs/formats.md describes every file latentfolio writes, with its version history.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ..errors import LatentfolioError

MAGIC, VERSION = b"LFZ\x1a", 2


VERSION_META = 3  # the v2 layout with an extras byte: a colour profile and EXIF after the alpha


READS = (1, 2, 3)


FP_LEN = 8  # model store folders, archive headers and .lfz v1; an .lfz v2 file keeps the first FP_LEN_V2


FP_LEN_V2 = 4


FLAG_ALPHA = 1


MODES = ("L", "RGB", "RGBA", "P", "LA", "1", "I;16", "I;16L", "I;16B", "I", "F", "CMYK", "YCbCr", "LAB",
         "HSV", "RGBX", "PA", "La", "RGBa")  # codes 0..: append only, never reorder


MODE_NAMED = 127


EXTRA_ICC, EXTRA_EXIF = 1, 2


MAX_EXTRA = 16 << 20  # bytes a profile or EXIF may inflate to: an ICC profile of a printer is a few MB


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_leb128(data: bytes, pos: int, name: str) -> tuple[int, int]:
    n = shift = 0
    for i in range(pos, min(pos + 5, len(data))):
        n |= (data[i] & 0x7F) << shift
        shift += 7
        if not data[i] & 0x80:
            return n, i + 1
    raise LatentfolioError(f"{name}: malformed .lfz file")


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
    icc: bytes | None = None
    exif: bytes | None = None


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
        return _parse_v1(body, flags, name) if version == 1 else _parse_v2(body, flags, name, version)
    except (struct.error, IndexError, UnicodeDecodeError):
        raise LatentfolioError(f"{name}: malformed .lfz file") from None


def _inflate(blob: bytes, what: str, name: str) -> bytes:
    """A zlib section, inflated to at most MAX_EXTRA bytes (no zlib bomb)."""
    d = zlib.decompressobj()
    try:
        raw = d.decompress(blob, MAX_EXTRA)
    except zlib.error:
        raw = b""
    if not raw or d.unconsumed_tail or not d.eof:
        raise LatentfolioError(f"{name}: corrupt {what} in .lfz file")
    return raw


def _parse_v2(body: bytes, flags: int, name: str, version: int = 2) -> Header:
    pos = 6
    fp = body[pos:pos + FP_LEN_V2]
    width, pos = read_leb128(body, pos + FP_LEN_V2, name)
    height, pos = read_leb128(body, pos, name)
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
        alen, pos = read_leb128(body, pos, name)
        alpha, pos = body[pos:pos + alen], pos + alen
    extra: dict = {}
    if version == VERSION_META:
        bits, pos = body[pos], pos + 1
        if bits & ~(EXTRA_ICC | EXTRA_EXIF):
            raise LatentfolioError(f"{name}: malformed .lfz file (unknown extras {bits:#x})")
        for bit, key in ((EXTRA_ICC, "icc"), (EXTRA_EXIF, "exif")):
            if bits & bit:
                n, pos = read_leb128(body, pos, name)
                if pos + n > len(body):
                    raise LatentfolioError(f"{name}: malformed .lfz file")
                extra[key], pos = _inflate(body[pos:pos + n], "ICC profile" if key == "icc" else "EXIF", name), pos + n
    if pos > len(body) or not 0 < width <= 65535 or not 0 < height <= 65535:
        raise LatentfolioError(f"{name}: malformed .lfz file")
    payload = body[pos:]
    return Header(version, flags, fp, width, height, mode, alpha, payload + bytes(-len(payload) % 4), **extra)


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


def pack(flags: int, fingerprint: bytes, width: int, height: int, mode: str, alpha: bytes | None,
         payload: bytes, icc: bytes | None = None, exif: bytes | None = None) -> bytes:
    """An .lfz file from its parts: header, optional mode name and alpha, the colour profile and
    EXIF (version 3; without them, version 2), payload, CRC."""
    if width > 65535 or height > 65535:
        raise LatentfolioError(f"image is {width}x{height}: .lfz holds at most 65535 px a side")
    code = MODES.index(mode) if mode in MODES else MODE_NAMED
    flags = (flags & FLAG_ALPHA) | code << 1
    extra = b""
    if code == MODE_NAMED:
        name = mode.encode("ascii")
        extra += bytes([len(name)]) + name
    if alpha is not None:
        flags |= FLAG_ALPHA
        extra += leb128(len(alpha)) + alpha
    version = VERSION_META if icc or exif else VERSION
    if version == VERSION_META:
        extra += bytes([(EXTRA_ICC if icc else 0) | (EXTRA_EXIF if exif else 0)])
        for blob in (icc, exif):
            if blob:
                z = zlib.compress(blob, 9)
                extra += leb128(len(z)) + z
    body = MAGIC + bytes([version, flags]) + fingerprint[:FP_LEN_V2] + leb128(width) + leb128(height)
    body += extra + payload
    return body + struct.pack("<I", zlib.crc32(body))
