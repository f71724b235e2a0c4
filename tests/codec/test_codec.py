"""The learned codec: real .lfz bytes, exact round trips, honest rates, and safe rejections."""

from __future__ import annotations

import random
from pathlib import Path
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from latentfolio.errors import LatentfolioError
from latentfolio.metrics import image_psnr
from latentfolio.models import get_model_class
from latentfolio.saved import load_model
from latentfolio.codec import entropy, image
from latentfolio.codec import format as fmt
from latentfolio.codec import refine as refine_mod
from latentfolio.imaging import image_to_pixels
from latentfolio.training.train import train

from conftest import shapes_image, write_shapes


@pytest.fixture(scope="module")
def codec_dir(tmp_path_factory):
    root = write_shapes(tmp_path_factory.mktemp("cimg") / "shapes", 80, size=32, colour=True)
    out = tmp_path_factory.mktemp("codec") / "model"
    train(root, out, "codec", image_size=32, epochs=4, lmbda=0.01,
          model_options={"width": 24, "latent_dim": 16}, progress=False)
    return out, root


@pytest.fixture
def model(codec_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))
    return load_model(codec_dir[0])


def photo(size=(70, 45), seed=3, mode="RGB") -> Image.Image:
    a = shapes_image(np.random.default_rng(seed), max(size), colour=True)[: size[1], : size[0]]
    img = Image.fromarray(a)
    return img if mode == "RGB" else img.convert(mode)


def test_tables_are_frozen_integers(model):
    assert model.frozen
    freq, ln = model.table_freq.numpy(), model.table_len.numpy()
    for m in range(len(ln)):
        assert freq[m, : ln[m]].sum() == 1 << 16 and (freq[m, : ln[m]] >= 1).all()
        assert (freq[m, ln[m]:] == 0).all()


def test_round_trip_exact_repeatable_and_deterministic(model):
    img = photo()
    a, b = image.compress_image(model, img), image.compress_image(model, img)
    assert isinstance(a, bytes) and a == b  # deterministic bytes
    assert a[:4] == b"LFZ\x1a" and a[4] == fmt.VERSION == 2
    hd = fmt.parse(a)
    k_shape = (1, model.config.latent_dim, -(-45 // model.stride), -(-70 // model.stride))
    sym = entropy.decode_symbols(model, hd.payload, k_shape)
    px, info = image_to_pixels(img)
    assert np.array_equal(sym, image._symbols(model, image._latent(model, px, info)))  # symbols exact
    d1, d2 = image.decompress_bytes(model, a), image.decompress_bytes(model, a)
    assert np.array_equal(np.asarray(d1), np.asarray(d2))
    assert d1.size == img.size and d1.mode == img.mode
    psnr = image_psnr(np.asarray(img), np.asarray(d1))
    assert 12 < psnr < 60  # a lossy but real reconstruction


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_modes_and_sizes_round_trip(model, mode):
    img = photo((33, 19), mode="RGB")
    img = Image.fromarray(np.asarray(img.convert("L"), np.uint16) * 257) if mode == "I;16" else img.convert(mode)
    back = image.decompress_bytes(model, image.compress_image(model, img))
    assert back.size == img.size and back.mode == img.mode
    if mode == "RGBA":
        assert np.array_equal(np.asarray(back)[:, :, 3], np.asarray(img)[:, :, 3])  # alpha is lossless


def test_real_size_matches_the_entropy_estimate(model):
    img = photo((256, 256), seed=9)  # many symbols, so the coder's final word is a small share
    blob = image.compress_image(model, img)
    hd = fmt.parse(blob)
    a, info = image_to_pixels(img)
    est = entropy.estimated_bits(model, image._symbols(model, image._latent(model, a, info))) / 8
    header = len(blob) - len(hd.payload)
    assert abs(len(blob) - (est + header)) <= 0.05 * est + 8  # +8: the coder flushes 32-bit words
    assert len(hd.payload) >= est  # no coder beats the information content


def test_crc_catches_a_flipped_bit(model):
    blob = bytearray(image.compress_image(model, photo()))
    for pos in (6, 20, len(blob) // 2, len(blob) - 5):
        bad = bytearray(blob)
        bad[pos] ^= 0x10
        with pytest.raises(LatentfolioError, match="CRC mismatch"):
            image.decompress_bytes(model, bytes(bad))


def test_truncated_unknown_version_and_not_lfz(model):
    blob = image.compress_image(model, photo())
    for n in (3, 10, 30, len(blob) - 1):
        with pytest.raises(LatentfolioError, match="truncated|CRC|not a latentfolio"):
            image.decompress_bytes(model, blob[:n])
    v9 = bytearray(blob)
    v9[4] = 9
    body = bytes(v9[:-4])
    with pytest.raises(LatentfolioError, match="version 9 is not supported"):
        image.decompress_bytes(model, body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(LatentfolioError, match="bad magic"):
        image.decompress_bytes(model, b"\x89PNG" + blob[4:])


def test_wrong_model_is_refused(model, codec_dir, tmp_path):
    other = tmp_path / "other"
    train(codec_dir[1], other, "codec", image_size=32, epochs=1, seed=5,
          model_options={"width": 24, "latent_dim": 16}, progress=False)
    blob = image.compress_image(model, photo())
    with pytest.raises(LatentfolioError, match="compressed with another model"):
        image.decompress_bytes(load_model(other), blob)
    with pytest.raises(LatentfolioError, match="cannot compress"):
        from latentfolio.models import build_model

        image.compress_image(build_model("conv", image_size=32, channels=3), photo())


def test_fuzz_random_mutations_never_crash(model):
    blob = image.compress_image(model, photo((40, 40)))
    want = np.asarray(image.decompress_bytes(model, blob))
    rnd = random.Random(0)
    for _ in range(300):
        b = bytearray(blob)
        for _ in range(rnd.randint(1, 4)):
            op = rnd.random()
            if op < 0.5 and b:
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            elif op < 0.75 and b:
                del b[rnd.randrange(len(b)):]
            else:
                b[rnd.randrange(len(b) + 1):0] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        try:
            out = image.decompress_bytes(model, bytes(b))
            assert np.array_equal(np.asarray(out), want)  # only an unchanged file decodes: to the same pixels
        except LatentfolioError:
            pass


def test_compress_refuses_two_inputs_with_one_name(codec_dir, tmp_path, monkeypatch):
    from latentfolio.codec.archive import Archive
    from latentfolio.commands.compress import compress
    from latentfolio.commands.decompress import decompress

    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))
    model_dir, _ = codec_dir
    for d in ("2019", "2020"):
        (tmp_path / d).mkdir()
        photo((30, 30)).save(tmp_path / d / "cat.png")
    for out in (tmp_path / "lfz", tmp_path / "all.lfa"):  # the second cat.png would replace the first
        with pytest.raises(LatentfolioError, match="2019/cat.png and .*2020/cat.png would both be"):
            compress(model_dir, [tmp_path / "2019", tmp_path / "2020"], out)
        assert not out.exists()  # refused before any work
    one = tmp_path / "2019" / "cat.png"
    r = compress(model_dir, [one, one], tmp_path / "one.lfa")  # the same file twice: once
    assert r["images"] == 1 and Archive(tmp_path / "one.lfa").names() == ["cat.png"]
    photo((30, 30), seed=5).save(tmp_path / "2019" / "cat.jpg")
    photo((30, 30), seed=6).save(tmp_path / "2019" / "dog.avif")
    photo((30, 30), seed=7).save(tmp_path / "2019" / "dog.jxl")
    compress(model_dir, [tmp_path / "2019"], tmp_path / "both")  # cat.jpg.lfz, cat.png.lfz, dog.*.lfz
    r = decompress([tmp_path / "both"], tmp_path / "dec")  # names that would meet keep their suffix
    assert sorted(Path(w["output"]).name for w in r["written"]) == ["cat.jpg.png", "cat.png", "dog.avif.png",
                                                                     "dog.jxl.png"]


def test_cli_compress_archive_and_decompress(codec_dir, tmp_path, monkeypatch):
    from latentfolio.codec.archive import Archive
    from latentfolio.commands.compress import compress
    from latentfolio.commands.decompress import decompress

    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))
    model_dir, root = codec_dir
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    photo((50, 30)).save(src / "a.png")
    photo((20, 20), seed=4).convert("L").save(src / "sub" / "b.jpg")
    (src / "junk.png").write_bytes(b"not an image")
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    with pytest.warns(UserWarning, match="junk.png"):
        r = compress(model_dir, [src], tmp_path / "lfz")
    assert r["images"] == 2 and (tmp_path / "lfz" / "sub" / "b.jpg.lfz").exists()
    with pytest.raises(LatentfolioError, match="already exists"):
        compress(model_dir, [src / "a.png"], tmp_path / "lfz")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "sub").mkdir()
    (tmp_path / "half" / "sub" / "b.jpg.lfz").write_bytes(b"mine")
    with pytest.raises(LatentfolioError, match="b.jpg.lfz: already exists"):  # refused before any work
        compress(model_dir, [src], tmp_path / "half")
    assert sorted(p.name for p in (tmp_path / "half").rglob("*") if p.is_file()) == ["b.jpg.lfz"]
    # decompress finds the model through the store, by fingerprint
    d = decompress(sorted((tmp_path / "lfz").rglob("*.lfz")), tmp_path / "dec")
    assert {Image.open(w["output"]).size for w in d["written"]} == {(50, 30), (20, 20)}
    d = decompress([tmp_path / "lfz"], tmp_path / "dec-folder")  # a folder: structure kept
    assert sorted(Path(w["output"]).relative_to(tmp_path / "dec-folder").as_posix() for w in d["written"]) == [
        "a.png", "sub/b.png"]
    with pytest.raises(LatentfolioError, match="no .lfz, .avif, .webp, .jxl or .lfa files"):
        decompress([src / "sub"], tmp_path / "none")
    # an archive decodes one image at a time
    with pytest.warns(UserWarning):
        compress(model_dir, [src], tmp_path / "all.lfa")
    arc = Archive(tmp_path / "all.lfa")
    assert sorted(arc.names()) == ["a.png", "sub/b.jpg"]
    d = decompress([tmp_path / "all.lfa"], tmp_path / "one", only=["sub/b.jpg"])
    assert len(d["written"]) == 1 and Image.open(d["written"][0]["output"]).mode == "L"
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before
    data = (tmp_path / "all.lfa").read_bytes()
    (tmp_path / "bad.lfa").write_bytes(data[:-3])
    with pytest.raises(LatentfolioError, match="archive"):
        decompress([tmp_path / "bad.lfa"], tmp_path / "bad")


def test_codec_eval_reports_real_bytes(codec_dir):
    from latentfolio.commands.codec_eval import codec_eval

    r = codec_eval(codec_dir[0], codec_dir[1], split="all", limit=10)
    assert r["n"] == 10 and r["bytes_per_image"] > r["estimated_payload_bytes"]
    assert 0 < r["psnr_db"] < 60 and r["encode_images_per_s"] > 0


def test_lambdas_chain_fine_tunes_down_the_rates_and_resumes(tmp_path):
    import latentfolio as lf

    root = write_shapes(tmp_path / "shapes", 60, size=32, colour=False)
    kw = dict(image_size=32, epochs=2, model_options={"width": 16, "latent_dim": 8}, progress=False)
    res = lf.train(root, tmp_path / "rd", model="codec", lambdas=[0.002, 0.05], **kw)
    hi, lo = (load_model(tmp_path / "rd" / f"lambda-{v}") for v in ("0.05", "0.002"))
    assert [r.model_dir.name for r in res] == ["lambda-0.002", "lambda-0.05"]  # lowest λ first
    assert lo.meta["training"]["config"]["init"] is None
    assert hi.meta["training"]["config"]["init"] == str(tmp_path / "rd" / "lambda-0.002")
    assert hi.meta["training"]["config"]["lmbda"] == 0.05
    # fine-tuning peaks at a third of the first rate's LR (the full peak blew trained models up)
    assert lo.meta["training"]["config"]["lr"] == pytest.approx(get_model_class("codec").default_lr)  # recorded resolved
    assert hi.meta["training"]["config"]["lr"] == pytest.approx(get_model_class("codec").default_lr / 3)
    before = (tmp_path / "rd" / "lambda-0.002" / "model.safetensors").stat().st_mtime_ns
    again = lf.train(root, tmp_path / "rd", model="codec", lambdas=[0.002, 0.05], resume=True, **kw)
    assert [r.model_dir for r in again] == [r.model_dir for r in res]  # finished ones are kept
    assert (tmp_path / "rd" / "lambda-0.002" / "model.safetensors").stat().st_mtime_ns == before
    with pytest.raises(LatentfolioError, match="positive"):
        lf.train(root, tmp_path / "bad", model="codec", lambdas=[0.01, -1], **kw)


def test_version_1_files_still_decode_and_v2_headers_are_small(model, monkeypatch):
    img = photo((30, 20), mode="RGBA")
    blob = image.compress_image(model, img)
    hd = fmt.parse(blob)
    assert hd.version == 2 and hd.mode == "RGBA" and (hd.width, hd.height) == (30, 20)
    grey = image.compress_image(model, photo((28, 28)).convert("L"))
    assert len(grey) - len(fmt.parse(grey).payload.rstrip(b"\0")) <= 16 + 3  # 16-byte header and CRC
    # the same image as a version-1 file, as latentfolio 0.1 wrote them
    payload = hd.payload
    v1 = (fmt.MAGIC + bytes([1, fmt.FLAG_ALPHA]) + image.fingerprint(model, 8) + struct.pack("<HH", 30, 20) + b"\x04RGBA"
          + struct.pack("<I", len(hd.alpha)) + hd.alpha + payload)
    v1 += struct.pack("<I", zlib.crc32(v1))
    assert np.array_equal(np.asarray(image.decompress_bytes(model, v1)), np.asarray(image.decompress_bytes(model, blob)))
    # a mode outside the code table travels by name
    monkeypatch.setattr(fmt, "MODES", ("L",))
    odd = fmt.parse(image.compress_image(model, photo((20, 20))))
    assert odd.mode == "RGB" and odd.flags >> 1 == fmt.MODE_NAMED
    assert fmt.read_leb128(fmt.leb128(65535), 0, "x") == (65535, 3)


def _rd_loss(model, img: Image.Image, blob: bytes) -> float:
    """The codec's own objective on real files: λ·255²·MSE + real bits per pixel."""
    x = np.asarray(img, np.float32) / 255
    y = np.asarray(image.decompress_bytes(model, blob), np.float32) / 255
    w, h = img.size
    return refine_mod.trained_lambda(model) * 255**2 * float(np.mean((x - y) ** 2)) + 8 * len(blob) / (w * h)


def test_refine_lowers_the_real_rate_distortion_loss_and_stays_decodable(model):
    imgs = [photo((64, 48), seed=s) for s in (11, 12, 13)]
    grads = [p.requires_grad for p in model.parameters()]
    plain = [image.compress_image(model, im) for im in imgs]
    refined = [image.compress_image(model, im, refine=60) for im in imgs]
    assert refined[0] == image.compress_image(model, imgs[0], refine=60)  # deterministic bytes
    before = np.mean([_rd_loss(model, im, b) for im, b in zip(imgs, plain)])
    after = np.mean([_rd_loss(model, im, b) for im, b in zip(imgs, refined)])
    assert after < before  # measured on the decoded files, not on the relaxation
    back = image.decompress_bytes(model, refined[1])  # same format, same model, same decoder
    assert back.size == imgs[1].size and back.mode == "RGB"
    assert [p.requires_grad for p in model.parameters()] == grads  # the model is left as it was


def test_refine_flag_is_checked(codec_dir, tmp_path, monkeypatch):
    from latentfolio.commands.codec_eval import codec_eval
    from latentfolio.commands.compress import compress

    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))
    photo((30, 30)).save(tmp_path / "a.png")
    with pytest.raises(LatentfolioError, match="refine=-1"):
        compress(codec_dir[0], [tmp_path / "a.png"], tmp_path / "out", refine=-1)
    assert not (tmp_path / "out").exists()
    r = codec_eval(codec_dir[0], codec_dir[1], split="all", limit=3, refine=10)
    assert r["refine"] == 10 and r["n"] == 3 and r["bytes_per_image"] > r["estimated_payload_bytes"]


def test_tiles_code_a_big_image_as_one_pass_would(model, monkeypatch):
    """Big images are analysed and synthesised in tiles with a margin wider than the transforms'
    receptive field: the symbols and the picture match a whole-image pass, and the file keeps its
    format (a tile is not a unit of the file)."""
    img = photo((300, 170), seed=5)
    one_pass_sym = image.encode_image(model, img)[1]
    one_pass = np.asarray(image.decompress_bytes(model, image.compress_image(model, img)), np.float32)
    monkeypatch.setattr(image, "TILE", 64)  # 5 x 3 tiles, with the real 64 px margin
    blob, sym = image.encode_image(model, img)
    assert np.mean(sym == one_pass_sym) > 0.999  # symbols at rounding boundaries may flip
    tiled_px = np.asarray(image.decompress_bytes(model, blob), np.float32)
    assert tiled_px.shape == one_pass.shape and np.abs(tiled_px - one_pass).mean() < 0.05
    assert image_psnr(tiled_px, np.asarray(img)) > 15  # and it is the picture, not noise


def test_memory_need_grows_with_the_image_not_the_activations(model):
    small, big = image.memory_need(model, 1000, 1000), image.memory_need(model, 20000, 20000)
    assert big < image.MEMORY_BUDGET  # a 400 MP scan fits
    assert (big - small) / (400 - 1) < 40e6  # about the pixel copies and the latent per MP


def test_info_says_what_a_coded_file_holds_and_which_model_decodes_it(codec_dir, tmp_path, monkeypatch, capsys):
    import json

    from conftest import cli

    monkeypatch.setenv("LATENTFOLIO_MODELS", str(tmp_path / "store"))
    src = tmp_path / "in"
    src.mkdir()
    exif = Image.Exif()
    exif[0x010F], exif[0x0132] = "Nikon", "2019:03:21 11:04:22"
    hostile = Image.Exif()
    hostile[0x010F] = "evil\x1b[2J"  # a camera make that would clear the terminal
    photo((40, 30)).save(src / "a.png", exif=exif.tobytes())
    photo((20, 20), seed=4).save(src / "b.png")
    photo((20, 20), seed=5).save(src / "c.png", exif=hostile.tobytes())
    for out in ("lfz", "all.lfa"):
        assert cli(capsys, monkeypatch, "compress", codec_dir[0], src, "--out", tmp_path / out)[0] == 0
    code, out, err = cli(capsys, monkeypatch, "info", tmp_path / "lfz" / "a.png.lfz", "--json")
    d = json.loads(out)
    assert code == 0 and (d["version"], d["width"], d["height"], d["mode"]) == (3, 40, 30, "RGB")
    assert d["exif"]["make"] == "Nikon" and d["exif"]["date"] == "2019:03:21 11:04:22" and d["colour_profile"] is None
    assert d["bytes"] == (tmp_path / "lfz" / "a.png.lfz").stat().st_size
    assert Path(d["model"]["stored"]).name.startswith(d["model"]["fingerprint"])  # decompress will find it
    code, out, _ = cli(capsys, monkeypatch, "info", tmp_path / "all.lfa")
    assert code == 0 and "3 entries (3 lfz)" in out
    code, out, _ = cli(capsys, monkeypatch, "info", tmp_path / "lfz" / "c.png.lfz")
    assert code == 0 and "make evil\\x1b[2J" in out and "\x1b" not in out
    (tmp_path / "cut.lfz").write_bytes((tmp_path / "lfz" / "b.png.lfz").read_bytes()[:-2])
    code, out, err = cli(capsys, monkeypatch, "info", tmp_path / "cut.lfz")
    assert code == 2 and err.strip().count("\n") == 0 and "cut.lfz" in err and "CRC" in err
