"""Commands for the core loop and the pixel tools: train, evaluate, reconstruct, info, models,
noise, denoise, compress, decompress, codec-eval, demo."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import LatentfolioError
from .app import DATA_ROOT, FORCE, JSON, SEED, _console, _emit, _model_options, app, seed_option


@app.command()
def train(
    data: str = typer.Argument(..., help="Image folder, IDX or CIFAR folder, or mnist | fashion-mnist | cifar10 | digits."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
    model: Optional[str] = typer.Option(None, "--model", help="fc | conv | vae | resnet | denoiser | codec (default conv; see `latentfolio models`)."),
    latent_dim: Optional[int] = typer.Option(None, "--latent-dim", help="Bottleneck size (model default: 32; resnet 256)."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Square side in px (default: the data's; for folders 64, or the images' own side when smaller)."),
    channels: Optional[int] = typer.Option(None, "--channels", help="1 or 3 (default: detected from the data)."),
    fit: str = typer.Option("squash", "--fit", help="Resize policy: squash | crop | pad."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs (default 20, more for small sets)."),
    max_time: Optional[float] = typer.Option(None, "--max-time", help="Wall-clock budget in minutes."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Default: train images/32, between 8 and 128."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default: the model's: 3e-3, conv 6e-3, denoiser 1e-3)."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam | adamw | muon (Muon on the hidden conv filters, AdamW on the rest). Default: the model's (conv muon, others adamw)."),
    muon_lr: float = typer.Option(0.02, "--muon-lr", help="With muon: peak LR of the Muon-driven conv filters."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="onecycle | linear | cosine | constant. Default: the model's (conv linear, others onecycle)."),
    loss: str = typer.Option("mse", "--loss", help="mse | bce | l1 | ssim."),
    ssim_weight: float = typer.Option(0.84, "--ssim-weight", help="With --loss ssim: weight of 1-SSIM against MSE."),
    beta: float = typer.Option(1.0, "--beta", help="VAE: weight of the KL term."),
    kl_warmup: float = typer.Option(0.0, "--kl-warmup", help="VAE: epochs to ramp beta up from 0."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early stopping after N epochs without val improvement."),
    seed: int = SEED,
    precision: str = typer.Option("auto", "--precision", help="auto | 32-true | bf16-mixed | 16-mixed."),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto | cpu | gpu."),
    devices: str = typer.Option("auto", "--devices", help="auto, a count, or ids like 0,1."),
    strategy: str = typer.Option("auto", "--strategy", help="auto | ddp | ddp_spawn | fsdp ..."),
    num_nodes: int = typer.Option(1, "--num-nodes"),
    lmbda: float = typer.Option(0.01, "--lambda", help="Codec: rate-distortion trade-off (loss = lambda*255^2*MSE + bpp)."),
    lambdas: Optional[str] = typer.Option(None, "--lambdas", help="Codec: several qualities in one go, e.g. 0.002,0.006,0.02; OUT gets one model folder per lambda."),
    denoise: Optional[str] = typer.Option(None, "--denoise", help="Train a denoiser: corrupt inputs with this noise spec (e.g. scan; see `latentfolio noise --help`)."),
    init: Optional[Path] = typer.Option(None, "--init", help="Fine-tune: start from this model folder's weights (its model, config and size)."),
    set_: List[str] = typer.Option([], "--set", help="Model config field, e.g. --set widths=16,32 --set batchnorm=false."),
    data_root: Optional[Path] = DATA_ROOT,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT from its last checkpoint."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Train an autoencoder and save it as a model folder (config.json, model.safetensors, meta.json)."""
    from ..training.train import is_worker_process, train as _train, train_lambdas

    kw = dict(latent_dim=latent_dim, image_size=image_size, channels=channels,
              fit=fit, data_root=data_root, resume=resume, force=force,
              model_options=_model_options(set_), epochs=epochs, max_time=max_time,
              batch_size=batch_size, lr=lr, optimizer=optimizer, muon_lr=muon_lr, schedule=schedule, loss=loss,
              ssim_weight=ssim_weight, beta=beta, kl_warmup=kl_warmup, patience=patience, seed=seed,
              precision=precision, accelerator=accelerator, devices=devices, strategy=strategy,
              num_nodes=num_nodes, denoise=denoise, init=str(init) if init else None)
    if lambdas:
        try:
            values = [float(v) for v in lambdas.split(",") if v.strip()]
        except ValueError:
            raise LatentfolioError(f"--lambdas {lambdas!r}: expected numbers like 0.002,0.006,0.02") from None
        results = train_lambdas(data, out, values, model, **kw)
    else:
        results = [_train(data, out, model, lmbda=lmbda, **kw)]
    if is_worker_process():  # a DDP rank > 0, re-run by Lightning's launcher: rank 0 reports
        return
    rows = [{"model_dir": str(r.model_dir), "epochs": r.epochs, "seconds": round(r.seconds, 1),
             "stopped": r.stopped, "rollbacks": len(r.rollbacks), "metrics": r.metrics} for r in results]
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
    model_dir: Path = typer.Argument(..., help="A model folder."),
    data: str = typer.Argument(..., help="Data source, as for `train`."),
    split: str = typer.Option("test", "--split", help="train | val | test | all."),
    noise: Optional[str] = typer.Option(None, "--noise", help="Corrupt inputs with this noise spec and score against the clean images."),
    seed: int = seed_option("Seed for --noise."),
    data_root: Optional[Path] = DATA_ROOT,
    as_json: bool = JSON,
):
    """Report mse, psnr_db, ssim and the number of images on a split."""
    from ..evaluation import evaluate as _evaluate

    _emit(_evaluate(model_dir, data, split, data_root=data_root, noise=noise, seed=seed), as_json,
          _print_metrics)


@app.command()
def reconstruct(
    model_dir: Path = typer.Argument(..., help="A model folder."),
    inputs: List[Path] = typer.Argument(..., help="Image files or folders."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG grid to write."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Originals over reconstructions, with PSNR under each, as one PNG."""
    from ..evaluation import reconstruct as _reconstruct

    res = _reconstruct(model_dir, inputs, out, force)
    _emit(res, as_json, lambda r: typer.echo(f"wrote {r['out']} ({len(r['images'])} images, "
                                             f"mean PSNR {r['mean_psnr_db']:.2f} dB)"))


@app.command()
def info(model_dir: Path = typer.Argument(..., help="A model folder."), as_json: bool = JSON):
    """Layer table (output shapes, parameters), latent size and compression ratio."""
    from ..modelinfo import model_info
    from ..saved import load_model

    d = model_info(load_model(model_dir))

    def human(d):
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


@app.command()
def models(as_json: bool = JSON):
    """List the registered models and their config fields with defaults."""
    from .. import list_models

    d = list_models()

    def human(d):
        for name, fields in d.items():
            typer.echo(f"{name:8s} " + "  ".join(f"{k}={v}" for k, v in fields.items()))

    _emit(d, as_json, human)


@app.command()
def noise(
    inputs: List[Path] = typer.Argument(..., help="Image files or folders."),
    spec: str = typer.Option(..., "--spec", help="Comma-separated corruptions, e.g. gaussian:0.2,dust:0.01 or scan; "
                             "a range (gaussian:0.05-0.3) draws each image's strength from it. "
                             "Kinds: gaussian (std), salt_pepper (fraction), dust (area fraction), hair (lines), "
                             "smudge (blotches), grain (std), illumination (strength), jpeg (quality), scan (preset)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the noisy PNGs."),
    seed: int = SEED,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Apply a seeded scan-noise spec to images (to make test sets)."""
    from ..tools.denoise import add_noise

    res = add_noise(inputs, spec, out, seed, force)
    _emit(res, as_json, lambda r: typer.echo(f"wrote {len(r['written'])} noisy image(s) to {out}"))


@app.command("denoise")
def denoise_cmd(
    model_dir: Path = typer.Argument(..., help="A model trained with --denoise."),
    inputs: List[Path] = typer.Argument(..., help="Image files or folders (any size)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder; originals are never overwritten."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile size in px (default: max(model size, 64))."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Tile overlap in px (default: tile/4)."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Clean images of any size in blended tiles, keeping size, colour mode and format."""
    from ..tools.denoise import denoise

    res = denoise(model_dir, inputs, out, tile, overlap, force)
    _emit(res, as_json, lambda r: typer.echo(f"wrote {len(r['written'])} image(s) to {out}"
                                             + (f", skipped {len(r['skipped'])}" if r["skipped"] else "")))


REFINE = typer.Option(0, "--refine", help="Refine each image's latent with this many gradient steps "
                      "before coding (100 is a good start): smaller files at the same quality, slower "
                      "encoding; decoding is unchanged. 0: off.")


@app.command()
def compress(
    model_dir: Path = typer.Argument(..., help="A model trained with --model codec."),
    inputs: List[Path] = typer.Argument(..., help="Image files or folders."),
    out: Path = typer.Option(..., "--out", "-o", help="A folder (one .lfz per image) or an .lfa archive file."),
    refine: int = REFINE,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Compress images into .lfz files (or one .lfa archive) with a learned codec."""
    from ..tools.codec import compress as _compress

    r = _compress(model_dir, inputs, out, force, refine)
    _emit(r, as_json, lambda r: typer.echo(
        f"{r['images']} image(s): {r['original_bytes']:,} -> {r['bytes']:,} bytes "
        f"({r['original_bytes'] / max(1, r['bytes']):.1f}x) in {r['out']}"))


@app.command()
def decompress(
    files: List[Path] = typer.Argument(..., help=".lfz files, .lfa archives, or folders of them (as `compress` wrote them)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the decoded images."),
    model: Optional[Path] = typer.Option(None, "--model", help="The codec model folder (default: found by the file's model fingerprint)."),
    only: List[str] = typer.Option([], "--only", help="Archive entries to decode (default: all)."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Decode .lfz files or .lfa archives (one image at a time) to PNG."""
    from ..tools.codec import decompress as _decompress

    r = _decompress(files, out, model, only or None, force)
    _emit(r, as_json, lambda r: typer.echo(f"wrote {len(r['written'])} image(s) to {r['out']}"))


@app.command("codec-eval")
def codec_eval(
    model_dir: Path = typer.Argument(..., help="A codec model folder."),
    data: str = typer.Argument(..., help="Data source, as for `train`."),
    split: str = typer.Option("test", "--split"),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many images."),
    refine: int = REFINE,
    data_root: Optional[Path] = DATA_ROOT,
    as_json: bool = JSON,
):
    """Real bytes per image, bits per pixel, PSNR/SSIM and speed, over a split."""
    from ..tools.codec import codec_eval as _codec_eval

    r = _codec_eval(model_dir, data, split, limit, data_root, refine)
    _emit(r, as_json, lambda r: typer.echo(
        f"{r['n']} images: {r['bytes_per_image']:.1f} bytes/image ({r['bpp']:.3f} bpp), "
        f"PSNR {r['psnr_db']:.2f} dB, SSIM {r['ssim']:.4f}; encode {r['encode_images_per_s']:.0f}/s, "
        f"decode {r['decode_images_per_s']:.0f}/s"))


@app.command()
def demo(
    out: Path = typer.Option(Path("latentfolio-demo"), "--out", "-o", help="Folder for the model and report."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Default: 3 on FashionMNIST, 30 on digits."),
    offline: bool = typer.Option(False, "--offline", help="Do not try to download FashionMNIST."),
    data_root: Optional[Path] = DATA_ROOT,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Train on FashionMNIST (or bundled digits when it is not available) and write report.html."""
    from ..reports.demo import demo as _demo

    res = _demo(out, data_root=data_root, force=force, epochs=epochs, download=not offline)
    _emit(res, as_json, lambda r: typer.echo(f"{r['data']}: test PSNR {r['metrics']['psnr_db']:.2f} dB "
                                             f"after {r['epochs']} epochs; open {r['report']}"))
