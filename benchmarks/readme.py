"""The README's figures, rendered from ``benchmarks/results/*.json``: its headline numbers and the
measured shortfalls under Limits. ``python -m benchmarks.tables --write`` puts them between the
README's markers; ``tests/e2e/test_readme.py`` fails when the README and the results disagree.
A figure that no results file holds is not in the README.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).parent
README = HERE.parent / "README.md"
BEGIN = "<!-- figures: rendered from benchmarks/results by `python -m benchmarks.tables --write`; do not edit -->"
END = "<!-- /figures -->"


def _r(name: str) -> dict:
    return json.loads((HERE / "results" / f"{name}.json").read_text())


def _span(values, fmt: str = "{}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"


def _pages_line() -> str:
    if not (HERE / "results" / "pages.json").exists():
        return ""
    r = _r("pages")
    p = r["pages"]
    return (f" Old paper (`--kind page`, rendered pages with stains, folds and yellowing): {p['as_scanned_db']:.1f} → "
            f"{p['latentfolio_db']:.1f} dB, the best tuned classical pipeline {p['classical'][p['best_classical']]['psnr_db']:.1f}; "
            f"{r['speed_12mp']['megapixels_per_s']:.1f} MP/s at 12 MP.")


def headline() -> str:
    ts, q, t, dn, cs, g = _r("train_speed"), _r("quality"), _r("target"), _r("denoise_native"), \
        _r("catalog_speed"), _r("gallery")
    ip, pp, sc, k, cl, an, dt = _r("index_photos"), _r("planted_photos"), _r("scale"), _r("kodak"), \
        _r("cluster"), _r("anomaly"), _r("denoise")
    photos = next(s for s in t["sets"] if s["set"].startswith("photos"))
    won = ", ".join(f"{c.upper() if c != 'jxl' else 'JPEG XL'} {n}" for c, n in photos["won"].items())
    fm_gain = [n["gain_over_best_classical_db"] for n in dt["sets"]["fashion-mnist"]["noises"].values()]
    clean = dn["clean_input_psnr_db"]
    speed = dn["speed"]
    both = pp["rank"]["both"]
    planted = [r for kind, ranks in both.items() if kind != "kodak" for r in ranks]
    before = [r for kind, ranks in pp["rank"]["both without complexity"].items() if kind != "kodak" for r in ranks]
    big = next(s for s in sc["sizes"] if s["images"] == 1_000_000)
    growth = next(x for x in sc["growth_exponent"] if x["to"] == 1_000_000)
    g100k = g["sizes"]["100000"]
    fm = cl["results"]["fashion-mnist"]["umap-gmm on latents (N2D recipe)"]["nmi"]
    default_score = an["mean_auroc"][an["default"]]
    lines = [
        f"- **Training speed**: `latentfolio train` runs at {ts['ratios']['a_over_c']:.2f}× a pure compute loop, "
        f"{ts['ratios']['a_over_b']:.2f}× the tutorial loop (FashionMNIST).",
        f"- **Quality at equal time** (FashionMNIST, latent {q['latent_dim']}): the default `conv` reaches "
        f"{q['models']['default']['psnr_db']:.2f} dB test PSNR, "
        f"{q['models']['default']['psnr_db'] - q['baseline']['psnr_db']:+.2f} dB over the tutorial autoencoder in the "
        f"same {q['baseline']['seconds']:.0f} s.",
        f"- **Compression**: `--target-psnr {photos['target_psnr']}` on {photos['images']} full-size photos: "
        f"{photos['original_bytes'] / 1e6:.1f} MB of JPEGs → {photos['chosen_bytes'] / 1e6:.2f} MB (all-AVIF "
        f"{photos['all']['avif']['bytes'] / 1e6:.2f}, all-WebP {photos['all']['webp']['bytes'] / 1e6:.2f}, all-JPEG-XL "
        f"{photos['all']['jxl']['bytes'] / 1e6:.2f}); wins: {won}; {photos['command']['s_per_mp']:.1f} s/MP.",
        f"- **Denoising**: whole Kodak with scan damage {dn['noisy_psnr_db']:.2f} → {dn['latentfolio_psnr_db']:.2f} dB "
        f"(best tuned classical, {dn['best_classical'].upper()}: {dn['classical'][dn['best_classical']]['psnr_db']:.2f}); "
        f"clean photos, a text page and a drawing come back at {clean['kodak (clean)']:.1f}, "
        f"{clean['text page 1275x1650']:.1f} and {clean['line drawing 1600x1200']:.1f} dB; a 12 MP image at "
        f"{speed['mp_per_s']:.2f} and {speed['mp_per_s_fp32']:.2f} MP/s in two runs. FashionMNIST thumbnails: "
        f"{_span(fm_gain, '{:+.1f}').replace('–', ' to ')} dB over the best tuned classical method "
        "(BM3D among them)." + _pages_line(),
        f"- **Search**: `similar` over a million codes in {cs['similar_latency']['p50_ms']:.2f} ms (p50, with its "
        f"rows); the search index alone over 10 million in {sc['search']['default']['p50_ms']:.1f} ms "
        f"(recall@10 {sc['search']['default']['recall_at_10']:.1f}). The gallery draws a 100k-image map in "
        f"{g100k['first_paint_s']:.1f} s and answers a search by image in {g100k['similar']['p50_ms']:.0f} ms (p50).",
        f"- **Full-size photos**: `index` at {ip['index_megapixels_per_s']:.0f} MP/s ({ip['photos']} JPEGs, median "
        f"{ip['megapixels_median']:.0f} MP), {ip['ratio_vs_bare_loop']:.2f}× a bare decode-and-encode loop. Planted "
        f"noise, blank, painting and graphic pages rank {_span(planted)} of {pp['images']} in `anomalies` among the "
        f"photos ({_span(before)} without the complexity test), on {pp['seeds']} seeds.",
        f"- **Scale**: a million image files indexed in {big['index']['seconds'] / 60:.0f} min "
        f"({big['index']['images_per_s']:,.0f} images/s) at {big['index']['peak_mb'] / 1000:.1f} GB peak; `duplicates` "
        f"over them in {big['duplicates']['seconds'] / 60:.1f} min, `cluster` in {big['cluster']['seconds']:.0f} s; growth "
        f"{growth['index']:.2f} (`index`) and {growth['duplicates']:.2f} (`duplicates`) per 10×.",
    ]
    ct = _r("content")
    if ct:
        fmc, mnc = ct["fashion-mnist"], ct["mnist"]
        nmi = lambda d, space: max(v["nmi"] for v in d["clustering"][space].values())  # noqa: E731
        lines.append(
            f"- **Content features** (EfficientNet-Lite0, built in, on by default): FashionMNIST NMI "
            f"{nmi(fmc, 'features'):.3f} against {nmi(fmc, 'codes'):.3f} on the codes, MNIST {nmi(mnc, 'features'):.3f} "
            f"against {nmi(mnc, 'codes'):.3f}; similar-image precision@10 {fmc['precision_at_10']['features']:.3f} "
            f"against {fmc['precision_at_10']['codes']:.3f}; one-class FashionMNIST AUROC "
            f"{fmc['one_class']['features']['mean']:.3f} from the distance to the nearest images"
            + (f"; `index` with them at {ip['ratio_with_features_vs_bare_loop']:.2f}× the bare loop on the photos."
               if "index_with_features_seconds" in ip else "."))
    c64 = _r("codec")["sets"]["colour-photos-64"]
    d64 = dt["sets"].get("colour-photos-64")
    short = [
        f"- On Kodak our best learned codec (`meanscale`) is {-k['bd_psnr']['meanscale']['WEBP']:.1f} dB below WebP and "
        f"{-k['bd_psnr_vs_compressai']['meanscale']:.1f} dB below CompressAI's (BD-PSNR): the classical encoders make "
        "the bitstream. On 64 px colour crops of photos it never saw, the `codec` model "
        f"({c64['train_minutes_per_lambda']:g} min per λ) needs {c64['bd_rate_percent']['latentfolio']['WEBP']:+.0f}% "
        f"bytes against WebP and {c64['bd_rate_percent']['latentfolio']['AVIF']:+.0f}% against AVIF (BD-rate).",
        f"- FashionMNIST clustering (`umap-gmm` on the codes) reaches NMI {fm:.3f}, short of N2D's "
        f"{cl['anchors']['N2D fashion-mnist']['nmi']:.3f}. One-class "
        f"AUROC with the default `--score {an['default']}` is {default_score:.3f} (target {an['target_value']}: "
        f"{'met' if an['met'] else 'not met'}); `--score model` gives {an['mean_auroc'][an['model_score']]:.3f}.",
    ]
    native = (f"- The native `denoiser` is {dn['gain_over_best_classical_db']:.2f} dB over "
              f"{dn['best_classical'].upper()} on Kodak with scan damage")
    if d64 and not d64.get("withdrawn"):
        g64 = [n["gain_over_best_classical_db"] for n in d64["noises"].values()]
        native += (f"; on 64 px colour crops of photos it never saw, the thumbnail `denoiser` is "
                   f"{_span(g64, '{:+.1f}').replace('–', ' to ')} dB against BM3D, short of the +3 dB target")
    short.append(native + ".")
    pg = _r("pages") if (HERE / "results" / "pages.json").exists() else None
    if pg:
        p, c = pg["pages"], pg["clean_inputs"]
        missed = [f"{v:+.1f} dB over {what} (target +{p['targets'][k]:g})"
                  for v, what, k in ((p["gain_over_scanned_db"], "as scanned", "over_scanned_db"),
                                     (p["gain_over_best_classical_db"], "the best classical pipeline", "over_best_classical_db"))
                  if v < p["targets"][k]]
        missed += [f"clean {k.split('_')[0]} {c[k]:.1f} dB (target {c['targets'][k]:g})"
                   for k in ("pages_db", "drawings_db") if c[k] < c["targets"][k]]
        if missed:
            short.append("- Old paper (`denoise --kind page`, rendered pages): " + "; ".join(missed) + ".")
    if ct:
        missed = [f"{k.split(' >=')[0]} {v['measured']:.3f} (target {k.split('>= ')[1]})"
                  for k, v in ct["targets"].items() if not v["met"]]
        if "index_with_features_seconds" in ip and ip["ratio_with_features_vs_bare_loop"] < 0.6:
            missed.append(f"`index` speed {ip['ratio_with_features_vs_bare_loop']:.2f}× the bare loop (target 0.6×)")
        if missed:
            short.append("- Content features, targets not met: " + "; ".join(missed) + ".")
    return "\n".join(["## Headline numbers", "",
                      "Measured on a 2-core CPU with no GPU; the full tables, with dates and baselines, are in "
                      "[docs/benchmarks.md](docs/benchmarks.md).", "", *lines, "",
                      "Measured shortfalls:", "", *short])


def render(text: str) -> str:
    """``text`` (the README) with the block between its markers rendered anew."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no {BEGIN!r} ... {END!r} block")
    return pattern.sub(lambda _: f"{BEGIN}\n{headline()}\n{END}", text)
