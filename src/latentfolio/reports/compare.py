"""``compare-latent``: why a VAE's latent space can be sampled and a plain AE's cannot.

For both models, on the same test images: a 2-D map of the codes; decodes of the midpoints
between cluster centres (the empty regions of an AE's space); decodes of N(0, I) samples. The
numbers say how far those points fall from real codes, in units of the typical distance between
neighbouring real codes: about 1 means "inside the data", much more means "off the map".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import ArgumentError, LatentfolioError
from ..imaging import auto_scale, fig_to_pil, make_grid, pyplot, save_picture
from ..latent.encode import decode_latents, encode_pixels, require_vector_latent
from ..latent.project import projector
from ..render import html
from ..render.figures import scatter_axes
from ..saved import load_for_model, load_model

OUTPUTS = ("maps.png", "gaps.png", "prior.png", "compare.json", "index.html")


def _nn_ratio(points: np.ndarray, data: np.ndarray) -> float:
    """median distance from ``points`` to their nearest code / median code-to-code NN distance."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=2).fit(data)
    base = np.median(nn.kneighbors(data, 2)[0][:, 1])
    d = nn.kneighbors(points, 1)[0][:, 0]
    return float(np.median(d) / max(base, 1e-12))


def _groups(z: np.ndarray, labels: np.ndarray | None, k: int = 10, seed: int = 0) -> np.ndarray:
    if labels is not None and (labels >= 0).any():
        return labels
    from sklearn.cluster import KMeans

    return KMeans(min(k, len(z)), n_init=3, random_state=seed).fit_predict(z)


def _load_pair(ae_dir, vae_dir) -> dict:
    models = {"AE": load_model(ae_dir), "VAE": load_model(vae_dir)}
    for m in models.values():
        require_vector_latent(m, "compare-latent")
    if models["VAE"].type_name != "vae":  # its prior, N(0, I), is what the comparison samples
        raise LatentfolioError(f"{vae_dir}: a {models['VAE'].type_name!r} model; compare-latent needs a "
                               f"vae here (train one with --model vae)")
    return models


def _test_images(models: dict, data, data_root, n: int, seed: int):
    """Up to ``n`` test images, at each model's size: -> (AE pixels, labels, class names, VAE
    pixels, their indices, the generator that picked them)."""
    ds = load_for_model(models["AE"], data, data_root)
    idx = ds.indices("test")
    idx = idx if len(idx) else np.arange(len(ds))
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.permutation(idx)[:n])
    if len(idx) < 2:
        raise LatentfolioError(f"{data}: compare-latent needs at least 2 images, found {len(idx)}")
    labels = ds.labels[idx] if ds.labels is not None else None
    vae_ds = load_for_model(models["VAE"], data, data_root)
    return (np.ascontiguousarray(ds.images[idx]), labels, ds.classes or None,
            np.ascontiguousarray(vae_ds.images[idx]), idx, rng)


def compare_latent(ae_dir, vae_dir, data, out, *, data_root=None, n: int = 3000, n_gaps: int = 10,
                   n_prior: int = 10, method: str = "pca", seed: int = 0, force: bool = False) -> dict:
    """Side-by-side latent maps of an AE and a VAE, decodes between clusters and of prior samples,
    and how far those points fall from real codes (``OUT/index.html`` gathers them)."""
    if method not in ("pca", "umap"):
        raise ArgumentError("method", method, "use pca or umap (both can place new points)")
    if n < 2:
        raise ArgumentError("n", n, "compare-latent needs at least 2 images")
    out = Path(out)
    for f in OUTPUTS:
        _io.check_writable(out / f, force)
    models = _load_pair(ae_dir, vae_dir)
    pixels, labels, names, vae_pixels, idx, rng = _test_images(models, data, data_root, n, seed)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    gap_rows, prior_rows, stats = [], [], {}
    pairs = None
    for ax, (name, model) in zip(axes, models.items()):
        print(f"compare-latent: encoding {len(idx)} images with the {name}", file=sys.stderr, flush=True)
        z = encode_pixels(model, pixels if name == "AE" else vae_pixels)
        groups = _groups(z, labels, seed=seed)
        gids = np.unique(groups[groups >= 0])
        centres = np.stack([z[groups == g].mean(0) for g in gids])
        if pairs is None:  # the same class pairs for both models
            all_pairs = [(a, b) for a in range(len(gids)) for b in range(a + 1, len(gids))]
            pick = rng.permutation(len(all_pairs))[:n_gaps]
            pairs = [all_pairs[i] for i in sorted(pick)]
        mids = np.stack([(centres[a] + centres[b]) / 2 for a, b in pairs]).astype(np.float32)
        prior = rng.standard_normal((n_prior, z.shape[1])).astype(np.float32)
        red = projector(method, seed, n=len(z)).fit(z)  # fitted, so the midpoints can be placed too
        scatter_axes(ax, red.transform(z), groups, names, f"{name} latent space ({z.shape[1]}-d, {method})")
        mxy = red.transform(mids)
        ax.scatter(mxy[:, 0], mxy[:, 1], marker="x", s=60, c="black", label="midpoints")
        for i, (x, y) in enumerate(mxy):
            ax.annotate(str(i), (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
        gap_rows.append(decode_latents(model, mids))
        prior_rows.append(decode_latents(model, prior))
        # Distances are measured to the codes the decoder was trained on: q(z|x) samples for a VAE.
        zq = encode_pixels(model, pixels if name == "AE" else vae_pixels, sample=True, seed=seed)
        stats[name] = {"latent_dim": int(z.shape[1]), "code_std_mean": float(zq.std(0).mean()),
                       "midpoint_nn_ratio": _nn_ratio(mids, zq), "prior_nn_ratio": _nn_ratio(prior, zq)}
    maps = fig_to_pil(fig, tight=True, dpi=110)
    size = models["AE"].config.image_size
    scale = auto_scale(size, 56)
    k = len(pairs)
    pair_names = [f"{i}: {(names[gids[a]] if names else gids[a])}|{(names[gids[b]] if names else gids[b])}"
                  for i, (a, b) in enumerate(pairs)]
    gaps = make_grid(np.concatenate(gap_rows), k, scale=scale,
                     captions=["AE " + p.split(':')[0] for p in pair_names] + ["VAE " + p.split(':')[0] for p in pair_names])
    priors = make_grid(np.concatenate(prior_rows), n_prior, scale=scale,
                       captions=["AE"] + [""] * (n_prior - 1) + ["VAE"] + [""] * (n_prior - 1))
    out.mkdir(parents=True, exist_ok=True)
    save_picture(maps, out / "maps.png")
    save_picture(gaps, out / "gaps.png")
    save_picture(priors, out / "prior.png")
    result = {"out": str(out), "n": int(len(idx)), "method": method, "pairs": pair_names, **stats}
    _io.write_json(out / "compare.json", result)
    table = [{"": k2, "AE": f"{stats['AE'][k2]:.3g}", "VAE": f"{stats['VAE'][k2]:.3g}"}
             for k2 in ("latent_dim", "code_std_mean", "midpoint_nn_ratio", "prior_nn_ratio")]
    doc = html.page("latentfolio — AE vs VAE latent space", [
        ("Maps", "<p class=muted>Test codes of both models, projected to 2-D and coloured by "
                 "label. Crosses: midpoints between class centres.</p>" + html.img(maps, "maps")),
        ("Between the clusters", "<p class=muted>Decodes of the midpoints (top row AE, bottom row "
                                 "VAE).</p>" + html.img(gaps, "gaps")),
        ("Prior samples", "<p class=muted>Decodes of z ~ N(0, I) (top row AE, bottom row VAE). The "
                          "VAE was trained to make this work; the AE was not.</p>" + html.img(priors, "prior")),
        ("Distances", "<p class=muted>Median distance of those points to the nearest real code, "
                      "divided by the median distance between neighbouring real codes.</p>" + html.table(table)),
    ])
    _io.write_text(out / "index.html", doc)
    return result
