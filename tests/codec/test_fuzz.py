"""Fuzzing the .lfz and .lfa readers: bit flips, truncations and crafted headers.

Every case must end in a LatentfolioError (one line, naming the file) or, for a file left
whole, in the image it holds; nothing else may escape, and peak memory stays small, whatever
size a header claims.
"""

from __future__ import annotations

import json
import random
import resource
import struct
import zlib
from pathlib import Path


import latentfolio as lf
from latentfolio.codec.archive import ARCHIVE_MAGIC, Archive
from latentfolio.codec.format import pack
from latentfolio.codec.image import decompress_bytes, fingerprint
from latentfolio.errors import LatentfolioError

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_fresh_process(fn):
    """``fn()`` in a new (spawned) process -> (its result, how far that process's peak memory rose
    during the call, MB). A process of its own: a high-water mark shared with earlier tests would
    hide any growth below their peak."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_measured, args=(fn, q))
    p.start()
    out = q.get(timeout=600)
    p.join(60)
    if isinstance(out, BaseException):
        raise out
    return out


def _measured(fn, q) -> None:
    try:
        lf.load(V1 / "codec")  # what every case needs, loaded before the baseline is read
        before = peak_mb()
        result = fn()
        q.put((result, peak_mb() - before))
    except BaseException as e:  # noqa: BLE001  shown by the test
        q.put(e)


def outcome(fn):
    try:
        return fn()
    except LatentfolioError as e:
        msg = str(e)
        assert "\n" not in msg and msg, msg  # one line
        return None


def test_lfz_mutations_and_crafted_headers():
    cases, grew = in_fresh_process(lfz_cases)
    assert cases == 3000
    assert grew < 300, f"peak memory grew by {grew:.0f} MB"


def lfz_cases() -> int:
    """3,000 mutated and crafted .lfz files through the decoder -> how many (each asserted)."""
    codec = lf.load(V1 / "codec")
    rnd = random.Random(0)
    good = (V1 / "image.lfz").read_bytes()
    fp = fingerprint(codec)
    cases = 0
    for _ in range(1500):  # flips, truncations, insertions
        b = bytearray(good)
        kind = rnd.randrange(3)
        if kind == 0:
            for _ in range(rnd.randint(1, 4)):
                i = rnd.randrange(len(b))
                b[i] ^= 1 << rnd.randrange(8)
        elif kind == 1:
            b = b[:rnd.randrange(len(b))]
        else:
            b[rnd.randrange(len(b) + 1):0] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        img = outcome(lambda: decompress_bytes(codec, bytes(b), "f.lfz"))
        assert img is None or bytes(b) == good
        cases += 1
    for _ in range(1500):  # well-formed, CRC-valid files that lie about what they hold
        w, h = rnd.choice([1, 7, 16, 300, 4096, 65535]), rnd.choice([1, 9, 16, 1024, 65535])
        mode = rnd.choice(["L", "RGB", "RGBA", "P", "I;16", "F", "CMYK", "XYZ", "LA"])
        alpha = zlib.compress(bytes(rnd.randrange(2) for _ in range(rnd.choice([0, 5, 256]))) * 1000, 9) \
            if mode in ("RGBA", "LA") else None
        payload = bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 1, 4, 40, 400])))
        blob = pack(0, fp, w, h, mode, alpha, payload)
        img = outcome(lambda: decompress_bytes(codec, blob, "f.lfz"))
        assert img is None or img.size == (w, h)
        cases += 1
    return cases


def test_lfa_index_mutations(tmp_path):
    good = (V1 / "archive.lfa").read_bytes()
    rnd = random.Random(1)
    footer = struct.Struct("<QII4s")
    off, ln, _, _ = footer.unpack(good[-footer.size:])
    body = good[:off]
    crafted = [b"not json", b"[1, 2]", b'"entries"', b'{"entries": 7}', b'{"entries": [{"name": "x"}]}',
               json.dumps({"entries": [{"name": "x", "offset": "0", "length": 5}]}).encode(),
               json.dumps({"entries": [{"name": "x", "offset": 10**12, "length": 5}]}).encode(),
               json.dumps({"entries": [{"name": "", "offset": 0, "length": 1}]}).encode(),
               b"[" * 100000 + b"]" * 100000]
    path = tmp_path / "a.lfa"
    for raw in crafted:  # a valid CRC over a crafted index
        path.write_bytes(body + raw + footer.pack(off, len(raw), zlib.crc32(raw), ARCHIVE_MAGIC))
        assert outcome(lambda: Archive(path)) is None
    path.write_bytes(body + footer.pack(off, 0, 0, ARCHIVE_MAGIC))  # a zero-length index
    assert outcome(lambda: Archive(path)) is None
    for _ in range(1000):
        b = bytearray(good)
        if rnd.randrange(2):
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        else:
            b = b[:rnd.randrange(len(b))]
        path.write_bytes(bytes(b))
        arc = outcome(lambda: Archive(path))
        if arc is not None:  # the index survived: each entry is bytes within the file
            for name in arc.names():
                assert isinstance(arc.blob(name), bytes)
