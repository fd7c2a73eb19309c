"""Softmax pass structures: how many sweeps over the data, how many bytes and exponentials.

Variants (Dukhan & Ablavatski, "The Two-Pass Softmax Algorithm", arXiv 2001.04438; the online
softmax of Milakov & Gimelshein, arXiv 1805.02867; the fused form of FlashAttention):

``three_pass_recompute``
    pass 1 max; pass 2 ``sum exp(x - max)``; pass 3 recompute ``exp(x - max) / sum`` and write.
``three_pass_reload``
    pass 1 max; pass 2 write ``exp(x - max)`` and sum it; pass 3 reload, scale, write.
``two_pass``
    pass 1 sums ``exp(x)`` held as (mantissa, exponent) pairs, so no max pass is needed;
    pass 2 recomputes ``exp(x)`` as a pair, scales by the inverse sum and writes.
``online``
    pass 1 keeps a running max and rescales the running sum (one extra exponential per
    element for the rescale, per SIMD lane); pass 2 recomputes and writes.
``fused_attention``
    the scores never leave registers/SRAM (FlashAttention-style): one exponential per score,
    no main-memory traffic for the softmax itself (the normalization is applied to the output
    block, not to the scores).

Each pass is one operator of kind ``softmax`` in an operator table (the ``softmax_variant`` knob
of :func:`models.point.build_point` puts them in any table), so the perf model prices it:
``time = max(compute, bytes / bandwidth of the home level) + overhead`` per pass,
where the home level is decided by the working set (input + output tensors): a softmax whose
tensors fit in a cache streams from that cache in every pass, one that does not streams from
DRAM in every pass.

Operation counts are in *vector-issue slots per element*, priced at one FMA slot each, i.e.
2 FLOP of the engine's FMA-based peak per slot. An exponential costs :data:`EXP_SLOTS` slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.hardware import Target
from models.workloads import OperatorTable, bytes_per_element, elementwise, table_from_ops

__all__ = [
    "EXP_SLOTS",
    "SOFTMAX_VARIANTS",
    "PassSpec",
    "SoftmaxCounts",
    "default_write_allocate",
    "softmax_counts",
    "softmax_passes",
    "softmax_table",
]

ArrayLike = float | int | np.ndarray

SOFTMAX_VARIANTS = ("three_pass_recompute", "three_pass_reload", "two_pass", "online", "fused_attention")

# Vector-issue slots of one vectorized exp: Cody-Waite range reduction (round via a magic-bias
# FMA, subtract, two FMAs for n*ln2_hi/lo), a degree-5 polynomial by Horner (5 FMAs), and the
# reconstruction by 2^n (1 scalef) = 10. This is the structure of the AVX-512 exp in
# google/XNNPACK (src/f32-raddstoreexpminusmax); assumption documented in docs/models.md.
EXP_SLOTS = 10.0
# FLOP of the engine's peak per issue slot: peaks count an FMA as 2 FLOP.
FLOP_PER_SLOT = 2.0


@dataclass(frozen=True, kw_only=True)
class PassSpec:
    """One sweep over the data, per element: element loads, stores, exponentials, other ops."""

    name: str
    reads: float
    writes: float
    n_exp: float
    n_other: float


# Per-pass counts (per element). "other" = max/sub/add/mul/scalef slots besides the exp.
_PASSES: dict[str, tuple[PassSpec, ...]] = {
    "three_pass_recompute": (
        PassSpec(name="max", reads=1, writes=0, n_exp=0, n_other=1),  # vmax
        PassSpec(name="sum_exp", reads=1, writes=0, n_exp=1, n_other=2),  # sub, add
        PassSpec(name="recompute_scale", reads=1, writes=1, n_exp=1, n_other=2),  # sub, mul
    ),
    "three_pass_reload": (
        PassSpec(name="max", reads=1, writes=0, n_exp=0, n_other=1),  # vmax
        PassSpec(name="store_exp_sum", reads=1, writes=1, n_exp=1, n_other=2),  # sub, add; store exp
        PassSpec(name="reload_scale", reads=1, writes=1, n_exp=0, n_other=1),  # mul
    ),
    "two_pass": (
        # exp as a (mantissa, exponent) pair; accumulate: max of exponents, two rescales by
        # 2^(e - e_max) (scalef), add
        PassSpec(name="sum_exp_pairs", reads=1, writes=0, n_exp=1, n_other=4),
        # recompute the pair, exponent difference, scalef, multiply by 1/sum mantissa
        PassSpec(name="recompute_scale", reads=1, writes=1, n_exp=1, n_other=3),
    ),
    "online": (
        # running max, x - m, exp, rescale exp(m_old - m_new), multiply-add into the sum
        PassSpec(name="max_sum_online", reads=1, writes=0, n_exp=2, n_other=4),
        PassSpec(name="recompute_scale", reads=1, writes=1, n_exp=1, n_other=2),  # sub, mul
    ),
    "fused_attention": (
        # scores stay on chip: running max, sub, exp, add (the rescale is per row block)
        PassSpec(name="fused_online", reads=0, writes=0, n_exp=1, n_other=3),
    ),
}


def _check_variant(variant: str) -> str:
    if variant not in _PASSES:
        raise ValueError(f"variant={variant!r}: unknown softmax variant; allowed: {', '.join(SOFTMAX_VARIANTS)}")
    return variant


def softmax_passes(variant: str) -> tuple[PassSpec, ...]:
    """The passes of ``variant`` (ValueError naming ``variant`` if unknown)."""
    return _PASSES[_check_variant(variant)]


@dataclass(frozen=True, kw_only=True)
class SoftmaxCounts:
    """Per-element counts of one variant.

    Attributes
    ----------
    n_passes
        Sweeps over the data.
    reads_per_element, writes_per_element
        Element loads and stores from/to the tensors in memory.
    bytes_read_per_element_B, bytes_written_per_element_B
        With write-allocate, every store also reads its line first (read-for-ownership), so
        ``bytes_read`` includes one element per store.
    bytes_per_element_B
        Total traffic per element.
    n_exp_per_element, n_other_ops_per_element
        Exponentials and other vector ops per element.
    slots_per_element
        Issue slots per element: ``n_exp x EXP_SLOTS + n_other``.
    """

    variant: str
    n_passes: int
    write_allocate: bool
    reads_per_element: float
    writes_per_element: float
    bytes_read_per_element_B: float
    bytes_written_per_element_B: float
    bytes_per_element_B: float
    n_exp_per_element: float
    n_other_ops_per_element: float
    slots_per_element: float


def softmax_counts(variant: str, *, dtype: str = "fp32", write_allocate: bool = False) -> SoftmaxCounts:
    """Per-element traffic and operation counts of ``variant``.

    Examples: fp32 without write-allocate, three-pass recompute moves 16 B/element
    (3 reads + 1 write), three-pass reload 20 B, two-pass 12 B; with write-allocate 20, 28, 16.
    """
    ps = softmax_passes(variant)
    b = bytes_per_element(dtype)
    r = sum(p.reads for p in ps)
    w = sum(p.writes for p in ps)
    rd = (r + (w if write_allocate else 0.0)) * b
    n_exp = sum(p.n_exp for p in ps)
    n_other = sum(p.n_other for p in ps)
    return SoftmaxCounts(variant=variant, n_passes=len(ps), write_allocate=write_allocate, reads_per_element=r,
                         writes_per_element=w, bytes_read_per_element_B=rd, bytes_written_per_element_B=w * b,
                         bytes_per_element_B=rd + w * b, n_exp_per_element=n_exp, n_other_ops_per_element=n_other,
                         slots_per_element=n_exp * EXP_SLOTS + n_other)


def default_write_allocate(target: Target) -> bool:
    """Write-allocate default by target class: CPUs read a line before storing to it
    (ordinary stores on x86/Arm write-back caches); GPUs, NPUs, MCUs and PIM are taken to write
    full lines/bursts without reading them first."""
    return target.target_class == "cpu"


def softmax_table(variant: str, n_elements: ArrayLike, *, dtype: str = "fp32", write_allocate: bool = False,
                  count: ArrayLike = 1) -> OperatorTable:
    """Operator table of one softmax over ``n_elements`` (scalar or ``(P,)``): one row per pass.

    Each row has ``flop = 2 x slots x n``, ``act_read_B`` / ``act_write_B`` from the pass's
    loads and stores (plus the read-for-ownership of each store with ``write_allocate``), and
    ``footprint_B`` = the softmax's working set (input and output tensor; the reload variant's
    exponentials go to the output buffer), which decides the memory level every pass streams from.
    """
    ps = softmax_passes(variant)
    n = np.asarray(n_elements, dtype=np.float64)
    if np.any(~np.isfinite(n)) or np.any(n <= 0):
        raise ValueError(f"n_elements={n_elements!r}: must be finite and > 0")
    b = bytes_per_element(dtype)
    working_set = 2.0 * n * b if variant != "fused_attention" else 0.0 * n
    ops = []
    for p in ps:
        op = elementwise(f"softmax.{p.name}", n, dtype=dtype, kind="softmax", count=count)
        slots = p.n_exp * EXP_SLOTS + p.n_other
        rd = (p.reads + (p.writes if write_allocate else 0.0)) * n * b
        vals = {**op.values, "flop": FLOP_PER_SLOT * slots * n, "act_read_B": rd, "act_write_B": p.writes * n * b,
                "footprint_B": working_set}
        ops.append(type(op)(meta=op.meta, values=vals))
    return table_from_ops(ops, workload=f"softmax-{variant}", item_name="softmax",
                          knobs={"n_elements": n})
