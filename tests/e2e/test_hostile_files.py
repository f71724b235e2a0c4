"""The second probe's hostile files, models and archives (docs/reliability.md): each ends in one
``error: ...`` line or a warning naming the file, in bounded time and memory, never a traceback,
a hang, or a wrong image with exit status 0."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import latentfolio as lf
from latentfolio import _io
from latentfolio.errors import LatentfolioError

from conftest import cli, run_cli, write_shapes

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
MODEL, CODEC = V1 / "model", V1 / "codec"
FORMATS = Path(__file__).resolve().parents[3] / "shared" / "data" / "formats"


def one_line_error(code: int, err: str, *want: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for w in want:
        assert w in lines[0], lines[0]


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))


def png_bytes(size=(32, 32), colour=(200, 30, 30), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return buf.getvalue()


def layered(path: Path, mime: bytes, members: dict[str, bytes], stack: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mime)
        if stack is not None:
            z.writestr("stack.xml", stack)
        for name, data in members.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def break_crc(path: Path, member: str) -> None:
    """Flip a byte of ``member``'s stored data, so it fails its CRC when read."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# --- 9. tracebacks -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, mime", [("kra", b"application/x-krita"), ("ora", b"image/openraster")])
def test_a_layered_file_failing_its_crc_is_named_and_skipped(tmp_path, capsys, monkeypatch, store, kind, mime):
    src = write_shapes(tmp_path / "art", 4, size=16, colour=True)
    f = layered(src / f"painting.{kind}", mime, {"mergedimage.png": png_bytes((64, 64))})
    break_crc(f, "mergedimage.png")
    code, out, err = cli(capsys, monkeypatch, "index", MODEL, src, "--catalog", tmp_path / "c", "--json")
    assert code == 0 and json.loads(out)["images"] == 4 and f"painting.{kind}" in err and "Traceback" not in err
    code, out, err = cli(capsys, monkeypatch, "compress", "--target-psnr", "30", src, "--out", tmp_path / "z")
    assert code == 0 and f"painting.{kind}" in err and "Traceback" not in err


def test_a_garbage_exif_block_does_not_stop_target_compression(tmp_path, capsys, monkeypatch):
    src = tmp_path / "art"
    src.mkdir()
    Image.new("RGB", (48, 48), (30, 120, 200)).save(src / "bad-exif.jpg", quality=92, exif=b"Exif\x00\x00garbage!")
    code, out, err = cli(capsys, monkeypatch, "compress", "--target-psnr", "30", src, "--out", tmp_path / "z",
                         "--json")
    assert code == 0 and json.loads(out)["images"] == 1, err
    code, _, err = cli(capsys, monkeypatch, "decompress", tmp_path / "z", "--out", tmp_path / "d")
    assert code == 0, err


def archive_with_names(path: Path, names: list[str]) -> Path:
    from latentfolio.codec.archive import ARCHIVE_MAGIC, _FOOTER

    blob = png_bytes()
    with open(path, "wb") as f:
        f.write(ARCHIVE_MAGIC + bytes([2]) + bytes(4))
        index = []
        for n in names:
            index.append({"name": n, "offset": f.tell(), "length": len(blob), "codec": "webp"})
            f.write(blob)
        raw = json.dumps({"entries": index}).encode()
        off = f.tell()
        f.write(raw + _FOOTER.pack(off, len(raw), zlib.crc32(raw), ARCHIVE_MAGIC))
    return path


@pytest.mark.parametrize("names, want", [(["\x00"], "corrupt archive index"), (["."], "corrupt archive index"),
                                         (["/"], "corrupt archive index"), (["a/../../x"], "corrupt archive index"),
                                         (["x.png", "x.png"], "is there twice")])
def test_archive_entry_names_that_cannot_be_files_are_one_line(tmp_path, capsys, monkeypatch, names, want):
    f = archive_with_names(tmp_path / "evil.lfa", names)
    code, _, err = cli(capsys, monkeypatch, "decompress", f, "--out", tmp_path / "out")
    one_line_error(code, err, want)
    assert not (tmp_path / "out").exists()


# --- 10. a config that would hang --------------------------------------------------------------
@pytest.mark.parametrize("field, value", [("convs_per_stage", 10**6), ("widths", [8] * 1000)])
def test_a_deep_config_is_refused_at_once(tmp_path, capsys, monkeypatch, field, value):
    d = tmp_path / "m"
    shutil.copytree(MODEL, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg[field] = value
    (d / "config.json").write_text(json.dumps(cfg))
    for cmd in (["info", d], ["index", d, write_shapes(tmp_path / "art", 2, size=16), "--catalog", tmp_path / "c"]):
        code, _, err = cli(capsys, monkeypatch, *cmd)
        one_line_error(code, err, field, "at most")


# --- 12. memory and time bombs -------------------------------------------------------------------
def test_an_ora_layer_far_larger_than_its_canvas_is_refused_from_its_header(tmp_path, capsys, monkeypatch):
    src = tmp_path / "art"
    src.mkdir()
    big = png_bytes((6000, 6000), 0, "L")  # 36 MP in a few kB, under a 100 x 100 canvas
    stack = '<image w="100" h="100"><stack><layer src="data/big.png"/></stack></image>'
    layered(src / "bomb.ora", b"image/openraster", {"data/big.png": big}, stack)
    code, out, err = cli(capsys, monkeypatch, "index", MODEL, src, "--catalog", tmp_path / "c")
    assert code == 2 and "bomb.ora" in err and "decompression bomb" in err and "Traceback" not in err


def test_thousands_of_layers_are_refused_before_any_is_decoded(tmp_path, monkeypatch):
    from latentfolio.data.decode import BadImage, decode_image

    layer = png_bytes((200, 200), 0, "L")
    stack = '<image w="200" h="200"><stack>' + '<layer src="data/l.png"/>' * 3000 + "</stack></image>"
    f = layered(tmp_path / "many.ora", b"image/openraster", {"data/l.png": layer}, stack)
    with pytest.raises(BadImage, match=r"layers hold over .* pixels in all"):
        decode_image(str(f), 16, 1)


def jxl_claiming(width: int, height: int) -> bytes:
    """A bare JPEG XL codestream whose SizeHeader declares ``width`` x ``height`` (ratio 0, the
    30-bit form), followed by junk: what a tiny file claiming a huge image looks like."""
    bits, n = 0, 0

    def put(v, k):
        nonlocal bits, n
        bits |= v << n
        n += k
    put(0, 1)
    put(3, 2), put(height - 1, 30)
    put(0, 3)
    put(3, 2), put(width - 1, 30)
    return b"\xff\x0a" + bits.to_bytes(12, "little") + os.urandom(2000)


def test_a_jxl_claiming_a_huge_image_is_refused_before_decoding(tmp_path, monkeypatch):
    from latentfolio.data import formats
    from latentfolio.data.decode import BadImage, decode_image

    assert formats.jxl_size(io.BytesIO(jxl_claiming(16000, 16000))) == (16000, 16000)
    for f in FORMATS.glob("*.jxl"):  # real files: the parsed header gives the decoded size
        assert formats.jxl_size(str(f)) == Image.open(f).size
    f = tmp_path / "bomb.jxl"
    f.write_bytes(jxl_claiming(16000, 16000))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # as LATENTFOLIO_MAX_PIXELS=1000000 sets it
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("decoded before the size was checked"))
    with pytest.raises(BadImage, match="decompression bomb"):
        decode_image(str(f), 16, 1)


# --- 13. the fingerprint covers the config ------------------------------------------------------
def test_an_edited_codec_config_is_refused_not_decoded_wrongly(tmp_path, capsys, monkeypatch, store):
    from latentfolio.training.train import train

    src = write_shapes(tmp_path / "art", 12, size=16, colour=True)
    train(src, tmp_path / "codec", "codec", image_size=16, epochs=1, progress=False, latent_dim=8)
    code, _, err = cli(capsys, monkeypatch, "compress", tmp_path / "codec", src / "000.png", "--out", tmp_path / "z")
    assert code == 0, err
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "codec", copy)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["norm"] = "pm1" if cfg["norm"] == "01" else "01"
    (copy / "config.json").write_text(json.dumps(cfg))
    code, _, err = cli(capsys, monkeypatch, "decompress", tmp_path / "z", "--model", copy, "--out", tmp_path / "d")
    one_line_error(code, err, "does not match the weights", "norm")
    assert not (tmp_path / "d").exists()


# --- 14. smaller faults ----------------------------------------------------------------------------
def test_255_byte_names_are_written_through_a_short_temp_name(tmp_path, capsys, monkeypatch):
    src = tmp_path / "art"
    src.mkdir()
    name = "n" * 251 + ".png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(src / name)
    Image.fromarray(np.full((16, 16, 3), 60, np.uint8)).save(src / "short.png")
    code, _, err = cli(capsys, monkeypatch, "noise", src, "--spec", "gaussian:0.1", "--out", tmp_path / "noisy")
    assert code == 0 and (tmp_path / "noisy" / name).is_file(), err
    code, out, err = cli(capsys, monkeypatch, "compress", "--target-psnr", "30", src, "--out", tmp_path / "z")
    assert code == 0 and "name is too long" in err  # name + its codec's suffix cannot exist: said, passed over
    code, out, err = cli(capsys, monkeypatch, "compress", "--target-psnr", "30", src, "--out", tmp_path / "z.lfa")
    assert code == 0 and (tmp_path / "z.lfa").is_file(), err


def test_tables_show_escapes_not_terminal_codes(tmp_path, capsys, monkeypatch):
    src = write_shapes(tmp_path / "art", 6, size=16)
    evil = src / "\x1b[31mred\x1b[0m.png"
    shutil.copy(src / "001.png", evil)
    lf.index(MODEL, src, tmp_path / "c", workers=0, progress=False)
    for args in (["duplicates", tmp_path / "c"], ["similar", tmp_path / "c", str(src / "001.png"), "-k", "6"]):
        code, out, err = cli(capsys, monkeypatch, *args)
        assert code == 0 and "\x1b" not in out and "\\x1b[31mred" in out, out


def test_a_killed_archive_compress_leaves_no_temp_behind(tmp_path):
    src = write_shapes(tmp_path / "art", 4, size=16, colour=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs: the killed writer
    stale = tmp_path / f".z.lfa.{dead.pid}.abcdefgh.tmp"
    stale.write_bytes(bytes(1 << 16))
    assert _io.temp_owner(stale.name, "z.lfa") == dead.pid
    r = run_cli("compress", "--target-psnr", "30", str(src), "--out", str(tmp_path / "z.lfa"))
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and (tmp_path / "z.lfa").is_file()


# --- 15. a full disk under compress -------------------------------------------------------------------
def test_a_full_disk_under_compress_leaves_whole_files_and_says_how_to_finish(tmp_path, capsys, monkeypatch, store):
    src = write_shapes(tmp_path / "art", 6, size=16, colour=True)
    real, calls = _io.write_bytes, []

    def fills_up(path, data):
        calls.append(path)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)
    monkeypatch.setattr(_io, "write_bytes", fills_up)
    code, _, err = cli(capsys, monkeypatch, "compress", CODEC, src, "--out", tmp_path / "z")
    one_line_error(code, err, "the disk is full (3 of 6 files written, each whole)", "--resume")
    assert sorted(p.name for p in (tmp_path / "z").iterdir()) == ["000.png.lfz", "001.png.lfz", "002.png.lfz"]
    monkeypatch.setattr(_io, "write_bytes", real)
    code, out, err = cli(capsys, monkeypatch, "compress", CODEC, src, "--out", tmp_path / "z", "--resume", "--json")
    assert code == 0 and json.loads(out)["kept"] == 3 and json.loads(out)["images"] == 3


def test_a_full_disk_under_archive_compress_leaves_no_archive(tmp_path, capsys, monkeypatch, store):
    src = write_shapes(tmp_path / "art", 4, size=16, colour=True)
    real = os.replace

    def full(a, b):
        if str(b).endswith(".lfa"):
            raise OSError(errno.ENOSPC, "No space left on device", str(b))
        return real(a, b)
    monkeypatch.setattr(os, "replace", full)
    code, _, err = cli(capsys, monkeypatch, "compress", CODEC, src, "--out", tmp_path / "z.lfa")
    one_line_error(code, err, "the disk is full; no archive was written")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "store") == ["art"]  # no archive, no temp


def test_uploads_decode_one_at_a_time(built_for_uploads=None):
    """Three large uploads at once never decode together (the pixel budget of the gallery)."""
    import threading
    import time as _time

    from latentfolio.gallery import views

    active, peak = [0], [0]
    real = views.decode_image

    def slow(*a, **k):
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        _time.sleep(0.2)
        active[0] -= 1
        raise views.BadImage("stop here")

    class G:
        class cat:
            fit = "squash"

        @staticmethod
        def model():
            class M:
                class config:
                    image_size, channels = 16, 1
            return M
    views.decode_image = slow
    try:
        ts = [threading.Thread(target=lambda: pytest.raises(LatentfolioError, views.search_file, G, Path(__file__)))
              for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        views.decode_image = real
    assert peak[0] == 1
