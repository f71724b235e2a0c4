"""Entropy coding of integer latents with constriction's ANS coder.

Symbols are coded in groups, each group with one integer frequency table frozen into the model
folder, never with floats recomputed at decode time, so a file decodes to the same symbols on any
machine. A factorized codec has one group per latent channel; a hyperprior codec's y has one group
per scale table, in an order both sides derive from the (exact) table indices.
"""

from __future__ import annotations

import numpy as np

TOTAL = float(1 << 16)


def _categorical(freq: np.ndarray):
    import constriction

    # a Rust extension: no submodule imports
    return constriction.stream.model.Categorical(freq.astype(np.float64) / TOTAL, perfect=False)


def encode_groups(groups: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """[(table positions, int32; that table's frequencies)] -> ANS payload, groups in order."""
    import constriction

    coder = constriction.stream.stack.AnsCoder()
    for sym, freq in reversed(groups):  # ANS is a stack: encode in reverse decode order
        if len(sym):
            coder.encode_reverse(np.ascontiguousarray(sym, np.int32), _categorical(freq))
    raw = coder.get_compressed().astype("<u4").tobytes()
    k = 0
    while k < 3 and k < len(raw) and raw[-1 - k] == 0:  # the top word's zero high bytes: the
        k += 1  # reader pads back to whole words, so this is exact
    return raw[:len(raw) - k]


def decode_groups(payload: bytes, groups: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
    """ANS payload, [(symbol count, frequencies)] -> each group's table positions."""
    import constriction

    words = np.frombuffer(payload + bytes(-len(payload) % 4), dtype="<u4").astype(np.uint32)
    # Zero padding after the stream (to whole words, or the file's own) is dropped: an ANS stream
    # never ends in a zero word, so this is exact.
    end = len(words)
    while end and words[end - 1] == 0:
        end -= 1
    words = words[:end]
    coder = constriction.stream.stack.AnsCoder(words)
    return [coder.decode(_categorical(freq), n).astype(np.int32) if n else np.empty(0, np.int32)
            for n, freq in groups]


def _channel_tables(model):
    return model.table_freq.numpy(), model.table_lo.numpy(), model.table_len.numpy()


def code_symbols(model, sym: np.ndarray) -> bytes:
    """(P, M, h, w) integer latents -> ANS payload, channel by channel with that channel's table."""
    freq, lo, ln = _channel_tables(model)
    r = model.config.max_symbol
    return encode_groups([(np.clip(sym[:, m].ravel() + r - lo[m], 0, ln[m] - 1), freq[m, : ln[m]])
                          for m in range(sym.shape[1])])


def decode_symbols(model, payload: bytes, shape: tuple[int, int, int, int]) -> np.ndarray:
    freq, lo, ln = _channel_tables(model)
    r = model.config.max_symbol
    p, m_, h, w = shape
    parts = decode_groups(payload, [(p * h * w, freq[m, : ln[m]]) for m in range(m_)])
    out = np.empty(shape, np.int32)
    for m, s in enumerate(parts):
        out[:, m] = (s - r + lo[m]).reshape(p, h, w)
    return out


def _indexed_order(idx: np.ndarray, tables: int) -> tuple[np.ndarray, np.ndarray]:
    flat = idx.ravel()
    return np.argsort(flat, kind="stable"), np.bincount(flat, minlength=tables)


def code_indexed(freq: np.ndarray, lo: np.ndarray, ln: np.ndarray, r: int, sym: np.ndarray,
                 idx: np.ndarray) -> bytes:
    """Integer latents, each coded with table ``idx`` (same shape): grouped by table, in raster
    order within a table."""
    order, counts = _indexed_order(idx, len(ln))
    flat, tabs = sym.ravel()[order], idx.ravel()[order]
    pos = np.clip(flat + r - lo[tabs], 0, ln[tabs] - 1)
    starts = np.concatenate([[0], np.cumsum(counts)])
    return encode_groups([(pos[starts[t]:starts[t + 1]], freq[t, : ln[t]]) for t in range(len(ln)) if counts[t]])


def decode_indexed(freq: np.ndarray, lo: np.ndarray, ln: np.ndarray, r: int, payload: bytes,
                   idx: np.ndarray) -> np.ndarray:
    order, counts = _indexed_order(idx, len(ln))
    used = [t for t in range(len(ln)) if counts[t]]
    parts = decode_groups(payload, [(int(counts[t]), freq[t, : ln[t]]) for t in used])
    out = np.empty(idx.size, np.int32)
    start = 0
    for t, s in zip(used, parts):
        out[order[start:start + len(s)]] = s - r + lo[t]
        start += len(s)
    return out.reshape(idx.shape)


def estimated_bits(model, sym: np.ndarray) -> float:
    """Information content of the symbols under the frozen integer tables, in bits."""
    freq, lo, ln = _channel_tables(model)
    r = model.config.max_symbol
    bits = 0.0
    for m in range(sym.shape[1]):
        s = np.clip(sym[:, m].ravel() + r - lo[m], 0, ln[m] - 1)
        bits += float(-np.log2(freq[m, s] / TOTAL).sum())
    return bits


def min_payload_bytes(model, shape: tuple[int, int, int, int]) -> int:
    """The fewest bytes any payload for a latent of ``shape`` can take: every symbol the most
    probable of its channel's table (an ANS coder cannot beat the information content). A file
    claiming a big image with a tiny payload is refused on this bound, before any decoding."""
    freq, _, _ = _channel_tables(model)
    p, m, h, w = shape
    top = freq[:m].max(axis=1).astype(np.float64) / TOTAL
    return int(p * h * w * float(-np.log2(top).sum()) / 8)
