"""An accuracy-loss proxy: quantize seeded synthetic tensors and measure the error.

A tensor is ``size`` draws of N(0, 1); a fraction ``outlier_fraction`` of them (chosen by the
seed) is multiplied by ``outlier_scale``, the channel outliers that make low-bit LLM
quantization hard (Dettmers et al., LLM.int8(); Trukhanov & Soloveychik, arXiv 2403.20137).
Each format is applied in numpy exactly as its storage works (block scales, E8M0 shared
exponents, minifloat rounding with subnormals and saturation, NF4 levels), and

- ``SQNR_dB = 10 log10( sum x^2 / sum (x - q(x))^2 )``
- ``relative_error = ||x - q(x)||_2 / ||x||_2``

Results are cached on (format name, seed, size, outlier parameters) with
:func:`functools.lru_cache`, so a sweep that asks for the same format many times pays once.
This is a proxy: it ranks formats on a tensor of known statistics; it does not predict a
model's perplexity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from models.algorithms.quant import Format, get_format

__all__ = [
    "QuantError",
    "synthetic_tensor",
    "quantize",
    "quant_error",
    "quant_error_table",
    "nf4_levels",
    "clear_cache",
]


@dataclass(frozen=True, kw_only=True)
class QuantError:
    """Error of one format on one synthetic tensor."""

    format: str
    sqnr_dB: float
    relative_error: float
    effective_bits: float


def _check(size: int, outlier_fraction: float, outlier_scale: float) -> None:
    if not (isinstance(size, int | np.integer) and size >= 32):
        raise ValueError(f"size={size!r}; allowed: integers >= 32")
    if not (0.0 <= outlier_fraction <= 1.0):
        raise ValueError(f"outlier_fraction={outlier_fraction!r}; allowed: [0, 1]")
    if not (outlier_scale >= 1.0 and math.isfinite(outlier_scale)):
        raise ValueError(f"outlier_scale={outlier_scale!r}; allowed: finite values >= 1")


@lru_cache(maxsize=64)
def synthetic_tensor(
    seed: int = 0, size: int = 16384, outlier_fraction: float = 0.0, outlier_scale: float = 10.0
) -> np.ndarray:
    """Seeded Gaussian tensor with outliers, shape ``(size,)``, read-only (it is cached)."""
    _check(size, outlier_fraction, outlier_scale)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(size))
    n_out = int(round(outlier_fraction * size))
    if n_out:
        idx = rng.choice(int(size), size=n_out, replace=False)
        x[idx] *= outlier_scale
    x.setflags(write=False)
    return x


def nf4_levels() -> np.ndarray:
    """The 16 NF4 levels in [-1, 1]: normal quantiles as constructed in QLoRA (Dettmers et al.
    2023): 8 positive and 7 negative quantiles of N(0, 1) between offset and 1/2, plus 0,
    normalised by the largest; ``offset = (1 - 1/32 + 1 - 1/30) / 2`` keeps them finite."""
    offset = 0.5 * ((1 - 1 / 32) + (1 - 1 / 30))
    nd = NormalDist()
    pos = [nd.inv_cdf(p) for p in np.linspace(offset, 0.5, 9)[:-1]]
    neg = [-nd.inv_cdf(p) for p in np.linspace(offset, 0.5, 8)[:-1]]
    v = np.array(sorted(pos + neg + [0.0]))
    return v / np.max(np.abs(v))


def _fp_max(e: int, m: int) -> float:
    bias = 2 ** (e - 1) - 1
    if e >= 5:  # IEEE-like: the top exponent code is inf/NaN
        return (2 - 2.0**-m) * 2.0 ** (2**e - 2 - bias)
    if (e, m) == (4, 3):  # OCP E4M3: only S.1111.111 is NaN -> max 1.75 x 2^8 = 448
        return 448.0
    return (2 - 2.0**-m) * 2.0 ** (2**e - 1 - bias)  # FP6/FP4 (OCP MX): no inf/NaN codes


def _round_minifloat(v: np.ndarray, e: int, m: int) -> np.ndarray:
    """Round to the nearest value of a sign + E + M float with subnormals, saturating."""
    bias = 2 ** (e - 1) - 1
    emin = 1 - bias
    a = np.abs(v)
    with np.errstate(divide="ignore"):
        ex = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    ex = np.maximum(ex, emin)
    step = np.exp2(ex - m)
    q = np.minimum(np.round(a / step) * step, _fp_max(e, m))
    return np.copysign(q, v)


def _blocks(x: np.ndarray, block: int) -> np.ndarray:
    if block <= 0:
        return x.reshape(1, -1)
    if x.size % block:
        raise ValueError(f"block_size={block} does not divide the tensor size {x.size}")
    return x.reshape(-1, block)


def quantize(x: np.ndarray, fmt: Format | str) -> np.ndarray:
    """Quantize-dequantize ``x`` (1-D, length a multiple of the block) in ``fmt``; same shape."""
    f = get_format(fmt)
    x = np.asarray(x, dtype=np.float64)
    xb = _blocks(x, f.block_size)
    amax = np.max(np.abs(xb), axis=1, keepdims=True)
    safe = np.where(amax > 0, amax, 1.0)
    if f.family == "fp":
        if f.element_bits >= 16:
            q = _round_minifloat(xb, f.exponent_bits, f.mantissa_bits)
        else:  # per-tensor scale maps the absmax onto the format's largest value
            s = safe / _fp_max(f.exponent_bits, f.mantissa_bits)
            q = _round_minifloat(xb / s, f.exponent_bits, f.mantissa_bits) * s
    elif f.family == "mx":
        if f.exponent_bits:  # OCP MX: X = 2^(floor(log2 amax) - emax_elem)
            emax = math.floor(math.log2(_fp_max(f.exponent_bits, f.mantissa_bits)))
            s = np.exp2(np.floor(np.log2(safe)) - emax)
            q = _round_minifloat(xb / s, f.exponent_bits, f.mantissa_bits) * s
        else:  # MXINT8: 8-bit two's complement with an implied 2^-6 (1.6 fixed point)
            s = np.exp2(np.floor(np.log2(safe)))
            q = np.clip(np.round(xb / s * 64.0), -128, 127) / 64.0 * s
    elif f.family == "bfp":
        m = int(f.element_bits)  # signed mantissa, sign included
        step = np.exp2(np.floor(np.log2(safe)) + 1 - (m - 1))
        lim = 2 ** (m - 1) - 1
        q = np.clip(np.round(xb / step), -lim, lim) * step
    elif f.family == "int":
        b = int(round(f.element_bits))
        if f.zero_bits > 0:  # asymmetric: min/max mapped onto 0..2^b-1
            lo, hi = np.min(xb, axis=1, keepdims=True), np.max(xb, axis=1, keepdims=True)
            s = np.where(hi > lo, (hi - lo) / (2**b - 1), 1.0)
            z = np.round(-lo / s)
            q = (np.clip(np.round(xb / s) + z, 0, 2**b - 1) - z) * s
        else:
            lim = 2 ** (b - 1) - 1
            s = safe / lim
            q = np.clip(np.round(xb / s), -lim, lim) * s
    elif f.family == "ternary":  # BitNet b1.58 absmean
        s = np.mean(np.abs(xb), axis=1, keepdims=True)
        s = np.where(s > 0, s, 1.0)
        q = np.clip(np.round(xb / s), -1, 1) * s
    elif f.family == "binary":
        q = np.where(xb >= 0, 1.0, -1.0) * np.mean(np.abs(xb), axis=1, keepdims=True)
    elif f.family == "nf":
        lv = nf4_levels()
        v = xb / safe
        idx = np.clip(np.searchsorted((lv[1:] + lv[:-1]) / 2, v), 0, lv.size - 1)
        q = lv[idx] * safe
    else:  # pragma: no cover - Format validates its family
        raise ValueError(f"format {f.name!r}: family {f.family!r} has no quantizer")
    return q.reshape(x.shape)


@lru_cache(maxsize=4096)
def _quant_error_cached(
    name: str, seed: int, size: int, outlier_fraction: float, outlier_scale: float
) -> QuantError:
    f = get_format(name)
    x = synthetic_tensor(seed, size, outlier_fraction, outlier_scale)
    if f.block_size and size % f.block_size:
        raise ValueError(
            f"size={size} is not a multiple of format {name!r} block_size={f.block_size}"
        )
    err = x - quantize(x, f)
    sig = float(np.dot(x, x))
    noise = float(np.dot(err, err))
    sqnr = math.inf if noise == 0 else 10.0 * math.log10(sig / noise)
    return QuantError(
        format=f.name,
        sqnr_dB=sqnr,
        relative_error=math.sqrt(noise / sig),
        effective_bits=f.effective_bits,
    )


def quant_error(
    fmt: Format | str,
    *,
    seed: int = 0,
    size: int = 16384,
    outlier_fraction: float = 0.0,
    outlier_scale: float = 10.0,
) -> QuantError:
    """SQNR (dB) and relative L2 error of ``fmt`` on the seeded synthetic tensor (cached).

    Formats built with :func:`~models.algorithms.quant.grouped` are cached under their name,
    so pass registry names (``"int4-g128"``) to share the cache.
    """
    f = get_format(fmt)
    _check(size, outlier_fraction, outlier_scale)
    if isinstance(fmt, Format) and get_format(f.name) != f:
        raise ValueError(f"format {f.name!r} is not the registry format of that name; pass a name")
    return _quant_error_cached(
        f.name, int(seed), int(size), float(outlier_fraction), float(outlier_scale)
    )


def quant_error_table(
    formats: Sequence[str],
    *,
    seed: int = 0,
    size: int = 16384,
    outlier_fraction: float = 0.0,
    outlier_scale: float = 10.0,
) -> dict[str, np.ndarray]:
    """SQNR, relative error and effective bits of several formats, as arrays ``(n_formats,)``."""
    res = [
        quant_error(
            f, seed=seed, size=size, outlier_fraction=outlier_fraction, outlier_scale=outlier_scale
        )
        for f in formats
    ]
    return {
        "format": np.array([r.format for r in res]),
        "sqnr_dB": np.array([r.sqnr_dB for r in res]),
        "relative_error": np.array([r.relative_error for r in res]),
        "effective_bits": np.array([r.effective_bits for r in res]),
    }


def clear_cache() -> None:
    """Empty the error and tensor caches (benchmarks measure cold throughput with it)."""
    _quant_error_cached.cache_clear()
    synthetic_tensor.cache_clear()
