"""The .lfz parser and packer on their own, without a model: layouts of docs/formats.md."""

from __future__ import annotations

import struct
import zlib

import pytest

from latentfolio.codec import format as fmt
from latentfolio.errors import LatentfolioError

FP = bytes(range(8))


def test_pack_then_parse_gives_the_parts_back():
    blob = fmt.pack(0, FP, 300, 20, "RGB", None, b"\x01\x02\x03\x04\x05")
    assert blob[:4] == fmt.MAGIC and blob[4] == fmt.VERSION == 2
    hd = fmt.parse(blob, "x.lfz")
    assert (hd.version, hd.width, hd.height, hd.mode, hd.alpha) == (2, 300, 20, "RGB", None)
    assert hd.fingerprint == FP[:fmt.FP_LEN_V2]
    assert hd.payload == b"\x01\x02\x03\x04\x05" + bytes(3)  # padded back to whole 32-bit words
    # 4 magic + 1 version + 1 flags + 4 model + 2 + 1 LEB128 sizes, then payload and CRC
    assert len(blob) == 13 + 5 + 4


def test_alpha_and_named_modes_travel():
    alpha = zlib.compress(bytes(range(12)))
    hd = fmt.parse(fmt.pack(0, FP, 4, 3, "RGBA", alpha, b""))
    assert hd.alpha == alpha and hd.flags & fmt.FLAG_ALPHA and hd.mode == "RGBA"
    odd = fmt.parse(fmt.pack(0, FP, 4, 3, "XYZ", None, b""))  # a mode outside the table, by name
    assert odd.mode == "XYZ" and odd.flags >> 1 == fmt.MODE_NAMED


def test_leb128_round_trips_at_the_edges():
    for n in (0, 1, 127, 128, 16383, 16384, 65535):
        raw = fmt.leb128(n)
        assert fmt.read_leb128(raw + b"tail", 0, "x") == (n, len(raw))
    with pytest.raises(LatentfolioError, match="malformed"):
        fmt.read_leb128(b"\xff\xff", 0, "x")  # never ends


def test_version_1_layout_is_read():
    payload = b"\x00" * 8
    body = fmt.MAGIC + bytes([1, 0]) + FP + struct.pack("<HH", 30, 20) + b"\x01L" + payload
    hd = fmt.parse(body + struct.pack("<I", zlib.crc32(body)))
    assert (hd.version, hd.width, hd.height, hd.mode, hd.fingerprint) == (1, 30, 20, "L", FP)


@pytest.mark.parametrize("bad, why", [
    (b"PNG\x00" + bytes(20), "bad magic"),
    (fmt.MAGIC + b"\x02", "truncated"),
    (fmt.MAGIC + bytes([9, 0]) + bytes(12), "version 9 is not supported"),
])
def test_damage_is_named(bad, why):
    with pytest.raises(LatentfolioError, match=why):
        fmt.parse(bad, "x.lfz")


def test_every_flipped_bit_is_caught():
    blob = fmt.pack(0, FP, 30, 20, "RGB", zlib.compress(b"a" * 600), b"\x11" * 40)
    for i in range(len(blob) * 8):
        bad = bytearray(blob)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(LatentfolioError):
            fmt.parse(bytes(bad), "x.lfz")


def test_sizes_past_the_format_are_refused():
    with pytest.raises(LatentfolioError, match="65535 px"):
        fmt.pack(0, FP, 70000, 10, "L", None, b"")


def _sealed(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_version_3_carries_a_profile_and_exif():
    icc, exif = b"\x00" * 16 + b"RGB " + bytes(range(200)), b"Exif\x00\x00MM" + b"\x07" * 90
    hd = fmt.parse(fmt.pack(0, FP, 30, 20, "RGBA", zlib.compress(b"a" * 600), b"\x11" * 8, icc, exif))
    assert (hd.version, hd.icc, hd.exif, hd.payload) == (3, icc, exif, b"\x11" * 8)
    only = fmt.parse(fmt.pack(0, FP, 30, 20, "RGB", None, b"", None, exif))
    assert (only.version, only.icc, only.exif) == (3, None, exif)
    assert fmt.pack(0, FP, 30, 20, "RGB", None, b"\x01", None, b"") == fmt.pack(0, FP, 30, 20, "RGB", None, b"\x01")


def test_a_damaged_profile_section_is_named_even_with_a_good_crc():
    head = fmt.MAGIC + bytes([3, 1 << 1]) + FP[:4] + fmt.leb128(30) + fmt.leb128(20)
    for extras, why in [(b"\x04", "unknown extras"),  # a bit this version does not define
                        (b"\x01" + fmt.leb128(5) + b"junk!", "corrupt ICC profile"),
                        (b"\x02" + fmt.leb128(90) + b"short", "malformed")]:
        with pytest.raises(LatentfolioError, match=why):
            fmt.parse(_sealed(head + extras), "x.lfz")
    bomb = zlib.compress(bytes(fmt.MAX_EXTRA + 1), 9)  # inflates past the cap: refused, not allocated
    with pytest.raises(LatentfolioError, match="corrupt EXIF"):
        fmt.parse(_sealed(head + b"\x02" + fmt.leb128(len(bomb)) + bomb), "x.lfz")
