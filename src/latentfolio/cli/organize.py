"""Commands to organize a collection: index, similar, duplicates, cluster, map, anomalies."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import DATA_ROOT, FORCE, JSON, SEED, _console, _emit, app, model_arg, one_line, out_option

CATALOG = typer.Argument(..., help="A catalog folder made by `latentfolio index`.")
FEATURES = typer.Option(None, "--features", help="The vectors to work on: codes (the model's own), the name of "
                        "pretrained features the catalog holds, or fused:NAME (codes and features, each standardised). "
                        "Default: the catalog's content features (efficientnet-lite0, which `index` adds), else codes.")


DROPPABLE = ("complexity", "recon_error", "id", "label", "distance")  # left out first when the paths need room


def _hits_table(title: str, rows: list[dict], columns: list[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
    columns = [c for c in columns if any(r.get(c) is not None for r in rows)]  # no column of nothing (no labels)
    cells = [[f"{r.get(c):.4g}" if isinstance(r.get(c), float) else one_line(r.get(c, "")) for c in columns]
             for r in rows]
    if "path" in columns:  # the paths get what the other columns leave of the terminal's width
        names = max(len("…/" + c[columns.index("path")].rpartition("/")[2]) for c in cells) if cells else 0
        while True:  # a narrow terminal: the detail columns go before any file name is folded
            k = columns.index("path")
            others = sum(max([len(c)] + [len(row[i]) for row in cells]) + 3 for i, c in enumerate(columns) if i != k)
            drop = next((c for c in DROPPABLE if c in columns), None)
            if console.width - others - 4 >= names or drop is None:
                break
            i = columns.index(drop)
            columns.pop(i)
            for row in cells:
                row.pop(i)
        for row in cells:
            row[k] = fit_path(row[k], console.width - others - 4)
    t = Table(title=Text(one_line(title)), header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")  # never cut with an ellipsis: fit_path shortened it already
    for row in cells:  # a file name is text, never markup, and its control characters show as escapes
        t.add_row(*map(Text, row))
    console.print(t)


def fit_path(path: str, width: int) -> str:
    """``path`` in at most ``width`` characters, shortened in the middle of its folders (``…``),
    never in its file name."""
    if len(path) <= width:
        return path
    head, sep, name = path.rpartition("/")
    room = width - len(name) - 2  # "…" and the "/" before the name
    if not sep or room < 2:
        return "…/" + name if sep else path
    return head[:room // 2] + "…" + head[len(head) - (room - room // 2):] + "/" + name


@app.command()
def index(
    model_dir: Path = model_arg("A model folder with a vector latent (fc, conv, vae, resnet)."),
    data: str = typer.Argument(..., help="An image folder, or a dataset as for `train`."),
    out: Optional[Path] = typer.Option(None, "--catalog", "-c", help="Catalog folder (default: ./<data name>.catalog)."),
    batch_size: int = typer.Option(256, "--batch-size"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Decoding processes (default: cores - 1, at most 4; none on 2 cores)."),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto | cpu | gpu."),
    devices: str = typer.Option("auto", "--devices", help="auto, a count, or ids like 0,1 (several GPUs: DDP)."),
    num_nodes: int = typer.Option(1, "--num-nodes", help="Machines, each running this command under torchrun "
                                  "or SLURM (the catalog folder on shared storage)."),
    features: Optional[list[str]] = typer.Option(None, "--features", help="Content features to store beside the codes: "
                                                 "efficientnet-lite0 (built in, the default), dinov2-small, clip-vit-b32, "
                                                 "onnx:PATH, or none (repeatable; kept up to date after)."),
    data_root: Optional[Path] = DATA_ROOT,
    as_json: bool = JSON,
):
    """Encode every image into a catalog (SQLite rows + float32 codes + FAISS search).

    Run it again after the folder changed: only new or changed files are encoded, deleted ones go.
    """
    from ..commands.index import index as run

    r = run(model_dir, data, out, data_root=data_root, devices=devices, accelerator=accelerator,
            num_nodes=num_nodes, batch_size=batch_size, workers=workers, features=features)
    if r:
        _emit(r, as_json, lambda r: typer.echo(
            f"{r['catalog']}: {r['images']} images ({r['added']} added, {r['changed']} changed, "
            f"{r['removed']} removed, {r['bad']} bad, {r['unchanged']} unchanged); search: {r['search']}"
            + "".join(f"; features {n} ({d}-d)" for n, d in r.get("features", {}).items())))


@app.command()
def similar(
    catalog: Path = CATALOG,
    query: str = typer.Argument(..., help="An image file (encoded now), or a path or id in the catalog."),
    k: int = typer.Option(12, "-k", help="How many neighbours (the query itself included when it is in the catalog)."),
    out: Optional[Path] = out_option("Also write a PNG grid: query, then the results.", required=False),
    model: Optional[Path] = typer.Option(None, "--model", help="The catalog's model folder, if it moved."),
    features: Optional[str] = FEATURES,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """The images most like QUERY, nearest first."""
    from ..commands.similar import similar as run

    r = run(catalog, query, out, k=k, model_dir=model, force=force, features=features)
    _emit(r, as_json, lambda r: _hits_table(f"nearest to {r['query']['path']} ({_space_words(r['space'])})",
                                            r["results"], ["rank", "distance", "id", "label", "path"]))
    _wrote(r)


def _space_words(space: str) -> str:
    return "by the model's codes" if space == "codes" else f"by content, {space}"


def _wrote(r: dict) -> None:
    """Every picture a command writes is named (on stderr, so --json stays one document)."""
    if r.get("out"):
        typer.echo(f"wrote {r['out']}", err=True)


@app.command()
def duplicates(
    catalog: Path = CATALOG,
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Near tier: latent L2 distance (default: 1/4 of the median nearest-neighbour distance)."),
    same_psnr: float = typer.Option(32.0, "--same-psnr", help="Same-picture tier: 64 px greyscale versions at least this close to the keeper's (dB)."),
    keep: str = typer.Option("largest", "--keep", help="Suggested keeper: largest (pixels, then bytes) | sharpest | oldest."),
    apply: bool = typer.Option(False, "--apply", help="Set every copy but the keeper aside in _duplicates/ beside it, behind a journal (undo with `latentfolio undo`). Identical and same-picture groups only, unless --tier near names the near ones."),
    mode: str = typer.Option("move", "--mode", help="With --apply: move the copies, or symlink them into _duplicates/ (nothing moves)."),
    tier: Optional[str] = typer.Option(None, "--tier", help="Only groups of this tier: identical | same | near."),
    features: Optional[str] = FEATURES,
    as_json: bool = JSON,
):
    """Groups of duplicate images in tiers (identical bytes, re-encoded or resized, near), each
    with a suggested keeper. Without --apply nothing is touched: the plan is printed."""
    from ..commands.duplicates import apply_duplicates, duplicates as run

    if tier is not None and tier not in ("identical", "same", "near"):
        raise typer.BadParameter(f"{tier!r}: use identical, same or near", param_hint="--tier")
    r = run(catalog, threshold=threshold, keep=keep, same_psnr=same_psnr, features=features)
    if tier is not None:
        r["groups"] = [g for g in r["groups"] if g["tier"] == tier]
    if apply:
        # a "near" group may be two different works that look alike: set aside only when asked for by name
        sure = [g for g in r["groups"] if tier == "near" or g["tier"] != "near"]
        r["near_left"] = len(r["groups"]) - len(sure)
        r["applied"] = apply_duplicates(catalog, sure, mode=mode) if sure else None

    def human(r):
        t = "" if r["threshold"] is None else f", near: closer than {r['threshold']:.4g}"
        typer.echo(f"{len(r['groups'])} group(s){t}, keeper: the {r['keep']}")
        for n, g in enumerate(r["groups"], 1):
            near = f", {g['closeness']}" if g["tier"] == "near" else ""
            typer.echo(f"group {n} ({g['size']} images, {g['tier']}{near}; keep: {g['rule']}):")
            for im in g["images"]:
                typer.echo(f"  {'keep ' if im['id'] == g['keep'] else 'aside'} {one_line(im['path'])}")
        if r.get("near_left"):
            typer.echo(f"{r['near_left']} near group(s) left alone: they may be different works; "
                       "`--tier near --apply` sets them aside")
        if r.get("applied"):
            a = r["applied"]
            typer.echo(one_line(f"{a.get('moved', a.get('linked'))} file(s) set aside; journal {a['journal']} "
                                f"(undo: latentfolio undo {a['journal']})"))
        elif r["groups"] and "applied" not in r:
            typer.echo("nothing was touched: add --apply to set the copies aside (undo with `latentfolio undo`)")

    _emit(r, as_json, human)


@app.command()
def undo(
    journal: Path = typer.Argument(..., help="A journal written by `duplicates --apply` or the gallery (CATALOG/journals/*.json)."),
    as_json: bool = JSON,
):
    """Put back every file a journal moved or linked (also after a run that was killed)."""
    from ..commands.journal import undo as run

    def human(r):
        notes = ([f"{r['left']} left: their original names are taken"] if r["left"] else []) + \
            ([f"{r['changed']} left: not the file the journal set aside"] if r["changed"] else [])
        typer.echo(f"{r['restored']} file(s) put back" + (f" ({'; '.join(notes)})" if notes else ""))

    _emit(run(journal), as_json, human)


@app.command()
def serve(
    source: Path = typer.Argument(..., help="A catalog folder, or an image folder (then give --model)."),
    model: Optional[Path] = typer.Option(None, "--model", help="The model to index an image folder with (or the catalog's, if it moved)."),
    catalog_out: Optional[Path] = typer.Option(None, "--catalog", "-c", help="With an image folder: the catalog to make (default: ./<folder>.catalog)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Anything but loopback needs the token in the printed URL."),
    port: int = typer.Option(8765, "--port", help="Port (0: any free one)."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the browser."),
):
    """The local gallery: map, image pages, search by image, duplicates, clusters, outliers and
    create, served until Ctrl-C."""
    from ..gallery.server import serve as run

    run(source, model_dir=model, catalog=catalog_out, host=host, port=port, open_browser=open_browser)


@app.command()
def cluster(
    catalog: Path = CATALOG,
    method: str = typer.Option("kmeans", "--method", help="kmeans | gmm | hdbscan | umap-gmm (N2D)."),
    k: Optional[int] = typer.Option(None, "--k", help="Clusters (default: the number of labels, else 10; hdbscan finds its own)."),
    out: Optional[Path] = typer.Option(None, "--organize", help="Write one folder per cluster here, plus a contact sheet each."),
    mode: str = typer.Option("symlink", "--mode", help="symlink | copy (originals are never moved)."),
    features: Optional[str] = FEATURES,
    compare: Optional[Path] = typer.Option(None, "--compare", help="Cluster the codes, every stored feature and "
                                           "their fusion; write the table and a contact sheet per cluster here."),
    folder_labels: bool = typer.Option(False, "--folder-labels", help="Score the clusters (NMI, ARI, accuracy) "
                                       "against the first-level subfolder names, as labels (datasets are always scored)."),
    seed: int = SEED,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """Cluster the catalog; against a dataset's labels (or a folder's subfolders, --folder-labels),
    report NMI, ARI and accuracy (Hungarian matching)."""
    from ..commands.cluster import cluster as run
    from ..commands.cluster import compare as run_compare

    if compare is not None:
        if features or out:
            raise typer.BadParameter("--compare runs every space the catalog has and writes no folders; "
                                     "leave out --features and --organize", param_hint="--compare")
        r = run_compare(catalog, compare, method=method, k=k, seed=seed, force=force, folder_labels=folder_labels)
        return _emit(r, as_json, lambda r: _hits_table(
            f"{r['method']}, k={r['k']}: best {r['best']} (by {r['judged_by']})",
            [{**x.get("metrics", {}), **x} for x in r["runs"]], ["space", "dim", "nmi", "ari", "acc", "silhouette", "sheets"]))

    def human(r):
        typer.echo(f"{r['method']}: {r['clusters']} clusters; sizes " +
                   ", ".join(f"{k}:{v}" for k, v in r["sizes"].items()))
        if r.get("metrics"):
            m = r["metrics"]
            typer.echo(f"against labels: NMI {m['nmi']:.3f}  ARI {m['ari']:.3f}  ACC {m['acc']:.3f}")
        if r.get("organize"):
            typer.echo(f"wrote {len(r['organize']['folders'])} folders to {r['organize']['out']}")

    _emit(run(catalog, out, method=method, k=k, mode=mode, seed=seed, force=force, features=features,
              folder_labels=folder_labels), as_json, human)


@app.command("map")
def map_cmd(
    catalog: Path = CATALOG,
    out: Path = out_option("map.png / .jpg / .webp (static) or map.html (interactive, offline)."),
    method: str = typer.Option("umap", "--method", help="umap | tsne | pca."),
    color: str = typer.Option("auto", "--color", help="auto | label | cluster."),
    thumbnails: bool = typer.Option(False, "--thumbnails", help="Picture: draw thumbnails instead of dots."),
    limit: int = typer.Option(20000, "--limit", help="At most this many images (a random subset)."),
    features: Optional[str] = FEATURES,
    seed: int = SEED,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """The collection as a 2-D map, coloured by label or cluster; the HTML shows thumbnails on hover."""
    from ..commands.organize import map as run

    r = run(catalog, out, method=method, color=color, thumbnails=thumbnails, limit=limit, seed=seed,
            force=force, features=features)
    _emit(r, as_json, lambda r: typer.echo(f"wrote {r['out']} ({r['points']} points, {r['method']})"))


@app.command()
def anomalies(
    catalog: Path = CATALOG,
    top: int = typer.Option(20, "--top", help="How many to list."),
    score: str = typer.Option("both", "--score", help="recon (MSE) | density (-log p(z)) | complexity (how far the file's lossless bits per "
                       "value are from those of the images the model trained on, either way) | "
                       "model (MSE, SSIM and density z-scores added, each among the images the model "
                       "trained on or among the rest, and on content features the distance to the 2 nearest "
                       "images there) | both (model, or the complexity's z when larger)."),
    out: Optional[Path] = out_option("Contact sheet PNG of the top ones.", required=False),
    features: Optional[str] = FEATURES,
    seed: int = SEED,
    force: bool = FORCE,
    as_json: bool = JSON,
):
    """The images that fit the collection least, most unusual first."""
    from ..commands.organize import anomalies as run

    r = run(catalog, out, top=top, score=score, seed=seed, force=force, features=features)
    _emit(r, as_json, lambda r: _hits_table(f"most unusual ({r['score']}, {_space_words(r['space'])})", r["top"],
                                            ["rank", "score", "reason", "recon_error", "complexity", "label", "path"]))
    _wrote(r)
