"""Generation quality on FashionMNIST: Fréchet distance in a classifier's features.

A small CNN classifier is trained on the train split (its test accuracy is reported). In its
penultimate-layer features, the Fréchet distance (Heusel et al. 2017, with our classifier in
place of Inception) is computed between the 10k test images and 10k generated images for:

    VAE prior sampling | AE sampling from N(0, I) | AE sampling from the fitted mixture

plus the share of samples the classifier labels with confidence > 0.9. The floor is the distance
between 10k real training images and the test images.

    LATENTFOLIO_DATA=../shared/data python -m benchmarks.generate [--minutes 3] [--latent 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .common import save


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.features(x))


def to_x(u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float() / 255


def train_classifier(x: np.ndarray, y: np.ndarray, epochs: int = 4, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    net = Classifier()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for b in np.array_split(rng.permutation(len(x)), len(x) // 128):
            loss = nn.functional.cross_entropy(net(to_x(x[b])), torch.from_numpy(y[b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def features(net: Classifier, u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f, p = [], []
    for s in range(0, len(u8), 1000):
        h = net.features(to_x(u8[s:s + 1000]))
        f.append(h.numpy().astype(np.float64))
        p.append(torch.softmax(net.head(h), 1).numpy())
    return np.concatenate(f), np.concatenate(p)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget per autoencoder")
    ap.add_argument("--latent", type=int, default=16)
    ap.add_argument("--n", type=int, default=10000)
    args = ap.parse_args()

    import latentfolio as lf
    from latentfolio.latent.generate import sample_latents
    from latentfolio.latent.encode import decode_latents

    ds = lf.load_data("fashion-mnist")
    tr, te = np.concatenate([ds.indices("train"), ds.indices("val")]), ds.indices("test")
    t0 = time.perf_counter()
    clf = train_classifier(ds.images[tr], ds.labels[tr])
    f_test, p_test = features(clf, ds.images[te])
    acc = float((p_test.argmax(1) == ds.labels[te]).mean())
    clf_s = time.perf_counter() - t0
    print(f"classifier: test accuracy {acc:.4f} ({clf_s:.0f} s)", file=sys.stderr)

    rng = np.random.default_rng(0)
    real = ds.images[rng.choice(tr, args.n, replace=False)]
    f_real, p_real = features(clf, real)
    rows = {"real train images (floor)": (f_real, p_real)}
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("conv", "vae"):
            r = lf.train("fashion-mnist", Path(tmp) / kind, model=kind, latent_dim=args.latent,
                         max_time=args.minutes, progress=False)
            models[kind] = {"psnr_db": r.metrics["psnr_db"], "epochs": r.epochs, "seconds": round(r.seconds, 1)}
        ae, vae = lf.load(Path(tmp) / "conv"), lf.load(Path(tmp) / "vae")
        for name, model, src in (("VAE, prior N(0, I)", vae, "prior"),
                                 ("AE, N(0, I)", ae, "prior"),
                                 ("AE, fitted mixture (10 comp.)", ae, "density")):
            z, _ = sample_latents(model, args.n, 1.0, seed=1, source=src)
            rows[name] = features(clf, decode_latents(model, z))
    results = []
    for name, (f, p) in rows.items():
        results.append({"sampler": name, "frechet": round(frechet(f, f_test), 3),
                        "confident_share": round(float((p.max(1) > 0.9).mean()), 4)})
        print(results[-1], file=sys.stderr)
    fd = {r["sampler"]: r["frechet"] for r in results}
    worst_good = max(fd["VAE, prior N(0, I)"], fd["AE, fitted mixture (10 comp.)"])
    save("generate", {
        "data": "FashionMNIST: classifier and AEs trained on the 60k train images; Fréchet distance "
                f"to the 10k test images, {args.n} samples each",
        "classifier_test_accuracy": round(acc, 4), "latent_dim": args.latent,
        "train_minutes_per_model": args.minutes, "models": models, "results": results,
        "ae_prior_over_best_other": round(fd["AE, N(0, I)"] / worst_good, 2),
        "target": "AE + mixture and VAE both far better (here: at least 2x lower distance) than AE N(0, I)",
        "met": bool(fd["AE, N(0, I)"] >= 2 * worst_good)})


if __name__ == "__main__":
    main()
