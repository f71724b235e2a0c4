"""Commands to create and study: sample, interpolate, blend, traverse, sweep, compare-latent,
report, fit-density."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import DATA_ROOT, FORCE, JSON, SEED, _emit, _wrote, app, model_arg, out_option


@app.command()
def sample(
    model_dir: Path = model_arg("A model folder (vae, or any vector-latent model)."),
    out: Path = out_option("PNG grid to write."),
    n: int = typer.Option(64, "-n", help="Number of samples."),
    temperature: float = typer.Option(1.0, "--temperature", help="Scale of the sampling spread (<1: safer, >1: wilder)."),
    seed: int = SEED,
    source: str = typer.Option("auto", "--from", help="auto (VAE: prior, AE: fitted mixture) | prior | density."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """New images: a VAE from its prior, a plain AE from the mixture fitted to its training codes."""
    from ..commands.create import sample as run

    r = run(model_dir, out, n=n, temperature=temperature, seed=seed, source=source, force=force)
    _emit(r, as_json, lambda r: typer.echo(f"wrote {r['out']} ({r['n']} samples from the {r['from']})"))


@app.command()
def interpolate(
    model_dir: Path = model_arg(),
    a: Path = typer.Argument(..., help="First image."),
    b: Path = typer.Argument(..., help="Second image."),
    out: Path = out_option("PNG strip to write."),
    steps: int = typer.Option(10, "--steps", help="Images in the strip, A and B included."),
    method: str = typer.Option("linear", "--method", help="linear | slerp."),
    gif: Optional[Path] = typer.Option(None, "--gif", help="Also write an animated GIF (there and back)."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Walk the latent space from image A to image B."""
    from ..commands.create import interpolate as run

    _emit(run(model_dir, a, b, out, steps=steps, method=method, gif=gif, force=force), as_json,
          _wrote())


@app.command()
def blend(
    model_dir: Path = model_arg(),
    images: List[Path] = typer.Argument(..., help="Two or more images."),
    out: Path = out_option("The blended image (PNG, model resolution)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="One weight per image, summing to 1 (default: equal)."),
    sheet: Optional[Path] = typer.Option(None, "--sheet", help="Also write the inputs next to the blend."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Decode a weighted mix of several images' latent codes."""
    from ..commands.create import blend as run

    _emit(run(model_dir, images, out, weights=weights, sheet=sheet, force=force), as_json, _wrote())


@app.command()
def traverse(
    model_dir: Path = model_arg(),
    image: Path = typer.Argument(..., help="The image whose code is varied."),
    out: Path = out_option("PNG sheet: one row per dimension."),
    dims: str = typer.Option("top5", "--dims", help="topN (widest over the training set) or indices like 0,3,7."),
    span: float = typer.Option(3.0, "--range", help="Go from -range to +range standard deviations."),
    steps: int = typer.Option(9, "--steps", help="Columns per row."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Vary one latent dimension at a time, in steps of its training-set standard deviation."""
    from ..commands.create import traverse as run

    _emit(run(model_dir, image, out, dims=dims, span=span, steps=steps, force=force), as_json, _wrote())


@app.command("fit-density")
def fit_density(
    model_dir: Path = model_arg("A model folder with a vector latent."),
    data: str = typer.Argument(..., help="The data it was trained on."),
    components: int = typer.Option(10, "--components", help="Gaussian mixture components."),
    data_root: Optional[Path] = DATA_ROOT,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """(Re)fit the latent density used by sample and traverse (train does this already)."""
    from ..commands.create import fit_density as run

    r = run(model_dir, data, data_root=data_root, components=components, force=force)
    _emit(r, as_json, lambda r: typer.echo(f"fitted {r['n_components']} components on {r['n_fit']} codes: {r['out']}"))
