"""Mixed-precision GEMM strategies: what a low-bit GEMM/GEMV costs under each kernel strategy.

Each strategy prices ``C[m, n] = A[m, k] @ W[k, n]`` with weights in one format and
activations in another, and returns a :class:`GemmCost`: operations per datatype (the MAC
work and the extra work the strategy adds), bytes, and the on-chip table it needs. The
design-point builder (:func:`models.point.build_point`, knob ``gemm_strategy``) turns it into
operator rows: the GEMM row keeps its kind and takes the main work, and the extra work becomes
one ``elementwise`` row per datatype so vector units take it.

Op convention (CPU SIMD kernels). Every SIMD lane operation (a lookup, an add, a mask or a
shift) occupies the same issue slot as one lane of an int8 multiply-accumulate, so it is
counted as 2 int8 ops (a MAC is 2 ops). Then an engine's ``ops_per_cycle.int8`` prices all
of them. Lane-slots per weight element:

- ``dequant`` (llama.cpp style, activations quantized to int8): unpack 2 (mask/shift and
  offset) for sub-byte weights, 1 MAC, 1 scale multiply per block of <= 32, +1 for a
  per-block minimum (zero point, k-quants).
- ``lut`` (T-MAC, Wei et al. EuroSys 2025): activations are grouped by ``g`` (4); per group
  a table of the ``2^g`` signed sums is precomputed (``2^(g-1)`` with mirror consolidation);
  each weight bit-plane does one lookup per ``g`` weights and one widening (int8 -> int16)
  add, which costs 2 slots: ``3 b_w / g`` slots per weight, linear in the weight bits.
- ``bitserial`` (arbitrary precision on tensor cores, Ma et al. arXiv 2409.17870):
  ``b_w x b_a`` one-bit GEMMs (int1 rate) plus a shift-and-add recombination per output.
- ``mixpe`` (MixPE, arXiv 2411.16158): integer GEMM per group, dequantize once per group
  output (one fp32 multiply-add per m x n x k/group) instead of per weight; with
  ``shift_add=True`` the int4 x int8 multiplies are shift-and-add (energy, see :func:`lmul_energy`).
- ``accumulate`` (MatMul-free LM, Zhu et al. arXiv 2406.02528): ternary/binary weights make the
  GEMM ``m n k`` signed additions, no multiply; one lane slot per add, two scales per output.
- ``native``: the wider of the two datatypes on units that have it; per-group scales add a
  fp32 multiply-add per group output, like MixPE. Raises unless the target has the rate
  (``fallback=True`` accepts the engine's fallback chain explicitly).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from models.algorithms.quant import Format, get_format
from models.hardware.dtypes import DTYPE_BITS
from models.hardware.schema import Target
from models.params import did_you_mean

__all__ = [
    "GemmCost",
    "STRATEGIES",
    "price_gemm",
    "dequant_gemm",
    "native_gemm",
    "lut_gemm",
    "bitserial_gemm",
    "mixpe_gemm",
    "accumulate_gemm",
    "lmul_energy",
    "LMUL_ENERGY_45NM_J",
]

ArrayLike = float | int | np.ndarray


@dataclass(frozen=True, kw_only=True)
class GemmCost:
    """Cost of one low-bit GEMM under one strategy; arrays broadcast over design points.

    Attributes
    ----------
    op_by_dtype
        ``dtype -> ops`` of the main (MAC / lookup) work, 2 ops per MAC-slot.
    extra_op_by_dtype
        ``dtype -> ops`` of extra work (dequantization, table precompute, scales, recombination).
    weight_read_B, act_read_B, act_write_B
        Bytes per GEMM instance.
    table_B
        On-chip table bytes the strategy needs for one k-tile of ``k_tile`` (0 if none).
    n_mult, n_add
        Multiplications and additions of the GEMM, where a strategy counts them (``accumulate``).
    """

    strategy: str
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    op_by_dtype: Mapping[str, np.ndarray]
    extra_op_by_dtype: Mapping[str, np.ndarray] = field(default_factory=dict)
    weight_read_B: np.ndarray = field(default_factory=lambda: np.zeros(1))
    act_read_B: np.ndarray = field(default_factory=lambda: np.zeros(1))
    act_write_B: np.ndarray = field(default_factory=lambda: np.zeros(1))
    table_B: np.ndarray = field(default_factory=lambda: np.zeros(1))
    n_mult: np.ndarray | None = None
    n_add: np.ndarray | None = None

    @property
    def total_op(self) -> np.ndarray:
        tot = np.zeros(1)
        for v in (*self.op_by_dtype.values(), *self.extra_op_by_dtype.values()):
            tot = tot + v
        return tot


def _shape(m: ArrayLike, n: ArrayLike, k: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = []
    for nm, v in (("m", m), ("n", n), ("k", k)):
        a = np.asarray(v, dtype=np.float64)
        if np.any(~np.isfinite(a)) or np.any(a < 1):
            raise ValueError(f"gemm {nm}={v!r}; must be >= 1")
        out.append(a)
    return out[0], out[1], out[2]


def _cost(
    strategy: str,
    m: np.ndarray,
    n: np.ndarray,
    k: np.ndarray,
    w: Format,
    a: Format,
    **cost: object,
) -> GemmCost:
    """A strategy's :class:`GemmCost` with the bytes every strategy moves: weights ``n k`` at
    the weight format's effective bits, activations ``m k`` in and ``m n`` out at the
    activation format's."""
    return GemmCost(
        strategy=strategy,
        m=m,
        n=n,
        k=k,
        weight_read_B=n * k * w.effective_bits / 8.0,
        act_read_B=m * k * a.effective_bits / 8.0,
        act_write_B=m * n * a.effective_bits / 8.0,
        **cost,  # type: ignore[arg-type]
    )


def _check_block(w: Format, k: np.ndarray) -> None:
    if w.block_size and np.any(np.mod(k, w.block_size) != 0):
        raise ValueError(
            f"weight format {w.name!r}: block/group size {w.block_size} does not divide k={k!r}"
        )


def _mac_dtype(a: Format) -> str:
    """Datatype the MACs run in after dequantizing weights to the activation format."""
    return a.compute_dtype


def dequant_gemm(
    m: ArrayLike, n: ArrayLike, k: ArrayLike, weight: Format | str, act: Format | str
) -> GemmCost:
    """Dequantize the weights, then GEMM in the activation's datatype (see module docstring)."""
    w, a = get_format(weight), get_format(act)
    m_, n_, k_ = _shape(m, n, k)
    _check_block(w, k_)
    unpack = 2.0 if w.element_bits < 8 else 0.0
    scale = 0.0
    if w.block_size:
        scale = min(1.0, 32.0 / w.block_size)
    zp = 1.0 if w.zero_bits else 0.0
    per_weight_slots = unpack + scale + zp
    # the expansion is done once per weight element per GEMM (ideal reuse across the m rows),
    # but for m >= 1 never less than once per weight
    extra = 2.0 * per_weight_slots * n_ * k_
    mac = _mac_dtype(a)
    return _cost(
        "dequant",
        m_,
        n_,
        k_,
        w,
        a,
        op_by_dtype={mac: 2.0 * m_ * n_ * k_},
        extra_op_by_dtype={mac: extra} if extra.any() else {},
    )


def _native_dtypes(target: Target) -> set[str]:
    return set(target.native_dtypes())


def native_gemm(
    m: ArrayLike,
    n: ArrayLike,
    k: ArrayLike,
    weight: Format | str,
    act: Format | str,
    *,
    target: Target | None = None,
    fallback: bool = False,
) -> GemmCost:
    """GEMM on native low-precision units in the wider of the two datatypes; per-group scales
    are applied to each group's partial sums (fp32 multiply-add per ``m n k / group``)."""
    w, a = get_format(weight), get_format(act)
    m_, n_, k_ = _shape(m, n, k)
    _check_block(w, k_)
    dt = (
        w.compute_dtype
        if DTYPE_BITS[w.compute_dtype] >= DTYPE_BITS[a.compute_dtype]
        else a.compute_dtype
    )
    if target is not None and not fallback and dt not in _native_dtypes(target):
        raise ValueError(
            f"strategy='native': target {target.name!r} has no native {dt!r} rate "
            f"(native: {', '.join(sorted(_native_dtypes(target)))}); choose another strategy or "
            "fallback=True"
        )
    blocks = [f.block_size for f in (w, a) if f.block_size]
    extra: dict[str, np.ndarray] = {}
    if blocks:
        extra["fp32"] = 2.0 * m_ * n_ * k_ / min(blocks)
    return _cost(
        "native",
        m_,
        n_,
        k_,
        w,
        a,
        op_by_dtype={dt: 2.0 * m_ * n_ * k_},
        extra_op_by_dtype=extra,
    )


def lut_gemm(
    m: ArrayLike,
    n: ArrayLike,
    k: ArrayLike,
    weight: Format | str,
    act: Format | str = "fp16",
    *,
    g: int = 4,
    table_entry_bits: int = 8,
    mirror: bool = True,
    k_tile: ArrayLike | None = None,
    onchip_capacity_B: float | None = None,
) -> GemmCost:
    """T-MAC table-lookup GEMM (see module docstring); int8 lane ops, linear in weight bits.

    Parameters
    ----------
    g
        Activations per table index (4 in T-MAC: a 16-entry table fits one 128-bit register).
    table_entry_bits
        Bits of one table entry (8 after T-MAC's table quantization).
    k_tile
        Reduction length whose tables are kept on chip at once (default: all of ``k``).
    onchip_capacity_B
        If given, raise when the tables of one k-tile exceed it.
    """
    w = get_format(weight)
    a = get_format(act)
    m_, n_, k_ = _shape(m, n, k)
    _check_block(w, k_)
    if g not in (1, 2, 3, 4, 5, 6, 7, 8):
        raise ValueError(f"lut g={g!r}; allowed: integers 1..8")
    if np.any(np.mod(k_, g) != 0):
        raise ValueError(f"lut g={g} does not divide k={k!r}")
    bits = float(np.ceil(w.element_bits))  # ternary stored as 2 bit-planes
    entries = 2.0 ** (g - 1 if mirror else g)
    lookups = m_ * n_ * k_ * bits / g
    main = 2.0 * (lookups + 2.0 * lookups)  # lookup slot + widening-add (2 slots) per lookup
    precompute = 2.0 * m_ * (k_ / g) * entries * 2.0  # one add + one quantize per entry
    scale = 2.0 * m_ * n_ * k_ / w.block_size if w.block_size else 0.0 * m_
    kt = k_ if k_tile is None else np.asarray(k_tile, dtype=np.float64)
    table_B = (kt / g) * entries * table_entry_bits / 8.0
    if onchip_capacity_B is not None and np.any(table_B > onchip_capacity_B):
        raise ValueError(
            f"lut tables need {float(np.max(table_B)):.0f} B per k-tile but onchip_capacity_B="
            f"{onchip_capacity_B:.0f}; reduce k_tile or g"
        )
    return _cost(
        "lut",
        m_,
        n_,
        k_,
        w,
        a,
        op_by_dtype={"int8": main},
        extra_op_by_dtype={"int8": precompute + scale},
        table_B=table_B,
    )


def bitserial_gemm(
    m: ArrayLike, n: ArrayLike, k: ArrayLike, weight: Format | str, act: Format | str
) -> GemmCost:
    """``b_w x b_a`` one-bit GEMMs at the int1 rate, then a shift-and-add per output per pair."""
    w, a = get_format(weight), get_format(act)
    if a.is_float:
        raise ValueError(f"bitserial: activation format {a.name!r} must be an integer format")
    m_, n_, k_ = _shape(m, n, k)
    bw, ba = float(np.ceil(w.element_bits)), float(np.ceil(a.element_bits))
    return _cost(
        "bitserial",
        m_,
        n_,
        k_,
        w,
        a,
        op_by_dtype={"int1": 2.0 * m_ * n_ * k_ * bw * ba},
        extra_op_by_dtype={"int32": 2.0 * m_ * n_ * bw * ba},
    )


def mixpe_gemm(
    m: ArrayLike,
    n: ArrayLike,
    k: ArrayLike,
    weight: Format | str,
    act: Format | str,
    *,
    group_size: int | None = None,
) -> GemmCost:
    """Per-group integer GEMM, dequantized once per group output (MixPE)."""
    w, a = get_format(weight), get_format(act)
    m_, n_, k_ = _shape(m, n, k)
    gs = group_size or w.block_size or 128
    if np.any(np.mod(k_, gs) != 0):
        raise ValueError(f"mixpe group_size={gs} does not divide k={k!r}")
    dt = a.compute_dtype if not a.is_float else "int8"
    return _cost(
        "mixpe",
        m_,
        n_,
        k_,
        w,
        a,
        op_by_dtype={dt: 2.0 * m_ * n_ * k_},
        extra_op_by_dtype={"fp32": 2.0 * m_ * n_ * k_ / gs},
    )


def accumulate_gemm(
    m: ArrayLike, n: ArrayLike, k: ArrayLike, weight: Format | str, act: Format | str
) -> GemmCost:
    """Ternary or binary weights as additions only (MatMul-free LM's BitLinear, BitNet b1.58).

    With ``W`` in ``{-1, 0, +1}`` (ternary) or ``{-1, +1}`` (binary) each output is a signed sum
    of its ``k`` inputs: ``m n k`` additions, no multiplication. Each add takes one lane slot
    (2 ops in the activation's compute datatype, the module's op convention); the two absmax
    scales (weight and activation) are one fp32 multiply per output, ``2 m n`` extra ops.
    ``n_mult`` / ``n_add`` give the primitive counts.
    """
    w, a = get_format(weight), get_format(act)
    if w.family not in ("ternary", "binary"):
        raise ValueError(f"accumulate: weight format {w.name!r} must be ternary or binary (only weights in "
                         "{-1, 0, +1} make a product an addition)")
    m_, n_, k_ = _shape(m, n, k)
    adds = m_ * n_ * k_
    return _cost(
        "accumulate",
        m_,
        n_,
        k_,
        w,
        a,
        op_by_dtype={a.compute_dtype: 2.0 * adds},
        extra_op_by_dtype={"fp32": 2.0 * m_ * n_},
        n_add=adds,
        n_mult=m_ * n_,
    )


STRATEGIES = {
    "dequant": dequant_gemm,
    "native": native_gemm,
    "lut": lut_gemm,
    "bitserial": bitserial_gemm,
    "mixpe": mixpe_gemm,
    "accumulate": accumulate_gemm,
}


def price_gemm(
    strategy: str,
    m: ArrayLike,
    n: ArrayLike,
    k: ArrayLike,
    weight: Format | str,
    act: Format | str,
    **kw: object,
) -> GemmCost:
    """Dispatch to a strategy by name: dequant, native, lut, bitserial, mixpe or accumulate."""
    if strategy not in STRATEGIES:
        raise KeyError(f"gemm strategy={strategy!r}{did_you_mean(strategy, STRATEGIES)}; allowed: "
                       f"{', '.join(STRATEGIES)}")
    return STRATEGIES[strategy](m, n, k, weight, act, **kw)


# --------------------------------------------------------------------------- L-Mul

# Horowitz, ISSCC 2014, 45 nm (published-numbers.md C1): energy per operation.
LMUL_ENERGY_45NM_J = {
    "fp32_mul": 3.7e-12,
    "fp32_add": 0.9e-12,
    "int32_add": 0.1e-12,
    "fp16_mul": 1.1e-12,
    "fp16_add": 0.4e-12,
    "int8_add": 0.03e-12,
}


def lmul_energy(
    n_elements: ArrayLike, *, mode: str = "elementwise", precision: str = "fp32"
) -> dict[str, np.ndarray]:
    """Energy of ``n_elements`` multiplies (elementwise) or of a length-n dot product, with
    floating-point multipliers vs L-Mul (each multiply replaced by one integer add of the
    same width, Luo & Sun arXiv 2410.00907), from the Horowitz 45 nm table.

    A dot product of length n costs n multiplies and n - 1 ~ n float additions; L-Mul keeps
    the float additions. Returns ``{"fp_J", "lmul_J", "saving"}``.
    """
    if mode not in ("elementwise", "dot"):
        raise ValueError(f"lmul mode={mode!r}; allowed: elementwise, dot")
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"lmul precision={precision!r}; allowed: fp32, fp16")
    n = np.asarray(n_elements, dtype=np.float64)
    e = LMUL_ENERGY_45NM_J
    mul, add = e[f"{precision}_mul"], e[f"{precision}_add"]
    iadd = (
        e["int32_add"] if precision == "fp32" else e["int32_add"] / 2.0
    )  # 16-bit integer adder: half of 32-bit
    fp = n * mul + (n * add if mode == "dot" else 0.0)
    lm = n * iadd + (n * add if mode == "dot" else 0.0)
    return {"fp_J": fp, "lmul_J": lm, "saving": 1.0 - lm / fp}
