"""The ``latentfolio`` command. Thin: each command parses flags and calls one library function.

Heavy imports (torch, lightning) happen inside the commands, so ``latentfolio --help`` is instant.
A :class:`LatentfolioError` becomes one ``error: ...`` line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import typer

from .errors import LatentfolioError

app = typer.Typer(
    name="latentfolio", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Learn a compact latent space for an image collection, then compress, organize, clean "
         "and create with it.")

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
FORCE = typer.Option(False, "--force", help="Overwrite existing outputs.")
DATA_ROOT = typer.Option(None, "--data-root", help="Where named datasets live "
                         "(default: $LATENTFOLIO_DATA, else the user cache dir).")


def _emit(obj, as_json: bool, human=None) -> None:
    if as_json:
        typer.echo(json.dumps(obj, indent=2, default=str))
    elif human is not None:
        human(obj)


def _console():
    from rich.console import Console

    return Console()


def _parse_value(v: str):
    low = v.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if "," in v:
        return tuple(_parse_value(p) for p in v.split(",") if p)
    for t in (int, float):
        try:
            return t(v)
        except ValueError:
            pass
    return v


def _model_options(items: list[str]) -> dict:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise LatentfolioError(f"--set {it!r}: expected KEY=VALUE, e.g. --set widths=16,32")
        k, v = it.split("=", 1)
        val = _parse_value(v)
        out[k.strip().replace("-", "_")] = (val,) if k.strip() in ("widths", "hidden") and not isinstance(val, tuple) else val
    return out


@app.command()
def train(
    data: str = typer.Argument(..., help="Image folder, IDX or CIFAR folder, or mnist | fashion-mnist | cifar10 | digits."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
    model: str = typer.Option("conv", "--model", help="fc | conv | vae | resnet (see `latentfolio models`)."),
    latent_dim: Optional[int] = typer.Option(None, "--latent-dim", help="Bottleneck size (model default: 32; resnet 256)."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Square side in px (default: the data's; 64 for folders)."),
    channels: Optional[int] = typer.Option(None, "--channels", help="1 or 3 (default: detected from the data)."),
    fit: str = typer.Option("squash", "--fit", help="Resize policy: squash | crop | pad."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs (default 20, more for small sets)."),
    max_time: Optional[float] = typer.Option(None, "--max-time", help="Wall-clock budget in minutes."),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate."),
    optimizer: str = typer.Option("adamw", "--optimizer", help="adam | adamw."),
    schedule: str = typer.Option("onecycle", "--schedule", help="onecycle | cosine | constant."),
    loss: str = typer.Option("mse", "--loss", help="mse | bce | l1 | ssim."),
    ssim_weight: float = typer.Option(0.84, "--ssim-weight", help="With --loss ssim: weight of 1-SSIM against MSE."),
    beta: float = typer.Option(1.0, "--beta", help="VAE: weight of the KL term."),
    kl_warmup: float = typer.Option(0.0, "--kl-warmup", help="VAE: epochs to ramp beta up from 0."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early stopping after N epochs without val improvement."),
    seed: int = typer.Option(0, "--seed"),
    precision: str = typer.Option("auto", "--precision", help="auto | 32-true | bf16-mixed | 16-mixed."),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto | cpu | gpu."),
    devices: str = typer.Option("auto", "--devices", help="auto, a count, or ids like 0,1."),
    strategy: str = typer.Option("auto", "--strategy", help="auto | ddp | ddp_spawn | fsdp ..."),
    num_nodes: int = typer.Option(1, "--num-nodes"),
    set_: List[str] = typer.Option([], "--set", help="Model config field, e.g. --set widths=16,32 --set batchnorm=false."),
    data_root: Optional[Path] = DATA_ROOT,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT from its last checkpoint."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Train an autoencoder and save it as a model folder (config.json, model.safetensors, meta.json)."""
    from .training.train import train as _train

    res = _train(data, out, model, latent_dim=latent_dim, image_size=image_size, channels=channels,
                 fit=fit, data_root=data_root, resume=resume, force=force,
                 model_options=_model_options(set_), epochs=epochs, max_time=max_time,
                 batch_size=batch_size, lr=lr, optimizer=optimizer, schedule=schedule, loss=loss,
                 ssim_weight=ssim_weight, beta=beta, kl_warmup=kl_warmup, patience=patience, seed=seed,
                 precision=precision, accelerator=accelerator, devices=devices, strategy=strategy,
                 num_nodes=num_nodes)
    _emit({"model_dir": str(res.model_dir), "epochs": res.epochs, "seconds": round(res.seconds, 1),
           "stopped": res.stopped, "metrics": res.metrics}, as_json)


def _print_metrics(d: dict) -> None:
    from rich.table import Table

    t = Table(show_header=True, header_style="bold")
    for k in ("split", "n", "mse", "psnr_db", "ssim"):
        t.add_column(k)
    t.add_row(d["split"], str(d["n"]), f"{d['mse']:.5f}", f"{d['psnr_db']:.2f}", f"{d['ssim']:.4f}")
    _console().print(t)


@app.command()
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model folder."),
    data: str = typer.Argument(..., help="Data source, as for `train`."),
    split: str = typer.Option("test", "--split", help="train | val | test | all."),
    data_root: Optional[Path] = DATA_ROOT,
    as_json: bool = JSON,
):
    """Report mse, psnr_db, ssim and the number of images on a split."""
    from .evaluate import evaluate as _evaluate

    _emit(_evaluate(model_dir, data, split, data_root=data_root), as_json, _print_metrics)


@app.command()
def reconstruct(
    model_dir: Path = typer.Argument(..., help="A model folder."),
    inputs: List[Path] = typer.Argument(..., help="Image files or folders."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG grid to write."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Originals over reconstructions, with PSNR under each, as one PNG."""
    from .evaluate import reconstruct as _reconstruct

    res = _reconstruct(model_dir, inputs, out, force)
    _emit(res, as_json, lambda r: typer.echo(f"wrote {r['out']} ({len(r['images'])} images, "
                                             f"mean PSNR {r['mean_psnr_db']:.2f} dB)"))


@app.command()
def info(model_dir: Path = typer.Argument(..., help="A model folder."), as_json: bool = JSON):
    """Layer table (output shapes, parameters), latent size and compression ratio."""
    from .info import model_info
    from .saved import load_model

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
    import dataclasses

    from .models import MODELS

    d = {name: {f.name: f.default for f in dataclasses.fields(cls.Config)} for name, cls in sorted(MODELS.items())}

    def human(d):
        for name, fields in d.items():
            typer.echo(f"{name:8s} " + "  ".join(f"{k}={v}" for k, v in fields.items()))

    _emit(d, as_json, human)


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
    from .reports.demo import demo as _demo

    res = _demo(out, data_root=data_root, force=force, epochs=epochs, download=not offline)
    _emit(res, as_json, lambda r: typer.echo(f"{r['data']}: test PSNR {r['metrics']['psnr_db']:.2f} dB "
                                             f"after {r['epochs']} epochs; open {r['report']}"))


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main() -> None:
    warnings.showwarning = _show_warning
    try:
        app()
    except LatentfolioError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
