"""`denoise --kind page|auto` through the command: a page model trained on rendered pages with the
`page` damage, the paper flattened, pictures left alone, and bad flags as one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from latentfolio.commands.clean import denoise
from latentfolio.data.noise import Noise
from latentfolio.data.pages import render_page
from latentfolio.metrics import image_psnr

from conftest import cli, write_shapes

FIXTURE_DENOISER = __import__("pathlib").Path(__file__).parents[1] / "fixtures" / "denoiser-scan"


@pytest.fixture(scope="module")
def page_model(tmp_path_factory):
    from latentfolio.training.train import train

    tmp = tmp_path_factory.mktemp("pages")
    rng = np.random.default_rng(1000)
    for i in range(4):
        Image.fromarray(render_page(128, rng, 3)).save(tmp / f"{i}.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTFOLIO_CACHE", str(tmp / "cache"))
        train(tmp, tmp / "m", "denoiser", denoise="page", patch=64, epochs=1, progress=False,
              model_options={"width": 16})
    return tmp / "m"


def test_a_page_model_flattens_a_stained_page_and_leaves_a_photo_alone(page_model, tmp_path):
    clean = render_page(640, np.random.default_rng(8), 3, "text")
    x = torch.from_numpy(clean).permute(2, 0, 1)[None].float() / 255
    bad = (Noise("stain:2,yellowing:0.4", native=True)(x, torch.Generator().manual_seed(1))[0]
           .permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(bad).save(src / "page.png")
    write_shapes(src, 1, size=96, colour=True)  # a picture: no paper to flatten
    r = denoise(page_model, [src], tmp_path / "out", kind="auto")
    kinds = {w["input"].split("/")[-1]: w["kind"] for w in r["written"]}
    assert kinds == {"page.png": "page", "000.png": "unchanged"}
    paper = np.array([np.bincount(clean[..., c].ravel()).argmax() for c in range(3)], np.float32)
    truth = np.clip(clean / paper, 0, 1)
    out = np.asarray(Image.open(tmp_path / "out" / "page.png"), np.float32) / 255
    assert image_psnr(out, truth, 1.0) > image_psnr(bad / 255.0, truth, 1.0) + 6
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "000.png")), np.asarray(Image.open(src / "000.png")))


def test_page_mode_bad_flags_are_one_line(page_model, tmp_path, capsys, monkeypatch):
    img = tmp_path / "a.png"
    Image.fromarray(render_page(64, np.random.default_rng(0), 3)).save(img)
    for args, want in (((page_model, img, "--kind", "pages"), "--kind 'pages': use one of scan, page, auto"),
                       ((FIXTURE_DENOISER, img, "--kind", "page"), "without page damage"),
                       ((page_model, img, "--kind", "page", "--paper", "ivory"), "--paper")):
        code, out, err = cli(capsys, monkeypatch, "denoise", *args, "--out", tmp_path / "o")
        assert code == 2 and want in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "o").exists()


def test_a_page_keeps_its_format_mode_profile_and_exif(page_model, tmp_path):
    from PIL import ImageCms

    a = render_page(320, np.random.default_rng(8), 3, "text")
    exif = Image.Exif()
    exif[0x010F] = "ScanMaker"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "scan.jpg"
    Image.fromarray(a).save(src, quality=92, exif=exif.tobytes(), icc_profile=icc)
    before = src.read_bytes()
    denoise(page_model, [src], tmp_path / "out", kind="page")
    out = Image.open(tmp_path / "out" / "scan.jpg")
    assert out.format == "JPEG" and out.mode == "RGB" and out.size == (320, 320)
    assert out.getexif()[0x010F] == "ScanMaker" and out.info.get("icc_profile") == icc
    assert src.read_bytes() == before  # the original is never written
