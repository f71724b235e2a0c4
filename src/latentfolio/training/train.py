"""``train()``: data -> Lightning fit -> a saved model folder. The CLI's ``train`` calls this."""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _io
from ..data import ImageSet, load_data
from ..errors import LatentfolioError
from .config import TrainConfig

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


def _log(msg: str) -> None:
    if not is_worker_process():  # DDP ranks 1..: rank 0 speaks for the run
        print(msg, file=sys.stderr, flush=True)


def saved_line(out, split: str, metrics: dict) -> str:
    """The run's last line. A denoiser's clean-input PSNR says little of what it is for, so
    its PSNR on the damage it was trained for, before and after, comes too."""
    dn = metrics.get("denoise")
    cleans = f"; {dn['noise']} damage: {dn['noisy_psnr_db']:.2f} -> {dn['psnr_db']:.2f} dB" if dn else ""
    return f"saved {out}  ({split}: psnr {metrics['psnr_db']:.2f} dB, ssim {metrics['ssim']:.4f}{cleans})"


def describe(ds: ImageSet) -> str:
    s = ds.split_sizes()
    lab = f", {len(ds.classes)} labels" if ds.labels is not None else ", no labels"
    return (f"{ds.name}: {len(ds)} images {ds.image_size}x{ds.image_size}x{ds.channels} "
            f"(train {s['train']} / val {s['val']} / test {s['test']}{lab})")


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*number of training batches.*smaller than the logging.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=r".*Checkpoint directory.*exists and is not empty.*")


def is_worker_process() -> bool:
    """True in a process Lightning launched for another DDP rank (or another node's processes).

    Lightning's DDP launcher re-runs the same command for ranks 1.., after rank 0 has made the
    output folder: those processes must not refuse it as existing, clear it for --force, or write
    to it. Rank 0 owns the folder; Lightning already saves checkpoints only there.
    """
    return any(int(os.environ.get(k) or 0) > 0 for k in ("LOCAL_RANK", "NODE_RANK", "GROUP_RANK"))


def make_trainer(**kw):
    """``pl.Trainer(**kw)``; a bad --accelerator, --devices, --strategy, --num-nodes or --precision is
    one line naming the flags, not Lightning's traceback."""
    import lightning.pytorch as pl
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    _quiet_lightning()  # every Trainer is built here: its INFO lines, tips and fit warnings are not our output
    try:
        return pl.Trainer(**kw)
    except (MisconfigurationException, ValueError, TypeError, ImportError) as e:
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0]  # Lightning names the setting
        raise LatentfolioError(f"Lightning refused the settings: {msg}") from None


def _rank_zero_done() -> None:
    """Under DDP, every rank waits here until rank 0 has saved the model folder (its evaluation and
    saving run on rank 0 alone): the next --lambdas rate starts from that folder on every rank."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _precision(p: str, accelerator: str) -> str:
    """``auto``: bf16-mixed where the hardware does bf16 natively (GPU or CPU), else fp32."""
    if p != "auto":
        return p
    import torch

    from .optim import native_bf16

    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if native_bf16("cuda") else "16-mixed"
    return "bf16-mixed" if native_bf16("cpu") else "32-true"


def _split_indices(ds: ImageSet) -> tuple[np.ndarray, np.ndarray]:
    train, val = ds.indices("train"), ds.indices("val")
    if len(train) == 0:  # a handful of files can all hash into val/test
        train = np.arange(len(ds))
    if len(val) == 0:
        val = train[: max(1, min(len(train), 64))]
    return train, val


def train(data: str | os.PathLike, out: str | os.PathLike, model: str | None = None, *,
          latent_dim: int | None = None, image_size: int | None = None, channels: int | None = None,
          fit: str = "squash", data_root: str | None = None, resume: bool = False, force: bool = False,
          model_options: dict | None = None, progress: bool | None = None,
          **train_options) -> TrainResult:
    """Train an autoencoder on ``data`` and save it as a model folder at ``out``.

    ``train_options`` are :class:`TrainConfig` fields (epochs, max_time, lr, loss, beta, ...);
    ``model_options`` are fields of the model's config (widths, kernel, batchnorm, ...).
    ``model`` defaults to ``conv``; with ``init=MODEL_DIR`` (fine-tuning) the model type, its config,
    image size and channels default to that folder's, and training starts from its weights.
    With ``resume=True`` the run continues from ``out/run/checkpoints/last.ckpt`` with the
    settings it was started with (``epochs``/``max_time`` may be raised).
    """
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from ..evaluation import evaluate_model
    from ..models import build_model, get_model_class
    from ..saved import CONFIG, META, WEIGHTS, load_model, save_model
    from .batches import loader
    from .callbacks import BlowUpGuard, History, ReconGrid
    from .module import AutoencoderModule, NonFiniteLoss

    out = Path(out)
    worker = is_worker_process()  # a DDP rank > 0: rank 0 owns OUT
    run = out / RUN_DIR
    ckpt = run / "checkpoints" / LAST_CKPT
    if resume:
        if not ckpt.exists():
            raise LatentfolioError(f"{out}: nothing to resume (no {ckpt})")
        saved = _io.read_json(run / RUN_JSON, "run settings")
        data, model = saved["data"], saved["model"]
        image_size, channels, fit = saved["image_size"], saved["channels"], saved["fit"]
        data_root = data_root or saved.get("data_root")
        model_fields = saved["model_config"]
        cfg = TrainConfig.from_dict({**saved["train_config"],
                                     **{k: v for k, v in train_options.items()
                                        if k in ("epochs", "max_time") and v is not None}})
    else:
        if out.exists() and any(out.iterdir()) and not force and not worker:
            raise LatentfolioError(f"{out}: already exists (use --force to overwrite, or --resume)")
        try:
            cfg = TrainConfig(**train_options)
        except TypeError as e:
            raise LatentfolioError(str(e)) from None
        model_fields = dict(model_options or {})
        if cfg.init:  # fine-tuning: the same model, built from the same config, starts from its weights
            init_model = load_model(cfg.init)
            if model not in (None, init_model.type_name):
                raise LatentfolioError(f"--init {cfg.init}: a {init_model.type_name!r} model cannot start a "
                                       f"{model!r} model")
            model = init_model.type_name
            model_fields = {**init_model.config.to_dict(), **model_fields}
            image_size = image_size or init_model.config.image_size
            channels = channels or init_model.config.channels
    model = model or "conv"
    try:
        cfg.check()
        model_cls = get_model_class(model)
    except (ValueError, KeyError) as e:
        raise LatentfolioError(e.args[0]) from None
    if model_cls.needs_noise and not cfg.denoise:
        raise LatentfolioError(f"--model {model} learns to remove damage: name it with --denoise "
                               "(e.g. --denoise scan, or gaussian:0.05-0.35); on clean inputs it "
                               "learns to copy them")
    if not resume:  # a bad model flag is reported before the data is read, not after
        given = dict(latent_dim=latent_dim, image_size=image_size, channels=channels)
        try:
            model_cls.Config.from_dict({**model_fields, **{k: v for k, v in given.items() if v is not None}})
        except (ValueError, TypeError) as e:
            raise LatentfolioError(f"model {model}: {e}") from None

    if isinstance(data, ImageSet):  # in-memory pixels: recorded by name (they cannot be resumed from disk)
        data_name = data.name
    else:
        data_name = str(data)
    ds = load_data(data, image_size=image_size, channels=channels, fit=fit, data_root=data_root)
    _log(describe(ds) + (f"; skipped {len(ds.skipped)} bad file(s)" if ds.skipped else ""))

    pl.seed_everything(cfg.seed, verbose=False)
    model_fields.update(image_size=ds.image_size, channels=ds.channels)
    if latent_dim is not None and not resume:
        model_fields["latent_dim"] = latent_dim
    try:
        net = build_model(model, **model_fields)
    except (ValueError, TypeError) as e:
        raise LatentfolioError(f"model {model}: {e}") from None
    if cfg.init and not resume:
        try:
            net.load_state_dict(init_model.state_dict(), strict=True)
        except RuntimeError as e:
            lines = str(e).splitlines()
            raise LatentfolioError(f"--init {cfg.init}: its weights do not fit this model "
                                   f"({(lines[1] if len(lines) > 1 else lines[0]).strip()})") from None
    n_params = sum(p.numel() for p in net.parameters())
    from ..modelinfo import model_info

    mi = model_info(net)
    _log(f"model: {model}, {n_params:,} parameters, latent {'x'.join(map(str, mi['latent_shape']))} "
         f"(compression {mi['compression_ratio']:.1f}x)" + (f", denoising {cfg.denoise}" if cfg.denoise else ""))

    train_idx, val_idx = _split_indices(ds)
    # Steps, not epochs, drive convergence: a small set gets small batches (>= 32 steps an epoch).
    bs = cfg.batch_size or min(128, max(8, len(train_idx) // 32))
    bs = max(1, min(bs, len(train_idx)))
    # Recorded resolved, so a resume or a reader of meta.json sees what ran, whatever the defaults.
    cfg.batch_size = bs
    cfg.fill_model_defaults(type(net))
    steps_per_epoch = max(1, len(train_idx) // bs)
    epochs = cfg.epochs or max(20, min(200, math.ceil(MIN_STEPS / steps_per_epoch)))
    if cfg.max_time and not cfg.epochs:
        epochs = 10_000  # the clock decides

    show_bar = sys.stderr.isatty() if progress is None else progress
    history, guard = History(run, echo=not show_bar), BlowUpGuard()
    callbacks = [
        # save_last="link": last.ckpt is a link to the newest epoch file, not a second copy of it
        # (weights and optimiser state, ~30 MB for the 28 px default: 0.12 s an epoch on this CPU)
        ModelCheckpoint(dirpath=run / "checkpoints", filename="epoch{epoch:03d}", save_last="link",
                        save_top_k=1, auto_insert_metric_name=False),
        history,
        ReconGrid(run, ds.images[val_idx[:8]]),
        guard,
    ]
    if cfg.patience:
        callbacks.append(EarlyStopping("val_loss", patience=cfg.patience, check_finite=True))
    if show_bar:
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks.append(RichProgressBar())
    accel = cfg.accelerator
    precision = _precision(cfg.precision, accel)
    trainer = make_trainer(
        max_epochs=epochs, max_time={"minutes": cfg.max_time} if cfg.max_time else None,
        accelerator=accel, devices=cfg.devices, strategy=cfg.strategy, num_nodes=cfg.num_nodes,
        precision=precision, gradient_clip_val=cfg.grad_clip or None,
        callbacks=callbacks, logger=False, enable_model_summary=False,
        enable_progress_bar=show_bar, default_root_dir=run, log_every_n_steps=max(1, min(50, steps_per_epoch)),
        num_sanity_val_steps=0)
    # OUT is touched only now, once every setting has been accepted: a bad flag leaves nothing
    if not worker:
        if force and not resume and out.exists():
            shutil.rmtree(run, ignore_errors=True)
            for f in (CONFIG, WEIGHTS, META, "density.safetensors", "density.json"):
                (out / f).unlink(missing_ok=True)
        run.mkdir(parents=True, exist_ok=True)
        _io.write_json(run / RUN_JSON, {
            "data": data_name, "model": model, "image_size": ds.image_size, "channels": ds.channels,
            "fit": fit, "data_root": str(data_root) if data_root else None,
            "model_config": net.config.to_dict(), "train_config": cfg.to_dict()})
    module = AutoencoderModule(net, cfg)
    t0 = time.monotonic()
    try:
        trainer.fit(module, train_dataloaders=loader(ds.images, train_idx, bs, True, cfg.seed),
                    val_dataloaders=loader(ds.images, val_idx, max(bs, 256), False),
                    ckpt_path=str(ckpt) if resume else None)
    except NonFiniteLoss as e:
        keep = f"; the last good checkpoint is kept at {ckpt}" if ckpt.exists() else ""
        raise LatentfolioError(f"training stopped: {e}{keep}. Try a lower --lr, then --resume") from None
    except SystemExit:  # Lightning's graceful Ctrl-C ends in exit(1): say how to continue
        if trainer.interrupted:
            raise LatentfolioError(f"training interrupted; continue with --resume (checkpoint {ckpt})") from None
        raise
    seconds = time.monotonic() - t0
    if trainer.interrupted:
        raise LatentfolioError(f"training interrupted; continue with --resume (checkpoint {ckpt})")
    rollbacks = guard.events
    stopped = ("early_stopping" if any(isinstance(c, EarlyStopping) and c.stopped_epoch for c in callbacks)
               else "max_time" if trainer.current_epoch < epochs and cfg.max_time else "completed")
    if not trainer.is_global_zero:
        _rank_zero_done()
        return TrainResult(out, {}, trainer.current_epoch, seconds, stopped, rollbacks)

    net = module.model.cpu().eval()
    net.finalize()  # e.g. the codec freezes its entropy model into integer tables
    split = "test" if len(ds.indices("test")) else "val"
    metrics = evaluate_model(net, ds, split)
    if cfg.denoise:  # how well it cleans the noise it was trained on (clean input: psnr_db above)
        noisy = evaluate_model(net, ds, split, noise=cfg.denoise, seed=cfg.seed)
        metrics["denoise"] = {k: noisy[k] for k in ("noise", "noisy_psnr_db", "psnr_db", "ssim")}
    save_model(net, out, {
        "data": {"source": data_name, "name": ds.name, "fingerprint": ds.fingerprint(),
                 "splits": ds.split_sizes(), "skipped": len(ds.skipped), "fit": fit,
                 "classes": ds.classes},
        "metrics": {"split": split, **metrics},
        "training": {"config": cfg.to_dict(), "epochs": trainer.current_epoch,
                     "steps": trainer.global_step, "seconds": round(module.elapsed(), 1),
                     "stopped": stopped, "batch_size": bs, "precision": precision,
                     "rollbacks": rollbacks},
        "parameters": n_params,
        "history": history.rows,
    })
    from ..tools.latent import fit_density, is_vector_latent

    if is_vector_latent(net):  # the sampling density (Ghosh et al. 2020) and per-dim spreads
        pick = np.sort(np.random.default_rng(cfg.seed).permutation(train_idx)[:20000])
        fit_density(net, ds.images[pick], seed=cfg.seed, save_to=out,
                    extra={"data": data_name, "split": "train"})
    _log(saved_line(out, split, metrics))
    _rank_zero_done()
    return TrainResult(out, metrics, trainer.current_epoch, seconds, stopped, rollbacks)


FINETUNE_LR = 1 / 3  # --lambdas: each fine-tuned rate's peak LR, relative to the first rate's


def train_lambdas(data: str | os.PathLike, out: str | os.PathLike, lambdas: list[float], model: str | None = None,
                  **kwargs) -> list[TrainResult]:
    """Several qualities of a rate-distortion model in one go: ``out/lambda-<λ>`` for each λ.

    The lowest λ trains first (from scratch, or from ``init``); each higher λ then fine-tunes the
    model before it: the transforms carry over and only the rate trade-off moves. High rates need
    the most training (from scratch in a short budget, λ = 0.05 reached only 23.6 dB at 128 B on
    FashionMNIST), and this order gives them everyone's training before theirs.
    """
    from ..models import get_model_class
    from ..saved import META, WEIGHTS, read_config

    if not lambdas:
        raise LatentfolioError("--lambdas: give at least one value")
    if any(not v > 0 for v in lambdas):
        raise LatentfolioError(f"--lambdas {','.join(map(str, lambdas))}: every value must be positive")
    results: list[TrainResult] = []
    init = kwargs.pop("init", None)
    resume = kwargs.pop("resume", False)
    lr = kwargs.pop("lr", None)
    step_lr = lr
    for i, v in enumerate(sorted(set(lambdas))):
        d = Path(out) / f"lambda-{v:g}"
        if resume and (d / WEIGHTS).exists():  # finished before the kill: keep it
            meta = _io.read_json(d / META, "model meta")
            r = TrainResult(d, meta.get("metrics", {}), meta.get("training", {}).get("epochs", 0),
                            meta.get("training", {}).get("seconds", 0.0), "completed")
        else:
            again = resume and (d / RUN_DIR / "checkpoints" / LAST_CKPT).exists()
            r = train(data, d, model, lmbda=v, init=None if again else init, resume=again, lr=step_lr, **kwargs)
        results.append(r)
        init = str(r.model_dir)
        if i == 0:
            # Fine-tuning peaks at a third of the first model's LR. At the full peak the trained
            # transforms blow up: on 64 px colour photos the loss jumped from 8.6 to 6·10⁶ and the
            # model came out at 22.8 dB for 329 B, against 26.2 dB for 310 B at a third.
            step_lr = (lr or get_model_class(read_config(init)["type"]).default_lr) * FINETUNE_LR
    return results
