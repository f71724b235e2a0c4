"""Commands on models: train, evaluate, reconstruct, info and models."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperCommand

from ..errors import LatentfolioError
from .app import (
    DATA_ROOT, FORCE, JSON, SEED, _console, _emit, _model_options, app, inputs_arg, model_arg,
    one_line, out_option, seed_option)


class TrainHelp(TyperCommand):
    """``train --help`` states each flag's default as the config dataclasses hold it, for the model
    that ``--model`` names (or for each model): read only when help is asked for, so the CLI
    starts without torch, and never typed twice."""

    def format_help(self, ctx, formatter):
        from ..training.config import help_defaults

        argv = sys.argv
        model = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--model"), None)
        notes = help_defaults(model)
        for p in self.params:
            if p.name in notes:
                bare = p.__dict__.setdefault("_bare_help", p.help)  # as written, before any note
                p.help = f"{bare} ({notes[p.name]})"
        return super().format_help(ctx, formatter)


@app.command(cls=TrainHelp)
def train(
    data: str = typer.Argument(..., help="Image folder, IDX or CIFAR folder, or mnist | fashion-mnist | cifar10 | digits."),
    out: Path = out_option("Model folder to write."),
    model: Optional[str] = typer.Option(None, "--model", help="fc | conv | vae | resnet | denoiser | codec | hyperprior | meanscale (see `latentfolio models`)."),
    latent_dim: Optional[int] = typer.Option(None, "--latent-dim", help="Bottleneck size."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Square side in px (default: the data's; for folders 64, or the images' own side when smaller)."),
    patch: Optional[int] = typer.Option(None, "--patch", help="Train on random native-resolution crops of this side in px (codec, hyperprior, meanscale, denoiser; their default on folders: 256, or the images' median side when smaller). --image-size trains on thumbnails instead."),
    channels: Optional[int] = typer.Option(None, "--channels", help="1 or 3 (default: detected from the data)."),
    fit: str = typer.Option("squash", "--fit", help="Resize policy: squash | crop | pad."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs (default 20, more for small sets)."),
    max_time: Optional[float] = typer.Option(None, "--max-time", help="Wall-clock budget in minutes for the whole command: reading the data, training and the final score."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Default: train images/32, between 8 and 128."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam | adamw | muon (Muon on the hidden conv filters, AdamW on the rest)."),
    muon_lr: Optional[float] = typer.Option(None, "--muon-lr", help="With muon: peak LR of the Muon-driven conv filters."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="onecycle | linear | cosine | constant."),
    loss: Optional[str] = typer.Option(None, "--loss", help="mse | bce | l1 | ssim."),
    ssim_weight: Optional[float] = typer.Option(None, "--ssim-weight", help="With --loss ssim: weight of 1-SSIM against MSE."),
    beta: Optional[float] = typer.Option(None, "--beta", help="VAE: weight of the KL term."),
    kl_warmup: Optional[float] = typer.Option(None, "--kl-warmup", help="VAE: epochs to ramp beta up from 0."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early stopping after N epochs without val improvement."),
    seed: int = SEED,
    precision: Optional[str] = typer.Option(None, "--precision", help="auto | 32-true | bf16-mixed | 16-mixed."),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto | cpu | gpu."),
    devices: str = typer.Option("auto", "--devices", help="auto, a count, or ids like 0,1."),
    strategy: str = typer.Option("auto", "--strategy", help="auto | ddp | ddp_spawn | fsdp ..."),
    num_nodes: int = typer.Option(1, "--num-nodes"),
    lmbda: Optional[float] = typer.Option(None, "--lambda", help="Codec: rate-distortion trade-off (loss = lambda*255^2*MSE + bpp)."),
    lambdas: Optional[str] = typer.Option(None, "--lambdas", help="Codec: several qualities in one go, e.g. 0.002,0.006,0.02; OUT gets one model folder per lambda."),
    denoise: Optional[str] = typer.Option(None, "--denoise", help="Train a denoiser: corrupt inputs with this noise spec (e.g. scan; see `latentfolio noise --help`)."),
    pages: Optional[float] = typer.Option(None, "--pages", help="Denoiser: share of each batch that is a rendered page of text or a drawing, so it learns to keep ink (default 0.4 with --denoise scan on patches, else 0)."),
    init: Optional[Path] = typer.Option(None, "--init", help="Fine-tune: start from this model folder's weights (its model, config and size)."),
    set_: List[str] = typer.Option([], "--set", help="Model config field, e.g. --set widths=16,32 --set batchnorm=false."),
    data_root: Optional[Path] = DATA_ROOT,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT from its last checkpoint."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Train an autoencoder and save it as a model folder (config.json, model.safetensors, meta.json)."""
    from ..commands.train import train as run
    from ..training.trainer import is_worker_process

    kw = dict(latent_dim=latent_dim, image_size=image_size, channels=channels, patch=patch,
              fit=fit, data_root=data_root, resume=resume, force=force,
              model_options=_model_options(set_), epochs=epochs, max_time=max_time,
              batch_size=batch_size, lr=lr, optimizer=optimizer, muon_lr=muon_lr, schedule=schedule, loss=loss,
              ssim_weight=ssim_weight, beta=beta, kl_warmup=kl_warmup, patience=patience, seed=seed,
              precision=precision, accelerator=accelerator, devices=devices, strategy=strategy,
              num_nodes=num_nodes, denoise=denoise, pages=pages, init=str(init) if init else None)
    if lambdas:
        try:
            values = [float(v) for v in lambdas.split(",") if v.strip()]
        except ValueError:
            raise LatentfolioError(f"--lambdas {lambdas!r}: expected numbers like 0.002,0.006,0.02") from None
        results = run(data, out, model=model, lambdas=values, **kw)
    else:
        results = [run(data, out, model=model, lmbda=lmbda, **kw)]
    if is_worker_process():  # a DDP rank > 0, re-run by Lightning's launcher: rank 0 reports
        return
    rows = [r.to_dict() for r in results]
    _emit(rows[0] if len(rows) == 1 else rows, as_json)


def _print_metrics(d: dict) -> None:
    from rich.table import Table

    t = Table(show_header=True, header_style="bold")
    for k in ("split", "n", "mse", "psnr_db", "ssim"):
        t.add_column(k)
    t.add_row(d["split"], str(d["n"]), f"{d['mse']:.5f}", f"{d['psnr_db']:.2f}", f"{d['ssim']:.4f}")
    _console().print(t)
    if "noisy_psnr_db" in d:
        _console().print(f"noisy input ({d['noise']}): psnr {d['noisy_psnr_db']:.2f} dB, ssim "
                         f"{d['noisy_ssim']:.4f}  ->  denoised: psnr {d['psnr_db']:.2f} dB")


@app.command()
def evaluate(
    model_dir: Path = model_arg(),
    data: str = typer.Argument(..., help="Data source, as for `train`."),
    split: str = typer.Option("test", "--split", help="train | val | test | all."),
    noise: Optional[str] = typer.Option(None, "--noise", help="Corrupt inputs with this noise spec and score against the clean images."),
    seed: int = seed_option("Seed for --noise."),
    data_root: Optional[Path] = DATA_ROOT,
    as_json: bool = JSON,
):
    """Report mse, psnr_db, ssim and the number of images on a split."""
    from ..commands.model import evaluate as run

    _emit(run(model_dir, data, split=split, data_root=data_root, noise=noise, seed=seed), as_json,
          _print_metrics)


@app.command()
def reconstruct(
    model_dir: Path = model_arg(),
    inputs: List[Path] = inputs_arg(),
    out: Path = out_option("PNG grid to write."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Originals over reconstructions, with PSNR under each, as one PNG."""
    from ..commands.model import reconstruct as run

    res = run(model_dir, inputs, out, force=force)
    _emit(res, as_json, lambda r: typer.echo(f"wrote {r['out']} ({len(r['images'])} images, "
                                             f"mean PSNR {r['mean_psnr_db']:.2f} dB)"))


@app.command()
def info(model_dir: Path = model_arg("A model folder, or an .lfz file or .lfa archive."), as_json: bool = JSON):
    """Layer table (output shapes, parameters), latent size and compression ratio; for a compressed
    file, its size, mode, colour profile and EXIF, and the model that decodes it."""
    from ..commands.model import info as run

    d = run(model_dir)

    def human(d):
        if "format" in d:
            return _coded_file(d)
        from rich.table import Table

        t = Table(title=f"{model_dir} ({d['type']})", header_style="bold")
        for c in ("layer", "type", "output shape", "params"):
            t.add_column(c, justify="right" if c == "params" else "left")
        for r in d["layers"]:
            t.add_row(r["layer"], r["type"], "x".join(map(str, r["output"])), f"{r['params']:,}")
        con = _console()
        con.print(t)
        con.print(f"parameters: {d['parameters']:,}   latent: {d['latent_dim']}   input values: "
                  f"{d['input_values']}   compression ratio: {d['compression_ratio']:.1f}x")
        if d.get("metrics"):
            m = d["metrics"]
            con.print(f"{m['split']}: psnr {m['psnr_db']:.2f} dB, ssim {m['ssim']:.4f}, mse {m['mse']:.5f}")

    _emit(d, as_json, human)


def _coded_file(d: dict) -> None:
    """The human lines of `info` on a coded file; the name and EXIF strings come from the file, so
    each line goes through one_line (no escape sequence reaches the terminal)."""
    for line in _coded_lines(d):
        typer.echo(one_line(line))


def _coded_lines(d: dict) -> list[str]:
    m = d["model"]
    model = "model: " + ("none (classical codecs only)" if m is None else m["fingerprint"] + (
        f", stored in {m['stored']}" if m["stored"] else ", not in the model store: decompress needs --model"))
    if d["format"] == "lfa":
        codecs = ", ".join(f"{n} {c}" for c, n in d["codecs"].items())
        return [f"{d['file']}: .lfa archive, {d['entries']} entries ({codecs}), {d['bytes']:,} bytes", model]
    lines = [f"{d['file']}: .lfz version {d['version']}, {d['width']} x {d['height']} {d['mode']}"
             f"{' with alpha' if d['alpha'] else ''}, {d['bytes']:,} bytes ({d['bpp']:.3f} bpp)", model,
             f"colour profile: {d['colour_profile'] or 'none (sRGB)'}"]
    if d["exif"]:
        said = ", ".join(f"{k} {d['exif'][k]}" for k in ("make", "model", "date") if k in d["exif"])
        lines.append(f"EXIF: {d['exif']['bytes']:,} bytes{': ' + said if said else ''}")
    return lines


@app.command()
def models(as_json: bool = JSON):
    """List the registered models and their config fields with defaults."""
    from ..commands.model import models as run

    d = run()

    def human(d):
        for name, fields in d.items():
            typer.echo(f"{name:8s} " + "  ".join(f"{k}={v}" for k, v in fields.items()))

    _emit(d, as_json, human)


