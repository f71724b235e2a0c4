"""Commands to compress: ``compress``, ``decompress`` and ``codec-eval``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import DATA_ROOT, FORCE, JSON, _emit, app, inputs_arg, model_arg, out_option


REFINE = typer.Option(0, "--refine", help="Refine each image's latent with this many gradient steps "
                      "before coding (100 is a good start): smaller files at the same quality, slower "
                      "encoding; decoding is unchanged. 0: off.")


@app.command()
def compress(
    model_dir: Path = model_arg("A model trained with --model codec."),
    inputs: List[Path] = inputs_arg(),
    out: Path = out_option("A folder (one .lfz per image) or an .lfa archive file."),
    refine: int = REFINE,
    resume: bool = typer.Option(False, "--resume", help="Keep the files a killed run finished (whole, this model's) and code the rest."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Compress images into .lfz files (or one .lfa archive) with a learned codec."""
    from ..commands.compress import compress as run

    r = run(model_dir, inputs, out, force=force, refine=refine, resume=resume)
    _emit(r, as_json, lambda r: typer.echo(
        (f"kept {r['kept']} finished file(s); " if r.get("kept") else "")
        + f"{r['images']} image(s): {r['original_bytes']:,} -> {r['bytes']:,} bytes "
        f"({r['original_bytes'] / max(1, r['bytes']):.1f}x) in {r['out']}"))


@app.command()
def decompress(
    files: List[Path] = typer.Argument(..., help=".lfz files, .lfa archives, or folders of them (as `compress` wrote them)."),
    out: Path = out_option("Folder for the decoded images."),
    model: Optional[Path] = typer.Option(None, "--model", help="The codec model folder (default: found by the file's model fingerprint)."),
    only: List[str] = typer.Option([], "--only", help="Archive entries to decode (default: all)."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Decode .lfz files or .lfa archives (one image at a time) to PNG."""
    from ..commands.compress import decompress as run

    r = run(files, out, model_dir=model, only=only or None, force=force)
    _emit(r, as_json, lambda r: typer.echo(f"wrote {len(r['written'])} image(s) to {r['out']}"))


@app.command("codec-eval")
def codec_eval(
    model_dir: Path = model_arg("A codec model folder."),
    data: str = typer.Argument(..., help="Data source, as for `train`."),
    split: str = typer.Option("test", "--split"),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many images."),
    refine: int = REFINE,
    data_root: Optional[Path] = DATA_ROOT,
    as_json: bool = JSON,
):
    """Real bytes per image, bits per pixel, PSNR/SSIM and speed, over a split."""
    from ..commands.compress import codec_eval as run

    r = run(model_dir, data, split=split, limit=limit, data_root=data_root, refine=refine)
    _emit(r, as_json, lambda r: typer.echo(
        f"{r['n']} images: {r['bytes_per_image']:.1f} bytes/image ({r['bpp']:.3f} bpp), "
        f"PSNR {r['psnr_db']:.2f} dB, SSIM {r['ssim']:.4f}; encode {r['encode_images_per_s']:.0f}/s, "
        f"decode {r['decode_images_per_s']:.0f}/s"))
