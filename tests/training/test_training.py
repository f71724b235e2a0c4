"""Training: the loss falls, runs resume (also after a kill), NaN stops cleanly, outputs are safe."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from latentfolio.errors import LatentfolioError
from latentfolio.saved import load_model
from latentfolio.training import losses
from latentfolio.training.module import lr_factor
from latentfolio.training.train import train


def rows(model_dir):
    with open(model_dir / "run" / "history.csv") as f:
        return list(csv.DictReader(f))


def test_training_reduces_loss_and_writes_run_outputs(tmp_path, shapes_folder):
    out = tmp_path / "m"
    res = train(shapes_folder, out, "conv", image_size=16, latent_dim=8, epochs=6, progress=False)
    h = rows(out)
    assert len(h) == 6 and float(h[-1]["train_loss"]) < 0.5 * float(h[0]["train_loss"])
    assert (out / "run" / "loss_curve.png").exists()
    assert sorted(p.name for p in (out / "run" / "grids").iterdir())[-1] == "epoch_006.png"
    m = load_model(out)
    assert m.meta["training"]["epochs"] == 6 and res.metrics["n"] > 0
    assert m.meta["data"]["splits"]["train"] > 0 and "fingerprint" in m.meta["data"]
    assert m.meta["versions"]["torch"] == torch.__version__
    assert len(m.meta["history"]) == 6


@pytest.mark.parametrize("name", ["fc", "vae", "resnet"])
def test_every_model_trains(tmp_path, shapes_folder, name):
    opts = {"widths": (8, 16)} if name == "resnet" else {}
    train(shapes_folder, tmp_path / name, name, image_size=16, latent_dim=8, epochs=4,
          model_options=opts, kl_warmup=1.0, progress=False)
    h = rows(tmp_path / name)
    assert float(h[-1]["train_loss"]) < float(h[0]["train_loss"])


def test_resume_continues_from_checkpoint(tmp_path):
    out = tmp_path / "m"
    train("digits", out, "conv", latent_dim=8, epochs=2, progress=False)
    first = rows(out)
    res = train("digits", out, resume=True, epochs=4, progress=False)
    h = rows(out)
    assert res.epochs == 4 and len(h) == 4
    assert h[:2] == first  # the first two epochs were not redone
    assert int(h[2]["step"]) > int(first[-1]["step"])


def test_killed_run_resumes(tmp_path):
    out = tmp_path / "m"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "latentfolio.cli", "train", "digits", "--out", str(out),
                          "--latent-dim", "8", "--epochs", "400"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt = out / "run" / "checkpoints" / "last.ckpt"
    try:
        deadline = time.time() + 120
        while not ckpt.exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        assert p.poll() is None, "run finished before it could be killed"
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert ckpt.exists() and not (out / "model.safetensors").exists()
    done_before = len(rows(out))
    res = train("digits", out, resume=True, epochs=done_before + 2, progress=False)
    assert res.epochs == done_before + 2 and (out / "model.safetensors").exists()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = losses.LOSSES["mse"]

    def poisoned(recon, target, **kw):
        calls["n"] += 1
        v = real(recon, target)
        return v * float("nan") if calls["n"] > 40 else v  # digits: 11 steps/epoch + val

    monkeypatch.setitem(losses.LOSSES, "mse", poisoned)
    out = tmp_path / "m"
    with pytest.raises(LatentfolioError, match=r"loss became nan.*last good checkpoint is kept"):
        train("digits", out, "conv", latent_dim=8, epochs=20, progress=False)
    assert (out / "run" / "checkpoints" / "last.ckpt").exists()
    assert not (out / "model.safetensors").exists()
    ck = torch.load(out / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ck["state_dict"].values() if v.is_floating_point())


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "m"
    train("digits", out, "fc", latent_dim=4, epochs=1, progress=False)
    with pytest.raises(LatentfolioError, match="already exists"):
        train("digits", out, "fc", latent_dim=4, epochs=1, progress=False)
    res = train("digits", out, "fc", latent_dim=4, epochs=1, force=True, progress=False)
    assert res.epochs == 1 and len(rows(out)) == 1


def test_max_time_budget_stops_training(tmp_path):
    res = train("digits", tmp_path / "m", "conv", latent_dim=8, max_time=0.05, progress=False)
    assert res.stopped == "max_time"  # what stopped it is the budget, not the epochs running out
    assert res.epochs < 20  # the default schedule is at least 20 epochs (training/config.py)


def test_max_time_is_shared_by_the_whole_command():
    """--max-time bounds the command, not only its training loop: fit gets what reading the data
    left, less a reserve for the final score; the final score and the validation run on bounded,
    fixed samples."""
    from latentfolio.latent.evaluate import SAMPLE_PIXELS, bounded_sample
    from latentfolio.training.config import TrainConfig
    from latentfolio.training.budget import FINISH_RESERVE_S, VAL_PIXELS, fit_budget as _fit_budget

    cfg = TrainConfig(max_time=5)  # 300 s
    assert _fit_budget(cfg, 40.0, resume=False) * 60 == pytest.approx(300 - 40 - FINISH_RESERVE_S)
    assert _fit_budget(cfg, 400.0, resume=False) * 60 == pytest.approx(5.0)  # the data took it all: a token fit
    assert _fit_budget(cfg, 40.0, resume=True) == 5  # a resume keeps Lightning's own clock
    assert _fit_budget(TrainConfig(), 40.0, resume=False) is None
    idx = np.arange(10_900)  # a bank of 256 px patches
    pick = bounded_sample(idx, 256 * 256)
    assert len(pick) == SAMPLE_PIXELS // (256 * 256) and len(set(pick)) == len(pick) and pick[-1] == idx[-1]
    assert np.array_equal(bounded_sample(idx, 256 * 256), pick)  # the same sample every time
    assert len(bounded_sample(idx, 256 * 256, VAL_PIXELS)) == VAL_PIXELS // (256 * 256)
    assert len(bounded_sample(np.arange(10_000), 28 * 28)) == 10_000  # a 28 px test split is scored whole


def test_bad_training_values_are_clear(tmp_path):
    # the library names its arguments; the CLI names the flags (tests/e2e/test_cli.py)
    for kw, flag in (({"loss": "huber"}, "loss='huber'"), ({"optimizer": "sgd"}, "optimizer='sgd'"),
                     ({"epochs": 0}, "epochs=0"), ({"schedule": "step"}, "schedule='step'"),
                     ({"muon_lr": 0.0}, "muon_lr=0.0")):
        with pytest.raises(LatentfolioError, match=flag):
            train("digits", tmp_path / "m", **kw)
    with pytest.raises(LatentfolioError, match="unknown model type"):
        train("digits", tmp_path / "m", "transformer")
    with pytest.raises(LatentfolioError, match="nothing to resume"):
        train("digits", tmp_path / "none", resume=True)
    # settings Lightning refuses: one error naming the setting, and no output folder left behind
    for kw, what in (({"devices": "abc"}, "devices"), ({"strategy": "nope"}, "strategy='nope'"),
                     ({"precision": "7"}, "Precision '7'"), ({"accelerator": "cpu", "devices": "0"}, "devices")):
        with pytest.raises(LatentfolioError, match=what):
            train("digits", tmp_path / "bad", **kw)
        assert not (tmp_path / "bad").exists()


def test_schedules_shape():
    assert lr_factor("constant", 0.5) == 1.0
    assert lr_factor("onecycle", 0.0) < 0.05 and lr_factor("onecycle", 0.15) == pytest.approx(1.0)
    assert lr_factor("onecycle", 1.0) < 1e-3
    assert lr_factor("cosine", 0.03) == pytest.approx(1.0) and lr_factor("cosine", 1.0) < 1e-6
    # linear: one-cycle's warm-up, then a straight line to (almost) zero
    assert lr_factor("linear", 0.1) == lr_factor("onecycle", 0.1) and lr_factor("linear", 0.15) == pytest.approx(1.0)
    assert lr_factor("linear", 0.575) == pytest.approx(0.5, abs=1e-3) and lr_factor("linear", 1.0) < 1e-3
    assert lr_factor("linear", 0.4) < lr_factor("onecycle", 0.4) and lr_factor("linear", 0.9) > lr_factor("onecycle", 0.9)


@pytest.mark.parametrize("loss", ["bce", "l1", "ssim"])
def test_every_loss_trains(tmp_path, loss):
    res = train("digits", tmp_path / loss, "conv", latent_dim=8, epochs=2, loss=loss, progress=False)
    h = rows(tmp_path / loss)
    assert float(h[-1]["train_loss"]) < float(h[0]["train_loss"]) and res.metrics["psnr_db"] > 8


def test_early_stopping(tmp_path):
    # a vanishing LR leaves an MLP's val loss unchanged: patience 2 stops after 3 epochs
    res = train("digits", tmp_path / "m", "fc", latent_dim=8, epochs=50, patience=2, lr=1e-12,
                schedule="constant", progress=False)
    assert res.stopped == "early_stopping" and res.epochs < 10


def test_init_fine_tunes_from_a_model_folder(tmp_path, shapes_folder):
    base = tmp_path / "base"
    train(shapes_folder, base, "conv", image_size=16, latent_dim=8, epochs=3, progress=False)
    ft = tmp_path / "ft"
    res = train(shapes_folder, ft, init=str(base), epochs=1, lr=1e-4, progress=False)
    m, b = load_model(ft), load_model(base)
    assert m.type_name == "conv" and m.config == b.config  # model, config and size come from --init
    assert m.meta["training"]["config"]["init"] == str(base)
    assert res.metrics["mse"] < 1.5 * b.meta["metrics"]["mse"]  # it started trained, not from scratch
    scratch = train(shapes_folder, tmp_path / "s", "conv", image_size=16, latent_dim=8, epochs=1, progress=False)
    assert res.metrics["mse"] < scratch.metrics["mse"]
    with pytest.raises(LatentfolioError, match="cannot start a 'fc' model"):
        train(shapes_folder, tmp_path / "x", "fc", init=str(base), epochs=1, progress=False)
    with pytest.raises(LatentfolioError, match="do not fit"):
        train(shapes_folder, tmp_path / "y", init=str(base), latent_dim=4, epochs=1, progress=False)
    with pytest.raises(LatentfolioError, match="no such model folder"):
        train(shapes_folder, tmp_path / "z", init=str(tmp_path / "nope"), epochs=1, progress=False)


def test_fused_optimiser_still_clips_gradients():
    # Lightning refuses to clip for fused optimisers; the module clips itself when no grad
    # scaler is involved, so --grad-clip keeps working with the faster fused Adam.
    from latentfolio.models import build_model
    from latentfolio.training.config import TrainConfig
    from latentfolio.training.module import AutoencoderModule

    model = build_model("fc", image_size=8, channels=1, latent_dim=4)
    module = AutoencoderModule(model, TrainConfig())
    opt = module.configure_optimizers()["optimizer"]
    assert opt.defaults["fused"]
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    module.configure_gradient_clipping(opt, 1.0)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert float(norm) == pytest.approx(1.0, rel=1e-4)


def test_trained_conv_model_saves_what_it_evaluated(tmp_path, shapes_folder):
    # Training runs conv weights channels-last; the folder must hold the same model, laid out
    # contiguously, so a reload scores exactly what the run reported.
    from latentfolio.commands.model import evaluate

    out = tmp_path / "m"
    res = train(shapes_folder, out, "conv", image_size=16, latent_dim=8, epochs=2, progress=False)
    again = evaluate(out, shapes_folder)
    assert again["psnr_db"] == pytest.approx(res.metrics["psnr_db"], abs=1e-4)
    assert all(t.is_contiguous() for t in load_model(out).state_dict().values())


def test_blow_up_guard_rolls_back_weights_and_optimiser_and_halves_lr():
    from types import SimpleNamespace

    from latentfolio.models import build_model
    from latentfolio.training.callbacks import BlowUpGuard
    from latentfolio.training.config import TrainConfig
    from latentfolio.training.module import AutoencoderModule

    model = build_model("fc", image_size=8, channels=1, latent_dim=4)
    module = AutoencoderModule(model, TrainConfig())
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model(torch.rand(4, 1, 8, 8)).recon.pow(2).mean().backward()
    opt.step()
    trainer = SimpleNamespace(sanity_checking=False, optimizers=[opt], is_global_zero=True,
                              current_epoch=0, callback_metrics={"val_loss": torch.tensor(1.0)})
    guard = BlowUpGuard(factor=3.0, echo=False)
    guard.on_validation_end(trainer, module)  # best so far: snapshot
    good = {k: v.clone() for k, v in model.state_dict().items()}
    good_avg = [s["exp_avg"].clone() for s in opt.state.values()]

    with torch.no_grad():  # the run blows up: weights and Adam's moments go wild
        for p in model.parameters():
            p.mul_(50.0)
        for s in opt.state.values():
            s["exp_avg"].fill_(7.0)
    trainer.current_epoch, trainer.callback_metrics = 1, {"val_loss": torch.tensor(2.5)}
    guard.on_validation_end(trainer, module)  # 2.5x the best: a bad epoch, not a blow-up
    assert module.lr_scale == 1.0 and not guard.events
    trainer.current_epoch, trainer.callback_metrics = 2, {"val_loss": torch.tensor(9.0)}
    guard.on_validation_end(trainer, module)
    assert module.lr_scale == 0.5
    assert all(torch.equal(v, good[k]) for k, v in model.state_dict().items())
    assert all(torch.equal(s["exp_avg"], a) for s, a in zip(opt.state.values(), good_avg))
    assert guard.events == [{"epoch": 3, "val_loss": 9.0, "best_val_loss": 1.0, "back_to_epoch": 1,
                             "lr_scale": 0.5}]
    trainer.current_epoch, trainer.callback_metrics = 3, {"val_loss": torch.tensor(float("nan"))}
    guard.on_validation_end(trainer, module)  # a non-finite validation loss also rolls back
    assert module.lr_scale == 0.25 and len(guard.events) == 2


def test_training_recovers_from_a_blow_up(tmp_path, monkeypatch):
    from latentfolio.training.module import AutoencoderModule

    def wreck(self):  # at the start of epoch 3, the weights blow up as at too high a learning rate
        if self.current_epoch == 2:
            with torch.no_grad():
                for p in self.model.parameters():
                    p.add_(torch.randn_like(p) * 5.0)

    monkeypatch.setattr(AutoencoderModule, "on_train_epoch_start", wreck, raising=False)
    out = tmp_path / "m"
    res = train("digits", out, "conv", latent_dim=8, epochs=6, progress=False)
    events = load_model(out).meta["training"]["rollbacks"]
    assert events == res.rollbacks
    assert [(e["epoch"], e["back_to_epoch"], e["lr_scale"]) for e in events] == [(3, 2, 0.5)]
    h = rows(out)
    assert float(h[-1]["val_loss"]) < float(h[1]["val_loss"])  # ends better than before the blow-up
    assert res.metrics["psnr_db"] > 15


def test_orthogonalize_flattens_the_spectrum():
    # Muon's update: singular values of any (wide or tall) matrix pushed into about [0.7, 1.2],
    # directions kept (the quintic iteration is odd in g, so U and V are those of g).
    from latentfolio.training.optim import orthogonalize

    torch.manual_seed(0)
    for shape in ((64, 288), (288, 64), (32, 96)):
        g = torch.randn(*shape) @ torch.diag(torch.logspace(-1, 1, shape[1]))  # a 100x spread
        o = orthogonalize(g)
        s = torch.linalg.svdvals(o)
        assert o.shape == g.shape and s.min() > 0.6 and s.max() < 1.25
        u, _, vh = torch.linalg.svd(g, full_matrices=False)
        core = u.T @ o @ vh.T  # diagonal when o shares g's singular vectors
        assert (core - torch.diag(torch.diagonal(core))).abs().max() < 1e-3
    # A stack of same-shaped matrices: each as if alone. In bf16 (the iteration's precision where
    # the hardware has it) the spectrum lands in the same band.
    gs = torch.randn(3, 48, 160)
    stacked = orthogonalize(gs)
    assert all(torch.allclose(stacked[i], orthogonalize(gs[i]), atol=1e-5) for i in range(3))
    s16 = torch.linalg.svdvals(orthogonalize(gs, dtype=torch.bfloat16).float())
    assert s16.min() > 0.6 and s16.max() < 1.25


def test_muon_drives_hidden_conv_filters_and_resumes(tmp_path, shapes_folder):
    from latentfolio.models import build_model
    from latentfolio.training.config import TrainConfig
    from latentfolio.training.module import AutoencoderModule
    from latentfolio.training.optim import MuonAdamW

    model = build_model("conv", image_size=16, channels=1, latent_dim=8, widths=(8, 16, 32))
    opt = AutoencoderModule(model, TrainConfig(optimizer="muon")).configure_optimizers()["optimizer"]
    assert isinstance(opt, MuonAdamW)
    adam, muon = opt.param_groups
    convs = [p for p in model.parameters() if p.dim() == 4]
    assert muon["muon"] and [id(p) for p in muon["params"]] == [id(p) for p in convs[1:-1]]
    assert {id(p) for p in adam["params"]} == {id(p) for p in model.parameters()} - {id(p) for p in convs[1:-1]}
    assert muon["initial_lr"] == TrainConfig().muon_lr and adam["initial_lr"] == type(model).default_lr
    fc = AutoencoderModule(build_model("fc", image_size=8, channels=1, latent_dim=4),
                           TrainConfig(optimizer="muon")).configure_optimizers()["optimizer"]
    assert isinstance(fc, torch.optim.AdamW)  # no hidden conv filters: plain AdamW

    out = tmp_path / "m"
    train(shapes_folder, out, "conv", image_size=16, latent_dim=8, epochs=2, optimizer="muon",
          schedule="linear", progress=False)
    assert load_model(out).meta["training"]["config"]["optimizer"] == "muon"
    ck = torch.load(out / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    state = ck["optimizer_states"][0]["state"]
    assert sum("momentum_buffer" in s for s in state.values()) == 4  # 3 convs down, 3 up: 4 hidden
    res = train(shapes_folder, out, resume=True, epochs=3, progress=False)
    h = rows(out)
    assert res.epochs == 3 and float(h[-1]["train_loss"]) < float(h[0]["train_loss"])
    assert load_model(out).meta["training"]["config"]["schedule"] == "linear"  # the resume kept it


def test_optimizer_and_schedule_default_per_model(tmp_path, shapes_folder):
    """No --optimizer / --schedule: conv gets Muon + linear decay, the VAE and fc AdamW + one-cycle;
    meta.json records what ran, and a flag overrides the model's choice."""
    from latentfolio.models import build_model
    from latentfolio.training.config import TrainConfig
    from latentfolio.training.module import AutoencoderModule
    from latentfolio.training.optim import MuonAdamW

    def opt(kind, **kw):
        m = build_model(kind, image_size=16, channels=1, latent_dim=4)
        return AutoencoderModule(m, TrainConfig(**kw)).configure_optimizers()["optimizer"]

    assert isinstance(opt("conv"), MuonAdamW)
    assert type(opt("vae")) is torch.optim.AdamW and type(opt("fc")) is torch.optim.AdamW
    assert type(opt("conv", optimizer="adamw")) is torch.optim.AdamW
    for kind, want in (("conv", ("muon", "linear")), ("vae", ("adamw", "onecycle"))):
        train(shapes_folder, tmp_path / kind, kind, image_size=16, latent_dim=4, epochs=1, progress=False)
        c = load_model(tmp_path / kind).meta["training"]["config"]
        assert (c["optimizer"], c["schedule"]) == want
