"""Commands to clean: ``noise`` (make a damaged test set) and ``denoise``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import FORCE, JSON, SEED, _emit, app, inputs_arg, model_arg, out_option


@app.command()
def noise(
    inputs: List[Path] = inputs_arg(),
    spec: str = typer.Option(..., "--spec", help="Comma-separated corruptions, e.g. gaussian:0.2,dust:0.01 or scan; "
                             "a range (gaussian:0.05-0.3) draws each image's strength from it. "
                             "Kinds: gaussian (std), salt_pepper (fraction), dust (area fraction), hair (lines), "
                             "smudge (blotches), grain (std), illumination (strength), jpeg (quality); old paper: "
                             "stain (stains), crease (folds), fibre (contrast), yellowing (strength), foxing (spots per 256 px square), "
                             "show_through (opacity); presets: scan, page."),
    out: Path = out_option("Folder for the noisy PNGs."),
    native: bool = typer.Option(False, "--native", help="Size specks and hairs as on a 256 px training patch "
                                "(a full-size scan's dust), not in proportion to the image."),
    seed: int = SEED,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Apply a seeded scan-noise spec to images (to make test sets)."""
    from ..commands.clean import noise as run

    res = run(inputs, out, spec=spec, seed=seed, force=force, native=native)
    _emit(res, as_json, lambda r: typer.echo(f"wrote {len(r['written'])} noisy image(s) to {out}"))


@app.command("denoise")
def denoise_cmd(
    model_dir: Path = model_arg("A model trained with --denoise."),
    inputs: List[Path] = inputs_arg("Image files or folders (any size)."),
    out: Path = out_option("Output folder; originals are never overwritten."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Largest tile in px (fully convolutional "
                                       "models: on a CPU as big as keeps a feature map in cache, 448 for the default "
                                       "denoiser, on a GPU 512; each axis gets the fewest even tiles; else the model's size)."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Tile overlap in px (default: 32, or tile/4 "
                                          "for fixed-size models)."),
    precision: str = typer.Option("auto", "--precision", help="auto (bf16 where the CPU or GPU has it), bf16 or fp32."),
    kind: str = typer.Option("scan", "--kind", help="scan: clean the image as it is. page: divide the paper out first "
                             "(stains, yellowing, folds' shadows, uneven light), then clean the strokes; needs a model "
                             "trained with --denoise page. auto: decide per image (a photo or painting is never "
                             "flattened) and say what was chosen."),
    paper: str = typer.Option("white", "--paper", help="Pages: the paper's tone after cleaning: white, keep (each "
                              "page's own, evened out) or a colour like #f4ecd8."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Clean images of any size in blended tiles, keeping size, colour mode, format, colour profile and EXIF."""
    from ..commands.clean import denoise as run

    res = run(model_dir, inputs, out, kind=kind, paper=paper, tile=tile, overlap=overlap, precision=precision,
              force=force)

    def human(r):
        chose = ", ".join(f"{n} {k}" for k, n in sorted(r["kinds"].items()))
        typer.echo(f"wrote {len(r['written'])} image(s) to {out}" + (f", skipped {len(r['skipped'])}" if r["skipped"] else "")
                   + (f" ({chose})" if kind == "auto" else "") + f" ({r['megapixels_per_s']:.2f} MP/s, {r['precision']})")
    _emit(res, as_json, human)
