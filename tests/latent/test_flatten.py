"""The large scale of a page clean: the paper estimated at low resolution and divided out,
without lightening ink or large fills, and the page-or-picture decision of `--kind auto`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from latentfolio.data.noise import Noise
from latentfolio.data.pages import render_page
from latentfolio.imaging import image_to_pixels
from latentfolio.latent.flatten import clean_page, flatten_batch, flatten_pixels, looks_like_page, paper_tone
from latentfolio.metrics import image_psnr

from conftest import SHARED

KODAK = SHARED / "kodak"


def _page(seed: int = 0, side: int = 512, kind: str = "text") -> np.ndarray:
    return render_page(side, np.random.default_rng(seed), 3, kind)


def _white(a: np.ndarray) -> np.ndarray:
    paper = np.array([np.bincount(a[..., c].ravel(), minlength=256).argmax() for c in range(3)], np.float32)
    return np.clip(a / paper, 0, 1)


def _damaged(a: np.ndarray, spec: str, seed: int = 0) -> np.ndarray:
    x = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    y = Noise(spec, native=True)(x, torch.Generator().manual_seed(seed))[0]
    return (y.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.mark.parametrize("spec", ["stain:2", "yellowing:0.6", "illumination:0.3"])
def test_the_paper_is_divided_out_and_the_ink_kept(spec):
    clean = _page(1)
    truth = _white(clean)
    bad = _damaged(clean, spec, 3)
    p, info = image_to_pixels(Image.fromarray(bad))
    flat = flatten_pixels(p, info).astype(np.float32) / 255
    assert image_psnr(flat, truth, 1.0) > image_psnr(bad / 255.0, truth, 1.0) + 6
    ink = clean.mean(-1) < 100
    assert flat.mean(-1)[ink].mean() < 0.45  # strokes stay dark


def test_a_large_dark_fill_is_not_lightened_and_a_grey_or_16_bit_page_works():
    a = _page(2, kind="drawing").copy()
    a[150:400, 100:380] = 20  # a filled shape far wider than any stroke
    p, info = image_to_pixels(Image.fromarray(a))
    flat = flatten_pixels(p, info)
    assert flat[200:350, 150:330].mean() < 40
    grey = Image.fromarray(a).convert("L")
    p, info = image_to_pixels(grey)
    assert flatten_pixels(p, info).shape == (512, 512, 1)
    wide = Image.fromarray((np.asarray(grey, np.uint16) * 257))
    out = clean_page(None, wide)
    assert out.mode == wide.mode and out.size == wide.size


def test_the_batch_and_the_full_size_paths_agree():
    bad = _damaged(_page(4), "stain:2,yellowing:0.4", 1)
    p, info = image_to_pixels(Image.fromarray(bad))
    full = flatten_pixels(p, info).astype(np.float32) / 255
    batch = flatten_batch(torch.from_numpy(bad).permute(2, 0, 1)[None].float() / 255)[0].permute(1, 2, 0).numpy()
    assert image_psnr(full, batch, 1.0) > 35  # one background estimate; only the upsampling differs


@pytest.mark.skipif(not KODAK.is_dir(), reason="needs shared/data/kodak")
def test_auto_tells_pages_from_photos():
    pages = [_page(s, 512, k) for s in range(5, 12) for k in ("text", "drawing", "both")]
    found = [looks_like_page(*image_to_pixels(Image.fromarray(a)))[0] for a in pages]
    assert np.mean(found) >= 0.5  # a page missed is left as it is: the safe way to be wrong
    for f in sorted(KODAK.glob("*.png")):  # test data only
        for mode in ("RGB", "L"):
            page, why = looks_like_page(*image_to_pixels(Image.open(f).convert(mode)))
            assert not page, (f.name, mode, why)


def test_paper_tones():
    assert paper_tone("white") == "white" and paper_tone("KEEP") == "keep"
    assert paper_tone("#f4ecd8") == pytest.approx((0xF4 / 255, 0xEC / 255, 0xD8 / 255))
    from latentfolio.errors import ArgumentError

    with pytest.raises(ArgumentError, match="paper='ivory'"):
        paper_tone("ivory")
    a = _page(8)
    out = np.asarray(clean_page(None, Image.fromarray(a), paper_tone("#f4ecd8")))
    assert np.abs(np.median(out.reshape(-1, 3), 0) - [0xF4, 0xEC, 0xD8]).max() <= 3
