"""The payload of a hyperprior codec: the hyper-latent z, then y coded with the tables z selects.

Payload layout (inside an .lfz v2 file)::

    zlen      LEB128   -- bytes of z's payload
    z payload          -- z, channel by channel with its factorized tables (as a ``codec`` file)
    y payload          -- y − μ rounded, grouped by scale table in raster order

The table indices and means come from the model's integer hyper-synthesis
(:meth:`~latentfolio.models.hyperprior.Hyperprior.entropy_parameters`): the same integers on
every machine, so the decoder groups and decodes exactly what the encoder coded.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import LatentfolioError
from ..models.hyperprior import Hyperprior
from ..models.integer import FRAC_A
from .entropy import code_indexed, code_symbols, decode_indexed, decode_symbols, min_payload_bytes
from .format import leb128, read_leb128


def is_hyper(model) -> bool:
    return isinstance(model, Hyperprior)


def _gauss(model):
    return model.gauss_freq.numpy(), model.gauss_lo.numpy(), model.gauss_len.numpy()


def side_info(model, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float y -> (z symbols, table index per latent, mean per latent as float64)."""
    z = model.hyper_symbols(torch.from_numpy(y))
    idx, means = model.entropy_parameters(z, *y.shape[-2:])
    return z.numpy(), idx.numpy(), means.numpy() / 2**FRAC_A


def table_scales(model, idx: np.ndarray) -> np.ndarray:
    """The scale of each latent's table (what the coder assumes), float32."""
    return np.exp(model.scale_log.numpy()[idx] / 2**FRAC_A).astype(np.float32)


def code_hyper(model, y: np.ndarray, side: tuple | None = None) -> tuple[bytes, np.ndarray]:
    """Float y (P, M, h, w) -> (payload, ŷ the decoder will rebuild). ``side``: the z, indices and
    means from :func:`side_info`, when y was refined against them."""
    z, idx, mu = side if side is not None else side_info(model, y)
    r = model.config.max_symbol
    res = np.clip(np.round(y - mu), -r, r).astype(np.int32)
    zpay = code_symbols(model, z)
    ypay = code_indexed(*_gauss(model), r, res, idx)
    return leb128(len(zpay)) + zpay + ypay, (res + mu).astype(np.float32)


def z_shape(model, shape: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    p, _, h, w = shape
    return p, model.config.hyper_dim, -(-h // 4), -(-w // 4)


def decode_hyper(model, payload: bytes, shape: tuple[int, int, int, int], name: str) -> np.ndarray:
    """Payload -> ŷ (P, M, h, w) float32."""
    zlen, pos = read_leb128(payload, 0, name)
    zs = z_shape(model, shape)
    if pos + zlen > len(payload) or zlen < min_payload_bytes(model, zs):
        raise LatentfolioError(f"{name}: truncated or corrupt .lfz file (its hyper-latent cannot fit)")
    try:
        z = decode_symbols(model, payload[pos:pos + zlen], zs)
        idx, means = model.entropy_parameters(torch.from_numpy(z), *shape[-2:])
        res = decode_indexed(*_gauss(model), model.config.max_symbol, payload[pos + zlen:], idx.numpy())
    except LatentfolioError:
        raise
    except Exception as e:  # a payload the tables cannot decode
        raise LatentfolioError(f"{name}: corrupt coded data ({e})") from None
    return (res + means.numpy() / 2**FRAC_A).astype(np.float32)
