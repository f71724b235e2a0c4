"""Create and study: sample, interpolate, blend, traverse, sweep, compare-latent, report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import cli, write_shapes


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A conv AE and a VAE on 16 px shapes, trained once for the module."""
    from latentfolio.training.train import train

    root = tmp_path_factory.mktemp("gen")
    data = root / "shapes"
    for k, label in enumerate(("a", "b")):
        write_shapes(data / label, 40, seed=k)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTFOLIO_CACHE", str(root / "cache"))
        for kind in ("conv", "vae"):
            train(data, root / kind, kind, image_size=16, latent_dim=4, epochs=4, progress=False)
    return {"ae": root / "conv", "vae": root / "vae", "data": data}


def _img(models, label="a", i=0):
    return models["data"] / label / f"{i:03d}.png"


def test_training_saves_a_density_that_round_trips(models):
    from latentfolio.latent.density import DENSITY_JSON, LatentDensity

    d = LatentDensity.load(models["ae"])
    assert json.loads((models["ae"] / DENSITY_JSON).read_text())["kind"] == "gaussian_mixture"
    z = d.sample(50, seed=3)
    assert z.shape == (50, 4) and np.isfinite(z).all()
    np.testing.assert_array_equal(z, LatentDensity.load(models["ae"]).sample(50, seed=3))
    assert np.isfinite(d.score_samples(z)).all()
    # samples of the fitted mixture are more likely under it than far-away points
    assert d.score_samples(z).mean() > d.score_samples(z * 0 + d.mean_ + 20 * d.std_).mean()


def test_sample_is_reproducible_and_uses_the_right_source(tmp_path, capsys, monkeypatch, models):
    runs = {}
    for name, args in {"a1": ["--seed", "1"], "a2": ["--seed", "1"], "b": ["--seed", "2"],
                       "prior": ["--seed", "1", "--from", "prior"]}.items():
        out = tmp_path / f"{name}.png"
        code, o, e = cli(capsys, monkeypatch, "sample", models["ae"], "-n", 9, "--out", out, "--json", *args)
        assert code == 0, e
        runs[name] = (json.loads(o), out.read_bytes())
    assert runs["a1"][1] == runs["a2"][1] and runs["a1"][1] != runs["b"][1]
    assert runs["a1"][0]["from"] == "density" and runs["prior"][0]["from"] == "prior"
    assert runs["a1"][1] != runs["prior"][1]
    code, o, e = cli(capsys, monkeypatch, "sample", models["vae"], "--out", tmp_path / "v.png", "--json")
    assert code == 0 and json.loads(o)["from"] == "prior" and Image.open(tmp_path / "v.png").size[0] > 16


def test_interpolation_endpoints_are_the_reconstructions(tmp_path, capsys, monkeypatch, models):
    import latentfolio as lf
    from latentfolio.data import decode_inputs
    from latentfolio.latent.encode import reconstruct_pixels
    from latentfolio.latent.generate import interpolate_latents
    from latentfolio.latent.encode import decode_latents, encode_pixels

    model = lf.load(models["ae"])
    px, _ = decode_inputs([_img(models, "a"), _img(models, "b")], 16, 1)
    z = encode_pixels(model, px)
    rec = reconstruct_pixels(model, px)
    for method in ("linear", "slerp"):
        frames = decode_latents(model, interpolate_latents(z[0], z[1], 7, method))
        assert frames.shape[0] == 7
        assert np.abs(frames[0].astype(int) - rec[0]).max() <= 1
        assert np.abs(frames[-1].astype(int) - rec[1]).max() <= 1
    code, o, e = cli(capsys, monkeypatch, "interpolate", models["ae"], _img(models, "a"), _img(models, "b"),
                     "--steps", 5, "--method", "slerp", "--out", tmp_path / "s.png", "--gif", tmp_path / "s.gif")
    assert code == 0, e
    gif = Image.open(tmp_path / "s.gif")
    assert gif.n_frames == 8  # 5 there, 3 back
    assert Image.open(tmp_path / "s.png").size[0] > 5 * 16
    code, o, e = cli(capsys, monkeypatch, "interpolate", models["ae"], _img(models, "a"), _img(models, "b"),
                     "--out", tmp_path / "t.png", "--gif", tmp_path / "t.txt")
    assert code == 2 and "name it .gif" in e and not (tmp_path / "t.png").exists()


def test_blend(tmp_path, capsys, monkeypatch, models):
    import latentfolio as lf
    from latentfolio.data import decode_inputs
    from latentfolio.latent.encode import reconstruct_pixels

    a, b, c = _img(models, "a", 0), _img(models, "b", 1), _img(models, "a", 2)
    out = tmp_path / "blend.png"
    code, o, e = cli(capsys, monkeypatch, "blend", models["ae"], a, b, "--weights", "1,0", "--out", out,
                     "--sheet", tmp_path / "sheet.png")
    assert code == 0, e
    model = lf.load(models["ae"])
    px, _ = decode_inputs([a], 16, 1)
    blended = np.asarray(Image.open(out))
    assert np.abs(blended.astype(int) - reconstruct_pixels(model, px)[0, :, :, 0]).max() <= 1
    assert (tmp_path / "sheet.png").exists()
    (tmp_path / "bad.png").write_text("no pixels here")
    code, o, e = cli(capsys, monkeypatch, "blend", models["ae"], a, tmp_path / "bad.png", "--out", tmp_path / "y.png")
    assert code == 2 and "bad.png: not an image" in e and len(e.strip().splitlines()) == 1, e
    for weights, msg in (("0.5,0.6,0.1", "sum to"), ("0.5,0.5", "2 weight(s) for 3 image(s)"), ("a,b,c", "expected numbers")):
        code, o, e = cli(capsys, monkeypatch, "blend", models["ae"], a, b, c, "--weights", weights,
                         "--out", tmp_path / "x.png")
        assert code == 2 and msg in e and len(e.strip().splitlines()) == 1, e


def test_traverse_ranks_dimensions_by_training_spread(tmp_path, capsys, monkeypatch, models):
    from latentfolio.latent.density import LatentDensity

    std = LatentDensity.load(models["ae"]).std_
    out = tmp_path / "t.png"
    code, o, e = cli(capsys, monkeypatch, "traverse", models["ae"], _img(models), "--dims", "top2",
                     "--steps", 5, "--out", out, "--json")
    assert code == 0, e
    r = json.loads(o)
    assert r["dims"] == [int(i) for i in np.argsort(-std)[:2]]
    assert Image.open(out).size[1] > 2 * 16
    code, o, e = cli(capsys, monkeypatch, "traverse", models["ae"], _img(models), "--dims", "0,9",
                     "--out", tmp_path / "u.png")
    assert code == 2 and "4 dimensions" in e


def test_sweep_table_has_one_row_per_combination_and_resumes(tmp_path, capsys, monkeypatch, models):
    out = tmp_path / "sweep"
    args = ["sweep", models["data"], "--models", "fc,conv", "--latent-dims", "2,3", "--epochs", 1,
            "--image-size", 12, "--out", out, "--json"]
    code, o, e = cli(capsys, monkeypatch, *args)
    assert code == 0, e
    rows = (out / "sweep.csv").read_text().strip().splitlines()
    assert rows[0].startswith("model,latent_dim,compression_ratio,test_mse,test_psnr_db,test_ssim,parameters")
    assert sorted(r.split(",")[0] + r.split(",")[1] for r in rows[1:]) == ["conv2", "conv3", "fc2", "fc3"]
    assert (out / "sweep.md").read_text().count("\n") == 6 and (out / "sweep.png").exists()
    weights = out / "fc-2" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    code, o, e = cli(capsys, monkeypatch, *args)
    assert code == 0 and weights.stat().st_mtime_ns == before  # reused, not retrained


def test_compare_latent_and_report_work_offline(tmp_path, capsys, monkeypatch, models):
    out = tmp_path / "cmp"
    code, o, e = cli(capsys, monkeypatch, "compare-latent", models["ae"], models["vae"], models["data"],
                     "--out", out, "-n", 60, "--json")
    assert code == 0, e
    r = json.loads(o)
    assert {p.name for p in out.iterdir()} == {"maps.png", "gaps.png", "prior.png", "compare.json", "index.html"}
    assert r["AE"]["prior_nn_ratio"] > 0 and r["VAE"]["prior_nn_ratio"] > 0
    code, o, e = cli(capsys, monkeypatch, "compare-latent", models["ae"], models["ae"], models["data"],
                     "--out", tmp_path / "cmp2")
    assert code == 2 and "compare-latent needs a vae here" in e and not (tmp_path / "cmp2").exists()
    report = tmp_path / "report.html"
    code, o, e = cli(capsys, monkeypatch, "report", models["ae"], models["data"], "--out", report)
    assert code == 0, e
    html = report.read_text()
    for section in ("Loss curve", "Reconstructions", "Latent map", "Samples", "Interpolation", "Traversal"):
        assert f"<h2>{section}</h2>" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    code, o, e = cli(capsys, monkeypatch, "report", models["ae"], models["data"], "--out", report)
    assert code == 2 and "--force" in e


def test_fit_density_restores_sampling_for_an_old_model_folder(tmp_path, capsys, monkeypatch, models):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(models["ae"], old)
    for f in ("density.safetensors", "density.json"):
        (old / f).unlink()
    code, o, e = cli(capsys, monkeypatch, "sample", old, "--out", tmp_path / "s.png")
    assert code == 2 and "fit-density" in e  # says how to fix it
    code, o, e = cli(capsys, monkeypatch, "fit-density", old, models["data"], "--components", 3, "--json")
    assert code == 0, e
    assert json.loads(o)["n_components"] == 3 and (old / "density.safetensors").exists()
    code, o, e = cli(capsys, monkeypatch, "sample", old, "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").exists()
    # the density it now has is kept unless asked
    fitted = (old / "density.safetensors").read_bytes()
    code, o, e = cli(capsys, monkeypatch, "fit-density", old, models["data"], "--components", 2)
    assert code == 2 and "--force" in e and (old / "density.safetensors").read_bytes() == fitted
    code, o, e = cli(capsys, monkeypatch, "fit-density", old, models["data"], "--components", 2, "--force", "--json")
    assert code == 0 and json.loads(o)["n_components"] == 2


def test_pictures_follow_their_names_and_dims_must_name_something(tmp_path):
    from latentfolio.errors import LatentfolioError
    from latentfolio.imaging import save_picture
    from latentfolio.latent.generate import parse_dims

    img = Image.new("RGB", (8, 8), (200, 10, 10))
    for name, fmt in (("a.png", "PNG"), ("a.jpg", "JPEG"), ("a.webp", "WEBP")):
        save_picture(img, tmp_path / name)
        assert Image.open(tmp_path / name).format == fmt
    with pytest.raises(LatentfolioError, match="cannot write a .bmp picture"):
        save_picture(img, tmp_path / "a.bmp")
    assert not (tmp_path / "a.bmp").exists()
    std = np.array([1.0, 3.0, 2.0])
    assert parse_dims("top2", std) == [1, 2] and parse_dims("0,2", std) == [0, 2]
    for bad in ("top0", "top-1", "3", "x"):
        with pytest.raises(LatentfolioError, match="dims="):
            parse_dims(bad, std)


def test_a_latent_map_model_serves_every_vector_tool(tmp_path, capsys, monkeypatch, models):
    """`resnet --set latent_map=true` is indexed, searched, sampled and traversed through its
    flattened map: the same codes decode to the same pictures."""
    from latentfolio.saved import load_model
    from latentfolio.training.train import train

    model = tmp_path / "map"
    train(models["data"], model, "resnet", image_size=16, latent_dim=64, epochs=2, progress=False,
          model_options={"latent_map": True, "widths": (8, 16)})
    m = load_model(model)
    import torch

    x = torch.rand(3, 1, 16, 16)
    z = m.embed(x)
    assert z.shape == (3, 64)  # a 16 x 4 x 4 map, flattened
    torch.testing.assert_close(m.decode(z), m.decode(m.encode(x)))
    cat = tmp_path / "c"
    code, o, e = cli(capsys, monkeypatch, "index", model, models["data"], "--catalog", cat, "--json")
    assert code == 0, e
    assert json.loads(o)["images"] == 80
    code, o, e = cli(capsys, monkeypatch, "similar", cat, _img(models), "-k", 3, "--json")
    assert code == 0, e
    res = json.loads(o)
    assert res["query"]["in_catalog"] and len(res["results"]) == 3
    assert res["results"][0]["distance"] <= res["results"][2]["distance"]
    for cmd in (["sample", model, "-n", 4, "--out", tmp_path / "s.png"],
                ["traverse", model, _img(models), "--out", tmp_path / "t.png"]):
        code, o, e = cli(capsys, monkeypatch, *cmd, "--json")
        assert code == 0, e
        assert Image.open(cmd[cmd.index("--out") + 1]).size[0] > 16
