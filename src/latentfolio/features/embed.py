"""An image encoder, images in, one unit-length vector per image out: a built-in EfficientNet-Lite
run by torch, or an ONNX file run by ONNX Runtime."""

from __future__ import annotations

import os

import numpy as np

from .. import _io
from ..data.decode import decode_image, resize_array
from ..errors import LatentfolioError
from .efficientnet import EfficientNetLite
from .fetch import fetch
from .registry import Entry, resolve


class Embedder:
    """One loaded encoder. ``dim`` is its vector length; ``digest`` the sha256 of its file, which
    a catalog records so that vectors from another file are never mixed with its own."""

    def __init__(self, entry: Entry, path, threads: int | None = None):
        if entry.arch is not None:
            self._run, self.output = _torch_runner(entry, path), "features"
        else:
            entry, self._run, self.output = _onnx_runner(entry, path, threads)
        self.entry, self.digest = entry, _io.sha256_file(path)
        self.dim = int(self.embed(np.zeros((1, entry.size, entry.size, 3), np.uint8)).shape[1])

    @property
    def name(self) -> str:
        return self.entry.name

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C), any square size -> float32 (N, 3, size, size), normalised."""
        e = self.entry
        if images.shape[-1] != 3 or images.shape[1] != e.resize:
            images = resize_array(images, e.resize, 3, "crop")
        o = (e.resize - e.size) // 2
        x = images[:, o:o + e.size, o:o + e.size].astype(np.float32) / 255.0
        x = (x - np.asarray(e.mean, np.float32)) / np.asarray(e.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def embed(self, images: np.ndarray, batch: int = 32) -> np.ndarray:
        """uint8 (N, H, W, C) -> float32 (N, dim), each of unit length (L2 distance ~ cosine)."""
        out = []
        for s in range(0, len(images), batch):
            try:
                y = self._run(self.prepare(images[s:s + batch]))
            except Exception as e:  # the runtime's own error types: a model that cannot take this input
                raise LatentfolioError(f"{self.name}: the encoder failed on a batch of {len(images[s:s + batch])} "
                                       f"({str(e).splitlines()[0][-200:]})") from None
            if y.ndim == 3:  # tokens: the class token, or their mean
                y = y[:, 0] if self.entry.pool == "cls" else y.mean(1)
            if y.ndim != 2:
                raise LatentfolioError(f"{self.name}: output {self.output!r} has shape {y.shape}, not (batch, dim)")
            out.append(y.astype(np.float32))
        y = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)

    def decode(self, path) -> np.ndarray:
        """One file at the size this encoder wants (short side ``resize``, square) -> uint8 (s, s, 3)."""
        return decode_image(path, self.entry.resize, 3, "crop")


def _onnx_runner(entry: Entry, path, threads: int | None):
    """-> (the entry, with a local file's own input size; run(x) -> outputs; the output's name)."""
    import onnxruntime as ort  # heavy: imported on first use

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    try:
        session = ort.InferenceSession(str(path), opts, providers=providers)
    except Exception as e:  # onnxruntime raises its own types for a file it cannot read
        raise LatentfolioError(f"{path}: not a readable ONNX model ({str(e).splitlines()[0][:160]})") from None
    inp = session.get_inputs()[0]
    side = inp.shape[-1] if len(inp.shape) == 4 else None
    if entry.path is not None and isinstance(side, int) and side > 0:  # a local file's fixed input size
        entry = Entry(entry.name, size=side, resize=side, path=entry.path, about=entry.about)
    names = [o.name for o in session.get_outputs()]
    if entry.output is not None and entry.output not in names:
        raise LatentfolioError(f"{path}: has no output {entry.output!r} (it has {', '.join(names)})")
    output = entry.output or names[0]
    return entry, lambda x: session.run([output], {inp.name: x})[0], output


def _torch_runner(entry: Entry, path):
    """A built-in architecture with its safetensors weights -> run(x): its pooled features, batch
    norms folded into the convolutions, in channels-last batches on the machine's threads."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    model = EfficientNetLite(entry.arch)
    try:
        model.load_state_dict(load_file(str(path)))
    except (SafetensorError, RuntimeError, OSError) as e:
        raise LatentfolioError(f"{path}: not {entry.name} weights ({str(e).splitlines()[0][:160]})") from None
    model = model.eval().fused().to(memory_format=torch.channels_last)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
            return model.features(t).numpy()

    run.model = model  # the classifier too (its ImageNet logits: tests check the architecture with them)
    return run


def open_embedder(name: str, download: bool = True) -> Embedder:
    """``name`` (a registry name or onnx:PATH) loaded, fetched into the model store if needed."""
    entry = resolve(name)
    emb = Embedder(entry, fetch(entry, download=download))
    emb.spec = f"onnx:{entry.path}" if entry.path is not None else entry.name  # what to open it by again
    return emb
