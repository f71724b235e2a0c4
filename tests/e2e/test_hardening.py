"""Every finding of the hardening probe, tried as a user or a hostile file would (docs/reliability.md).

Each ends in one ``error: ...`` line (exit status 2) or a warning that names the file, never a
traceback, a hang, or a lost file. The data-loss findings are in tests/commands/test_folders.py
and the parsers' fuzzing in tests/codec/test_fuzz.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import latentfolio as lf
from latentfolio.codec.format import pack
from latentfolio.codec.image import fingerprint

from conftest import cli, write_shapes

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
MODEL, CODEC = V1 / "model", V1 / "codec"


def one_line_error(code: int, err: str, *want: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for w in want:
        assert w in lines[0], lines[0]


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))


# --- bounded memory on untrusted input --------------------------------------------------------
@pytest.mark.parametrize("size, payload, want", [
    ((65535, 65535), b"", "decompression bomb"),  # 20 bytes claiming 4.3 gigapixels
    ((1024, 1024), b"\x01\x02", "cannot hold a 1024x1024 image"),  # 18 bytes claiming a megapixel
])
def test_a_tiny_lfz_claiming_a_huge_image_is_refused(tmp_path, capsys, monkeypatch, size, payload, want):
    codec = lf.load(CODEC)
    f = tmp_path / "x.lfz"
    f.write_bytes(pack(0, fingerprint(codec), *size, "RGB", None, payload))
    code, _, err = cli(capsys, monkeypatch, "decompress", f, "--model", CODEC, "--out", tmp_path / "out")
    one_line_error(code, err, want)
    assert not (tmp_path / "out").exists()


def test_a_zlib_bomb_alpha_plane_is_capped(tmp_path, capsys, monkeypatch):
    codec = lf.load(CODEC)
    good = (V1 / "image.lfz").read_bytes()
    from latentfolio.codec.format import parse

    hd = parse(good)
    f = tmp_path / "bomb.lfz"
    f.write_bytes(pack(0, fingerprint(codec), hd.width, hd.height, "RGBA", zlib.compress(bytes(250_000_000), 9),
                       hd.payload.rstrip(b"\0")))
    assert f.stat().st_size < 300_000
    code, _, err = cli(capsys, monkeypatch, "decompress", f, "--model", CODEC, "--out", tmp_path / "out")
    one_line_error(code, err, "corrupt alpha plane")


@pytest.mark.parametrize("field, value", [("latent_dim", 10**7), ("width", 10**5)])
def test_an_absurd_config_is_refused_before_it_is_built(tmp_path, capsys, monkeypatch, field, value):
    d = tmp_path / "m"
    shutil.copytree(CODEC, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg[field] = value
    (d / "config.json").write_text(json.dumps(cfg))
    code, _, err = cli(capsys, monkeypatch, "info", d)
    one_line_error(code, err, "parameters is past")


def test_an_image_too_large_to_code_is_refused(tmp_path, capsys, monkeypatch, store):
    from latentfolio.codec import image

    monkeypatch.setattr(image, "MEMORY_BUDGET", 1 << 20)  # as a scan past the budget would be
    Image.new("RGB", (600, 600), (10, 20, 30)).save(tmp_path / "big.png")
    code, _, err = cli(capsys, monkeypatch, "compress", CODEC, tmp_path / "big.png", "--out", tmp_path / "out")
    one_line_error(code, err, "too large to code here")


# --- folder entries ------------------------------------------------------------------------------
def test_devices_fifos_and_broken_links_are_named_not_read(tmp_path, capsys, monkeypatch, store):
    src = tmp_path / "art"
    write_shapes(src, 4, size=16)
    os.symlink("/dev/zero", src / "zero.png")
    os.mkfifo(src / "pipe.png")
    os.symlink(src / "loop.png", src / "loop.png")
    code, out, err = cli(capsys, monkeypatch, "index", MODEL, src, "--catalog", tmp_path / "c", "--json")
    assert code == 0 and json.loads(out)["images"] == 4
    assert "zero.png: a device" in err and "pipe.png: a FIFO" in err and "loop.png: a broken link" in err
    code, out, err = cli(capsys, monkeypatch, "compress", CODEC, src / "pipe.png", "--out", tmp_path / "z")
    one_line_error(code, err, "no input images")
    code, out, err = cli(capsys, monkeypatch, "train", src, "--epochs", "1", "--out", tmp_path / "m")
    assert code == 0 and "pipe.png: a FIFO" in err


def test_a_name_that_is_not_utf8_is_skipped(tmp_path, capsys, monkeypatch):
    src = tmp_path / "art"
    write_shapes(src, 4, size=16)
    os.rename(src / "000.png", os.path.join(os.fsencode(src), b"\xff\xfe.png"))
    code, out, err = cli(capsys, monkeypatch, "index", MODEL, src, "--catalog", tmp_path / "c", "--json")
    assert code == 0 and json.loads(out)["images"] == 3 and "not valid UTF-8" in err


def test_ten_images_train_and_are_saved(tmp_path):
    src = write_shapes(tmp_path / "ten", 10, size=16)
    r = lf.train(src, tmp_path / "m", epochs=1, progress=False)
    assert (tmp_path / "m" / "model.safetensors").exists() and r.metrics["n"] > 0


# --- one line for every failure ------------------------------------------------------------------
def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch, store):
    from latentfolio import _io

    def full(path, write):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(_io, "atomic_write", full)
    code, _, err = cli(capsys, monkeypatch, "sample", MODEL, "--out", tmp_path / "s.png")
    one_line_error(code, err, "No space left on device", "s.png")


@pytest.fixture
def catalog(tmp_path):
    d = tmp_path / "cat"
    shutil.copytree(V1 / "catalog", d)
    return d


@pytest.mark.parametrize("header, want", [
    ({"dim": 0}, "not a catalog header"),
    ("dim-x", "bad catalog header field dim='x'"),
    ({"format_version": "1"}, "format_version='1'"),
    ([1, 2], "expected a JSON object"),
])
def test_a_crafted_catalog_header_is_one_line(catalog, capsys, monkeypatch, header, want):
    meta = json.loads((catalog / "catalog.json").read_text())
    if header == "dim-x":
        meta["dim"] = "x"
    elif isinstance(header, dict):
        meta = {**meta, **header} if "format_version" in header else header
    else:
        meta = header
    (catalog / "catalog.json").write_text(json.dumps(meta))
    code, _, err = cli(capsys, monkeypatch, "similar", catalog, "1")
    one_line_error(code, err, want)


def test_a_garbled_sqlite_page_is_one_line(catalog, capsys, monkeypatch):
    raw = bytearray((catalog / "catalog.sqlite").read_bytes())
    raw[100:600] = os.urandom(500)
    (catalog / "catalog.sqlite").write_bytes(bytes(raw))
    for cmd in ("similar", "duplicates", "anomalies"):
        code, _, err = cli(capsys, monkeypatch, cmd, catalog, *(["1"] if cmd == "similar" else []))
        one_line_error(code, err, "catalog.sqlite")
    code, _, err = cli(capsys, monkeypatch, "index", MODEL, "/tmp", "--catalog", catalog)
    one_line_error(code, err)


def test_nan_codes_are_refused_on_read_and_repaired_by_index(tmp_path, capsys, monkeypatch):
    src = write_shapes(tmp_path / "art", 6, size=16)
    lf.index(MODEL, src, tmp_path / "c", workers=0, progress=False)
    lat = np.memmap(tmp_path / "c" / "latents.f32", np.float32, "r+")
    lat[:] = np.nan
    lat.flush()
    del lat
    code, _, err = cli(capsys, monkeypatch, "duplicates", tmp_path / "c")
    one_line_error(code, err, "not numbers")
    r = lf.index(MODEL, src, tmp_path / "c", workers=0, progress=False)
    assert r["images"] == 6 and np.isfinite(lf.similar(tmp_path / "c", str(src / "000.png"), k=2)["results"][0]["distance"])


@pytest.mark.parametrize("what, content, want", [
    ("meta.json", "[1, 2]", "not a model meta file"),
    ("config.json", "[" * 100_000 + "]" * 100_000, "nested too deep"),
    ("density.json", "[]", "not a latent density header"),
])
def test_crafted_model_files_are_one_line(tmp_path, capsys, monkeypatch, what, content, want):
    d = tmp_path / "m"
    shutil.copytree(MODEL, d)
    (d / what).write_text(content)
    code, _, err = cli(capsys, monkeypatch, "sample", d, "--out", tmp_path / "s.png")
    one_line_error(code, err, want)


def test_meta_data_that_is_not_an_object_still_loads(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(MODEL, d)
    meta = json.loads((d / "meta.json").read_text())
    (d / "meta.json").write_text(json.dumps({**meta, "data": "x"}))
    assert lf.reconstruct(d, [V1 / "original.png"], tmp_path / "r.png")["images"]


def test_unwritable_modes_and_a_bad_file_in_a_folder(tmp_path, capsys, monkeypatch, store):
    Image.fromarray(np.random.default_rng(0).random((20, 20), np.float32), "F").save(tmp_path / "float.tiff")
    code, _, err = cli(capsys, monkeypatch, "compress", CODEC, tmp_path / "float.tiff", "--out", tmp_path / "z")
    one_line_error(code, err, "no readable image")
    assert "mode F images are not supported" in err
    lfz = tmp_path / "lfz"
    lfz.mkdir()
    shutil.copy(V1 / "image.lfz", lfz / "a.png.lfz")
    (lfz / "b.png.lfz").write_bytes((V1 / "image.lfz").read_bytes()[:-3])  # truncated
    codec = lf.load(CODEC)
    (lfz / "c.png.lfz").write_bytes(pack(0, fingerprint(codec), 16, 16, "XYZ", None, b""))
    code, out, err = cli(capsys, monkeypatch, "decompress", lfz, "--model", CODEC, "--out", tmp_path / "dec", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert [Path(w["output"]).name for w in r["written"]] == ["a.png"] and len(r["failed"]) == 2
    assert "b.png.lfz" in err and "mode 'XYZ'" in err


def test_a_dollar_label_draws(tmp_path):
    src = tmp_path / "art"
    write_shapes(src / "$\\alert$", 6, size=16, seed=0)
    write_shapes(src / "b", 6, size=16, seed=1)
    lf.index(MODEL, src, tmp_path / "c", workers=0, progress=False)
    assert lf.map(tmp_path / "c", tmp_path / "m.png", method="pca")["points"] == 12


@pytest.mark.parametrize("args, want", [
    (["train", "digits", "--max-time", "inf"], "--max-time inf"),
    (["train", "digits", "--kl-warmup", "nan", "--model", "vae"], "--kl-warmup nan"),
    (["train", "digits", "--latent-dim", "1000000000"], "parameters is past"),
    (["sample", str(MODEL), "--temperature", "nan"], "--temperature nan"),
    (["sample", str(MODEL), "-n", "1000000000"], "-n 1000000000"),
    (["traverse", str(MODEL), str(V1 / "original.png"), "--range", "nan"], "--range nan"),
    (["interpolate", str(MODEL), str(V1 / "original.png"), str(V1 / "original.png"), "--steps", "1000000000"],
     "--steps 1000000000"),
    (["blend", str(MODEL), str(V1 / "original.png"), str(V1 / "original.png"), "--weights", "nan,nan"],
     "--weights 'nan,nan'"),
])
def test_non_finite_and_absurd_flags_are_refused(tmp_path, capsys, monkeypatch, args, want):
    code, _, err = cli(capsys, monkeypatch, *args, "--out", tmp_path / ("o.png" if args[0] != "train" else "m"))
    one_line_error(code, err, want)
    assert not (tmp_path / "m").exists()


# --- fidelity ----------------------------------------------------------------------------------
def test_exif_rotation_and_palette_transparency_survive(tmp_path, store):
    img = Image.new("RGB", (56, 28), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when shown: a 56 x 28 file shows 28 x 56
    img.save(tmp_path / "rot.jpg", exif=exif)
    p = Image.new("P", (16, 16), 1)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.info["transparency"] = 0
    p.paste(0, (0, 0, 8, 16))
    p.save(tmp_path / "pal.png", transparency=0)
    lf.compress(CODEC, [tmp_path / "rot.jpg", tmp_path / "pal.png"], tmp_path / "z")
    r = lf.decompress([tmp_path / "z"], tmp_path / "d")
    got = {Path(w["output"]).name: w for w in r["written"]}
    assert got["rot.png"]["size"] == [28, 56]
    pal = Image.open(tmp_path / "d" / "pal.png")
    assert pal.mode == "RGBA" and pal.getpixel((2, 2))[3] == 0 and pal.getpixel((12, 2))[3] == 255


def test_an_animation_says_it_uses_its_first_frame(tmp_path):
    frames = [Image.new("L", (16, 16), v) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match="3 frames or pages; only the first is used"):
        lf.reconstruct(MODEL, [tmp_path / "anim.gif"], tmp_path / "r.png")


def test_compress_resume_keeps_finished_files(tmp_path, store):
    src = write_shapes(tmp_path / "art", 6, size=16, colour=True)
    lf.compress(CODEC, [src], tmp_path / "z")
    for f in sorted((tmp_path / "z").iterdir())[3:]:
        f.unlink()  # as if killed after three files
    stamp = {f.name: f.stat().st_mtime_ns for f in (tmp_path / "z").iterdir()}
    with pytest.raises(lf.errors.LatentfolioError if hasattr(lf, "errors") else Exception, match="already exists"):
        lf.compress(CODEC, [src], tmp_path / "z")
    r = lf.compress(CODEC, [src], tmp_path / "z", resume=True)
    assert r["kept"] == 3 and r["images"] == 3
    assert all((tmp_path / "z" / n).stat().st_mtime_ns == t for n, t in stamp.items())


def test_index_onto_a_full_disk_is_one_line_and_leaves_a_consistent_catalog(tmp_path, capsys, monkeypatch):
    src = write_shapes(tmp_path / "art", 6, size=16)
    lf.index(MODEL, src, tmp_path / "c", workers=0, progress=False)
    write_shapes(tmp_path / "art" / "more", 3, size=16, seed=4)

    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    real = os.posix_fallocate
    monkeypatch.setattr(os, "posix_fallocate", full)
    code, _, err = cli(capsys, monkeypatch, "index", MODEL, src, "--catalog", tmp_path / "c")
    one_line_error(code, err, "cannot make room for 3 codes", "No space left on device")
    monkeypatch.setattr(os, "posix_fallocate", real)  # only this: the test's isolation stays in place
    from latentfolio.catalog import Catalog

    cat = Catalog(tmp_path / "c")  # opens (its check passes): codes and rows still agree
    assert len(cat) == 6 and cat.latents().shape[0] == 6
    cat.close()
    assert lf.index(MODEL, src, tmp_path / "c", workers=0, progress=False)["images"] == 9


def test_a_dollar_label_in_a_report(tmp_path):
    src = tmp_path / "art"
    write_shapes(src / "$\\alert$", 30, size=16, seed=0)
    write_shapes(src / "b", 30, size=16, seed=1)
    page = lf.report(MODEL, tmp_path / "r.html", src)
    assert "Latent map" in page.read_text()  # the map with the label in its legend was drawn
