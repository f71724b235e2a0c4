"""Entropy coding of a codec's integer latents with constriction's ANS coder.

The symbols are coded with the integer tables frozen into the model folder, never with floats
recomputed at decode time, so a file decodes to the same symbols on any machine.
"""

from __future__ import annotations

import numpy as np


def _tables(model):
    import constriction

    Categorical = constriction.stream.model.Categorical  # a Rust extension: no submodule imports
    freq, lo, ln = (model.table_freq.numpy(), model.table_lo.numpy(), model.table_len.numpy())
    total = float(1 << 16)
    cats = [Categorical(freq[m, : ln[m]].astype(np.float64) / total, perfect=False) for m in range(len(ln))]
    return cats, lo, ln, freq


def code_symbols(model, sym: np.ndarray) -> bytes:
    """(P, M, h, w) integer latents -> ANS payload, channel by channel with that channel's table."""
    import constriction

    cats, lo, ln, _ = _tables(model)
    r = model.config.max_symbol
    coder = constriction.stream.stack.AnsCoder()
    for m in reversed(range(sym.shape[1])):  # ANS is a stack: encode in reverse decode order
        s = np.clip(sym[:, m].ravel() + r - lo[m], 0, ln[m] - 1).astype(np.int32)
        coder.encode_reverse(s, cats[m])
    raw = coder.get_compressed().astype("<u4").tobytes()
    k = 0
    while k < 3 and k < len(raw) and raw[-1 - k] == 0:  # the top word's zero high bytes: the
        k += 1  # reader pads back to whole words, so this is exact
    return raw[:len(raw) - k]


def decode_symbols(model, payload: bytes, shape: tuple[int, int, int, int]) -> np.ndarray:
    import constriction

    cats, lo, ln, _ = _tables(model)
    r = model.config.max_symbol
    p, m_, h, w = shape
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    out = np.empty(shape, np.int32)
    for m in range(m_):
        out[:, m] = (coder.decode(cats[m], p * h * w).astype(np.int32) - r + lo[m]).reshape(p, h, w)
    return out


def estimated_bits(model, sym: np.ndarray) -> float:
    """Information content of the symbols under the frozen integer tables, in bits."""
    _, lo, ln, freq = _tables(model)
    r = model.config.max_symbol
    bits = 0.0
    for m in range(sym.shape[1]):
        s = np.clip(sym[:, m].ravel() + r - lo[m], 0, ln[m] - 1)
        bits += float(-np.log2(freq[m, s] / 65536.0).sum())
    return bits


def min_payload_bytes(model, shape: tuple[int, int, int, int]) -> int:
    """The fewest bytes any payload for a latent of ``shape`` can take: every symbol the most
    probable of its channel's table (an ANS coder cannot beat the information content). A file
    claiming a big image with a tiny payload is refused on this bound, before any decoding."""
    _, _, _, freq = _tables(model)
    p, m, h, w = shape
    top = freq[:m].max(axis=1).astype(np.float64) / 65536.0
    return int(p * h * w * float(-np.log2(top).sum()) / 8)
