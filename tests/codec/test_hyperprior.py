"""Hyperprior codecs: real .lfz files, and entropy parameters that are the same integers under
every perturbation of how they are computed (threads, batch, memory layout, blocking, a fresh
process), checked against an int64 reference."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from latentfolio.codec import format as fmt
from latentfolio.codec import hyper, image
from latentfolio.errors import LatentfolioError
from latentfolio.metrics import psnr
from latentfolio.models import build_model, integer
from latentfolio.saved import load_model, save_model
from latentfolio.training.train import train

from conftest import shapes_image, write_shapes

PSNR_FLOOR = 12.0  # dB: well under what one epoch on 12 shapes reaches, well over a broken round trip


def _frozen(name: str, seed: int = 0):
    torch.manual_seed(seed)
    net = build_model(name, image_size=32, channels=3, width=12, latent_dim=8, hyper_dim=6)
    with torch.no_grad():  # spread the hyper-synthesis so its outputs cross many table boundaries
        for p in net.hyper_decoder.parameters():
            p.mul_(3.0)
    net.eval()
    net.finalize()
    return net


@pytest.fixture(scope="module", params=["hyperprior", "meanscale"])
def saved(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "model"
    save_model(_frozen(request.param), out, {"training": {"config": {"lmbda": 0.01}}})
    return out


def _z(net, shape=(8, 6, 5, 7), seed=1) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(-6, 7, shape).astype(np.int32))


def _reference(net, z: np.ndarray) -> np.ndarray:
    """The integer hyper-synthesis in numpy int64: exact by construction, no floats at all."""
    x = z.astype(np.int64)
    n = len(net.hyper_integer.geometry)
    for i, (stride, pad, up, op, k) in enumerate(net.hyper_integer.geometry):
        w = getattr(net.hyper_integer, f"w{i}").numpy().astype(np.int64)
        b = getattr(net.hyper_integer, f"b{i}").numpy()
        if up:
            b_, c, h, wd = x.shape
            u = np.zeros((b_, c, 2 * h - 1, 2 * wd - 1), np.int64)
            u[:, :, ::2, ::2] = x
            lo = k - 1 - pad
            x, stride, pad = np.pad(u, ((0, 0), (0, 0), (lo, lo + op), (lo, lo + op))), 1, 0
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        oh, ow = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
        acc = np.zeros((x.shape[0], w.shape[0], oh, ow), np.int64)
        for dy in range(k):
            for dx in range(k):
                win = x[:, :, dy:dy + stride * oh:stride, dx:dx + stride * ow:stride]
                acc += np.einsum("bchw,oc->bohw", win, w[:, :, dy, dx])
        acc += b[None, :, None, None]
        shift = integer.FRAC_W + (0 if i == 0 else integer.FRAC_A) - integer.FRAC_A
        x = acc >> shift  # floor division by a power of two
        x = np.clip(x, 0 if i < n - 1 else -integer.ACT_LIMIT, integer.ACT_LIMIT).astype(np.int64)
    return x


@pytest.mark.parametrize("name", ["hyperprior", "meanscale"])
def test_entropy_parameters_are_exact_under_every_perturbation(name, monkeypatch):
    net = _frozen(name)
    z = _z(net)
    h, w = 4 * z.shape[2] - 1, 4 * z.shape[3] - 2
    idx, means = net.entropy_parameters(z, h, w)
    assert len(np.unique(idx.numpy())) > 10  # the test crosses many table boundaries
    ref = _reference(net, z.numpy())[..., :h, :w]
    m = net.config.latent_dim
    assert np.array_equal(means.numpy(), ref[:, m:] if name == "meanscale" else np.zeros_like(ref))
    assert np.array_equal(idx.numpy(), np.searchsorted(net.scale_log.numpy(), ref[:, :m]).clip(max=63))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_thread = net.entropy_parameters(z, h, w)
    finally:
        torch.set_num_threads(threads)
    singles = [net.entropy_parameters(z[i:i + 1], h, w) for i in range(len(z))]  # batch of 1 vs 8
    last = net.entropy_parameters(z.to(memory_format=torch.channels_last), h, w)
    monkeypatch.setattr(integer, "ROWS", 3)  # another blocking of the sums
    blocked = net.entropy_parameters(z, h, w)
    for other in (one_thread, last, blocked,
                  (torch.cat([s[0] for s in singles]), torch.cat([s[1] for s in singles]))):
        assert torch.equal(other[0], idx) and torch.equal(other[1], means)
    if torch.cuda.is_available():  # another backend, where the machine has one
        gpu = net.to("cuda").entropy_parameters(z.cuda(), h, w)
        assert torch.equal(gpu[0].cpu(), idx) and torch.equal(gpu[1].cpu(), means)


def test_freeze_refuses_weights_that_could_lose_exactness():
    net = build_model("hyperprior", image_size=32, channels=3, width=12, latent_dim=8, hyper_dim=6)
    with torch.no_grad():
        net.hyper_decoder[0].weight.fill_(1e9)
    with pytest.raises(ValueError, match="too large for exact arithmetic"):
        net.finalize()


def test_files_round_trip_and_decode_identically_in_a_fresh_process(saved, tmp_path):
    model = load_model(saved)
    img = Image.fromarray(shapes_image(np.random.default_rng(3), 72, colour=True)).crop((0, 0, 70, 51))
    blob = image.compress_image(model, img)
    hd = fmt.parse(blob)
    assert (hd.width, hd.height) == (70, 51)
    back = image.decompress_bytes(model, blob)
    assert back.size == img.size and back.mode == "RGB"
    assert image.compress_image(model, img) == blob  # deterministic bytes
    (tmp_path / "a.lfz").write_bytes(blob)
    code = ("import sys, numpy as np, torch; torch.set_num_threads(1); "
            "from latentfolio.saved import load_model; from latentfolio.codec.image import decompress_bytes; "
            "m = load_model(sys.argv[1]); im = decompress_bytes(m, open(sys.argv[2], 'rb').read()); "
            "sys.stdout.buffer.write(np.asarray(im).tobytes())")
    out = subprocess.run([sys.executable, "-c", code, str(saved), str(tmp_path / "a.lfz")], capture_output=True,
                         check=True).stdout
    assert out == np.asarray(back).tobytes()


def test_corrupt_hyper_payloads_are_named(saved):
    model = load_model(saved)
    img = Image.fromarray(shapes_image(np.random.default_rng(4), 48, colour=True))
    hd = fmt.parse(image.compress_image(model, img))
    bad = fmt.pack(0, image.fingerprint(model), hd.width, hd.height, "RGB", None, fmt.leb128(10**6) + b"\x01\x02")
    with pytest.raises(LatentfolioError, match="hyper-latent cannot fit"):
        image.decompress_bytes(model, bad, "x.lfz")


def test_refine_changes_hyperprior_files_which_still_decode_and_are_deterministic(saved):
    model = load_model(saved)
    img = Image.fromarray(shapes_image(np.random.default_rng(5), 40, colour=True))
    refined = image.compress_image(model, img, refine=200)  # (5 or 50 steps leave this untrained
    assert refined != image.compress_image(model, img)        # model's file as it was: 200 move it)
    assert image.decompress_bytes(model, refined).size == img.size
    assert refined == image.compress_image(model, img, refine=200)


def test_hyperprior_trains_on_patches_and_compresses(tmp_path):
    root = write_shapes(tmp_path / "big", 12, size=80, colour=True)
    Image.fromarray(shapes_image(np.random.default_rng(9), 20, colour=True)).save(root / "small.png")
    res = train(root, tmp_path / "m", "meanscale", patch=32, epochs=1, lmbda=0.01, progress=False,
                model_options={"width": 12, "latent_dim": 8, "hyper_dim": 6})
    model = load_model(res.model_dir)
    assert model.frozen and model.config.image_size == 32
    assert model.meta["training"]["config"]["lr"] == pytest.approx(1e-3)
    img = Image.open(root / "000.png").convert("RGB")
    blob = image.compress_image(model, img)
    back = image.decompress_bytes(model, blob)
    assert back.size == img.size
    assert len(blob) < img.width * img.height * 3 // 4  # smaller than the pixels by 4x at least
    got = psnr(torch.from_numpy(np.asarray(img))[None], torch.from_numpy(np.asarray(back.convert("RGB")))[None], 255.0)
    assert float(got) > PSNR_FLOOR
    assert hyper.is_hyper(model)
