"""Quantization formats, their storage cost, and applying a weight/activation/KV choice to a table.

A :class:`Format` describes how one tensor is stored: the bits of each element, and the
shared scale (and zero point) that a block or group of elements carries. Its
:attr:`Format.effective_bits` is what the tensor costs in memory per element:

``effective_bits = element_bits + (scale_bits + zero_bits) / block_size``

Registry names (:func:`get_format`)::

    integer     int8 int4 int3 int2 ternary (1.58 bit) binary
    float       fp32 fp16 bf16 fp8_e4m3 fp8_e5m2 fp6 (E3M2) fp6_e2m3 fp4 (E2M1)
    OCP MX      mxfp8 (E4M3) mxfp8_e5m2 mxfp6 (E3M2) mxfp6_e2m3 mxfp4 (E2M1) mxint8
                (block 32, one E8M0 shared scale: 8 bits per block)
    block fp    bfp<N>[-b<n>]: N - 8 mantissa bits (sign included) and an 8-bit shared
                exponent per block of n (default 32); bfp16 = 8-bit, bfp12 = 4-bit mantissas
    NF4         nf4 (QLoRA normal-float levels, block 64, fp16 absmax scale)
    groups      any integer name + ``-g<size>`` (fp16 scale per group) + optional ``-zp``
                (a zero point of the element width per group) + optional ``-bf16``/``-fp32``
                scale: ``int4-g128``, ``int4-g64-zp``, ``int3-g128-bf16``

Sources: OCP Microscaling Formats (MX) v1.0 specification (block 32, E8M0 scale; element
types FP8 E4M3/E5M2, FP6 E3M2/E2M3, FP4 E2M1, INT8); Dettmers et al., QLoRA (NF4, block 64);
Trukhanov & Soloveychik, arXiv 2403.20137 (BFP12 = 4-bit mantissas + 8-bit shared exponent);
Ma et al., BitNet b1.58 (ternary weights, log2(3) = 1.58 bits).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

from models.hardware.dtypes import DTYPE_BITS, check_dtype
from models.hardware.schema import Target
from models.params import did_you_mean
from models.workloads.table import OperatorTable

__all__ = [
    "Format",
    "QuantConfig",
    "FORMATS",
    "available_formats",
    "get_format",
    "grouped",
    "bfp_format",
    "effective_bits",
    "parse_quant_config",
    "apply_quant",
]

ArrayLike = float | int | np.ndarray

FAMILIES = ("int", "fp", "mx", "bfp", "nf", "ternary", "binary")


@dataclass(frozen=True, kw_only=True)
class Format:
    """How one tensor is stored.

    Attributes
    ----------
    name
        Registry name (``"int4-g128"``, ``"mxfp4"``).
    family
        ``int``, ``fp``, ``mx``, ``bfp``, ``nf``, ``ternary`` or ``binary``; the error proxy
        compares formats within a family.
    element_bits
        Storage bits of one element (1.58 for ternary, log2(3)).
    exponent_bits, mantissa_bits
        For floating-point elements (E, M; sign excluded). 0 for integers.
    block_size
        Elements sharing one scale (and zero point); 0 means one scale per tensor
        (its cost is negligible).
    scale_bits
        Bits of the shared scale per block (8 for E8M0 and BFP exponents, 16 for fp16).
    zero_bits
        Bits of the zero point per block (0 for symmetric formats).
    compute_dtype
        The hardware datatype (:data:`models.hardware.DTYPES`) a native unit would compute
        the elements in (``int4`` for int4, ``fp4`` for mxfp4, ``int2`` for ternary).
    """

    name: str
    family: str
    element_bits: float
    exponent_bits: int = 0
    mantissa_bits: int = 0
    block_size: int = 0
    scale_bits: float = 0.0
    zero_bits: float = 0.0
    compute_dtype: str = "fp16"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(
                f"format {self.name!r}: family={self.family!r}; allowed: {', '.join(FAMILIES)}"
            )
        if not self.element_bits > 0:
            raise ValueError(
                f"format {self.name!r}: element_bits={self.element_bits!r}; must be > 0"
            )
        if self.block_size < 0:
            raise ValueError(f"format {self.name!r}: block_size={self.block_size!r}; must be >= 0")
        check_dtype(self.compute_dtype, where=f"format {self.name!r} compute_dtype")

    @property
    def effective_bits(self) -> float:
        """Storage bits per element including the shared scale and zero point."""
        return float(
            effective_bits(self.element_bits, self.block_size, self.scale_bits, self.zero_bits)
        )

    @property
    def is_float(self) -> bool:
        return self.family in ("fp", "mx") and self.exponent_bits > 0


def effective_bits(
    element_bits: ArrayLike,
    block_size: ArrayLike,
    scale_bits: ArrayLike = 16.0,
    zero_bits: ArrayLike = 0.0,
) -> np.ndarray:
    """Storage bits per element of a block-scaled format, vectorized.

    Parameters
    ----------
    element_bits, block_size, scale_bits, zero_bits
        Broadcastable arrays; ``block_size == 0`` means one scale per tensor (overhead 0).

    Returns
    -------
    ndarray
        ``element_bits + (scale_bits + zero_bits) / block_size``.
    """
    b = np.asarray(block_size, dtype=np.float64)
    if np.any(b < 0) or np.any(~np.isfinite(b)):
        raise ValueError(f"block_size={block_size!r}; must be >= 0 (0 = per-tensor scale)")
    over = np.divide(
        np.asarray(scale_bits, dtype=np.float64) + np.asarray(zero_bits, dtype=np.float64),
        b,
        out=np.zeros(np.broadcast(b, scale_bits, zero_bits).shape),
        where=b > 0,
    )
    return np.asarray(element_bits, dtype=np.float64) + over


def _int(name: str, bits: int, dtype: str) -> Format:
    return Format(name=name, family="int", element_bits=bits, compute_dtype=dtype)


def _fp(
    name: str, e: int, m: int, dtype: str, family: str = "fp", block: int = 0, scale: float = 0.0
) -> Format:
    return Format(
        name=name,
        family=family,
        element_bits=1 + e + m,
        exponent_bits=e,
        mantissa_bits=m,
        block_size=block,
        scale_bits=scale,
        compute_dtype=dtype,
    )


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        _int("int8", 8, "int8"),
        _int("int4", 4, "int4"),
        _int("int3", 3, "int4"),
        _int("int2", 2, "int2"),
        Format(name="ternary", family="ternary", element_bits=math.log2(3), compute_dtype="int2"),
        Format(name="binary", family="binary", element_bits=1, compute_dtype="int1"),
        _fp("fp32", 8, 23, "fp32"),
        _fp("fp16", 5, 10, "fp16"),
        _fp("bf16", 8, 7, "bf16"),
        _fp("fp8_e4m3", 4, 3, "fp8"),
        _fp("fp8_e5m2", 5, 2, "fp8"),
        _fp("fp6", 3, 2, "fp6"),
        _fp("fp6_e2m3", 2, 3, "fp6"),
        _fp("fp4", 2, 1, "fp4"),
        # OCP MX v1.0: 32 elements share one E8M0 scale (8 bits).
        _fp("mxfp8", 4, 3, "fp8", "mx", 32, 8),
        _fp("mxfp8_e5m2", 5, 2, "fp8", "mx", 32, 8),
        _fp("mxfp6", 3, 2, "fp6", "mx", 32, 8),
        _fp("mxfp6_e2m3", 2, 3, "fp6", "mx", 32, 8),
        _fp("mxfp4", 2, 1, "fp4", "mx", 32, 8),
        Format(
            name="mxint8",
            family="mx",
            element_bits=8,
            block_size=32,
            scale_bits=8,
            compute_dtype="int8",
        ),
        # QLoRA NF4: 4-bit index into 16 normal-quantile levels, fp16 absmax per block of 64.
        Format(
            name="nf4",
            family="nf",
            element_bits=4,
            block_size=64,
            scale_bits=16,
            compute_dtype="fp16",
        ),
    )
}
FP_ALIASES = {
    "fp8": "fp8_e4m3",
    "e4m3": "fp8_e4m3",
    "e5m2": "fp8_e5m2",
    "fp6_e3m2": "fp6",
    "fp4_e2m1": "fp4",
    "mxfp4_e2m1": "mxfp4",
    "mxfp6_e3m2": "mxfp6",
    "mxfp8_e4m3": "mxfp8",
    "int1": "binary",
    "int1.58": "ternary",
}

SCALE_DTYPE_BITS = {"fp16": 16, "bf16": 16, "fp32": 32, "fp8": 8, "e8m0": 8}


def bfp_format(mantissa_bits: int, block_size: int = 32, exponent_bits: int = 8) -> Format:
    """Block floating point: ``block_size`` signed ``mantissa_bits`` integers share one exponent.

    Named ``bfp<mantissa_bits + exponent_bits>`` (BFP12 = 4-bit mantissas + 8-bit exponent),
    with ``-b<n>`` when the block is not 32.
    """
    if not (isinstance(mantissa_bits, int) and 2 <= mantissa_bits <= 24):
        raise ValueError(
            f"bfp mantissa_bits={mantissa_bits!r}; allowed: integers 2..24 (sign included)"
        )
    if not (isinstance(block_size, int) and block_size >= 1):
        raise ValueError(f"bfp block_size={block_size!r}; allowed: integers >= 1")
    if not (isinstance(exponent_bits, int) and 1 <= exponent_bits <= 16):
        raise ValueError(f"bfp exponent_bits={exponent_bits!r}; allowed: integers 1..16")
    dtype = "int8" if mantissa_bits > 4 else ("int4" if mantissa_bits > 2 else "int2")
    if mantissa_bits > 8:
        dtype = "int16"
    name = f"bfp{mantissa_bits + exponent_bits}" + ("" if block_size == 32 else f"-b{block_size}")
    return Format(
        name=name,
        family="bfp",
        element_bits=mantissa_bits,
        block_size=block_size,
        scale_bits=exponent_bits,
        compute_dtype=dtype,
    )


def grouped(
    fmt: Format | str, group_size: int, *, scale_dtype: str = "fp16", zero_point: bool = False
) -> Format:
    """``fmt`` with one scale (and optionally one zero point) per group of ``group_size`` elements.

    The zero point is stored at the element width (as in GPTQ/AWQ packing).
    """
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    if f.family not in ("int", "ternary", "binary"):
        raise ValueError(
            f"grouped(): format {f.name!r} has its own block scaling; groups are for integers"
        )
    if not (isinstance(group_size, int | np.integer) and group_size >= 1):
        raise ValueError(f"group_size={group_size!r}; allowed: integers >= 1")
    if scale_dtype not in SCALE_DTYPE_BITS:
        raise ValueError(f"scale_dtype={scale_dtype!r}; allowed: {', '.join(SCALE_DTYPE_BITS)}")
    name = (
        f"{f.name}-g{int(group_size)}"
        + ("-zp" if zero_point else "")
        + ("" if scale_dtype == "fp16" else f"-{scale_dtype}")
    )
    return replace(
        f,
        name=name,
        block_size=int(group_size),
        scale_bits=float(SCALE_DTYPE_BITS[scale_dtype]),
        zero_bits=float(math.ceil(f.element_bits)) if zero_point else 0.0,
    )


_GROUP_RE = re.compile(
    r"^(?P<base>[a-z0-9_.]+?)-g(?P<g>\d+)(?P<zp>-zp)?(?:-(?P<sd>fp16|bf16|fp32|fp8|e8m0))?$"
)
_BFP_RE = re.compile(r"^bfp(?P<n>\d+)(?:-b(?P<b>\d+))?$")


def available_formats() -> tuple[str, ...]:
    """Names of the fixed registry formats (groups and bfp sizes are parsed on top)."""
    return tuple(FORMATS)


def get_format(name: str | Format) -> Format:
    """Look up a format by name (see the module docstring for the grammar).

    Raises
    ------
    KeyError
        Unknown name; the message lists the allowed names and patterns.
    """
    if isinstance(name, Format):
        return name
    if not isinstance(name, str):
        raise KeyError(f"format={name!r}: a format name (str) is required")
    key = name.strip().lower()
    key = FP_ALIASES.get(key, key)
    if key in FORMATS:
        return FORMATS[key]
    m = _BFP_RE.match(key)
    if m:
        n = int(m["n"])
        if n - 8 < 2:
            raise KeyError(
                f"format={name!r}: bfp<N> needs N >= 10 (8-bit exponent + >= 2-bit mantissa)"
            )
        return bfp_format(n - 8, int(m["b"]) if m["b"] else 32)
    m = _GROUP_RE.match(key)
    if m:
        base = FP_ALIASES.get(m["base"], m["base"])
        if base not in FORMATS:
            raise KeyError(
                f"format={name!r}: unknown base format {m['base']!r}{did_you_mean(m['base'], FORMATS)}; "
                f"allowed: {', '.join(FORMATS)}"
            )
        try:
            return grouped(
                base, int(m["g"]), scale_dtype=m["sd"] or "fp16", zero_point=bool(m["zp"])
            )
        except ValueError as exc:
            raise KeyError(f"format={name!r}: {exc}") from None
    raise KeyError(
        f"format={name!r} is unknown{did_you_mean(name, [*FORMATS, *FP_ALIASES])}; allowed: "
        f"{', '.join(FORMATS)}, bfp<N>[-b<n>], <int format>-g<size>[-zp][-bf16|-fp32]"
    )


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True, kw_only=True)
class QuantConfig:
    """Formats of the weights, the activations and the KV cache."""

    weight: Format
    act: Format
    kv: Format

    @property
    def name(self) -> str:
        return f"W[{self.weight.name}]A[{self.act.name}]KV[{self.kv.name}]"


_BITS_TO_FORMAT = {
    "16": "fp16",
    "32": "fp32",
    "8": "int8",
    "4": "int4",
    "3": "int3",
    "2": "int2",
    "1.58": "ternary",
    "1.5": "ternary",
    "1": "binary",
}
_CFG_RE = re.compile(r"^w(?P<w>[a-z0-9_.\-]+?)a(?P<a>[a-z0-9_.\-]+?)(?:kv(?P<kv>[a-z0-9_.\-]+))?$")


def _part(tok: str, what: str, text: str) -> Format:
    tok = tok.strip("-_")
    try:
        return get_format(_BITS_TO_FORMAT.get(tok, tok))
    except KeyError as exc:
        raise KeyError(f"quant config {text!r}: {what} part {tok!r}: {exc.args[0]}") from None


def parse_quant_config(
    text: str | QuantConfig, *, weight_group_size: int | None = None
) -> QuantConfig:
    """Parse ``"W4A16"``, ``"W8A8"``, ``"W4A8"``, ``"W4A4KV4"``, ``"W1.58A8"``, ``"Wnf4A16"``...

    A number is an integer format of that width (16 and 32 mean fp16/fp32, 1.58 ternary,
    1 binary); any registry name may stand instead (``"Wmxfp4Amxfp8"``). The KV cache takes
    the activation format unless ``KV`` is given. ``weight_group_size`` adds per-group fp16
    scales to an integer weight format.
    """
    if isinstance(text, QuantConfig):
        return text
    m = _CFG_RE.match(str(text).strip().lower())
    if not m:
        raise ValueError(
            f"quant config {text!r}: expected W<fmt>A<fmt>[KV<fmt>], e.g. W4A16, W8A8, W4A4KV4"
        )
    w = _part(m["w"], "weight", text)
    a = _part(m["a"], "activation", text)
    kv = _part(m["kv"], "kv", text) if m["kv"] else a
    if (
        weight_group_size is not None
        and w.family in ("int", "ternary", "binary")
        and w.block_size == 0
    ):
        w = grouped(w, weight_group_size)
    return QuantConfig(weight=w, act=a, kv=kv)


# --------------------------------------------------------------------------- tables

_W_KINDS = ("gemm", "gemv", "conv", "dwconv")


def _storage_dtype(fmt: Format) -> str:
    """The hardware datatype used to label a tensor stored in ``fmt`` (meta columns)."""
    return fmt.compute_dtype


def _ratio(new_bits: float, old_bits: float) -> float:
    return new_bits / old_bits if old_bits > 0 else 1.0


def _first_bits(dtypes: list[str], default: str) -> float:
    return float(DTYPE_BITS[next((d for d in dtypes if d), default)])


def apply_quant(
    table: OperatorTable,
    config: QuantConfig | str,
    *,
    strategy: str = "dequant",
    target: Target | None = None,
    fallback: bool = False,
) -> OperatorTable:
    """Store weights, activations and KV cache of ``table`` in the formats of ``config``.

    Bytes are rescaled by ``effective_bits / current bits`` (the current bits come from the
    meta datatype columns), per operator. Weights are those of matrix, convolution and embedding
    operators; normalization gains keep their datatype (quantizers leave them in high
    precision). The footprint is rescaled by the ratio of new to old total bytes. The compute
    datatype of weight-bearing GEMM-like operators follows the strategy:

    - ``"dequant"``: weights are expanded to the activation format; compute in the
      activation's datatype (fp16 for A16, int8 for A8).
    - ``"native"``: compute in the wider of the weight and activation datatypes, which the
      target must run natively (checked when ``target`` is given; ``fallback=True`` allows
      the engine fallback chain instead of raising).

    Other operators compute in the activation format when it is a float format, else keep
    their datatype (norms and softmax stay in high precision). Attention reads the KV cache
    at the KV format.

    Resident memory follows the formats: with the table's ``memory_parts_B``, the weights
    become ``parameters x effective weight bits / 8`` and the KV cache and the activations
    scale by their bit ratios; without them, the weights' change is added to ``peak_memory_B``.

    Returns a new table; the original is not changed.
    """
    cfg = parse_quant_config(config)
    if strategy not in ("dequant", "native"):
        raise ValueError(
            f"strategy={strategy!r}; allowed: dequant, native (other strategies price single "
            "GEMMs in models.algorithms.lowbit_gemm)"
        )
    meta = table.meta
    kinds = meta["kind"].to_list()
    wdt, adt, kdt = (meta[c].to_list() for c in ("weight_dtype", "act_dtype", "kv_dtype"))
    cols = []
    for i, c in enumerate(table.columns):
        quantized = kinds[i] in _W_KINDS or kinds[i] == "embedding"
        rw = _ratio(cfg.weight.effective_bits, DTYPE_BITS[wdt[i]] if wdt[i] and quantized else 0.0)
        ra = _ratio(cfg.act.effective_bits, DTYPE_BITS[adt[i]] if adt[i] else 0.0)
        rk = _ratio(cfg.kv.effective_bits, DTYPE_BITS[kdt[i]] if kdt[i] else 0.0)
        old = table.column_bytes_B(i)
        new = dict(c)
        new["weight_read_B"] = c["weight_read_B"] * rw
        new["act_read_B"] = c["act_read_B"] * ra
        new["act_write_B"] = c["act_write_B"] * ra
        new["kv_read_B"] = c["kv_read_B"] * rk
        new["kv_write_B"] = c["kv_write_B"] * rk
        nb = new["weight_read_B"] + new["act_read_B"] + new["act_write_B"] + new["kv_read_B"] + new["kv_write_B"]
        new["footprint_B"] = c["footprint_B"] * np.where(old > 0, nb / np.where(old > 0, old, 1.0), 1.0)
        cols.append(new)

    wd, ad, kd = _storage_dtype(cfg.weight), _storage_dtype(cfg.act), _storage_dtype(cfg.kv)
    act_compute = cfg.act.compute_dtype
    if strategy == "native":
        gemm_dtype = wd if DTYPE_BITS[wd] >= DTYPE_BITS[act_compute] else act_compute
        if target is not None and not fallback:
            native = set(target.native_dtypes())
            if gemm_dtype not in native:
                raise ValueError(
                    f"strategy='native': target {target.name!r} has no native "
                    f"{gemm_dtype!r} rate (native: {', '.join(sorted(native))}); use "
                    "strategy='dequant' or fallback=True"
                )
    else:
        gemm_dtype = act_compute
    comp, wcol, acol, kvcol = [], [], [], []
    old_comp = meta["compute_dtype"].to_list()
    for i, k in enumerate(kinds):
        has_w = bool(wdt[i])
        quantized = k in _W_KINDS or k == "embedding"
        if k in _W_KINDS and has_w:
            comp.append(gemm_dtype)
        elif k in ("gemm", "gemv", "attention") and cfg.act.is_float:
            comp.append(act_compute)  # activation x activation products in the activation format
        else:
            comp.append(old_comp[i])  # norms, softmax, integer-activation attention keep theirs
        wcol.append((wd if quantized else wdt[i]) if has_w else "")
        acol.append(ad if adt[i] else "")
        kvcol.append(kd if kdt[i] else "")
    acc = ["int32" if c.startswith("int") else "fp32" for c in comp]

    old_w = _first_bits(wdt, "bf16")
    new_weights = table.total_params() * cfg.weight.effective_bits / 8.0
    peak: dict[str, np.ndarray] = {}
    parts_out: dict[str, dict[str, np.ndarray]] = {}
    for ph, total in table.peak_memory_B.items():
        parts = table.memory_parts_B.get(ph)
        if parts is None:
            peak[ph] = total + table.total_params() * (cfg.weight.effective_bits - old_w) / 8.0
            continue
        scale = {"kv_cache": _ratio(cfg.kv.effective_bits, _first_bits(kdt, "bf16")),
                 "activations": _ratio(cfg.act.effective_bits, _first_bits(adt, "bf16"))}
        p2 = {name: (new_weights if name == "weights" else v * scale.get(name, 1.0)) for name, v in parts.items()}
        parts_out[ph] = p2
        peak[ph] = sum(p2.values(), np.zeros(1))
    out = replace(table, columns=tuple(cols), peak_memory_B=peak, memory_parts_B=parts_out)
    return out.with_meta(
        compute_dtype=comp, weight_dtype=wcol, act_dtype=acol, kv_dtype=kvcol, acc_dtype=acc
    )
