"""What a pretrained encoder costs per image on this machine, through latentfolio's ONNX Runtime
embedder, against the collection's own autoencoder in the same run.

The registered ONNX files cannot be downloaded here (no network past the package registries), so
each is stood in for by a network of the same architecture and shapes with random weights,
exported to ONNX here: DINOv2-small is a ViT-S/14 at 224 px (257 tokens, 12 blocks of width 384),
CLIP ViT-B/32's image tower a ViT-B/32 (50 tokens, 12 blocks of width 768; without its final
768 -> 512 projection, so the stand-in's vector is 768-d). Weights do not change the arithmetic,
so the time per image is the real one; the vectors mean nothing.

    LATENTFOLIO_DATA=../shared/data python -m benchmarks.features
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .common import data_root, run

ARCHS = {"dinov2-small": dict(patch=14, width=384, heads=6, layers=12),
         "clip-vit-b32": dict(patch=32, width=768, heads=12, layers=12)}


class Block(nn.Module):
    def __init__(self, w: int, heads: int):
        super().__init__()
        self.n1, self.n2, self.heads = nn.LayerNorm(w), nn.LayerNorm(w), heads
        self.qkv, self.proj = nn.Linear(w, 3 * w), nn.Linear(w, w)
        self.mlp = nn.Sequential(nn.Linear(w, 4 * w), nn.GELU(), nn.Linear(4 * w, w))

    def forward(self, x):
        q, k, v = self.qkv(self.n1(x)).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) * k.shape[-1] ** -0.5, -1) @ v
        x = x + self.proj(a.transpose(1, 2).flatten(2))
        return x + self.mlp(self.n2(x))


class ViT(nn.Module):
    """A plain ViT image tower: patches, a class token, pre-norm blocks -> (B, tokens, width)."""

    def __init__(self, patch: int, width: int, heads: int, layers: int, size: int = 224):
        super().__init__()
        self.embed = nn.Conv2d(3, width, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.zeros(1, (size // patch) ** 2 + 1, width))
        self.blocks = nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.norm(self.blocks(x))


def time_embedder(emb, images: np.ndarray, repeats: int = 2) -> float:
    emb.embed(images[:4])  # warm-up
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        emb.embed(images)
        best = min(best, time.perf_counter() - t)
    return best / len(images)


def bench(images: int, photos: int) -> dict:
    from latentfolio.features import open_embedder
    from latentfolio.latent.encode import encode_pixels
    from latentfolio.models import build_model

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (images, 224, 224, 3), np.uint8)
    ae = build_model("conv", image_size=64, channels=3, latent_dim=64).eval()
    small = rng.integers(0, 256, (images, 64, 64, 3), np.uint8)
    encode_pixels(ae, small[:4])
    t = time.perf_counter()
    encode_pixels(ae, small)
    ae_ms = (time.perf_counter() - t) / images * 1000
    files = sorted(Path(data_root(), "photos", "unsplash").glob("*.jpg"))[:photos]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch in ARCHS.items():
            path = Path(tmp) / f"{name}.onnx"
            torch.onnx.export(ViT(**arch).eval(), (torch.rand(1, 3, 224, 224),), str(path), input_names=["pixel_values"],
                              output_names=["last_hidden_state"], dynamic_axes={"pixel_values": {0: "batch"}}, dynamo=False)
            emb = open_embedder(f"onnx:{path}")
            per = time_embedder(emb, batch) * 1000
            t = time.perf_counter()
            for f in files:
                emb.decode(f)
            dec = (time.perf_counter() - t) / max(1, len(files)) * 1000
            rows.append({"encoder": name, "stand_in": f"ViT patch {arch['patch']}, width {arch['width']}, "
                         f"{arch['layers']} blocks", "file_mb": round(path.stat().st_size / 2**20, 1),
                         "dim": emb.dim, "ms_per_image": round(per, 1), "images_per_s": round(1000 / per, 1),
                         "decode_ms_per_photo": round(dec, 1), "vs_autoencoder": round(per / ae_ms, 1)})
            print(rows[-1], flush=True)
    return {"encoders": rows, "baseline": {"model": "conv autoencoder, 64 px colour, 64-d", "ms_per_image": round(ae_ms, 2)},
            "photos": f"{len(files)} full-size JPEGs from photos/unsplash, decoded at 224 px (DCT scaling)",
            "what": "ms per image of ONNX Runtime on 224 px images already decoded (batches of 32, best of 2); "
                    "random-weight stand-ins of the registered architectures (see the module's docstring)"}


def main() -> None:
    run("features", bench, images=64, photos=8)


if __name__ == "__main__":
    main()
