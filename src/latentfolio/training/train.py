"""``train()``: data -> Lightning fit -> a saved model folder.

The steps, in order: settle the settings (new, fine-tuned or resumed) and check every flag before
any data is read; load the data; build the model; plan batches and epochs; build the Trainer; only
then touch OUT; fit; evaluate; save the model folder and its latent density.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from .. import _io
from ..data import ImageSet
from ..errors import ArgumentError, LatentfolioError
from ..latent.density import DENSITY_JSON, DENSITY_WEIGHTS, fit_model_density
from ..latent.encode import is_vector_latent
from ..latent.evaluate import bounded_sample, evaluate_model
from .budget import VAL_PIXELS, bank_deadline, fit_budget
from ..models import Autoencoder, build_model, get_model_class
from ..models.info import model_info
from ..saved import CONFIG, MAX_PARAMETERS, META, WEIGHTS, count_parameters, load_model, save_model
from .batches import loader
from .callbacks import BlowUpGuard, History, ReconGrid
from .config import DEFAULT_MODEL, TrainConfig
from .data import describe, patch_setting, training_data
from .module import AutoencoderModule, NonFiniteLoss
from .trainer import is_worker_process, make_trainer, rank_zero_done, resolve_precision

RUN_DIR, RUN_JSON, LAST_CKPT = "run", "run.json", "last.ckpt"
MIN_STEPS = 2000  # a default run takes at least this many steps, however small the set


@dataclass
class TrainResult:
    model_dir: Path
    metrics: dict  # test (or val) metrics of the final model: mse, psnr_db, ssim, n
    epochs: int
    seconds: float
    stopped: str  # "completed", "max_time", "early_stopping"
    rollbacks: list[dict] = field(default_factory=list)  # blow-ups rolled back (BlowUpGuard.events)

    def to_dict(self) -> dict:
        return {"model_dir": str(self.model_dir), "epochs": self.epochs, "seconds": round(self.seconds, 1),
                "stopped": self.stopped, "rollbacks": len(self.rollbacks), "metrics": self.metrics}


def _log(msg: str) -> None:
    if not is_worker_process():  # DDP ranks 1..: rank 0 speaks for the run
        print(msg, file=sys.stderr, flush=True)


def saved_line(out, split: str, metrics: dict) -> str:
    """The run's last line. A denoiser's clean-input PSNR says little of what it is for, so
    its PSNR on the damage it was trained for, before and after, comes too."""
    dn = metrics.get("denoise")
    cleans = f"; {dn['noise']} damage: {dn['noisy_psnr_db']:.2f} -> {dn['psnr_db']:.2f} dB" if dn else ""
    return f"saved {out}  ({split}: psnr {metrics['psnr_db']:.2f} dB, ssim {metrics['ssim']:.4f}{cleans})"


def _split_indices(ds: ImageSet) -> tuple[np.ndarray, np.ndarray]:
    train, val = ds.indices("train"), ds.indices("val")
    if len(train) == 0:  # a handful of files can all hash into val/test
        train = np.arange(len(ds))
    if len(val) == 0:
        val = train[: max(1, min(len(train), 64))]
    return train, val


@dataclass
class Settings:
    """What a run trains, settled before any data is read: a new run, a fine-tune or a resume."""

    data: object
    model: str
    model_fields: dict
    cfg: TrainConfig
    image_size: int | None
    channels: int | None
    fit: str
    data_root: str | None
    init_model: Autoencoder | None = None
    patch: int | None = None  # native-resolution patches of this side (0: the default), or thumbnails


def _settings(data, model, *, latent_dim, image_size, channels, fit, data_root, resume, force,
              model_options, out: Path, ckpt: Path, train_options: dict, patch: int | None) -> Settings:
    """Every flag checked, one line for the first bad one, before the data is read."""
    init_model, given_size = None, image_size
    if resume:
        if not ckpt.exists():
            raise LatentfolioError(f"{out}: nothing to resume (no {ckpt})")
        saved = _io.read_json(out / RUN_DIR / RUN_JSON, "run settings")
        raised = {k: v for k, v in train_options.items() if k in ("epochs", "max_time") and v is not None}
        s = Settings(saved["data"], saved["model"], saved["model_config"],
                     TrainConfig.from_dict({**saved["train_config"], **raised}), saved["image_size"],
                     saved["channels"], saved["fit"], data_root or saved.get("data_root"),
                     patch=saved.get("patch"))
    else:
        if out.exists() and any(out.iterdir()) and not force and not is_worker_process():
            raise LatentfolioError(f"{out}: already exists (use --force to overwrite, or --resume)")
        try:
            cfg = TrainConfig(**{k: v for k, v in train_options.items() if v is not None})  # None: the default
        except TypeError as e:
            raise LatentfolioError(str(e)) from None
        fields = dict(model_options or {})
        if cfg.init:  # fine-tuning: the same model, built from the same config, starts from its weights
            init_model = load_model(cfg.init)
            if model not in (None, init_model.type_name):
                raise ArgumentError("init", cfg.init, f"a {init_model.type_name!r} model cannot start a "
                                    f"{model!r} model")
            model = init_model.type_name
            fields = {**init_model.config.to_dict(), **fields}
            image_size = image_size or init_model.config.image_size
            channels = channels or init_model.config.channels
        if latent_dim is not None:
            fields["latent_dim"] = latent_dim
        s = Settings(data, model or DEFAULT_MODEL, fields, cfg, image_size, channels, fit, data_root, init_model)
    try:
        s.cfg.check()
        model_cls = get_model_class(s.model)
    except (ValueError, KeyError) as e:
        raise LatentfolioError(e.args[0]) from None
    if not resume:
        s.patch = patch_setting(patch, given_size, model_cls, s.data)
        if s.patch is not None:
            s.image_size = None
    if model_cls.needs_noise and not s.cfg.denoise:
        raise ArgumentError("model", s.model, "learns to remove damage: name it with --denoise "
                            "(e.g. --denoise scan, or gaussian:0.05-0.35); on clean inputs it learns to "
                            "copy them")
    if s.cfg.pages and not model_cls.any_size:
        raise ArgumentError("pages", s.cfg.pages, f"needs a fully convolutional model (denoiser, codec, ...); "
                            f"{model_cls.type_name} learns whole images of one size")
    if not resume:  # a bad model flag is reported before the data is read, not after
        given = {k: v for k, v in dict(image_size=image_size, channels=channels).items() if v is not None}
        try:
            config = model_cls.Config.from_dict({**s.model_fields, **given})
            n = count_parameters(model_cls, config)
        except (ValueError, TypeError, RuntimeError) as e:
            raise LatentfolioError(f"model {s.model}: {e}") from None
        if n > MAX_PARAMETERS:
            raise LatentfolioError(f"model {s.model}: {n:,} parameters is past the {MAX_PARAMETERS:,} latentfolio "
                                   "builds; choose a smaller --latent-dim or width")
    return s


def _build(s: Settings, ds: ImageSet) -> Autoencoder:
    """The model for the data's size, from the fine-tuned model's weights where there is one."""
    s.model_fields.update(image_size=ds.image_size, channels=ds.channels)
    try:
        net = build_model(s.model, **s.model_fields)
    except (ValueError, TypeError) as e:
        raise LatentfolioError(f"model {s.model}: {e}") from None
    if s.init_model is not None:
        try:
            keys = net.load_state_dict(s.init_model.state_dict(), strict=False)
            missing = [k for k in keys.missing_keys if not k.startswith(net.init_optional)]
            if missing or keys.unexpected_keys:
                raise RuntimeError("Error(s) in loading state_dict:\n  " +
                                   (f"Missing key(s): {', '.join(missing)}" if missing else
                                    f"Unexpected key(s): {', '.join(keys.unexpected_keys)}"))
        except RuntimeError as e:
            lines = str(e).splitlines()
            raise ArgumentError("init", s.cfg.init, "its weights do not fit this model "
                                f"({(lines[1] if len(lines) > 1 else lines[0]).strip()})") from None
    mi = model_info(net)
    _log(f"model: {s.model}, {mi['parameters']:,} parameters, latent {'x'.join(map(str, mi['latent_shape']))} "
         f"(compression {mi['compression_ratio']:.1f}x)" + (f", denoising {s.cfg.denoise}" if s.cfg.denoise else ""))
    return net


PATCH_BATCH = 8  # patches a step by default (CompressAI trains 256 px crops in batches of 8 to 16)


def _batches_and_epochs(cfg: TrainConfig, n_train: int, patches: bool = False) -> tuple[int, int, int]:
    """-> (batch size, epochs, steps per epoch). Steps, not epochs, drive convergence: a small set
    gets small batches (>= 32 steps an epoch) and enough epochs for MIN_STEPS steps."""
    bs = cfg.batch_size or (PATCH_BATCH if patches else min(128, max(8, n_train // 32)))
    bs = max(1, min(bs, n_train))
    steps_per_epoch = max(1, n_train // bs)
    epochs = cfg.epochs or max(20, min(200, math.ceil(MIN_STEPS / steps_per_epoch)))
    if cfg.max_time and not cfg.epochs:
        epochs = 10_000  # the clock decides
    return bs, epochs, steps_per_epoch


def _trainer(cfg: TrainConfig, run: Path, val_pixels: np.ndarray, epochs: int, steps_per_epoch: int,
             show_bar: bool, precision: str, fit_minutes: float | None = None):
    """-> (Trainer, History, BlowUpGuard): checkpoints, history, grids, the guard, early stopping."""
    history, guard = History(run, echo=not show_bar), BlowUpGuard()
    callbacks = [
        # save_last="link": last.ckpt is a link to the newest epoch file, not a second copy of it
        # (weights and optimiser state, ~30 MB for the 28 px default: 0.12 s an epoch on this CPU)
        ModelCheckpoint(dirpath=run / "checkpoints", filename="epoch{epoch:03d}", save_last="link",
                        save_top_k=1, auto_insert_metric_name=False),
        history, ReconGrid(run, val_pixels), guard,
    ]
    if cfg.patience:
        callbacks.append(EarlyStopping("val_loss", patience=cfg.patience, check_finite=True))
    if show_bar:
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks.append(RichProgressBar())
    trainer = make_trainer(
        max_epochs=epochs, max_time={"minutes": fit_minutes} if fit_minutes else None,
        accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy, num_nodes=cfg.num_nodes,
        precision=precision, gradient_clip_val=cfg.grad_clip or None, callbacks=callbacks, logger=False,
        enable_model_summary=False, enable_progress_bar=show_bar, default_root_dir=run,
        log_every_n_steps=max(1, min(50, steps_per_epoch)), num_sanity_val_steps=0)
    return trainer, history, guard


def _prepare_out(out: Path, run: Path, s: Settings, data_name: str, ds: ImageSet, net, force: bool,
                 resume: bool) -> None:
    """OUT is touched only now, once every setting has been accepted: a bad flag leaves nothing."""
    if is_worker_process():  # a DDP rank > 0: rank 0 owns OUT
        return
    if force and not resume and out.exists():
        shutil.rmtree(run, ignore_errors=True)
        for f in (CONFIG, WEIGHTS, META, DENSITY_WEIGHTS, DENSITY_JSON):
            (out / f).unlink(missing_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    _io.write_json(run / RUN_JSON, {
        "data": data_name, "model": s.model, "image_size": ds.image_size, "channels": ds.channels,
        "fit": s.fit, "data_root": str(s.data_root) if s.data_root else None, "patch": s.patch,
        "model_config": net.config.to_dict(), "train_config": s.cfg.to_dict()})


def _fit(trainer, module, ds: ImageSet, train_idx, val_idx, bs: int, seed: int, ckpt: Path, resume: bool) -> None:
    patches = bool(ds.patches_from)  # big rows: flipped at random, validated in training-sized batches
    try:
        trainer.fit(module, train_dataloaders=loader(ds.images, train_idx, bs, True, seed, flips=patches),
                    val_dataloaders=loader(ds.images, val_idx, bs if patches else max(bs, 256), False),
                    ckpt_path=str(ckpt) if resume else None)
    except NonFiniteLoss as e:
        keep = f"; the last good checkpoint is kept at {ckpt}" if ckpt.exists() else ""
        raise LatentfolioError(f"training stopped: {e}{keep}. Try a lower --lr, then --resume") from None
    except SystemExit:  # Lightning's graceful Ctrl-C ends in exit(1): say how to continue
        if trainer.interrupted:
            raise LatentfolioError(f"training interrupted; continue with --resume (checkpoint {ckpt})") from None
        raise
    if trainer.interrupted:
        raise LatentfolioError(f"training interrupted; continue with --resume (checkpoint {ckpt})")


def _save(net, out: Path, ds: ImageSet, data_name: str, s: Settings, trainer, module, history: History,
          guard: BlowUpGuard, stopped: str, bs: int, precision: str, train_idx) -> dict:
    """Evaluate the final model, write the model folder and fit its latent density; -> metrics."""
    net.finalize()  # e.g. the codec freezes its entropy model into integer tables
    cfg = s.cfg
    # a handful of files can hash into train alone: then the model is scored on what it saw
    split = next((k for k in ("test", "val") if len(ds.indices(k))), "train")
    metrics = evaluate_model(net, ds, split)
    if cfg.denoise:  # how well it cleans the noise it was trained on (clean input: psnr_db above)
        noisy = evaluate_model(net, ds, split, noise=cfg.denoise, seed=cfg.seed)
        metrics["denoise"] = {k: noisy[k] for k in ("noise", "noisy_psnr_db", "psnr_db", "ssim")}
    save_model(net, out, {
        "data": {"source": data_name, "name": ds.name, "fingerprint": ds.fingerprint(),
                 "splits": ds.split_sizes(), "skipped": len(ds.skipped), "fit": s.fit,
                 "classes": ds.classes},
        "metrics": {"split": split, **metrics},
        "training": {"config": cfg.to_dict(), "epochs": trainer.current_epoch,
                     "steps": trainer.global_step, "seconds": round(module.elapsed(), 1),
                     "stopped": stopped, "batch_size": bs, "precision": precision,
                     "rollbacks": guard.events},
        "parameters": sum(p.numel() for p in net.parameters()),
        "history": history.rows,
    })
    if is_vector_latent(net):  # the sampling density (Ghosh et al. 2020) and per-dim spreads
        pick = np.sort(np.random.default_rng(cfg.seed).permutation(train_idx)[:20000])
        fit_model_density(net, ds.images[pick], seed=cfg.seed, save_to=out,
                          extra={"data": data_name, "split": "train"})
    _log(saved_line(out, split, metrics))
    return metrics


def train(data: str | os.PathLike, out: str | os.PathLike, model: str | None = None, *,
          latent_dim: int | None = None, image_size: int | None = None, channels: int | None = None,
          fit: str = "squash", data_root: str | None = None, resume: bool = False, force: bool = False,
          model_options: dict | None = None, progress: bool | None = None, patch: int | None = None,
          **train_options) -> TrainResult:
    """Train an autoencoder on ``data`` and save it as a model folder at ``out``.

    ``train_options`` are :class:`TrainConfig` fields (epochs, max_time, lr, loss, beta, ...);
    ``model_options`` are fields of the model's config (widths, kernel, batchnorm, ...).
    ``model`` defaults to ``conv``; with ``init=MODEL_DIR`` (fine-tuning) the model type, its config,
    image size and channels default to that folder's, and training starts from its weights.
    With ``resume=True`` the run continues from ``out/run/checkpoints/last.ckpt`` with the
    settings it was started with (``epochs``/``max_time`` may be raised).
    ``patch``: train on random native-resolution crops of this side (fully convolutional models);
    the default for ``codec``, ``hyperprior``, ``meanscale`` and ``denoiser`` on an image folder
    when no ``image_size`` is given.
    """
    started = time.monotonic()  # --max-time bounds the whole command, data and final score included
    out = Path(out)
    run = out / RUN_DIR
    ckpt = run / "checkpoints" / LAST_CKPT
    s = _settings(data, model, latent_dim=latent_dim, image_size=image_size, channels=channels, fit=fit,
                  data_root=data_root, resume=resume, force=force, model_options=model_options, out=out,
                  ckpt=ckpt, train_options=train_options, patch=patch)
    cfg = s.cfg
    # in-memory pixels are recorded by name (they cannot be resumed from disk)
    data_name = s.data.name if isinstance(s.data, ImageSet) else str(s.data)
    ds = training_data(s.data, s.patch, s.image_size, s.channels, s.fit, s.data_root, bank_deadline(cfg, started))
    _log(describe(ds) + (f"; skipped {len(ds.skipped)} bad file(s)" if ds.skipped else ""))
    pl.seed_everything(cfg.seed, verbose=False)
    net = _build(s, ds)
    train_idx, val_idx = _split_indices(ds)
    val_idx = bounded_sample(val_idx, ds.images.shape[1] * ds.images.shape[2], VAL_PIXELS)
    bs, epochs, steps_per_epoch = _batches_and_epochs(cfg, len(train_idx), bool(ds.patches_from))
    # Recorded resolved, so a resume or a reader of meta.json sees what ran, whatever the defaults.
    cfg.batch_size = bs
    cfg.fill_model_defaults(type(net), bool(ds.patches_from))
    show_bar = sys.stderr.isatty() if progress is None else progress
    precision = resolve_precision(cfg.precision, cfg.accelerator)
    fit_minutes = fit_budget(cfg, time.monotonic() - started, resume)
    trainer, history, guard = _trainer(cfg, run, ds.images[val_idx[:8]], epochs, steps_per_epoch,
                                       show_bar, precision, fit_minutes)
    _prepare_out(out, run, s, data_name, ds, net, force, resume)
    module = AutoencoderModule(net, cfg)
    if fit_minutes:
        module.budget_s = fit_minutes * 60  # the LR schedule ends with the clock that fit has
    t0 = time.monotonic()
    _fit(trainer, module, ds, train_idx, val_idx, bs, cfg.seed, ckpt, resume)
    seconds = time.monotonic() - t0
    stopped = ("early_stopping" if any(isinstance(c, EarlyStopping) and c.stopped_epoch for c in trainer.callbacks)
               else "max_time" if trainer.current_epoch < epochs and cfg.max_time else "completed")
    if not trainer.is_global_zero:
        rank_zero_done()
        return TrainResult(out, {}, trainer.current_epoch, seconds, stopped, guard.events)
    metrics = _save(module.model.cpu().eval(), out, ds, data_name, s, trainer, module, history, guard,
                    stopped, bs, precision, train_idx)
    rank_zero_done()
    return TrainResult(out, metrics, trainer.current_epoch, seconds, stopped, guard.events)
