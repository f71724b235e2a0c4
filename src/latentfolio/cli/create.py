"""Commands to create and study: sample, interpolate, blend, traverse, sweep, compare-latent,
report, fit-density."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import DATA_ROOT, FORCE, JSON, SEED, _emit, app


def _wrote(key: str = "out"):
    return lambda r: typer.echo(f"wrote {r[key]}")


@app.command()
def sample(
    model_dir: Path = typer.Argument(..., help="A model folder (vae, or any vector-latent model)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG grid to write."),
    n: int = typer.Option(64, "-n", help="Number of samples."),
    temperature: float = typer.Option(1.0, "--temperature", help="Scale of the sampling spread (<1: safer, >1: wilder)."),
    seed: int = SEED,
    source: str = typer.Option("auto", "--from", help="auto (VAE: prior, AE: fitted mixture) | prior | density."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """New images: a VAE from its prior, a plain AE from the mixture fitted to its training codes."""
    from ..tools.generate import sample as _sample

    r = _sample(model_dir, out, n, temperature, seed, source, force)
    _emit(r, as_json, lambda r: typer.echo(f"wrote {r['out']} ({r['n']} samples from the {r['from']})"))


@app.command()
def interpolate(
    model_dir: Path = typer.Argument(..., help="A model folder."),
    a: Path = typer.Argument(..., help="First image."),
    b: Path = typer.Argument(..., help="Second image."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG strip to write."),
    steps: int = typer.Option(10, "--steps", help="Images in the strip, A and B included."),
    method: str = typer.Option("linear", "--method", help="linear | slerp."),
    gif: Optional[Path] = typer.Option(None, "--gif", help="Also write an animated GIF (there and back)."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Walk the latent space from image A to image B."""
    from ..tools.generate import interpolate as _interpolate

    _emit(_interpolate(model_dir, a, b, out, steps, method, gif, force), as_json, _wrote())


@app.command()
def blend(
    model_dir: Path = typer.Argument(..., help="A model folder."),
    images: List[Path] = typer.Argument(..., help="Two or more images."),
    out: Path = typer.Option(..., "--out", "-o", help="The blended image (PNG, model resolution)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="One weight per image, summing to 1 (default: equal)."),
    sheet: Optional[Path] = typer.Option(None, "--sheet", help="Also write the inputs next to the blend."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Decode a weighted mix of several images' latent codes."""
    from ..tools.generate import blend as _blend

    _emit(_blend(model_dir, images, out, weights, sheet, force), as_json, _wrote())


@app.command()
def traverse(
    model_dir: Path = typer.Argument(..., help="A model folder."),
    image: Path = typer.Argument(..., help="The image whose code is varied."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG sheet: one row per dimension."),
    dims: str = typer.Option("top5", "--dims", help="topN (widest over the training set) or indices like 0,3,7."),
    span: float = typer.Option(3.0, "--range", help="Go from -range to +range standard deviations."),
    steps: int = typer.Option(9, "--steps", help="Columns per row."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Vary one latent dimension at a time, in steps of its training-set standard deviation."""
    from ..tools.generate import traverse as _traverse

    _emit(_traverse(model_dir, image, out, dims, span, steps, force), as_json, _wrote())


@app.command()
def sweep(
    data: str = typer.Argument(..., help="Data source, as for `train`."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder: one model per combination, sweep.csv/.md/.png."),
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
    from ..reports.sweep import markdown_table, sweep as _sweep

    r = _sweep(data, out, models, latent_dims, epochs, max_time, data_root, force, image_size=image_size)
    _emit(r, as_json, lambda r: typer.echo(markdown_table(r["rows"], ["model", "latent_dim", "compression_ratio",
                                                                      "test_psnr_db", "test_ssim", "parameters",
                                                                      "train_seconds"])
                                          + f"wrote {r['table']}, {r['markdown']}, {r['figure']}"))


@app.command("compare-latent")
def compare_latent(
    ae_dir: Path = typer.Argument(..., help="A plain autoencoder's model folder."),
    vae_dir: Path = typer.Argument(..., help="A VAE's model folder (same data)."),
    data: str = typer.Argument(..., help="Data source, as for `train` (its test split is used)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for maps.png, gaps.png, prior.png, compare.json, index.html."),
    n: int = typer.Option(3000, "-n", help="Test images to encode."),
    method: str = typer.Option("pca", "--method", help="pca | umap."),
    seed: int = SEED,
    data_root: Optional[Path] = DATA_ROOT,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Side-by-side latent maps, decodes between clusters, and prior samples of an AE and a VAE."""
    from ..reports.compare import compare_latent as _compare

    r = _compare(ae_dir, vae_dir, data, out, data_root, n=n, method=method, seed=seed, force=force)
    _emit(r, as_json, lambda r: typer.echo(
        f"prior samples' distance to real codes (1 = like data): AE {r['AE']['prior_nn_ratio']:.2f}, "
        f"VAE {r['VAE']['prior_nn_ratio']:.2f}; wrote {r['out']}/index.html"))


@app.command()
def report(
    model_dir: Path = typer.Argument(..., help="A model folder."),
    data: Optional[str] = typer.Argument(None, help="Data source for reconstructions and the latent map."),
    out: Path = typer.Option(..., "--out", "-o", help="HTML file to write (self-contained, works offline)."),
    method: str = typer.Option("pca", "--method", help="Latent map: pca | umap | tsne."),
    data_root: Optional[Path] = DATA_ROOT,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """One offline HTML page: info, loss curve, reconstructions, latent map, samples, interpolation, traversal."""
    from ..reports.report import model_report

    p = model_report(model_dir, out, data, data_root, force, map_method=method)
    _emit({"out": str(p)}, as_json, _wrote())


@app.command("fit-density")
def fit_density(
    model_dir: Path = typer.Argument(..., help="A model folder with a vector latent."),
    data: str = typer.Argument(..., help="The data it was trained on."),
    components: int = typer.Option(10, "--components", help="Gaussian mixture components."),
    data_root: Optional[Path] = DATA_ROOT,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """(Re)fit the latent density used by sample and traverse (train does this already)."""
    from ..tools.latent import fit_density_cmd

    r = fit_density_cmd(model_dir, data, data_root, components, force=force)
    _emit(r, as_json, lambda r: typer.echo(f"fitted {r['n_components']} components on {r['n_fit']} codes: {r['out']}"))
