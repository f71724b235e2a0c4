"""The CLI end to end on small data: every command writes what it promises; bad input is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import cli, run_cli


@pytest.fixture
def trained(tmp_path_factory, shapes_folder):
    d = tmp_path_factory.mktemp("cli") / "model"
    from latentfolio.training.train import train

    train(shapes_folder, d, "conv", image_size=16, latent_dim=8, epochs=3, progress=False)
    return d


def test_help_is_instant_and_imports_no_torch():
    code = ("import sys, latentfolio.cli; "
            "print('torch' in sys.modules, 'lightning' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "False False"
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("train", "evaluate", "reconstruct", "info", "demo", "models", "noise", "denoise",
                "compress", "decompress", "codec-eval", "index", "similar", "duplicates", "cluster",
                "map", "anomalies", "sample", "interpolate", "blend", "traverse", "sweep", "compare-latent",
                "report", "fit-density"):
        assert cmd in r.stdout


def test_train_evaluate_info_reconstruct(tmp_path, capsys, monkeypatch, shapes_folder):
    out = tmp_path / "m"
    code, o, e = cli(capsys, monkeypatch, "train", shapes_folder, "--out", out, "--image-size", 16,
                     "--latent-dim", 8, "--epochs", 2, "--set", "widths=8,16", "--json")
    assert code == 0, e
    r = json.loads(o)
    assert r["epochs"] == 2 and set(r["metrics"]) >= {"psnr_db", "ssim", "mse", "n"}
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "meta.json", "run"}
    assert json.loads((out / "config.json").read_text())["widths"] == [8, 16]

    code, o, e = cli(capsys, monkeypatch, "evaluate", out, shapes_folder, "--split", "val", "--json")
    r = json.loads(o)
    assert code == 0 and r["split"] == "val" and r["n"] > 0 and 0 < r["ssim"] <= 1
    code, o, e = cli(capsys, monkeypatch, "evaluate", out, shapes_folder)
    assert code == 0 and "psnr_db" in o

    code, o, e = cli(capsys, monkeypatch, "info", out, "--json")
    r = json.loads(o)
    assert r["latent_dim"] == 8 and r["compression_ratio"] == 16 * 16 / 8
    assert r["parameters"] == sum(l["params"] for l in r["layers"])
    code, o, e = cli(capsys, monkeypatch, "info", out)
    assert code == 0 and "compression ratio" in o

    grid = tmp_path / "grid.png"
    code, o, e = cli(capsys, monkeypatch, "reconstruct", out, shapes_folder / "a", "--out", grid, "--json")
    r = json.loads(o)
    assert code == 0 and grid.exists() and len(r["psnr_db"]) == 30
    w, h = Image.open(grid).size
    assert h > w / 8 * 2 * 0.9  # 30 images -> 4 row pairs of originals over reconstructions
    code, o, e = cli(capsys, monkeypatch, "reconstruct", out, shapes_folder / "a", "--out", grid)
    assert code == 2 and "already exists" in e and "--force" in e


def test_models_lists_registry(capsys, monkeypatch):
    code, o, e = cli(capsys, monkeypatch, "models", "--json")
    assert code == 0 and set(json.loads(o)) == {"fc", "conv", "vae", "resnet", "denoiser", "codec", "hyperprior", "meanscale"}


@pytest.mark.parametrize("args,needle", [
    (["train", "digits", "--out", "{tmp}/x", "--loss", "huber"], "--loss"),
    (["train", "digits", "--out", "{tmp}/x", "--model", "gan"], "unknown model type"),
    (["train", "digits", "--out", "{tmp}/x", "--fit", "stretch"], "--fit"),
    (["train", "{tmp}/nothing", "--out", "{tmp}/x"], "no such folder"),
    (["train", "digits", "--out", "{tmp}/x", "--set", "widths"], "KEY=VALUE"),
    # checked before the data is read, so the error is the only line
    (["train", "digits", "--out", "{tmp}/x", "--latent-dim", "0"], "latent_dim: expected a whole number >= 1"),
    (["train", "digits", "--out", "{tmp}/x", "--set", "widths=0,8"], "widths: expected whole numbers >= 1"),
    (["train", "digits", "--out", "{tmp}/x", "--set", "activation=swish"], "unknown activation 'swish'"),
    (["train", "digits", "--out", "{tmp}/x", "--model", "resnet", "--set", "blocks=-1"], "blocks: expected"),
    (["train", "digits", "--out", "{tmp}/x", "--model", "codec", "--set", "stages=9"], "stages: from 2 to 6"),
    (["evaluate", "{tmp}", "digits"], "not a latentfolio model folder"),
    (["index", "{model}", "digits", "--catalog", "{tmp}/c", "--workers", "-1"], "--workers -1"),
    (["train", "digits", "--out", "{tmp}/x", "--ssim-weight", "2", "--loss", "ssim"], "--ssim-weight 2"),
    (["train", "digits", "--out", "{tmp}/x", "--kl-warmup", "-1"], "--kl-warmup -1"),
    (["fit-density", "{model}", "digits", "--components", "0"], "--components 0"),
    (["evaluate", "{model}", "digits", "--split", "dev"], "--split"),
    (["info", "{tmp}/none"], "no such model folder"),
    (["reconstruct", "{model}", "{tmp}/none.png", "--out", "{tmp}/g.png"], "no such file"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, monkeypatch, trained, args, needle):
    args = [a.format(tmp=tmp_path, model=trained) for a in args]
    code, o, e = cli(capsys, monkeypatch, *args)
    assert code == 2, e
    assert e.startswith("error: ") and needle in e and "Traceback" not in e
    assert len(e.strip().splitlines()) == 1


def test_every_trainer_keeps_lightning_quiet():
    """Lightning logs "GPU available", "TPU available" and tips at INFO on every Trainer; index
    builds one before anything else did, so make_trainer itself must quiet them."""
    import logging

    from latentfolio.training.trainer import make_trainer

    logging.getLogger("lightning.pytorch").setLevel(logging.INFO)  # as a fresh import leaves it
    make_trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                 enable_model_summary=False)
    assert logging.getLogger("lightning.pytorch.utilities.rank_zero").getEffectiveLevel() >= logging.WARNING


def test_bad_flag_type_is_a_usage_error(capsys, monkeypatch):
    code, o, e = cli(capsys, monkeypatch, "train", "digits", "--out", "x", "--epochs", "many")
    assert code == 2 and "--epochs" in e and "Traceback" not in e
    for cmd in (["sample", "m", "--out", "x.png"], ["cluster", "c"], ["map", "c", "--out", "x.png"],
                ["anomalies", "c"], ["train", "digits", "--out", "x"]):  # numpy and scikit-learn would raise on a negative seed
        code, o, e = cli(capsys, monkeypatch, *cmd, "--seed", "-5")
        assert code == 2 and "--seed" in e and "Traceback" not in e, cmd


def test_corrupt_inputs_to_reconstruct_are_named(tmp_path, capsys, monkeypatch, trained, shapes_folder):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    code, o, e = cli(capsys, monkeypatch, "reconstruct", trained, bad, shapes_folder / "a" / "000.png",
                     "--out", tmp_path / "g.png")
    assert code == 0 and f"warning: skipped {bad}" in e
    code, o, e = cli(capsys, monkeypatch, "reconstruct", trained, bad, "--out", tmp_path / "g2.png")
    assert code == 2 and "no readable image" in e


def test_colour_inputs_to_a_grey_model_are_announced(tmp_path, capsys, monkeypatch, trained, shapes_folder):
    Image.new("RGB", (16, 16), (200, 30, 30)).save(tmp_path / "red.png")
    code, o, e = cli(capsys, monkeypatch, "reconstruct", trained, tmp_path / "red.png",
                     shapes_folder / "a" / "000.png", "--out", tmp_path / "g.png")
    assert code == 0 and "warning: the model is greyscale: 1 colour input(s) read as grey" in e
    code, o, e = cli(capsys, monkeypatch, "reconstruct", trained, shapes_folder / "a" / "000.png",
                     "--out", tmp_path / "g2.png")
    assert code == 0 and "greyscale" not in e


def test_wrong_model_for_data_is_clear(tmp_path, capsys, monkeypatch, trained):
    (trained / "model.safetensors").write_bytes(b"\x00\x01")
    code, o, e = cli(capsys, monkeypatch, "info", trained)
    assert code == 2 and "corrupt weights" in e


def test_demo_offline_falls_back_to_digits_and_ends_in_the_gallery(tmp_path):
    # The README's main job, as a newcomer runs it: it trains, reports, catalogs, maps, and then
    # serves the gallery until Ctrl-C.
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from latentfolio.gallery.server import free_port

    port = free_port("127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "latentfolio.cli", "demo", "--out", str(tmp_path / "d"), "--offline",
                             "--epochs", "2", "--data-root", str(tmp_path / "empty"), "--port", str(port), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, summary = time.time() + 240, None
        while time.time() < deadline and proc.poll() is None and summary is None:
            try:
                summary = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/summary", timeout=2).read())
            except OSError:
                time.sleep(0.5)
        assert summary is not None, proc.stderr.read() if proc.poll() is not None else "the gallery never answered"
        assert summary["images"] == 1797 and summary["source"] == "dataset"
        points = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/points", timeout=10).read())
        assert len(points["ids"]) == 1797  # all on the map: UMAP's and their neighbours' places
    finally:
        proc.send_signal(signal.SIGINT)
        o, e = proc.communicate(timeout=60)
    assert proc.returncode == 0, e
    r = json.loads(o)
    assert r["data"] == "digits" and "bundled 8x8 digits" in e and f"http://127.0.0.1:{port}/" in e
    page = (tmp_path / "d" / "report.html").read_text()
    assert "Reconstructions" in page and "Loss curve" in page and "Layers" in page
    assert "http://" not in page and "https://" not in page  # works offline: nothing external
    assert page.count("data:image/png;base64,") >= 2
    assert (tmp_path / "d" / "map.html").exists() and (tmp_path / "d" / "catalog" / "catalog.json").exists()


def test_every_command_has_a_python_function_of_its_name():
    import importlib
    import pkgutil

    import latentfolio as lf
    from latentfolio.cli import app

    # import every submodule first: a module named like an API function would shadow it
    for m in pkgutil.walk_packages(lf.__path__, "latentfolio."):
        if not m.name.endswith("__main__"):
            importlib.import_module(m.name)

    for c in app.registered_commands:
        name = (c.name or c.callback.__name__).replace("-", "_").removesuffix("_cmd")
        name = {"models": "list_models"}.get(name, name)
        assert callable(getattr(lf, name)), name


def test_ddp_on_two_cpu_processes_trains_once_and_reports_once(tmp_path):
    # Lightning's DDP launcher re-runs the command for rank 1 after rank 0 has made OUT: the
    # second process must not refuse OUT as existing (or clear it for --force), and only rank 0
    # prints the result.
    out = tmp_path / "ddp"
    args = ("train", "digits", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
            "--epochs", "2", "--latent-dim", "8", "--out", str(out), "--json")
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)  # exactly one JSON document
    assert res["epochs"] == 2 and res["metrics"]["n"] > 0
    assert "already exists" not in r.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["training"]["epochs"] == 2
    r = run_cli(*args)  # a finished OUT is still protected without --force
    assert r.returncode != 0 and "already exists" in r.stderr
    # --lambdas: every rank starts the second rate from the first one's folder, which only rank 0
    # writes, so all ranks wait for it
    out = tmp_path / "rd"
    r = run_cli("train", "digits", "--model", "codec", "--lambdas", "0.01,0.03", "--accelerator", "cpu",
                "--devices", "2", "--strategy", "ddp", "--epochs", "1", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert [Path(x["model_dir"]).name for x in json.loads(r.stdout)] == ["lambda-0.01", "lambda-0.03"]
    assert json.loads((out / "lambda-0.03" / "meta.json").read_text())["training"]["config"]["init"]


def test_worker_process_detection(monkeypatch):
    from latentfolio.training.trainer import is_worker_process

    for k in ("LOCAL_RANK", "NODE_RANK", "GROUP_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert not is_worker_process()
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not is_worker_process()
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert is_worker_process()
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("NODE_RANK", "2")
    assert is_worker_process()


def test_quick_commands_do_not_load_lightning():
    """Only training and indexing need Lightning (5-6 s to import here); a search, a duplicate
    check, an .lfz's info and the Python API's quick calls start without it (the gallery's server
    indexes folders, so it loads it)."""
    import subprocess
    import sys

    code = ("import sys, latentfolio as lf; lf.similar; lf.duplicates; lf.info; lf.compress; lf.denoise; lf.undo; "
            "import latentfolio.cli.app, latentfolio.commands.organize, latentfolio.commands.cluster, "
            "latentfolio.codec.describe; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_a_hostile_file_name_is_one_printable_line(tmp_path, capsys, monkeypatch):
    """A name with a newline or a terminal escape in it cannot split an error or a warning line,
    nor reach the terminal as an escape sequence."""
    bad = tmp_path / "evil\nname\x1b[31m.lfz"
    bad.write_bytes(b"LFZ\x1a" + bytes(3))
    code, out, err = cli(capsys, monkeypatch, "info", bad)
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err
    assert err.startswith("error: ") and "evil\\nname\\x1b[31m.lfz" in err and "truncated" in err
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "ok.png")
    (folder / "junk\x1b]0;x\x07.png").write_bytes(b"not an image")
    code, out, err = cli(capsys, monkeypatch, "noise", folder, "--spec", "gaussian:0.1", "--out", tmp_path / "n")
    assert code == 0 and "\x1b" not in err and "\x07" not in err and "junk\\x1b]0;x\\x07.png" in err


@pytest.mark.parametrize("model", ["codec", "hyperprior", "denoiser", "conv"])
def test_train_help_states_each_models_real_defaults(model):
    """The defaults in `train --model X --help` are read from the model's config and class, and the
    training config's dataclass, so the help cannot disagree with what a run does."""
    from latentfolio.models.registry import get_model_class
    from latentfolio.training.config import TrainConfig

    r = run_cli("train", "--model", model, "--help", env={"COLUMNS": "400"})
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    cls = get_model_class(model)
    assert f"Bottleneck size. (default for {model}: {cls.Config().latent_dim})" in text
    assert f"(default for {model}: {cls.default_lr:g}" in text
    assert f"(default for {model}: {cls.default_optimizer})" in text
    assert f"(default: {TrainConfig.muon_lr})" in text and f"(default: {TrainConfig.lmbda})" in text


def test_version_prints_the_package_version():
    from latentfolio.version import __version__

    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"latentfolio {__version__}"


def test_a_table_in_80_columns_keeps_every_file_name_whole(capsys, monkeypatch):
    """The detail columns give way, then the folders are shortened in the middle: a file name is
    never cut or folded over two lines."""
    from latentfolio.cli.organize import _hits_table

    monkeypatch.setenv("COLUMNS", "80")
    name = "jake-nackos-HjpNeUD8qdw-unsplash.jpg"
    rows = [{"rank": i, "score": 1.5, "reason": "reconstruction", "recon_error": 0.0123, "complexity": 8.04,
             "label": "photos", "path": f"/home/artist/pictures/2019/a-long-folder-name/{i}-{name}"} for i in range(3)]
    _hits_table("most unusual", rows, ["rank", "score", "reason", "recon_error", "complexity", "label", "path"])
    out = capsys.readouterr().out
    assert all(f"{i}-{name}" in out for i in range(3)), out
    assert max(len(line) for line in out.splitlines()) <= 80
