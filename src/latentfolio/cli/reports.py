"""Commands to study and report: ``sweep``, ``compare-latent``, ``report`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import DATA_ROOT, FORCE, JSON, SEED, _emit, _wrote, app, model_arg, out_option


@app.command()
def sweep(
    data: str = typer.Argument(..., help="Data source, as for `train`."),
    out: Path = out_option("Folder: one model per combination, sweep.csv/.md/.png."),
    models: str = typer.Option("fc,conv", "--models", help="Comma-separated model types."),
    latent_dims: str = typer.Option("2,3,5,10,50", "--latent-dims", help="Comma-separated latent sizes."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs per model (default: train's)."),
    max_time: Optional[float] = typer.Option(None, "--max-time", help="Minutes per model."),
    image_size: Optional[int] = typer.Option(None, "--image-size"),
    data_root: Optional[Path] = DATA_ROOT,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Train every (model, latent size) pair; a table and one figure show what the bottleneck changes.

    Finished combinations are reused, so a stopped sweep continues where it was.
    """
    from ..reports.sweep import sweep as run
    from ..reports.sweep import markdown_table

    r = run(data, out, models=models, latent_dims=latent_dims, epochs=epochs, max_time=max_time,
                  data_root=data_root, force=force, image_size=image_size)
    _emit(r, as_json, lambda r: typer.echo(markdown_table(r["rows"], ["model", "latent_dim", "compression_ratio",
                                                                      "test_psnr_db", "test_ssim", "parameters",
                                                                      "train_seconds"])
                                          + f"wrote {r['table']}, {r['markdown']}, {r['figure']}"))


@app.command("compare-latent")
def compare_latent(
    ae_dir: Path = model_arg("A plain autoencoder's model folder."),
    vae_dir: Path = model_arg("A VAE's model folder (same data)."),
    data: str = typer.Argument(..., help="Data source, as for `train` (its test split is used)."),
    out: Path = out_option("Folder for maps.png, gaps.png, prior.png, compare.json, index.html."),
    n: int = typer.Option(3000, "-n", help="Test images to encode."),
    method: str = typer.Option("pca", "--method", help="pca | umap."),
    seed: int = SEED,
    data_root: Optional[Path] = DATA_ROOT,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Side-by-side latent maps, decodes between clusters, and prior samples of an AE and a VAE."""
    from ..reports.compare import compare_latent as run

    r = run(ae_dir, vae_dir, data, out, data_root=data_root, n=n, method=method, seed=seed,
                           force=force)
    _emit(r, as_json, lambda r: typer.echo(
        f"prior samples' distance to real codes (1 = like data): AE {r['AE']['prior_nn_ratio']:.2f}, "
        f"VAE {r['VAE']['prior_nn_ratio']:.2f}; wrote {r['out']}/index.html"))


@app.command()
def report(
    model_dir: Path = model_arg(),
    data: Optional[str] = typer.Argument(None, help="Data source for reconstructions and the latent map."),
    out: Path = out_option("HTML file to write (self-contained, works offline)."),
    method: str = typer.Option("pca", "--method", help="Latent map: pca | umap | tsne."),
    data_root: Optional[Path] = DATA_ROOT,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """One offline HTML page: info, loss curve, reconstructions, latent map, samples, interpolation, traversal."""
    from ..reports.report import report as run

    p = run(model_dir, out, data, data_root=data_root, force=force, method=method)
    _emit({"out": str(p)}, as_json, _wrote())


@app.command()
def demo(
    out: Path = typer.Option(Path("latentfolio-demo"), "--out", "-o", help="Folder for the model and report."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Default: 2 on FashionMNIST, 30 on digits."),
    offline: bool = typer.Option(False, "--offline", help="Do not try to download FashionMNIST."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="End by serving the gallery until Ctrl-C (--no-serve: stop at once)."),
    port: int = typer.Option(8765, "--port", help="The gallery's port (0: any free one)."),
    data_root: Optional[Path] = DATA_ROOT,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Train on FashionMNIST (or bundled digits when it is not available), write report.html,
    catalog and map the collection, then serve the gallery (http://127.0.0.1:8765/) until Ctrl-C."""
    from ..reports.demo import demo as run

    res = run(out, data_root=data_root, force=force, epochs=epochs, download=not offline, serve=serve, port=port)
    _emit(res, as_json, lambda r: typer.echo(f"{r['data']}: test PSNR {r['metrics']['psnr_db']:.2f} dB "
                                             f"after {r['epochs']} epochs; open {r['report']}, or "
                                             f"`latentfolio serve {r['catalog']}`"))
