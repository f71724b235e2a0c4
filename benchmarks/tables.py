"""Render benchmarks/results/*.json as docs/benchmarks.md.

    python benchmarks/tables.py            # print the tables
    python -m benchmarks.tables --write    # rewrite docs/benchmarks.md
    python -m benchmarks.tables --check    # exit 1 if docs/benchmarks.md is out of date (used by the tests)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

try:  # run as python -m benchmarks.tables, or imported by the tests with benchmarks/ on the path
    from . import readme
except ImportError:
    import readme

HERE = Path(__file__).parent
DOC = HERE.parent / "docs" / "benchmarks.md"
RELIABILITY = HERE.parent / "docs" / "reliability.md"


def _load(name: str) -> dict | None:
    p = HERE / "results" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _machine(r: dict) -> str:
    m = r["machine"]
    gpu = f", GPU {m['cuda']}" if m.get("cuda") else ", no GPU"
    return f"*{r['date']}, {m['cpu']}, {m['cores']} cores{gpu}, torch {m['torch']}.*"


def train_speed(r: dict) -> str:
    rows = [("(a) `latentfolio train` (Lightning)", r["a_latentfolio"]),
            ("(b) tutorial loop (DataLoader + PIL per image)", r["b_tutorial"]),
            ("(c) pure compute loop (tensors in memory)", r["c_compute"])]
    c = r["c_compute"]["images_per_s"]
    lines = ["| loop | images/s | vs (c) |", "|---|---:|---:|"]
    lines += [f"| {n} | {v['images_per_s']:,.0f} | {v['images_per_s'] / c:.2f} |" for n, v in rows]
    met = "met" if r["met"] else "NOT met"
    return (f"**Training speed** ({r['model']}, batch {r['batch_size']}, {r['timed']}). "
            f"Target (a) ≥ 0.9 × (c): **{met}** (a/c = {r['ratios']['a_over_c']:.2f}).\n\n"
            + "\n".join(lines) + "\n\n" + _machine(r))


def _withdrawn(d: dict) -> str:
    """The note that heads a table whose measurement is not to be relied on, with why."""
    w = d.get("withdrawn")
    return f"**Withdrawn ({w['date']}):** {w['why']} " if w else ""


def quality(r: dict) -> str:
    b = r["baseline"]
    lines = ["| model | budget | epochs | test PSNR (dB) | SSIM | vs baseline |", "|---|---:|---:|---:|---:|---:|",
             f"| tutorial baseline (loop b) | {b['seconds']:.0f} s (20 epochs) | {b['epochs']} | "
             f"{b['psnr_db']:.2f} | {b['ssim']:.3f} | — |"]
    for name, m in r["models"].items():
        flags = "".join(f" --{k.replace('_', '-')} {m[k]}" for k in ("optimizer", "schedule", "batch_size", "lr") if k in m)
        epochs, psnr = m["epochs"], f"{m['psnr_db']:.2f}"
        if "runs" in m:  # several seeds: their mean, then each run
            epochs = f"{min(epochs)}–{max(epochs)}" if min(epochs) != max(epochs) else epochs[0]
            psnr += f" (mean of {len(m['runs'])}: " + ", ".join(f"{x['psnr_db']:.2f}" for x in m["runs"]) + ")"
        lines.append(f"| `{name}` ({m['model']}{', `' + flags.strip() + '`' if flags else ''}) | {m['train_seconds']:.0f} s | {epochs} | "
                     f"{psnr} | {m['ssim']:.3f} | {m['psnr_db'] - b['psnr_db']:+.2f} dB |")
    t = r["targets"]
    out = (f"**Quality at equal time** (FashionMNIST, latent {r['latent_dim']}, {r['dataset']}). "
           f"Targets: default ≥ baseline + 2 dB in the same time (**{'met' if t['met_plus_2db'] else 'NOT met'}**, "
           f"{t['default_minus_baseline_db']:+.2f} dB); default reaches the baseline's PSNR in ¼ of its time "
           f"(**{'met' if t['met_quarter_time'] else 'NOT met'}**, "
           f"{t['default_at_quarter_time_minus_baseline_db']:+.2f} dB at T/4).\n\n" + "\n".join(lines))
    if "colour_128" in r:
        c = r["colour_128"]
        when = f"measured {c['date']}, " if "date" in c else ""
        out += ("\n\n" + _withdrawn(c) + "**Colour 128 px** (" + when + c["data"] + f", {c['budget_minutes']} min each, all at 1024 latent "
                f"values = 48x compression). Target resnet ≥ tutorial + 3 dB: "
                f"**{'met' if c['met_plus_3db'] else 'NOT met'}** ({c['gain_db']:+.2f} dB).\n\n"
                "| model | epochs | test PSNR (dB) | SSIM | vs tutorial |\n|---|---:|---:|---:|---:|\n"
                f"| tutorial 128 px AE (1024 vector, PIL loop, batch 32) | — | {c['tutorial_128']['psnr_db']:.2f} | "
                f"{c['tutorial_128']['ssim']:.3f} | — |")
        for key, what in (("resnet", "`resnet` (1024 vector, defaults)"),
                          ("resnet_map", "`resnet --set latent_map=true --set widths=32,64,128` (4x16x16 map)")):
            if key in c:
                m = c[key]
                gain = m.get("gain_db", m["psnr_db"] - c["tutorial_128"]["psnr_db"])
                out += (f"\n| {what} | {m.get('epochs', '—')} | {m['psnr_db']:.2f} | {m['ssim']:.3f} | "
                        f"{gain:+.2f} dB |")
    return out + "\n\n" + _machine(r)


def denoise(r: dict) -> str:
    out = []
    for name, st in r["sets"].items():
        bm3d = ["bm3d"] if any("bm3d" in row for row in st["noises"].values()) else []
        methods = ["noisy", "nl_means", "tv_chambolle", "wavelet", "bilateral", *bm3d, "latentfolio"]
        lines = ["| noise | " + " | ".join(methods) + " | gain vs best classical | scan model |",
                 "|---|" + "---:|" * (len(methods) + 2)]
        for spec, row in st["noises"].items():
            cells = [f"{row[m]['psnr_db']:.2f} / {row[m]['ssim']:.3f}" if m in row else "—" for m in methods]
            other = row.get("latentfolio_scan_model")
            lines.append(f"| {spec} | " + " | ".join(cells) + f" | {row['gain_over_best_classical_db']:+.2f} dB | "
                         + (f"{other['psnr_db']:.2f} / {other['ssim']:.3f} |" if other else "(same) |"))
        models = "; ".join(f"`--denoise {m['train_spec']}`, {m['train_minutes']:g} min, {m['epochs']} epochs"
                           + "".join(f", `--set {k}={v}`" for k, v in m.get("model_options", {}).items())
                           for m in st["denoisers"].values())
        clean = ", ".join(f"{fam} model {c['psnr_db']:.2f} dB / {c['ssim']:.3f}" for fam, c in st["clean_input"].items())
        met = ", ".join(f"{k}: **{'met' if v else 'NOT met'}**" for k, v in st["targets"].items())
        again = (f" The classical columns, BM3D among them, were measured again on {st['classical_measured']} on the "
                 "same test images and seeded damage; latentfolio's columns are from the set's date."
                 + "".join(f" Not for {spec}: {why}." for spec, why in st.get("not_remeasured", {}).items())
                 if st.get("classical_measured") else "")
        out.append(_withdrawn(st) + f"**Denoising, {name}** ({st.get('date', r['date'])}; PSNR dB / SSIM on "
                   f"{st['images_test']} test images; classical parameters tuned on {st['images_val_for_tuning']} "
                   f"validation images).{again}"
                   + (f" Data: {r['colour_data']}." if name.startswith("colour") and r.get("colour_data") else "")
                   + " latentfolio: two blind "
                   f"`denoiser`s, one per kind of damage ({models}); the `latentfolio` column is the model for the "
                   f"row's damage, the last column the scan model on every row. Target ≥ +3 dB over the best "
                   f"classical method: {met}. Clean input through each denoiser: {clean}.\n\n"
                   + "\n".join(lines))
    return "\n\n".join(out) + "\n\n" + _machine(r)


def codec(r: dict) -> str:
    out = []
    for name, st in r["sets"].items():
        lines = ["| codec | setting | bytes/image | bpp | PSNR (dB) | SSIM | encode img/s | decode img/s |",
                 "|---|---|---:|---:|---:|---:|---:|---:|"]
        for cname, pts in st["codecs"].items():
            for p in sorted(pts, key=lambda q: q["bytes"]):
                setting = f"λ={p['lmbda']:g}" if "lmbda" in p else f"q={p['quality']}"
                lines.append(f"| {cname} | {setting} | {p['bytes']:.1f} | {p['bpp']:.3f} | {p['psnr_db']:.2f} | "
                             f"{p['ssim']:.3f} | {p['encode_images_per_s']:,.0f} | {p['decode_images_per_s']:,.0f} |")
        verdicts = []
        for curve, bds in st["bd_rate_percent"].items():
            bd = ", ".join(f"{k} {v:+.1f}%" if v is not None else f"{k} n/a (no shared PSNR range)"
                           for k, v in bds.items())
            few = ", ".join(f"{k}: **{'yes' if v else 'no'}**"
                            for k, v in st["fewer_bytes_than_at_every_point"][curve].items())
            avif = {True: "**yes**", False: "**no**", None: "n/a (no point below 100 bytes)"}[
                st["beats_avif_below_100_bytes"][curve]]
            verdicts.append(f"- `{curve}`: BD-rate {bd}. Fewer bytes at equal PSNR at every rate point: {few}. "
                            f"Beats AVIF below 100 bytes/image: {avif}.")
        budget = st.get("train_minutes_per_lambda")
        trained = f", {budget:g} min of training per λ" if budget else ""
        out.append(_withdrawn(st) + f"**Codec, {name}** ({st['images']} test images, whole files{trained}; "
                   f"{st.get('date', r['date'])}). AVIF's smallest file: {st['avif_smallest_file_bytes']:.0f} "
                   "bytes.\n\n" + "\n".join(verdicts) + "\n\n" + "\n".join(lines))
    settings = next((st["reference_settings"] for st in r["sets"].values() if st.get("reference_settings")), None)
    refs = (("Reference codecs, each at its best practical setting, quality swept: "
             + "; ".join(f"{k}: {v}" for k, v in settings.items()) + "." if settings else
             "Reference codecs: Pillow's JPEG, WebP and AVIF at their default settings, quality swept.")
            + " Whole files throughout. At 28 px a file's fixed bytes (container headers, Huffman and quantisation "
            "tables) are most of it, so these rates compare containers as much as coding; at full size see the "
            "Kodak table.")
    return (refs + "\n\n" + "\n\n".join(out) + "\n\n![rate-distortion](../benchmarks/results/codec_rd.png)\n\n"
            + _machine(r))


def generate(r: dict) -> str:
    lines = ["| sampler | Fréchet distance ↓ | confident (>0.9) share |", "|---|---:|---:|"]
    lines += [f"| {x['sampler']} | {x['frechet']:.1f} | {x['confident_share']:.1%} |" for x in r["results"]]
    m = r["models"]
    return (f"**Generation, FashionMNIST** (latent {r['latent_dim']}, {r['train_minutes_per_model']:g} min of "
            f"training per model; AE test PSNR {m['conv']['psnr_db']:.2f} dB, VAE {m['vae']['psnr_db']:.2f} dB). "
            f"Fréchet distance to the 10k test images in the penultimate features of a small CNN "
            f"(test accuracy {r['classifier_test_accuracy']:.1%}), 10k samples each. "
            f"Target (AE + mixture and VAE far better than AE N(0, I)): **{'met' if r['met'] else 'NOT met'}** "
            f"(AE N(0, I) is {r['ae_prior_over_best_other']:.1f}x the worse of the other two).\n\n"
            + "\n".join(lines) + "\n\n" + _machine(r))


def cluster(c: dict) -> str:
    lines = ["| data | method | NMI | ACC | ARI | wall time (s, training included) |", "|---|---|---:|---:|---:|---:|"]
    for data, rows in c["results"].items():
        for method, v in rows.items():
            lines.append(f"| {data} | {method} | {v['nmi']:.3f} | {v['acc']:.3f} | {v['ari']:.3f} | {v['seconds']:.0f} |")
    return (f"**Clustering** ({c['data']}; AE: {c['ae']}). Anchors: N2D NMI 0.684 / ACC 0.672 on "
            f"FashionMNIST, 0.942 / 0.979 on MNIST; k-means on FashionMNIST pixels about 0.51 NMI. "
            f"Target ({c['target']}): **{'met' if c['met'] else 'NOT met'}**.\n\n" + "\n".join(lines)
            + "\n\n" + _machine(c))


def anomaly(a: dict) -> str:
    head = "| score | " + " | ".join(str(i) for i in range(10)) + " | mean |"
    lines = [head, "|---|" + "---:|" * 11]
    for k, v in a["per_class_auroc"].items():
        lines.append(f"| {k} | " + " | ".join(f"{x:.3f}" for x in v) + f" | **{a['mean_auroc'][k]:.3f}** |")
    return (f"**One-class anomaly detection, FashionMNIST** (AUROC per class; conv AE, latent "
            f"{a['latent_dim']}, {a['train_minutes_per_class']:g} min per class; {a['seconds']:.0f} s in all). "
            f"Anchors: conv AE + OC-SVM 0.917, GEOM 0.935. Target mean ≥ {a.get('target_value', 0.94)} with the "
            f"default score (`--score {a.get('default', 'both')}`, {a['mean_auroc'][a.get('default', 'both')]:.3f}): "
            f"**{'met' if a['met'] else 'NOT met'}**. The other rows are ablations computed in the same run."
            + (" `both` also takes an image's complexity test against the class's training images, as a one-sided "
               "z, where it is larger; `both` without it is `--score model` (see experiments.md)."
               if any("complexity" in k for k in a["mean_auroc"]) else "")
            + "\n\n" + "\n".join(lines) + "\n\n" + _machine(a))


def planted(pl: dict) -> str:
    kinds = list(pl["planted"])
    lines = ["| score | " + " | ".join(f"{k} (of {n})" for k, n in pl["planted"].items()) + " | all (of "
             f"{sum(pl['planted'].values())}) |", "|---|" + "---:|" * (len(kinds) + 1)]
    for score, per in pl["found_in_top"].items():
        seeds = range(len(per[kinds[0]]))
        total = " / ".join(str(sum(per[k][i] for k in kinds)) for i in seeds)
        lines.append(f"| {score} | " + " | ".join(" / ".join(map(str, per[k])) for k in kinds) + f" | {total} |")
    return (f"**Planted pages** ({pl['collection']}; {pl['model']}; {pl['seconds']:.0f} s in all). "
            f"How many of them `anomalies --score` puts in its top {pl['top']}, one number per "
            f"training seed.\n\n" + "\n".join(lines) + "\n\n" + _machine(pl))


def planted_photos(pl: dict) -> str:
    kinds = list(pl["planted"])
    lines = ["| score | " + " | ".join(f"{k} (`{f}`)" for k, f in pl["planted"].items()) + " |",
             "|---|" + "---:|" * len(kinds)]
    for score, per in pl["rank"].items():
        lines.append(f"| {score} | " + " | ".join(" / ".join(map(str, per[k])) for k in kinds) + " |")
    return (f"**Planted pages among full-size photos** ({pl['collection']}; {pl['model']}; {pl['seconds']:.0f} s "
            f"in all). The rank of each planted file under each score (1 = most unusual), one number per training "
            f"seed. Target: the noise page, the blank page and a page of another domain each in the top 5. The "
            f"Kodak photo is of the collection's own kind and is not expected to be found.\n\n"
            + "\n".join(lines) + "\n\n" + _machine(pl))


def catalog_speed(r: dict) -> str:
    ix, sl = r["indexing"], r["similar_latency"]
    return (f"**Catalog speed**.\n\n| measure | latentfolio | baseline | ratio |\n|---|---:|---:|---:|\n"
            f"| `index`, images/s ({ix['images']} PNGs: read, hash, decode, encode, store) | "
            f"{ix['images_per_s']:,.0f} | {ix.get('baseline_plain_loop_images_per_s', 0):,.0f} (plain PIL loop, same model work, no hash or storage) | "
            f"{ix.get('ratio_vs_plain_loop', 0):.2f} |\n"
            f"| the same, against only encoding pixels already in memory | {ix['images_per_s']:,.0f} | "
            f"{ix['baseline_encode_only_images_per_s']:,.0f} | {ix['ratio_vs_encode_only']:.2f} |\n"
            f"| `similar` p50 latency, {sl['vectors']:,} × {sl['dim']} codes ({sl['index']}, nprobe {sl['nprobe']}) | "
            f"{sl['p50_ms']:.2f} ms | {sl['baseline_exact_p50_ms']:.2f} ms (exact) | {sl['speedup_p50']:.1f}x faster |\n"
            f"| `similar` p99 latency | {sl['p99_ms']:.2f} ms | {sl['baseline_exact_p99_ms']:.2f} ms (exact) | |\n"
            f"| recall@12 of the IVF index vs exact | {sl['recall_at_12']:.3f} | 1 | |\n"
            f"| IVF build time | {sl['build_seconds']:.0f} s | | |\n\n" + _machine(r))


def index_photos(r: dict) -> str:
    out = (f"**`index` on full-size photos** ({r['photos']} JPEGs of photos/unsplash, median "
           f"{r['megapixels_median']} MP, {r['megapixels_total']:.0f} MP in all; a {r['model_size_px']} px model).\n\n"
           "| measure | `index` | bare loop (open, DCT draft, resize, encode, decode, error) | ratio |\n"
           "|---|---:|---:|---:|\n"
           f"| seconds, codes alone (`--features none`) | {r['index_seconds']:.2f} | {r['bare_loop_seconds']:.2f} | "
           f"{r['ratio_vs_bare_loop']:.2f} (target {r['target']}) |\n")
    if "index_with_features_seconds" in r:
        out += (f"| seconds, with content features ({r['features']}) | {r['index_with_features_seconds']:.2f} | "
                f"{r['bare_loop_seconds']:.2f} | {r['ratio_with_features_vs_bare_loop']:.2f} "
                f"(target {r['target_with_features']}) |\n"
                f"| images/s, with content features | {r['index_with_features_images_per_s']:.1f} | "
                f"{r['bare_loop_images_per_s']:.1f} | |\n")
    return (out + f"| megapixels/s, codes alone | {r['index_megapixels_per_s']:.0f} | | |\n\n"
            f"{r['timing']}. `index` also hashes every file, stores codes and rows, builds the search index and "
            "measures each file's complexity for `anomalies` (at a short side of 512–1023 px); with features it "
            "runs the content encoder on the same decoded pixels.\n\n" + _machine(r))


def content(r: dict) -> str:
    e = r["encoder"]
    lines = ["| data | measure | content features | codes | raw pixels |", "|---|---|---:|---:|---:|"]
    for name in ("fashion-mnist", "mnist"):
        d = r[name]
        cl = d["clustering"]
        for m, label in (("kmeans", "NMI, k-means"), ("umap-gmm", "NMI, UMAP + GMM (N2D)")):
            px = cl["pixels"].get(m)
            lines.append(f"| {name} | {label} | {cl['features'][m]['nmi']:.3f} | {cl['codes'][m]['nmi']:.3f} | "
                         f"{px['nmi']:.3f} |" if px else f"| {name} | {label} | {cl['features'][m]['nmi']:.3f} | "
                         f"{cl['codes'][m]['nmi']:.3f} | |")
        pa = d["precision_at_10"]
        lines.append(f"| {name} | similar images, precision@10 | {pa['features']:.3f} | {pa['codes']:.3f} | "
                     f"{pa['pixels']:.3f} |")
        if "one_class" in d:
            oc = d["one_class"]
            an = _load("anomaly")  # the codes' one-class figure: a model per class, another run
            codes = (f"({an['mean_auroc'][an['model_score']]:.3f}: `--score model`, one model per class, "
                     f"{an['date']})" if an and an.get("model_score") in an.get("mean_auroc", {}) else "")
            lines.append(f"| {name} | one-class AUROC, mean of 10 (kNN, k = {oc['k']}) | {oc['features']['mean']:.3f} | "
                         f"{codes} | {oc['pixels']['mean']:.3f} |")
    ph = r["photos"]["precision_at_10"]
    lines.append(f"| photos ({r['photos']['images']}) | similar images, precision@10 (chance {ph['chance']:.3f}) | "
                 f"{ph['features']:.3f} | {ph['codes']:.3f} | |")
    t = ["| target | measured | met |", "|---|---:|---|"]
    t += [f"| {k} | {v['measured']:.3f} | {'yes' if v['met'] else '**no**'} |" for k, v in r["targets"].items()]
    fm = r["fashion-mnist"]
    return (f"**Content features** ({e['name']}, {e['dim']}-d at {e['input_px']} px; {e['about']}). On the "
            f"{fm['images']:,} test images of each set; the codes are a {fm['codes_model']} in the same run; raw "
            "pixels in the same run. Labels only score the results. Photos: their subfolder as the label "
            f"({r['photos']['labels']}). Published anchors, not measured here: "
            + "; ".join(f"{k}: " + ", ".join(f"{n} {v}" for n, v in a.items())
                        for k, a in r["anchors"].items() if k != "source")
            + ".\n\n" + "\n".join(lines) + "\n\n" + "\n".join(t) + "\n\n" + _machine(r))


def scale(r: dict) -> str:
    rows = ["| images | `index` s (img/s) | peak MB | `duplicates` s | peak MB | `cluster` s | peak MB | "
            "`similar` p50 / p99 ms |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in r["sizes"]:
        rows.append(f"| {x['images']:,} | {x['index']['seconds']:.1f} ({x['index']['images_per_s']:,.0f}) | "
                    f"{x['index']['peak_mb']:,.0f} | {x['duplicates']['seconds']:.1f} | {x['duplicates']['peak_mb']:,.0f} | "
                    f"{x['cluster']['seconds']:.1f} | {x['cluster']['peak_mb']:,.0f} | "
                    + (f"{x['similar']['p50_ms']:.2f} / {x['similar']['p99_ms']:.2f} |" if "similar" in x else "not recorded |"))
    grow = ["| sizes | `index` | `duplicates` | `cluster` |", "|---|---:|---:|---:|"]
    for g in r["growth_exponent"]:
        grow.append(f"| {g['from']:,} → {g['to']:,} | {g['index']:.2f} | {g['duplicates']:.2f} | {g['cluster']:.2f} |")
    fits = ["| codes | `anomalies` s | peak MB | `map` s | peak MB |", "|---:|---:|---:|---:|---:|"]
    for f in r.get("fits", []):
        fits.append(f"| {f['codes']:,} | {f['anomalies']['seconds']:.1f} | {f['anomalies']['peak_mb']:,.0f} | "
                    f"{f['map']['seconds']:.1f} | {f['map']['peak_mb']:,.0f} |")
    out = (f"**Scale** ({r['what']}; {r['model']}).\n\n" + "\n".join(rows)
           + f"\n\nGrowth exponent of the wall time (1 = linear; target {r['target']}); each run includes "
           "a few seconds of start-up, which flattens the small sizes:\n\n" + "\n".join(grow))
    if r.get("fits"):
        out += ("\n\n`anomalies` (density fitted on 20k codes, all scored) and `map` (laid out on 20k) over "
                "synthetic catalogs of the same sizes:\n\n" + "\n".join(fits))
    if r.get("search"):
        sr = r["search"]
        out += (f"\n\n`similar` over {sr['codes']:,} synthetic {sr['dim']}-d codes (target {sr['target']}; "
                f"recall against {sr['recall_reference']}):\n\n| index | build s | p50 ms | p99 ms | recall@10 |\n"
                "|---|---:|---:|---:|---:|\n")
        for name in ("default", "pq"):
            x = sr[name]
            label = "the catalog's choice" if name == "default" else "IVF-PQ, as past 4 GB of codes"
            out += f"| {x['index']} ({label}) | {x['build_seconds']:.0f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x['recall_at_10']:.3f} |\n"
    if r.get("notes"):
        out += "\n\n" + r["notes"][0].upper() + r["notes"][1:]
    return out + "\n\n" + _machine(r)


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:+.0f}%"


def _budget(r: dict) -> str:
    b = r.get("budget", "3-4 minutes per λ")
    if isinstance(b, str):
        return b
    dated = {a: pts[0].get("measured") for a, pts in r["learned"].items()}
    return "; ".join(f"`{a}` {v}" + (f" (measured {dated[a]})" if dated.get(a) else "") for a, v in b.items())


def kodak(r: dict) -> str:
    lines = ["| model | λ | steps | bpp | PSNR dB | encode s/MP | decode s/MP |", "|---|---:|---:|---:|---:|---:|---:|"]
    for arch, pts in r["learned"].items():
        lines += [f"| {arch}{' (' + p['measured'] + ')' if p.get('measured') else ''} | {p['lambda']:g} | {p['steps']} | {p['bpp']:.3f} | {p['psnr_db']:.2f} | "
                  f"{p['encode_s_per_mp']:.2f} | {p['decode_s_per_mp']:.2f} |" for p in pts]
    classical = ["| codec | quality | bpp | PSNR dB | encode s/MP | decode s/MP |", "|---|---:|---:|---:|---:|---:|"]
    for name, pts in r["classical"].items():
        classical += [f"| {name}{' ' + p['subsampling'] if p.get('subsampling') else ''} | {p['quality']} | "
                      f"{p['bpp']:.3f} | {p['psnr_db']:.2f} | {p['encode_s_per_mp']:.3f} | "
                      f"{p['decode_s_per_mp']:.3f} |" for p in pts]
    settings = r.get("settings") or {}
    if settings:
        classical = ["Classical settings: " + "; ".join(f"{n}: {s}" for n, s in settings.items()) + ".", ""] + classical
    names = list(r["classical"])
    bd = ["| model | " + " | ".join(f"vs {n}" for n in names) + " | BD-PSNR vs CompressAI, 0.25-1 bpp |",
          "|---|" + "---:|" * (len(names) + 1)]
    for arch, row in r["bd_rate"].items():
        d = r["bd_psnr_vs_compressai"].get(arch)
        dp = r.get("bd_psnr", {}).get(arch, {})
        cells = [(_pct(row[n]) if row[n] is not None else "n/a") + (f" / {dp[n]:+.1f} dB" if dp.get(n) is not None else "")
                 for n in names]
        bd.append(f"| {arch} | " + " | ".join(cells) + " | "
                  + ("n/a (no overlap)" if d is None else f"{d:+.2f} dB") + " |")
    out = (f"**Kodak**, {r['images']} images at native resolution (768 × 512), whole files, RGB PSNR averaged "
           "over images (CompressAI's protocol). The learned models were trained on `photos/` "
           "(79 photographs, 128 px native-resolution patches) on this CPU: " + _budget(r) + ". "
           "CompressAI's models trained for millions of steps on Vimeo-90k on GPUs. "
           "Each cell: BD-rate (% bytes at equal PSNR, negative: fewer; n/a where the PSNR ranges do "
           "not overlap) / BD-PSNR (dB at equal bpp, over the shared bpp range). "
           "![Kodak RD curves](images/kodak_rd.png)\n\n" + "\n".join(bd) + "\n\n" + "\n".join(lines)
           + "\n\n" + "\n".join(classical))
    dom = r.get("in_domain")
    if dom:
        rows = ["| model | BD-rate vs AVIF | BD-rate vs WebP |", "|---|---:|---:|"]
        rows += [f"| {a} | {_pct(dom['bd_rate_vs_avif'][a])} | {_pct(dom['bd_rate_vs_webp'][a])} |"
                 for a in dom["learned"]]
        out += (f"\n\n**In-domain**: {dom['images']} photos of `photos/`'s test split (never trained on), "
                "native-resolution centre crops of up to 1024 × 768.\n\n" + "\n".join(rows))
    return out + "\n\n" + _machine(r)


def patch_loading(r: dict) -> str:
    rows = ["| model | load ms/batch | step ms/batch | loading share |", "|---|---:|---:|---:|"]
    rows += [f"| {n} | {m['load_ms']:.1f} | {m['step_ms']:,.0f} | {100 * m['load_share']:.1f}% |"
             for n, m in r["models"].items()]
    met = "met" if r["met"] else "NOT met"
    return (f"**Patch training's data loading** ({r['images']} photos of `photos/`, {r['patches']} patches of "
            f"{r['patch']} px in a {r['bank_bytes'] / 2**30:.2f} GB bank built once in {r['bank_build_s']:.0f} s; "
            f"batches of {r['batch']}, flipped). Target loading ≤ 10% of a step: **{met}**.\n\n"
            + "\n".join(rows) + "\n\n" + _machine(r))


def gallery(r: dict) -> str:
    rows = ["| images | first paint s | bare plotly s | points JSON MB | similar p50 ms | p99 ms |",
            "|---:|---:|---:|---:|---:|---:|"]
    for n, x in r["sizes"].items():
        rows.append(f"| {int(n):,} | {x['first_paint_s']:.2f} | {x['bare_plotly_s']:.2f} | {x['points_json_mb']:.1f} | "
                    f"{x['similar']['p50_ms']:.1f} | {x['similar']['p99_ms']:.1f} |")
    t, g = r["targets"], r["thumbnails"]
    said = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    return (f"**The gallery** (`latentfolio serve`, synthetic catalogs of clustered 32-d codes; Debian's Chromium "
            "through Playwright, WebGL in software). First paint: from navigation to every point drawn, median of 5; "
            "the baseline is plotly drawing the same number of points from arrays already in a bare page. Similar: "
            f"an uploaded 28 px PNG decoded, encoded and searched (k = 12) over HTTP, {r['sizes'][next(iter(r['sizes']))]['similar']['queries']} "
            f"queries. Targets: first paint under 2 s at 100k: **{said(t['first_paint_under_2s_at_100k'])}**; "
            f"similar under 50 ms p50: **{said(t['similar_p50_under_50ms'])}**.\n\n" + "\n".join(rows)
            + f"\n\nThumbnail cache: {g['images']} full-size photos ({g['megapixels']:.0f} MP) at "
            f"**{g['cache_images_per_s']:.1f} images/s**, {g['speedup']:.1f}x a plain Pillow loop "
            f"(full decode, resize, WebP: {g['plain_images_per_s']:.1f} images/s).\n\n" + _machine(r))


def features(r: dict) -> str:
    rows = ["| encoder | stand-in | dim | ONNX MB | ms / image | images/s | decode ms / photo | × the autoencoder |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for x in r["encoders"]:
        rows.append(f"| {x['encoder']} | {x['stand_in']} | {x['dim']} | {x['file_mb']:.0f} | {x['ms_per_image']:.1f} | "
                    f"{x['images_per_s']:.1f} | {x['decode_ms_per_photo']:.0f} | {x['vs_autoencoder']:.0f} |")
    b = r["baseline"]
    return (f"**Pretrained encoders, timed as stand-ins** (`index --features`): the real weights could not be "
            "fetched here, so these are random-weight networks of the registered architectures, and only their "
            "time means anything (CLIP's stand-in gives 768 values where the real image tower gives 512). "
            f"{r['what']}. Decode: {r['photos']}. Baseline in the "
            f"same run: the {b['model']}, {b['ms_per_image']:.2f} ms per image.\n\n" + "\n".join(rows)
            + "\n\n" + _machine(r))


def target(r: dict) -> str:
    rows = ["| set | target PSNR | images | MP | chosen MB | won | all-AVIF MB | all-WebP MB | all-JPEG-XL MB | "
            "saving vs best single | `compress` s/MP | same bytes |", "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for x in r["sets"]:
        a = x["all"]
        best = min(a, key=lambda c: a[c]["bytes"])
        fb = lambda c: f" ({a[c]['fallbacks']} lossless)" if a[c]["fallbacks"] else ""  # noqa: E731
        won = ", ".join(f"{k} {v}" for k, v in x["won"].items())
        rows.append(f"| {x['set']} | {x['target_psnr']:.0f} dB | {x['images']} | {x['megapixels']:.1f} | "
                    f"{x['chosen_bytes'] / 1e6:.2f} | {won} | {a['avif']['bytes'] / 1e6:.2f}{fb('avif')} | "
                    f"{a['webp']['bytes'] / 1e6:.2f}{fb('webp')} | {a['jxl']['bytes'] / 1e6:.2f}{fb('jxl')} | "
                    f"{100 * x['saving_vs'][best]:.1f}% ({best}) | {x['command']['s_per_mp']:.2f} | "
                    f"{'yes' if x['command']['same_as_exhaustive'] else 'no'} |")
    return ("**Target-quality collection compression** (`compress --target-psnr`): each image in the fewest bytes "
            "that keep it at the target PSNR (RGB, against its own pixels), over AVIF 4:4:4 (speed 6), WebP "
            "(method 4), JPEG XL (effort 7) and, for JPEG files, JPEG XL's lossless transcode. All-X: every image "
            "in X at its smallest quality that meets the target (in lossless JPEG XL where X cannot reach it). "
            "`compress` s/MP is the command itself (warm starts and pruning), and *same bytes* checks it chose "
            "what the exhaustive search chose.\n\n" + "\n".join(rows) + "\n\n" + _machine(r))


def denoise_native(r: dict) -> str:
    c, m = r["classical"], r["model"]
    rows = ["| method | parameter | PSNR dB |", "|---|---:|---:|", f"| noisy input | | {r['noisy_psnr_db']:.2f} |"]
    rows += [f"| {k} | {v['param']} | {v['psnr_db']:.2f} |" for k, v in c.items()]
    rows.append(f"| **latentfolio `denoise`** | | **{r['latentfolio_psnr_db']:.2f}** |")
    sp, harm = r["speed"], r["clean_input_psnr_db"]
    t = m["train"]
    cfg = ", ".join(f"{k} {m['config'][k]}" for k in ("unshuffle", "width", "blocks", "levels") if k in m["config"])
    cfg += ", with the noise hint" if m["config"].get("noise_hint") else ""
    runs = {2: " in two runs (the second fine-tuned the first)", 3: " in three runs (each fine-tuned the one before)"}
    trained = (f"{t['seconds'] / 60:.0f} CPU minutes" + (f", {t['steps']} steps of {t['batch_size']}" if t.get("steps") else "")
               + runs.get(t.get("runs"), ""))
    kept, dam = r.get("ink_kept", {}), r.get("damaged_pages", {})
    harm_rows = (["| clean input | PSNR against itself | ink pixels kept |", "|---|---:|---:|"]
                 + [f"| {k} | {v:.1f} dB | {100 * kept[k]:.1f}% |" if k in kept else f"| {k} | {v:.1f} dB | |"
                    for k, v in harm.items()])
    if dam:
        harm_rows += ["", "| the same page, with scan damage | damaged | cleaned | ink pixels kept |", "|---|---:|---:|---:|"]
        harm_rows += [f"| {k} | {v['noisy_psnr_db']:.2f} dB | {v['psnr_db']:.2f} dB | {100 * v['ink_kept']:.1f}% |"
                      for k, v in dam.items()]
    if "pages" in m:
        trained += (f"; {100 * m['pages']:.0f}% of each batch rendered pages of text and drawings, "
                    f"{100 * m['clean_share']:.0f}% left undamaged")
    return (f"**Denoising at native resolution**: {r['test']}; damage: {r['damage']}. Model: `denoiser` ({cfg}) "
            f"trained on {m['corpus']}, {trained}. Gain over the best classical ({r['best_classical']}): "
            f"**{r['gain_over_best_classical_db']:+.2f} dB** (target +3 dB).\n\n" + "\n".join(rows)
            + f"\n\nSpeed on a {sp['image']} image: **{sp['mp_per_s']:.2f} MP/s** "
            + (f"({sp['precision']}), {sp['mp_per_s_fp32']:.2f} MP/s in fp32" if sp["precision"] != "fp32"
               else f"in fp32 (this CPU has no bf16 convolutions; {sp['mp_per_s_fp32']:.2f} MP/s measured again)")
            + (f"; tiles of at most {sp['tile']} px one at a time, against {sp['baseline_512x4_mp_per_s_fp32']:.2f} MP/s "
               f"in fp32 with the earlier 4 × 512 px per call, in the same run" if "tile" in sp else "")
            + " (target 2 MP/s). Do no harm (target 35 dB):\n\n"
            + "\n".join(harm_rows) + "\n\n" + _machine(r))


def startup(r: dict) -> str:
    sec, over = r["seconds"], r["over_torch_import"]
    rows = "\n".join(f"| `latentfolio {k}` | {sec[k]:.2f} | {over[k]:.2f} |" for k in over)
    return (f"**Start-up**: a quick command from the shell, in a fresh process (median of {r['runs']}), against "
            f"the floor in the same run: a Python that imports only torch ({sec['import torch']:.2f} s), which "
            f"they need. Before 2026-12-07 they also imported Lightning: torch and Lightning alone take "
            f"{sec['import torch, lightning']:.2f} s here.\n\n| command | seconds | × `import torch` |\n|---|---:|---:|\n"
            + rows + "\n\n" + _machine(r))


def demo(r: dict) -> str:
    steps = "\n".join(f"| {k} | {v:.0f} |" for k, v in r["steps_started_s"].items())
    met = "met" if r["met"] else "not met"
    return (f"**The demo's first run** (`latentfolio demo`, {r['data']}, a fresh process, timed as a newcomer "
            f"meets it): the gallery answers after {r['gallery_answers_s']:.0f} s and Chromium has the map of "
            f"{r['points']:,} images painted after **{r['map_painted_s']:.0f} s** (target {r['target_s']} s: {met}). "
            f"The floor every command pays, a Python that imports torch, took {r['baseline_import_torch_s']:.1f} s in "
            f"the same run; the longest line it printed has {r['longest_line']} characters.\n\n"
            "| step | started at (s) |\n|---|---:|\n" + steps + "\n\n" + _machine(r))


def pages(r: dict) -> str:
    p, c, a = r["pages"], r["clean_inputs"], r["auto"]
    t, ct = p["targets"], c["targets"]
    rows = ["| method | setting | PSNR dB |", "|---|---|---:|", f"| as scanned | | {p['as_scanned_db']:.2f} |"]
    names = {"none": "paper divided out, nothing more", "nl_means": "then NL-means", "bm3d": "then BM3D"}
    rows += [f"| classical: {v['background']} background, {names[k]} | {'' if k == 'none' else 'strength ' + str(v['param'])} "
             f"| {v['psnr_db']:.2f} |" for k, v in p["classical"].items()]
    rows += [f"| latentfolio: the paper divided out (`clean_page` without a model) | | {p['latentfolio_flattening_only_db']:.2f} |",
             f"| **latentfolio `denoise --kind page`** | page model, {r['model']['minutes']:g} CPU min | "
             f"**{p['latentfolio_db']:.2f}** |"]
    ok = lambda v, want: "met" if v >= want else "not met"  # noqa: E731
    pen, sp = r["faint_pencil"], r["speed_12mp"]
    return (f"**Cleaning old paper** (`denoise --kind page`): {p['n']} rendered pages of {p['side']} px, {p['damage']}; "
            "the truth is each clean page with its paper set to white. The classical pipeline is tuned on the tuning "
            f"pages (background: median or closing at 15, 31 or 61 px; then NL-means or BM3D). Gain over as scanned "
            f"**{p['gain_over_scanned_db']:+.2f} dB** (target +{t['over_scanned_db']:g}: {ok(p['gain_over_scanned_db'], t['over_scanned_db'])}); "
            f"over the best classical ({p['best_classical']}) **{p['gain_over_best_classical_db']:+.2f} dB** "
            f"(target +{t['over_best_classical_db']:g}: {ok(p['gain_over_best_classical_db'], t['over_best_classical_db'])}).\n\n"
            + "\n".join(rows)
            + f"\n\nDo no harm: clean pages come back at {c['pages_db']:.1f} dB ({ok(c['pages_db'], ct['pages_db'])}), clean "
            f"drawings at {c['drawings_db']:.1f} dB ({ok(c['drawings_db'], ct['drawings_db'])}); `--kind auto` flattened "
            f"{a['photos_flattened']} of {a['photos']} Kodak photos (in colour and in grey: photos are left as they are) "
            f"and recognised {100 * a['clean_pages_recognised']:.0f}% of the clean and {100 * a['damaged_pages_recognised']:.0f}% "
            f"of the damaged test pages (a page it misses is left as it is). A faint pencil line ({100 * pen['contrast_before']:.0f}% "
            f"darker than its paper) keeps {100 * pen['kept']:.0f}% of its contrast. A {sp['megapixels']:.0f} MP page takes "
            f"{sp['seconds']:.1f} s: **{sp['megapixels_per_s']:.2f} MP/s** (target 2; the flattening alone "
            f"{sp['flattening_only_megapixels_per_s']:.1f} MP/s). No real dirty scans with clean originals and a usable "
            "licence can be reached from here: the pages are rendered, and the real files of `formats/` are shown before "
            "and after in docs/images/page_formats.png.\n\n" + _machine(r))


RENDER = {"train_speed": train_speed, "quality": quality, "denoise": denoise, "codec": codec,
          "generate": generate, "cluster": cluster, "anomaly": anomaly, "planted": planted,
          "planted_photos": planted_photos,
          "catalog_speed": catalog_speed, "index_photos": index_photos, "scale": scale,
          "kodak": kodak, "patch_loading": patch_loading, "gallery": gallery, "features": features,
          "content": content, "target": target, "denoise_native": denoise_native, "pages": pages, "startup": startup,
          "demo": demo}


def render() -> str:
    parts = []
    for name, fn in RENDER.items():
        r = _load(name)
        if r:
            parts.append(fn(r))
    return "\n\n".join(parts)


HEADER = """# Benchmarks

Every number here was measured by a script in `benchmarks/` (`python -m benchmarks.NAME`) on the
machine and day under its table; each compares against its baseline in the same run, because a
ratio holds on a noisy machine. This page is generated: `python -m benchmarks.tables --write`
rewrites it from `benchmarks/results/*.json`, and a test fails when it is out of date. What was
tried on the way to these numbers is in [experiments.md](experiments.md).
"""


def page() -> str:
    return HEADER + "\n" + render() + "\n"


def _faults_table(r: dict) -> str:
    """The fault families (benchmarks/faults.py): what must never happen, counted."""
    f = r.get("faults")
    if not f:
        return ""
    cols = ("cases", "intended", "wrong", "outside", "server_errors", "hangs")
    lines = ["Then the faults a second probe found (kill -9, two writers, hostile journals and manifests, the "
             "server under load), each family run for real: killed processes, two processes, a uvicorn server. "
             "\"Wrong\" is a code on another image, or a rerun that does not end where a clean run does; "
             "\"outside\" a file outside the collection read, moved or deleted.", "",
             "| fault family | cases | as intended | wrong results | files outside touched | server errors | "
             "hangs | seconds |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, c in f.items():
        lines.append(f"| {name} | " + " | ".join(str(c[k]) for k in cols) + f" | {c['seconds']:.0f} |")
    total = {k: sum(c[k] for c in f.values()) for k in cols}
    lines.append("| **all** | " + " | ".join(f"**{total[k]}**" for k in cols) + " | |")
    return "\n".join(lines) + "\n"


def reliability_page() -> str:
    r = _load("reliability")
    if not r:
        return ""
    lines = ["| what was tried | cases | one-line errors | ran | tracebacks | hangs |", "|---|---:|---:|---:|---:|---:|"]
    for name, c in r["groups"].items():
        lines.append(f"| {name} | {c['cases']} | {c['error']} | {c['ok']} | {c['traceback']} | {c['hang']} |")
    total = {k: sum(c[k] for c in r["groups"].values()) for k in ("cases", "error", "ok", "traceback", "hang")}
    lines.append(f"| **all** | **{total['cases']}** | {total['error']} | {total['ok']} | **{total['traceback']}** | "
                 f"**{total['hang']}** |")
    return f"""# Reliability

What the hardening probe (`python -m benchmarks.reliability`) tried, and what came of it. Each
case is a real command line on bad input, run through the CLI's entry point with a
{r['hang_limit_s']} s limit. A case ends well in a one-line `error:` (exit status 2) or, where the
bad input is one file among good ones, in a run that names that file in a warning and goes on
("ran"). A traceback, a hang, a crash or a lost file is a failure; the target is zero of each.
The crafted files are those of the probe behind the hardening issue: .lfz headers claiming
65535 × 65535 or a megapixel in 18 bytes, zlib-bomb alpha planes, configs of 10⁷ latent values,
catalog headers with `dim` 0 or "x", garbled SQLite pages, NaN codes, FIFOs, /dev/zero links,
link loops, names that are not UTF-8, a label folder named `$\\alert$`, and outputs that overlap
the catalogued originals.

{chr(10).join(lines)}

{_faults_table(r)}
Crashes: **0** (a crash would have ended the probe; it ran to the end). Files lost from the
source folder: **{r['files_lost']}**. The probe took {r['seconds']:.0f} s. The same findings each
have a test (`tests/e2e/test_hardening.py`, `tests/e2e/test_hostile_files.py`,
`tests/commands/test_folders.py`, `tests/commands/test_trust.py`, `tests/catalog/test_crash.py`,
`tests/gallery/test_hostile.py`, and `tests/codec/test_fuzz.py`, which fuzzes the .lfz and .lfa
readers with 4,000 cases and bounds their peak memory in a process of their own).

{_machine(r)}
"""


def main() -> int:
    pages = {DOC: page(), RELIABILITY: reliability_page(), readme.README: readme.render(readme.README.read_text())}
    if "--check" in sys.argv:
        return 0 if all(p.exists() and p.read_text() == t for p, t in pages.items() if t) else 1
    if "--write" in sys.argv:
        for p, t in pages.items():
            if t:
                p.write_text(t)
        return 0
    print(pages[DOC])
    return 0


if __name__ == "__main__":
    sys.exit(main())
