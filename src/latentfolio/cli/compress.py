"""Commands to compress: ``compress``, ``decompress`` and ``codec-eval``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import DATA_ROOT, FORCE, JSON, _emit, app, model_arg, out_option


REFINE = typer.Option(0, "--refine", help="Refine each image's latent with this many gradient steps "
                      "before coding (100 is a good start): smaller files at the same quality, slower "
                      "encoding; decoding is unchanged. 0: off.")


def _is_model(p: Path) -> bool:
    """A model folder, or a folder of them (``train --lambdas``): it holds config.json a level down."""
    return p.is_dir() and ((p / "config.json").is_file() or any(p.glob("*/config.json")))


@app.command()
def compress(
    paths: List[Path] = typer.Argument(..., metavar="[MODEL] INPUTS...", help="A codec model folder (or a "
                                       "folder of `train --lambdas` rates), then image files or folders. "
                                       "With --target-psnr the model may be left out."),
    out: Path = out_option("A folder (one file per image) or an .lfa archive file."),
    target_psnr: Optional[float] = typer.Option(None, "--target-psnr", help="Keep each image in the fewest "
                                                "bytes that stay at this PSNR (dB) against it, choosing among "
                                                "--codecs per image."),
    target_ssim: Optional[float] = typer.Option(None, "--target-ssim", help="As --target-psnr, with an SSIM floor (0-1)."),
    codecs: Optional[str] = typer.Option(None, "--codecs", help="With a target: the codecs to choose from, "
                                         "comma-separated: avif, webp, jxl, jpeg-jxl (a JPEG's lossless "
                                         "transcode), lfz (the model's rates). Default: all at hand."),
    refine: int = REFINE,
    resume: bool = typer.Option(False, "--resume", help="Keep the files a killed run finished (whole, this model's) and code the rest."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Compress images into .lfz files (or one .lfa archive) with a learned codec, or each at a
    target quality in whichever codec keeps it smallest."""
    from ..commands.compress import compress as run

    model = paths[0] if paths and _is_model(paths[0]) else None
    inputs = paths[1:] if model is not None else paths
    if not inputs:
        raise typer.BadParameter("give the images (files or folders) to compress")
    names = [c.strip() for c in codecs.split(",") if c.strip()] if codecs is not None else None
    r = run(model, inputs, out, force=force, refine=refine, resume=resume, target_psnr=target_psnr,
            target_ssim=target_ssim, codecs=names)
    _emit(r, as_json, lambda r: typer.echo(
        (f"kept {r['kept']} finished file(s); " if r.get("kept") else "")
        + f"{r['images']} image(s): {r['original_bytes']:,} -> {r['bytes']:,} bytes "
        f"({r['original_bytes'] / max(1, r['bytes']):.1f}x) in {r['out']}"
        + ("; codecs: " + ", ".join(f"{k} {v}" for k, v in r["won"].items()) if r.get("won") else "")))


@app.command()
def decompress(
    files: List[Path] = typer.Argument(..., help=".lfz, .avif, .webp, .jxl files, .lfa archives, or folders of them (as `compress` wrote them)."),
    out: Path = out_option("Folder for the decoded images."),
    model: Optional[Path] = typer.Option(None, "--model", help="The codec model folder (default: found by the file's model fingerprint)."),
    only: List[str] = typer.Option([], "--only", help="Archive entries to decode (default: all)."),
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Decode .lfz files or .lfa archives (one image at a time) to PNG; a JPEG that `compress`
    transcoded comes back as the original file, bit for bit."""
    from ..commands.decompress import decompress as run

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
    from ..commands.codec_eval import codec_eval as run

    r = run(model_dir, data, split=split, limit=limit, data_root=data_root, refine=refine)
    _emit(r, as_json, lambda r: typer.echo(
        f"{r['n']} images: {r['bytes_per_image']:.1f} bytes/image ({r['bpp']:.3f} bpp), "
        f"PSNR {r['psnr_db']:.2f} dB, SSIM {r['ssim']:.4f}; encode {r['encode_images_per_s']:.0f}/s, "
        f"decode {r['decode_images_per_s']:.0f}/s"))
