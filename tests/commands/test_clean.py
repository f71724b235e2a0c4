"""Scan noise, denoising training, and tiled denoising of any size and mode."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentfolio.errors import LatentfolioError
from latentfolio.commands.clean import denoise
from latentfolio.latent.tiles import cpu_tile, denoise_image, fit_tile, ramp, tile_starts, tiled
from latentfolio.data.noise import NOISES, Noise, parse_spec
from latentfolio.training.train import train

from conftest import shapes_image, write_shapes


def test_spec_parsing():
    assert parse_spec("gaussian:0.2,dust:0.01") == [("gaussian", 0.2, 0.2), ("dust", 0.01, 0.01)]
    assert parse_spec("hair") == [("hair", NOISES["hair"].default, NOISES["hair"].default)]
    assert parse_spec("scan") == [("scan", 1.0, 1.0)]
    assert parse_spec("gaussian:0.05-0.35, scan:0.5-1.5") == [("gaussian", 0.05, 0.35), ("scan", 0.5, 1.5)]
    assert parse_spec("dust:1e-3-2E-2") == [("dust", 0.001, 0.02)]  # exponents are not ranges
    for bad, needle in (("", "empty"), ("blur:2", "unknown corruption"), ("gaussian:x", "not a number"),
                        ("gaussian:-1", "standard deviation"), ("jpeg:500", "JPEG quality"),
                        ("gaussian:0.3-0.1", "low end"), ("gaussian:0.1-2", r"in \(0, 1\]"),
                        ("gaussian:0.1-x", "range like"), ("scan:3", "intensity")):
        with pytest.raises(ValueError, match=needle):
            parse_spec(bad)


def test_a_range_draws_each_images_strength_from_it():
    x = torch.full((200, 1, 32, 32), 0.5)
    std = Noise("gaussian:0.05-0.2")(x, torch.Generator().manual_seed(0)).flatten(1).std(1)
    assert 0.04 < std.min() < 0.07 and 0.18 < std.max() < 0.21  # spans the range, per image
    assert std.std() > 0.03  # a mix of strengths, not one
    fixed = Noise("gaussian:0.1")(x, torch.Generator().manual_seed(0)).flatten(1).std(1)
    assert (fixed - 0.1).abs().max() < 0.015


@pytest.mark.parametrize("spec", list(NOISES) + ["scan", "page", "gaussian:0.1,dust:0.02,jpeg:40", "gaussian:0.05-0.3"])
def test_every_corruption_changes_the_image_reproducibly(spec):
    x = torch.from_numpy(np.stack([shapes_image(np.random.default_rng(i), 32, True) for i in range(6)])
                         ).permute(0, 3, 1, 2).float() / 255
    x = 0.4 + 0.6 * x  # on grey, not black: old paper's damage tints the paper, and black stays black
    a = Noise(spec)(x, torch.Generator().manual_seed(3))
    b = Noise(spec)(x, torch.Generator().manual_seed(3))
    c = Noise(spec)(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert not torch.equal(a, x)
    if spec != "jpeg":  # JPEG re-compression has no randomness
        assert not torch.equal(a, c)


def test_dust_covers_the_area_asked_for_and_only_where_each_image_asks():
    """Specks are drawn all at once: per-image densities hold, 0 leaves an image untouched, and
    specks at the border are cut off, not wrapped to the other side."""
    x = torch.full((3, 3, 96, 128), 0.5)
    y = NOISES["dust"].fn(x, torch.tensor([0.0, 0.01, 0.05]), torch.Generator().manual_seed(0))
    covered = ((y - x).abs().amax(1) > 0.25).float().mean((1, 2))  # pixels at least half painted
    assert covered[0] == 0 and 0.004 < covered[1] < 0.02 and 0.02 < covered[2] < 0.08
    assert covered[2] > 3 * covered[1]
    edge = torch.full((1, 1, 8, 8), 0.5)
    z = NOISES["dust"].fn(edge, torch.tensor([0.5]), torch.Generator().manual_seed(1))
    assert z.shape == edge.shape and torch.isfinite(z).all() and 0 <= z.min() and z.max() <= 1


def test_gaussian_has_the_requested_strength():
    x = torch.full((4, 1, 64, 64), 0.5)
    y = Noise("gaussian:0.1")(x, torch.Generator().manual_seed(0))
    assert abs(float((y - x).std()) - 0.1) < 0.005


def test_tiles_cover_the_image_without_seams():
    for n, t, o in ((100, 32, 8), (64, 64, 16), (33, 16, 4), (10, 32, 8)):
        starts = tile_starts(n, min(t, n), o)
        covered = np.zeros(n, bool)
        for s in starts:
            covered[s:s + min(t, n)] = True
        assert covered.all() and starts[-1] + min(t, n) == n
    assert (ramp(32, 8) > 0).all() and ramp(32, 8)[16] == 1
    const = np.full((150, 97, 1), 0.3, np.float32)
    assert np.allclose(tiled(lambda b: b, const, 32, 8), 0.3, atol=1e-6)  # constant stays constant
    rng = np.random.default_rng(0).random((150, 97, 3)).astype(np.float32)
    assert np.allclose(tiled(lambda b: b ** 2, rng, 32, 8), rng ** 2, atol=1e-5)  # pointwise fn: exact
    for tile, overlap in ((32, 8), (40, 0), (150, 16), (17, 16)):  # band carry-over at every shape
        assert np.allclose(tiled(lambda b: b * 2, rng, tile, overlap, batch=3), rng * 2, atol=1e-5)
        assert np.allclose(tiled(lambda b: b * 2, rng, tile, overlap, fit=4), rng * 2, atol=1e-5)
    u8 = (rng * 255).astype(np.uint8)  # integer pixels in, integer pixels out
    got = tiled(lambda b: b, u8, 32, 8, read=lambda t: t / np.float32(255),
                write=lambda f: np.round(f * 255).astype(np.uint8))
    assert got.dtype == np.uint8 and np.array_equal(got, u8)


def test_fitted_tiles_are_as_few_and_as_even_as_the_limit_allows():
    """4000 px in tiles of at most 512 with 32 of overlap: 9 tiles of 476, not 8 of 512 and a
    ninth that redoes 83% of the eighth; each side a multiple of the model's stride."""
    assert fit_tile(4000, 512, 32, 4) == 476 and len(tile_starts(4000, 476, 32)) == 9
    assert fit_tile(300, 512, 32, 4) == 300  # one tile: the whole side, the model pads it
    for n in (129, 500, 513, 1000, 4000, 7777):
        for most, overlap, m in ((128, 16, 2), (448, 32, 4), (512, 0, 8)):
            side = fit_tile(n, most, overlap, m)
            starts = tile_starts(n, side, overlap)
            fewest = 1 if n <= most else -(-(n - overlap) // (most - overlap))
            assert (side == n or side % m == 0) and side <= most + m and len(starts) == fewest
            assert starts[-1] + side == n and all(b - a <= side - overlap for a, b in zip(starts, starts[1:]))


def test_cpu_tiles_keep_a_feature_map_in_cache():
    from latentfolio.models import build_model

    sides = {}
    for opts in ({}, {"width": 64, "unshuffle": 4}, {"width": 16, "unshuffle": 1, "levels": 2}, {"width": 512}):
        m = build_model("denoiser", image_size=64, channels=3, **opts)
        side, c = cpu_tile(m), m.config
        step = max(16, m.multiple)
        assert side % step == 0 and 128 <= side
        assert side == 128 or (side / c.unshuffle) ** 2 * c.width * 4 <= 6.5e6 < ((side + step) / c.unshuffle) ** 2 * c.width * 4
        sides[c.width] = side
    assert sides[32] == 448 and sides[512] == 128  # the default model: 448, as measured fastest


@pytest.fixture(scope="module")
def denoiser(tmp_path_factory):
    """A small denoiser trained on grey shapes with gaussian noise."""
    root = write_shapes(tmp_path_factory.mktemp("clean") / "shapes", 120)
    out = tmp_path_factory.mktemp("dn") / "model"
    res = train(root, out, "denoiser", image_size=24, epochs=15, denoise="gaussian:0.15",
                model_options={"width": 16, "blocks": 1, "levels": 2, "unshuffle": 1}, latent_dim=16, progress=False)
    return out, root, res


def test_denoising_training_reduces_loss_and_cleans(denoiser):
    out, _, res = denoiser
    import csv

    rows = list(csv.DictReader(open(out / "run" / "history.csv")))
    assert float(rows[-1]["train_loss"]) < 0.5 * float(rows[0]["train_loss"])
    d = res.metrics["denoise"]
    assert d["psnr_db"] > d["noisy_psnr_db"] + 3  # it really removes noise
    from latentfolio.training.train import saved_line

    line = saved_line(out, "test", res.metrics)  # what train prints last: the cleaning, too
    assert f"gaussian:0.15 damage: {d['noisy_psnr_db']:.2f} -> {d['psnr_db']:.2f} dB" in line


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "CMYK"])
def test_output_keeps_size_and_mode(denoiser, tmp_path, mode):
    from latentfolio.saved import load_model

    model = load_model(denoiser[0])
    rgb = np.stack([shapes_image(np.random.default_rng(1), 70, True)] * 1)[0]
    img = Image.fromarray(rgb)
    img = (Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257) if mode == "I;16"
           else img.convert(mode))
    img = img.crop((0, 0, 70, 53))  # not square, not a multiple of the tile
    out = denoise_image(model, img)
    assert out.size == img.size and out.mode == img.mode


def test_denoise_cli_writes_and_never_overwrites(denoiser, tmp_path):
    from latentfolio.saved import load_model

    model_dir, root, _ = denoiser
    big = Image.fromarray(np.kron(shapes_image(np.random.default_rng(5), 40)[:, :, 0], np.ones((4, 4), np.uint8)))
    src = tmp_path / "in"
    src.mkdir()
    big.save(src / "big.png")
    Image.fromarray(shapes_image(np.random.default_rng(6), 30, True)).save(src / "photo.jpg", quality=95)
    (src / "broken.png").write_bytes(b"not really")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    with pytest.warns(UserWarning, match="broken.png"):
        res = denoise(model_dir, [src], tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"big.png", "photo.jpg"}
    assert Image.open(tmp_path / "out" / "big.png").size == (160, 160)
    assert Image.open(tmp_path / "out" / "photo.jpg").mode == "RGB"
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # originals untouched
    with pytest.raises(LatentfolioError, match="already exists"):
        denoise(model_dir, [src / "big.png"], tmp_path / "out")
    with pytest.raises(LatentfolioError, match="would overwrite the original"):
        denoise(model_dir, [src / "big.png"], src, force=True)
    # the model cleans a noisy big image it has never seen at this size
    a = np.asarray(big, np.float32) / 255
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 0.15, a.shape), 0, 1)
    clean = np.asarray(denoise_image(load_model(model_dir), Image.fromarray((noisy * 255).astype(np.uint8))),
                       np.float32) / 255
    assert np.mean((clean - a) ** 2) < 0.5 * np.mean((noisy - a) ** 2)


def test_two_inputs_bound_for_one_output_are_refused(denoiser, tmp_path):
    from latentfolio.commands.clean import noise as add_noise

    src = tmp_path / "in"
    src.mkdir()
    img = Image.fromarray(shapes_image(np.random.default_rng(1), 24)[:, :, 0])
    img.save(src / "x.png")
    img.save(src / "x.jpg")  # noise writes PNG: both would become x.png
    (src / "x.txt").write_text("notes")  # a document by its name: no clash, passed over without a word
    with pytest.raises(LatentfolioError, match="x.jpg and .*x.png would both be written to .*x.png"):
        add_noise([src], tmp_path / "noisy", spec="gaussian:0.1")
    assert not (tmp_path / "noisy").exists()
    (src / "x.jpg").unlink()
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(add_noise([src], tmp_path / "noisy", spec="gaussian:0.1")["written"]) == 1
    assert not [w for w in caught if "x.txt" in str(w.message)]
    (tmp_path / "b").mkdir()
    img.save(tmp_path / "b" / "x.png")
    with pytest.raises(LatentfolioError, match="would both be written to"):  # two files, one name
        denoise(denoiser[0], [src / "x.png", tmp_path / "b" / "x.png"], tmp_path / "clean")
    plain = tmp_path / "plain"  # the same model folder, as if trained without --denoise
    shutil.copytree(denoiser[0], plain)
    meta = json.loads((plain / "meta.json").read_text())
    meta["training"]["config"]["denoise"] = None
    (plain / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(LatentfolioError, match="plain: this denoiser model was not trained to remove damage"):
        denoise(plain, [src / "x.png"], tmp_path / "clean2")
    assert not (tmp_path / "clean2").exists()


def test_bad_spec_is_a_clear_error(tmp_path, shapes_folder):
    with pytest.raises(LatentfolioError, match="denoise: .*unknown corruption"):
        train(shapes_folder, tmp_path / "m", "denoiser", denoise="blur:3")
    # a denoiser on clean inputs would learn to copy them (its output starts as the identity)
    with pytest.raises(LatentfolioError, match="model='denoiser': learns to remove damage: name it with --denoise"):
        train(shapes_folder, tmp_path / "m", "denoiser", epochs=1)
    assert not (tmp_path / "m").exists()
    from latentfolio.commands.clean import noise as add_noise

    with pytest.raises(LatentfolioError, match="spec: .*not a number"):
        add_noise([shapes_folder], tmp_path / "n", spec="gaussian:lots")


def test_noise_command_is_seeded(tmp_path, shapes_folder):
    from latentfolio.commands.clean import noise as add_noise

    a = add_noise([shapes_folder / "a"], tmp_path / "n1", spec="scan", seed=7)
    add_noise([shapes_folder / "a"], tmp_path / "n2", spec="scan", seed=7)
    assert len(a["written"]) == 30
    for w in a["written"]:
        name = w["output"].split("/")[-1]
        assert (tmp_path / "n1" / name).read_bytes() == (tmp_path / "n2" / name).read_bytes()
    assert json.dumps(a)
    # same file names in two label folders: both written, mirrored
    r = add_noise([shapes_folder], tmp_path / "n3", spec="gaussian:0.1")
    assert len(r["written"]) == 60 and (tmp_path / "n3" / "b" / "000.png").exists()
    (tmp_path / "n4" / "b").mkdir(parents=True)
    (tmp_path / "n4" / "b" / "000.png").write_bytes(b"mine")
    with pytest.raises(LatentfolioError, match="000.png: already exists"):  # refused before any work
        add_noise([shapes_folder], tmp_path / "n4", spec="gaussian:0.1")
    assert [p.name for p in (tmp_path / "n4").rglob("*.png")] == ["000.png"]


def test_scan_damages_every_image_and_training_keeps_a_clean_share():
    """Applying `scan` (the `noise` command, benchmarks) damages every image; only the trainer
    shows a blind scan model some clean pages, so it learns to leave them alone."""
    from latentfolio.models import build_model
    from latentfolio.training.config import TrainConfig
    from latentfolio.training.module import AutoencoderModule

    x = torch.from_numpy(np.stack([shapes_image(np.random.default_rng(i), 32, False) for i in range(200)])
                         ).permute(0, 3, 1, 2).float() / 255
    y = Noise("scan")(x, torch.Generator().manual_seed(0))
    untouched = (y == x).flatten(1).all(1).float().mean()
    assert untouched < 0.02 and Noise("scan").clean_share > 0 and Noise("gaussian:0.2").clean_share == 0
    net = build_model("denoiser", image_size=32, channels=1, width=8, blocks=1)
    module = AutoencoderModule(net, TrainConfig(denoise="scan"))
    inp, target = module._inputs((x * 255).round().byte().permute(0, 2, 3, 1),
                                 torch.Generator().manual_seed(1))
    clean = (inp == target).flatten(1).all(1).float().mean()
    assert 0.3 < clean < 0.5  # about SCAN_CLEAN = 0.4


def test_unet_denoiser_runs_any_size_and_old_layout_still_loads(tmp_path):
    from latentfolio.models import build_model
    from latentfolio.models.denoiser import DenoiserConfig
    from latentfolio.saved import load_model, save_model

    for levels, f in ((1, 1), (2, 1), (3, 1), (0, 2), (1, 4)):
        net = build_model("denoiser", image_size=32, channels=3, width=8, blocks=1, levels=levels, unshuffle=f)
        for h, w in ((32, 32), (13, 37)):
            out = net(torch.rand(2, 3, h, w))
            assert out.recon.shape == (2, 3, h, w)
            assert out.z.shape[-2:] == (-(-h // (f << levels)), -(-w // (f << levels)))
    # skips carry detail: the U-Net's output depends on them
    net = build_model("denoiser", image_size=16, channels=1, width=8, blocks=1, levels=1)
    torch.nn.init.normal_(net.decoder[-1].weight, std=0.1)
    x = torch.rand(1, 1, 16, 16)
    z, feats = net._encode(x)
    assert not torch.allclose(net.decode(z, feats), net.decode(z))
    # a model folder saved before levels/skips existed: one level, no skips, same weights
    old = build_model("denoiser", image_size=16, channels=1, width=8, blocks=1, latent_dim=8, levels=1, skips=False,
                      unshuffle=1, noise_hint=False)
    save_model(old, tmp_path / "old")
    cfg = json.loads((tmp_path / "old" / "config.json").read_text())
    del cfg["levels"], cfg["skips"], cfg["unshuffle"], cfg["noise_hint"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))
    back = load_model(tmp_path / "old")
    assert back.config.levels == 1 and not back.config.skips and back.config.unshuffle == 1 and not back.config.noise_hint
    assert torch.equal(back(x).recon, old.eval()(x).recon)
    assert DenoiserConfig().unshuffle == 2 and DenoiserConfig().levels == 0 and DenoiserConfig().skips


def test_the_noise_hint_measures_the_whole_image_and_a_denoiser_fine_tunes_into_using_it(denoiser, tmp_path):
    from latentfolio.latent.tiles import image_hint
    from latentfolio.models import build_model
    from latentfolio.models.denoiser import noise_levels
    from latentfolio.saved import load_model, save_model

    y, x = np.mgrid[0:300, 0:400] / 400.0
    smooth = np.stack([0.5 + 0.3 * np.sin(3 * x + c) * np.cos(2 * y) for c in (0, 1, 2)], -1).astype(np.float32)
    for sigma in (0.0, 0.05, 0.2):
        noisy = smooth + np.random.default_rng(0).normal(0, sigma, smooth.shape).astype(np.float32)
        whole = noise_levels(torch.from_numpy(noisy).permute(2, 0, 1)[None])[0]
        assert abs(float(whole[0]) - 4 * sigma) < 0.01 + 0.05 * sigma * 4  # 4 sigma, the estimate's scale
        per_channel = image_hint(noisy)  # strips of rows, laid side by side: the same levels
        assert per_channel.shape == (3, 2) and np.allclose(per_channel.mean(0), whole.numpy(), rtol=0.03, atol=2e-3)
    # a denoiser without the hint starts one with it exactly where it was, then fine-tunes
    model_dir, root, _ = denoiser
    old = build_model("denoiser", image_size=24, channels=1, width=16, blocks=1, levels=2, unshuffle=1, latent_dim=16,
                      noise_hint=False)
    save_model(old, tmp_path / "old")
    new = build_model("denoiser", **{**old.config.to_dict(), "noise_hint": True})
    new.load_state_dict(old.state_dict(), strict=False)
    probe = torch.rand(2, 1, 24, 24)
    assert torch.equal(new.eval()(probe).recon, old.eval()(probe).recon)
    train(root, tmp_path / "ft", init=str(tmp_path / "old"), model_options={"noise_hint": True}, epochs=1,
          max_time=0.05, denoise="gaussian:0.15", progress=False)  # a few seconds: it starts and saves
    assert load_model(tmp_path / "ft").config.noise_hint and load_model(model_dir).config.noise_hint  # the default
    with pytest.raises(LatentfolioError, match="do not fit"):  # other weights missing: still refused
        train(root, tmp_path / "bad", init=str(tmp_path / "old"), model_options={"blocks": 2}, epochs=1,
              denoise="gaussian:0.15", progress=False)


def test_fixed_size_models_denoise_in_their_own_tiles():
    """A plain conv AE (dense bottleneck) takes only its image size: small images are padded to
    one tile, large ones tiled at that size, and another --tile is a clear error."""
    from latentfolio.models.registry import build_model
    from latentfolio.latent.tiles import denoise_array

    model = build_model("conv", image_size=16, channels=1, latent_dim=8).eval()
    for h, w in ((10, 12), (40, 23)):
        a = np.random.default_rng(0).random((h, w, 1), dtype=np.float32)
        assert denoise_array(model, a).shape == (h, w, 1)
    with pytest.raises(LatentfolioError, match="tile=32: a 'conv' model takes only its own 16 px tiles"):
        denoise_array(model, np.zeros((40, 40, 1), np.float32), tile=32)


def test_layered_paintings_are_cleaned_into_pngs_and_it_says_so(denoiser, tmp_path):
    """PSD and ORA cannot be written back: the clean image is a PNG, and a warning names the kind."""
    import zipfile
    import io

    from psd_tools import PSDImage

    src = tmp_path / "in"
    src.mkdir()
    pic = Image.fromarray(shapes_image(np.random.default_rng(2), 48)[:, :, 0]).convert("RGB")
    PSDImage.frompil(pic).save(src / "painting.psd")
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    with zipfile.ZipFile(src / "sketch.ora", "w") as z:
        z.writestr("mimetype", "image/openraster")
        z.writestr("mergedimage.png", buf.getvalue())
    pic.save(src / "photo.heic", format="HEIF", quality=90)
    with pytest.warns(UserWarning, match=r"1 PSD file\(s\) written as PNG: latentfolio cannot write PSD"):
        res = denoise(denoiser[0], [src], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["painting.png", "photo.heic", "sketch.png"]
    assert res["written_as_png"] == {"PSD": 1, "ORA": 1}
    assert Image.open(tmp_path / "out" / "photo.heic").size == (48, 48)
    PSDImage.frompil(pic).save(src / "sketch.psd")  # sketch.psd and sketch.ora would meet at sketch.png
    with pytest.raises(LatentfolioError, match=r"sketch\.(ora|psd) and .*sketch\.(ora|psd) would both be written"):
        denoise(denoiser[0], [src], tmp_path / "out2")
    assert not (tmp_path / "out2").exists()  # refused before any work


def _text_page(w: int, h: int, seed: int) -> np.ndarray:
    from PIL import ImageDraw, ImageFont

    img = Image.new("RGB", (w, h), (246, 244, 238))
    d, font, rng = ImageDraw.Draw(img), ImageFont.load_default(size=20), np.random.default_rng(seed)
    words = "ink paper scan dust fold latent page line stroke margin".split()
    for y in range(40, h - 40, 30):
        d.text((40, y), " ".join(rng.choice(words, 8)), fill=(20, 20, 24), font=font)
    return np.asarray(img)


def test_the_fast_denoiser_runs_a_page_of_text_at_native_resolution_in_bf16_as_in_fp32():
    """The default denoiser (unshuffle 2) on a 1275 x 1650 page at 150 dpi: the same size back,
    bf16 within a grey level of fp32, and a freshly built model (the identity, by its zero-init
    last layer) returns the page exactly, every stroke kept. Whether a *trained* model leaves a
    clean page within 35 dB is a benchmark (benchmarks/denoise_native.py), not shown here."""
    from latentfolio.models import build_model

    torch.manual_seed(0)
    model = build_model("denoiser", image_size=256, channels=3).eval()
    clean = _text_page(1275, 1650, 99)
    same = np.asarray(denoise_image(model, Image.fromarray(clean), precision="fp32"))
    assert np.array_equal(same, clean)
    torch.nn.init.normal_(model.decoder[-1].weight, std=0.02)  # a model that changes pixels
    a = np.asarray(denoise_image(model, Image.fromarray(clean), precision="fp32")).astype(np.float64)
    b = np.asarray(denoise_image(model, Image.fromarray(clean), precision="bf16")).astype(np.float64)
    assert a.shape == clean.shape and np.abs(a - clean).mean() > 0.5
    assert np.abs(a - b).mean() < 1.0


def test_a_scan_denoiser_sees_rendered_pages_without_hairs_in_a_share_of_each_training_batch():
    """With --denoise scan on patches, PAGE_SHARE of each training batch is replaced by rendered
    pages of ink on paper (the targets), and those pages are never given hairs; no training image
    gets uneven light (a local model cannot undo it, and learns to brighten paper); validation
    batches are the user's images only."""
    from latentfolio.data.pages import PAGE_SHARE, page_patches
    from latentfolio.models import build_model
    from latentfolio.training.config import TrainConfig
    from latentfolio.training.module import AutoencoderModule

    a, b = page_patches(8, 48, 3, seed=5), page_patches(8, 48, 3, seed=5)
    assert np.array_equal(a, b) and a.shape == (8, 48, 48, 3) and (a.reshape(8, -1).min(1) < 128).mean() > 0.5
    cfg = TrainConfig(denoise="scan")
    cfg.fill_model_defaults(type(build_model("denoiser", image_size=48, channels=3)), patches=True)
    assert cfg.pages == PAGE_SHARE and TrainConfig(denoise="gaussian:0.1").pages is None
    module = AutoencoderModule(build_model("denoiser", image_size=48, channels=3, width=8), cfg)
    photos = torch.full((64, 48, 48, 3), 128, dtype=torch.uint8)  # flat grey: pages are told apart
    inp, target = module._inputs(photos)
    is_page = (target != 128 / 255).flatten(1).any(1)
    assert abs(is_page.float().mean() - PAGE_SHARE) < 0.1 and torch.equal(is_page[-int(is_page.sum()):], torch.ones(int(is_page.sum()), dtype=torch.bool))
    assert module.corrupt_page.skip == {"hair", "illumination"} and module.corrupt.skip == {"illumination"}
    inp_v, target_v = module._inputs(photos, module.fixed_generator(photos.device))
    assert (target_v == 128 / 255).all()  # no pages in validation


FIXTURE_DENOISER = Path(__file__).parent.parent / "fixtures" / "denoiser-scan"


@pytest.mark.skipif(not (FIXTURE_DENOISER / "model.safetensors").exists(), reason="no trained denoiser fixture")
def test_the_trained_scan_denoiser_keeps_a_clean_page_of_text_and_cleans_a_damaged_one(tmp_path):
    """Do no harm, through the `denoise` command, with the model the native benchmark measured
    (tests/fixtures/denoiser-scan: photos and rendered pages, 85 CPU minutes): a clean page of
    text at 150 dpi, in a face the training pages never used, comes back within 35 dB of itself
    with its ink kept, and a copy with specks and sensor noise comes back cleaner."""
    src = tmp_path / "in"
    src.mkdir()
    clean = _text_page(1275, 1650, 7)
    x = torch.from_numpy(clean).permute(2, 0, 1)[None].float() / 255
    noisy = (Noise("gaussian:0.08,dust:0.005", native=True)(x, torch.Generator().manual_seed(0))[0]
             .permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(clean).save(src / "page.png")
    Image.fromarray(noisy).save(src / "page-scanned.png")
    denoise(FIXTURE_DENOISER, [src], tmp_path / "out")

    from latentfolio.metrics import image_psnr as psnr

    out = np.asarray(Image.open(tmp_path / "out" / "page.png"))
    assert out.shape == clean.shape and psnr(out, clean) >= 35
    ink = clean.mean(-1) < 128
    assert (out.mean(-1)[ink] < 128).mean() > 0.99  # every stroke kept
    den = np.asarray(Image.open(tmp_path / "out" / "page-scanned.png"))
    assert psnr(den, clean) > psnr(noisy, clean) + 1.5


def test_noise_help_names_every_kind_and_preset(capsys, monkeypatch):
    from latentfolio.data.noise import PRESETS

    from conftest import cli

    code, out, err = cli(capsys, monkeypatch, "noise", "--help")
    text = " ".join(out.split())
    assert code == 0 and all(name in text for name in list(NOISES) + list(PRESETS)), text


@pytest.mark.parametrize("channels", [1, 3])
def test_page_damage_darkens_the_paper_and_leaves_ink_dark(channels):
    """Old paper's damage is a tint of the paper: the page gets darker on average, never lighter,
    and black ink stays near black."""
    x = torch.ones((4, channels, 128, 128))
    x[:, :, 60:68, :] = 0.0  # a black stroke across the page
    for kind in ("stain:3", "crease:4", "fibre:0.1", "yellowing:0.6", "foxing:200", "show_through:0.3"):
        y = Noise(kind, native=True)(x, torch.Generator().manual_seed(0))
        assert y.mean() < x.mean() and (y <= x + 1e-6).all(), kind
        assert y[:, :, 60:68, :].max() < 0.05, kind
