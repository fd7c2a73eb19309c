"""Attention tiling: standard, FlashAttention-1/2, FuseMax-style cascades, decode over a KV cache.

Per (batch, head) with sequence ``N`` (queries) / ``N_kv`` (keys), head dim ``d`` and ``b``
bytes per element:

- **standard**: ``S = Q K^T`` written to DRAM, read by softmax which writes ``P``, read by
  ``P V``. DRAM bytes ``b (4 N d + 4 N N_kv)`` (Q, K, V, O once; S and P each written and
  read once). Extra memory ``2 N N_kv b`` (S and P live at the softmax).
- **FlashAttention** (Dao et al. 2022; Dao 2023): with ``M`` elements of SRAM,
  ``Bc = ceil(M / (4 d))``, ``Br = min(Bc, d)``, ``Tr = ceil(N / Br)``, ``Tc = ceil(N_kv / Bc)``.
  FA-2 (outer loop over query blocks): Q read and O written once, K and V read ``Tr`` times:
  ``b (2 N d + 2 N_kv d Tr) + 4 N`` (fp32 logsumexp). FA-1 (outer loop over K/V blocks):
  K, V once; Q and O read and O written every K/V block: ``b (2 N_kv d + 3 N d Tc) + 8 N Tc``.
  Never below the compulsory ``b (2 N d + 2 N_kv d)``. Extra memory is the O(N) statistics.
- **non-matmul FLOPs**: 5 per score (scale, max, subtract, exp, sum); FA-1 also rescales O
  every K/V block (``2 N d Tc``), FA-2 once at the end (``N d``).
- **backward** (FA-2): recompute S and P: matmul FLOPs 2.5x forward (benchmark convention);
  DRAM reads Q, K, V, O, dO, writes dQ, dK, dV, and reads+writes dQ per K/V block.
- **parallelism**: FA-2 runs ``batch x heads x Tr`` thread blocks, FA-1 ``batch x heads``;
  occupancy = blocks / (waves x units).
- **FuseMax-style cascades** (Nayak et al. MICRO 2024): a softmax expressed as a cascade of
  Einsums takes ``n_passes`` over the score row (3: max, sum, normalize; 2 with the online
  rescaling; 1 fully fused): DRAM traffic of the scores is ``n_passes`` reads when the row
  does not fit on chip, zero when it does.
- **spatial-array mappings** (FLAT, Kao et al. 2023, vs FuseMax, Nayak et al. MICRO 2024) on an
  accelerator with a 2D PE array (the matmuls) and a 1D PE array: both keep each score row on
  chip (compulsory DRAM traffic only) and differ in where the softmax's per-score operations
  run. FLAT runs the numerically stable softmax's four Einsums (max, exp of the difference, sum,
  divide: :data:`SPATIAL_SOFTMAX_OPS` ``["flat"] = 4`` PE operations per score) on the 1D array,
  a separate ``softmax`` operator; FuseMax maps its cascade onto the 2D array next to the
  matmuls (running max 1, exp as 6 MACs + 1 add, sum 1: ``["fusemax"] = 9`` per score; its
  per-row rescaling on the 1D array is O(rows) and overlapped, so left out). Each PE operation
  is counted as 2 ops (one MAC-slot), so an engine's fp16 ``ops_per_cycle`` prices it.
- **decode**: one query per sequence over a cache of ``L`` tokens with ``H_kv`` KV heads
  (GQA/MQA share each K/V byte among ``g = H / H_kv`` query heads); KV bytes at the KV
  format's effective bits. Op/B = ``4 H d L / (2 H_kv d L b_kv) = 2 g / b_kv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.algorithms.quant import Format, get_format

__all__ = [
    "AttentionCost",
    "flash_block_sizes",
    "standard_attention",
    "flash_attention",
    "cascade_attention",
    "decode_attention",
    "SPATIAL_SOFTMAX_OPS",
    "spatial_attention",
    "attention_flop",
]

ArrayLike = float | int | np.ndarray


@dataclass(frozen=True, kw_only=True)
class AttentionCost:
    """Cost of one attention call (all batches and heads); arrays broadcast over design points.

    Attributes
    ----------
    matmul_flop, nonmatmul_flop
        FLOPs of Q K^T and P V (2 per MAC), and of softmax/rescaling.
    dram_B, compulsory_B
        DRAM bytes moved, and the least any schedule moves (Q, K, V read, O written once).
    extra_memory_B
        Memory beyond Q, K, V, O (S and P for standard attention; statistics for tiled).
    n_blocks, occupancy
        Parallel work items and the fraction of unit-waves they fill (1 if not computed).
    block_rows, block_cols
        Tile sizes Br, Bc (0 for untiled).
    """

    matmul_flop: np.ndarray
    nonmatmul_flop: np.ndarray
    dram_B: np.ndarray
    compulsory_B: np.ndarray
    extra_memory_B: np.ndarray
    n_blocks: np.ndarray
    occupancy: np.ndarray
    block_rows: np.ndarray
    block_cols: np.ndarray

    @property
    def intensity_FLOP_per_B(self) -> np.ndarray:
        return (self.matmul_flop + self.nonmatmul_flop) / self.dram_B


def _pos(name: str, v: ArrayLike) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"attention {name}={v!r}; must be > 0")
    return a


def _dims(**dims: ArrayLike) -> list[np.ndarray]:
    """Each keyword as a float array checked by :func:`_pos`, in the order given."""
    return [_pos(name, v) for name, v in dims.items()]


def attention_flop(
    batch: ArrayLike,
    n_heads: ArrayLike,
    q_len: ArrayLike,
    kv_len: ArrayLike,
    head_dim: ArrayLike,
    *,
    causal: bool = False,
) -> np.ndarray:
    """Matmul FLOPs of the forward pass, FlashAttention benchmark convention:
    ``4 B N_q N_kv H d``, halved when causal."""
    f = (
        4.0
        * _pos("batch", batch)
        * _pos("q_len", q_len)
        * _pos("kv_len", kv_len)
        * _pos("n_heads", n_heads)
        * _pos("head_dim", head_dim)
    )
    return f / 2.0 if causal else f


def flash_block_sizes(
    sram_B: ArrayLike, head_dim: ArrayLike, *, bytes_per_element: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """FlashAttention block sizes ``(Br, Bc)`` from the SRAM size (bytes) and head dim.

    ``M = sram_B / b`` elements, ``Bc = ceil(M / (4 d))``, ``Br = min(Bc, d)``.

    Raises
    ------
    ValueError
        If the SRAM cannot hold one row each of Q, K, V and O (``M < 4 d``).
    """
    s, d = _pos("sram_B", sram_B), _pos("head_dim", head_dim)
    m = np.floor(s / bytes_per_element)
    if np.any(m < 4 * d):
        bad = float(np.min(s))
        raise ValueError(
            f"attention sram_B={bad:.0f} is too small for any tile: one row of Q, K, V and O "
            f"needs 4 x head_dim x {bytes_per_element:g} B"
        )
    bc = np.ceil(m / (4 * d))
    return np.minimum(bc, d), bc


def _untiled(one: np.ndarray, n_blocks: np.ndarray, **cost: np.ndarray) -> AttentionCost:
    """Cost of an untiled schedule: one work item per (batch, head), no occupancy, no tiles;
    ``one`` is ones of the broadcast shape of the inputs."""
    return AttentionCost(
        **cost, n_blocks=n_blocks * one, occupancy=one, block_rows=0 * one, block_cols=0 * one
    )


def standard_attention(
    batch: ArrayLike,
    n_heads: ArrayLike,
    q_len: ArrayLike,
    kv_len: ArrayLike,
    head_dim: ArrayLike,
    *,
    bytes_per_element: float = 2.0,
    causal: bool = False,
) -> AttentionCost:
    """Unfused attention: S and P go through DRAM (see module docstring)."""
    B, H, N, L, d = _dims(
        batch=batch, n_heads=n_heads, q_len=q_len, kv_len=kv_len, head_dim=head_dim
    )
    b = bytes_per_element
    bh = B * H
    comp = bh * b * (2 * N * d + 2 * L * d)
    dram = comp + bh * b * 4 * N * L
    return _untiled(
        np.ones(np.broadcast(B, H, N, L, d).shape),
        bh,
        matmul_flop=attention_flop(B, H, N, L, d, causal=causal),
        nonmatmul_flop=5.0 * bh * N * L,
        dram_B=dram,
        compulsory_B=comp,
        extra_memory_B=2.0 * bh * N * L * b,
    )


def _occupancy(n_blocks: np.ndarray, n_units: ArrayLike | None) -> np.ndarray:
    if n_units is None:
        return np.ones_like(n_blocks)
    u = _pos("n_units", n_units)
    waves = np.ceil(n_blocks / u)
    return n_blocks / (waves * u)


def _given_block(
    name: str, given: ArrayLike | None, seq_len: np.ndarray, default: np.ndarray
) -> np.ndarray:
    """An explicit tile size (checked to divide ``seq_len``), else ``default``."""
    if given is None:
        return default
    g = _pos(name, given)
    if np.any(np.mod(seq_len, g) != 0):
        raise ValueError(
            f"attention {name}={given!r} does not divide the sequence length {seq_len!r}"
        )
    return g


def flash_attention(
    batch: ArrayLike,
    n_heads: ArrayLike,
    q_len: ArrayLike,
    kv_len: ArrayLike,
    head_dim: ArrayLike,
    *,
    sram_B: ArrayLike,
    version: int = 2,
    bytes_per_element: float = 2.0,
    causal: bool = False,
    backward: bool = False,
    n_units: ArrayLike | None = None,
    block_rows: ArrayLike | None = None,
    block_cols: ArrayLike | None = None,
) -> AttentionCost:
    """FlashAttention-1/2 tiled attention (see module docstring).

    Parameters
    ----------
    sram_B
        On-chip memory per unit (shared memory per SM), bytes.
    n_units
        Parallel units (SMs / cores) for the occupancy; ``None`` skips it.
    block_rows, block_cols
        Explicit Br, Bc (must divide q_len / kv_len); default from :func:`flash_block_sizes`.
    backward
        Price the backward pass (with recomputation) instead of the forward.
    """
    if version not in (1, 2):
        raise ValueError(f"flash attention version={version!r}; allowed: 1, 2")
    B, H, N, L, d = _dims(
        batch=batch, n_heads=n_heads, q_len=q_len, kv_len=kv_len, head_dim=head_dim
    )
    b = bytes_per_element
    br, bc = flash_block_sizes(sram_B, d, bytes_per_element=b)
    br = _given_block("block_rows", block_rows, N, br)
    bc = _given_block("block_cols", block_cols, L, bc)
    m_el = np.floor(_pos("sram_B", sram_B) / b)
    if np.any((br + 2 * bc) * d + br * bc > m_el * 1.0 + 1e-9) and (
        block_rows is not None or block_cols is not None
    ):
        raise ValueError(
            f"attention block_rows/block_cols: tiles (Br+2Bc) d + Br Bc exceed sram_B={sram_B!r}"
        )
    tr, tc = np.ceil(N / br), np.ceil(L / bc)
    bh = B * H
    comp = bh * b * (2 * N * d + 2 * L * d)
    mm = attention_flop(B, H, N, L, d, causal=causal)
    frac = 0.5 if causal else 1.0
    if version == 2:
        fwd_B = bh * (b * (2 * N * d + 2 * L * d * np.maximum(1.0, tr * frac)) + 4.0 * N)
        nonmm = bh * (5.0 * N * L * frac + N * d)
        blocks = bh * tr
        extra = bh * 4.0 * N
    else:
        fwd_B = bh * (
            b * (2 * L * d + 3 * N * d * np.maximum(1.0, tc * frac))
            + 8.0 * N * np.maximum(1.0, tc * frac)
        )
        nonmm = bh * (5.0 * N * L * frac + 2.0 * N * d * tc * frac)
        blocks = bh * np.ones_like(tr)
        extra = bh * 8.0 * N
    if backward:
        mm = 2.5 * mm
        nonmm = 2.0 * nonmm
        dram = bh * (
            b
            * (
                5 * N * d
                + 3 * L * d
                + 2 * N * d * np.maximum(1.0, tc * frac)
                + 2 * L * d * tr * frac
            )
            + 4.0 * N
        )
        comp = bh * b * (5 * N * d + 3 * L * d)
        blocks = bh * tc
    else:
        dram = fwd_B
    dram = np.maximum(dram, comp)
    return AttentionCost(
        matmul_flop=mm,
        nonmatmul_flop=nonmm,
        dram_B=dram,
        compulsory_B=comp,
        extra_memory_B=extra,
        n_blocks=blocks,
        occupancy=_occupancy(blocks, n_units),
        block_rows=br + 0 * N,
        block_cols=bc + 0 * L,
    )


def cascade_attention(
    batch: ArrayLike,
    n_heads: ArrayLike,
    q_len: ArrayLike,
    kv_len: ArrayLike,
    head_dim: ArrayLike,
    *,
    n_passes: ArrayLike = 1,
    onchip_B: ArrayLike,
    bytes_per_element: float = 2.0,
) -> AttentionCost:
    """FuseMax-style cascade: ``n_passes`` passes over each score row (see module docstring).

    A score row of ``kv_len`` elements that fits in ``onchip_B`` costs no DRAM traffic; else
    each pass re-reads it (and the first writes it).
    """
    p = np.asarray(n_passes, dtype=np.float64)
    if np.any((p < 1) | (p > 3) | (p != np.round(p))):
        raise ValueError(f"cascade n_passes={n_passes!r}; allowed: 1, 2, 3")
    B, H, N, L, d = _dims(
        batch=batch, n_heads=n_heads, q_len=q_len, kv_len=kv_len, head_dim=head_dim
    )
    b = bytes_per_element
    bh = B * H
    comp = bh * b * (2 * N * d + 2 * L * d)
    row_fits = L * b <= _pos("onchip_B", onchip_B)
    spill = np.where(row_fits | (p == 1), 0.0, bh * N * L * b * (1.0 + p))
    one = np.ones(np.broadcast(B, H, N, L, d, p).shape)
    return _untiled(
        one,
        bh,
        matmul_flop=attention_flop(B, H, N, L, d),
        nonmatmul_flop=bh * N * L * (4.0 + p),
        dram_B=comp + spill,
        compulsory_B=comp * one,
        extra_memory_B=np.where(spill > 0, bh * N * L * b, 0.0),
    )


# PE operations per score of the softmax in each spatial-array mapping. Source: the FuseMax
# artifact (github.com/FPSG-UIUC/micro24-fusemax-artifact): src/accel/stable_softmax.py (FLAT's
# softmax, on the 1D array: M max 1, SN add 1 + exp 1 pipelined as one pass, SD add 1, A divide 1;
# one 1D-PE cycle per score per Einsum) and src/accel/proposal.py compute_cost of the Einsums on
# the 2D array besides QK and SLNV (LM max 1, SLN 6 mac + 1 add, SLD add 1).
SPATIAL_SOFTMAX_OPS = {"flat": 4.0, "fusemax": 9.0}


def spatial_attention(
    batch: ArrayLike,
    n_heads: ArrayLike,
    q_len: ArrayLike,
    kv_len: ArrayLike,
    head_dim: ArrayLike,
    *,
    mapping: str,
    bytes_per_element: float = 2.0,
    causal: bool = False,
) -> AttentionCost:
    """FLAT or FuseMax attention on a spatial array (see module docstring).

    ``nonmatmul_flop`` is ``2 x SPATIAL_SOFTMAX_OPS[mapping] x scores``: the softmax work that FLAT
    gives the 1D array and FuseMax the 2D array. DRAM traffic is the compulsory Q, K, V, O.

    Raises
    ------
    ValueError
        ``mapping`` is not ``flat`` or ``fusemax``.
    """
    if mapping not in SPATIAL_SOFTMAX_OPS:
        raise ValueError(f"spatial attention mapping={mapping!r}; allowed: {', '.join(SPATIAL_SOFTMAX_OPS)}")
    B, H, N, L, d = _dims(
        batch=batch, n_heads=n_heads, q_len=q_len, kv_len=kv_len, head_dim=head_dim
    )
    b = bytes_per_element
    bh = B * H
    comp = bh * b * (2 * N * d + 2 * L * d)
    scores = bh * N * L * (0.5 if causal else 1.0)
    return _untiled(
        np.ones(np.broadcast(B, H, N, L, d).shape),
        bh,
        matmul_flop=attention_flop(B, H, N, L, d, causal=causal),
        nonmatmul_flop=2.0 * SPATIAL_SOFTMAX_OPS[mapping] * scores,
        dram_B=comp,
        compulsory_B=comp,
        extra_memory_B=0.0 * comp,
    )


def decode_attention(
    batch: ArrayLike,
    n_heads: ArrayLike,
    n_kv_heads: ArrayLike,
    context_len: ArrayLike,
    head_dim: ArrayLike,
    *,
    kv_format: Format | str = "fp16",
    act_bytes: float = 2.0,
    n_units: ArrayLike | None = None,
) -> AttentionCost:
    """One decode step: each sequence's single query over its KV cache (GQA/MQA aware)."""
    B, H, Hkv, L, d = _dims(
        batch=batch,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        context_len=context_len,
        head_dim=head_dim,
    )
    if np.any(np.mod(H, Hkv) != 0):
        raise ValueError(
            f"decode attention n_kv_heads={n_kv_heads!r} must divide n_heads={n_heads!r}"
        )
    f = get_format(kv_format)
    kv_B = 2.0 * B * Hkv * L * d * f.effective_bits / 8.0
    q_o = 2.0 * B * H * d * act_bytes
    mm = 4.0 * B * H * L * d
    blocks = B * Hkv
    return AttentionCost(
        matmul_flop=mm,
        nonmatmul_flop=5.0 * B * H * L,
        dram_B=kv_B + q_o,
        compulsory_B=kv_B + q_o,
        extra_memory_B=0.0 * mm,
        n_blocks=blocks,
        occupancy=_occupancy(blocks, n_units),
        block_rows=H / Hkv,
        block_cols=0.0 * mm,
    )
