"""The model contract, parametrised over the registry; and the safe model folder."""

from __future__ import annotations

import json

import pytest
import torch

from latentfolio.errors import LatentfolioError
from latentfolio.models import MODELS, DiagonalGaussian, build_model
from latentfolio.saved import load_model, save_model

SMALL = {"fc": {}, "conv": {}, "vae": {}, "resnet": {"widths": (8, 16), "latent_dim": 16, "blocks": (1, 1)},
         "denoiser": {"width": 8, "blocks": 1, "latent_dim": 8}, "codec": {"width": 8, "latent_dim": 8},
         "hyperprior": {"width": 8, "latent_dim": 8, "hyper_dim": 4}, "meanscale": {"width": 8, "latent_dim": 8, "hyper_dim": 4}}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("size,channels,norm", [(28, 1, "01"), (20, 3, "pm1"), (8, 1, "01")])
def test_contract_shapes(name, size, channels, norm):
    torch.manual_seed(0)
    m = build_model(name, image_size=size, channels=channels, norm=norm, **SMALL[name]).eval()
    x = torch.rand(3, channels, size, size) * (2 if norm == "pm1" else 1) - (1 if norm == "pm1" else 0)
    out = m(x)
    assert out.recon.shape == x.shape
    if getattr(m, "spatial", False):  # a latent map (B, C, h, w), e.g. the denoiser
        assert out.z.shape[:2] == (3, m.config.latent_dim) and out.z.dim() == 4
    else:
        assert out.z.shape == (3, m.config.latent_dim)
    lo = -1 if norm == "pm1" else 0
    assert out.recon.min() >= lo and out.recon.max() <= 1  # output activation matches the range
    z = m.encode(x)
    if name == "vae":
        assert isinstance(z, DiagonalGaussian) and out.posterior is not None
        g = torch.Generator().manual_seed(1)
        s1, s2 = z.sample(torch.Generator().manual_seed(1)), z.sample(g)
        assert torch.equal(s1, s2) and z.kl().shape == (3,) and (z.kl() >= 0).all()
        assert torch.equal(z.mode(), z.mean)
    else:
        assert torch.is_tensor(z)
    assert m.decode(m.embed(x)).shape[:2] == x.shape[:2]
    assert torch.allclose(m.reconstruct(x), out.recon, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_load_identical(tmp_path, name):
    torch.manual_seed(0)
    m = build_model(name, image_size=16, channels=3, **SMALL[name]).eval()
    save_model(m, tmp_path / name, {"note": "test"})
    files = sorted(p.name for p in (tmp_path / name).iterdir())
    assert files == ["config.json", "meta.json", "model.safetensors"]
    cfg = json.loads((tmp_path / name / "config.json").read_text())
    assert cfg["type"] == name and cfg["format_version"] == 1
    assert {"image_size", "channels", "norm", "latent_dim"} <= set(cfg)
    m2 = load_model(tmp_path / name)
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(m.reconstruct(x), m2.reconstruct(x))
    assert m2.meta["note"] == "test" and len(m2.fingerprint) == 64


def test_pixels_round_trip():
    m = build_model("conv", image_size=8, channels=3, norm="pm1")
    px = torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8)
    x = m.preprocess(px)
    assert x.shape == (2, 3, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(m.postprocess(x), px)


def test_tutorial_architectures_by_config():
    t28 = build_model("conv", image_size=28, channels=1, latent_dim=32, widths=(16, 32), kernel=3,
                      batchnorm=True, activation="relu", mlp_width=0)
    convs = [l for l in t28.encoder.net if isinstance(l, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == \
        [(1, 16, (3, 3), (2, 2)), (16, 32, (3, 3), (2, 2))]
    assert any(isinstance(l, torch.nn.BatchNorm2d) for l in t28.encoder.net)
    t128 = build_model("conv", image_size=128, channels=3, latent_dim=1024, widths=(32, 64, 128),
                       kernel=4, batchnorm=False, activation="relu", mlp_width=0)
    assert t128.encoder(torch.zeros(1, 3, 128, 128)).shape == (1, 128, 16, 16)
    assert t128.to_latent.out_features == 1024
    assert t128(torch.rand(1, 3, 128, 128)).recon.shape == (1, 3, 128, 128)
    assert isinstance(t28.to_latent, torch.nn.Linear) and t28.to_latent.in_features == 32 * 7 * 7


@pytest.mark.parametrize("size,kernel", [(28, 3), (28, 4), (17, 3), (64, 4), (8, 3)])
def test_conv_decoder_retraces_encoder_sizes(size, kernel):
    m = build_model("conv", image_size=size, channels=1, latent_dim=8, kernel=kernel, mlp_width=16).eval()
    sizes, h = [], torch.zeros(1, 1, size, size)
    for layer in m.encoder.net:
        h = layer(h)
        if isinstance(layer, torch.nn.Conv2d):
            sizes.append(h.shape[-1])
    h, dec = m.from_latent(torch.zeros(1, 8)).view(1, -1, m.s, m.s), []
    for layer in m.decoder.net:
        h = layer(h)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            dec.append(h.shape[-1])
    assert dec == (sizes[:-1][::-1] + [size])  # no crop: every stage lands on the encoder's size


def test_old_conv_configs_load_with_their_layout():
    from latentfolio.models.conv import ConvConfig

    old = ConvConfig.from_saved({"image_size": 28, "channels": 1, "latent_dim": 32, "norm": "01",
                                "widths": [32, 64, 128], "kernel": 3, "batchnorm": True,
                                "activation": "silu", "convs_per_stage": 1})
    assert old.mirror_sizes is False and old.mlp_width == 0
    assert ConvConfig().mirror_sizes is True and ConvConfig().mlp_width > 0


@pytest.mark.parametrize("field,value,msg", [("batchnorm", "maybe", "true or false"),
                                              ("mlp_width", -1, "whole number"),
                                              ("latent_dim", 2.5, "whole number")])
def test_config_values_are_type_checked(field, value, msg):
    with pytest.raises(ValueError, match=msg):
        build_model("conv", **{field: value})


def test_resnet_latent_map():
    m = build_model("resnet", image_size=128, channels=3, latent_dim=1024, widths=(32, 64, 128),
                    latent_map=True)
    x = torch.rand(2, 3, 128, 128)
    assert m.encode(x).shape == (2, 4, 16, 16)  # 1024 values as a 4 x 16 x 16 map
    assert m(x).recon.shape == x.shape
    with pytest.raises(ValueError, match="whole number"):
        build_model("resnet", image_size=128, channels=3, latent_dim=1000, widths=(32, 64, 128),
                    latent_map=True)


def test_unknown_names_are_errors():
    with pytest.raises(KeyError, match="unknown model type"):
        build_model("transformer")
    with pytest.raises(ValueError, match="unknown config field"):
        build_model("conv", widht=3)


def test_load_refuses_bad_folders(tmp_path):
    m = build_model("conv", image_size=8)
    d = save_model(m, tmp_path / "m")
    with pytest.raises(LatentfolioError, match="not a latentfolio model folder"):
        load_model(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(LatentfolioError, match="newer"):
        load_model(d)
    (d / "config.json").write_text(json.dumps({**cfg, "type": "nope"}))
    with pytest.raises(LatentfolioError, match="unknown model type"):
        load_model(d)
    (d / "config.json").write_text(json.dumps({**cfg, "latent_dim": 7}))
    with pytest.raises(LatentfolioError, match="weights do not match"):
        load_model(d)
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(LatentfolioError, match="corrupt weights"):
        load_model(d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(LatentfolioError, match="not a valid JSON"):
        load_model(d)


def test_codec_stages_and_denoiser_levels_are_bounded():
    for name, kw, needle in (("codec", {"stages": 1}, "from 2 to 6"), ("codec", {"stages": 40}, "from 2 to 6"),
                             ("denoiser", {"levels": 40}, "at most 6")):
        with pytest.raises(ValueError, match=needle):
            build_model(name, image_size=28, channels=1, **kw)
