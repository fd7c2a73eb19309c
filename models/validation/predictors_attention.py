"""Predictors for the attention cases: FlashAttention-2 efficiency and memory, Duplex GQA Op/B."""

from __future__ import annotations

import numpy as np

from models.algorithms.attention import decode_attention, flash_attention, standard_attention
from models.hardware import get_target
from models.validation.suite import predictor
from models.workloads.llm import load_llm_config


def fa2_forward_efficiency(
    target: str,
    seq_len: np.ndarray | float,
    head_dim: float,
    hidden: float = 2048.0,
    tokens: float = 16384.0,
    dtype: str = "fp16",
) -> np.ndarray:
    """Fraction of the tensor-core peak reached by a FlashAttention-2 forward pass.

    Time = max(matmul / (peak x efficiency) / occupancy + non-matmul / vector rate,
    memory time) + the target's per-kernel overhead; the memory time charges the compulsory
    bytes to DRAM and the K/V re-reads to the L2 when they fit there. Matmul and non-matmul work are
    issued by the same warps, so their times add (Dao 2023, section 3.1). Shared memory per
    unit is the smem level's capacity over the tensor engine's SMs (n_units / 4 tensor cores).
    """
    t = get_target(target)
    tensor = next(e for e in t.engines if e.kind == "tensor")
    vector = next(e for e in t.engines if e.kind == "vector")
    n_sm = vector.n_units
    smem = next(m for m in t.memories if m.kind == "sram")
    dram = t.main_memory(tensor.name)
    n = np.asarray(seq_len, dtype=np.float64)
    batch = tokens / n
    heads = hidden / head_dim
    c = flash_attention(
        batch, heads, n, n, head_dim, sram_B=smem.capacity_B / n_sm, version=2, n_units=n_sm
    )
    peak = t.peak_op_per_s(dtype, tensor.name)
    t_mm = c.matmul_flop / (peak * tensor.efficiency) / c.occupancy
    t_vec = c.nonmatmul_flop / (t.peak_op_per_s("fp32", vector.name) * vector.efficiency)
    # K/V re-reads (beyond the compulsory bytes) come from the L2 when the K and V of the
    # heads in flight (ceil(n_sm / Tr) heads run at once) fit in it, else from DRAM.
    l2 = next((m for m in t.memories if m.kind == "cache"), dram)
    tr = np.ceil(n / c.block_rows)
    live_B = 2.0 * n * head_dim * 2.0 * np.minimum(np.ceil(n_sm / tr), batch * heads)
    reread_bw = np.where(
        live_B <= l2.capacity_B,
        l2.bandwidth_B_per_s * l2.efficiency,
        dram.bandwidth_B_per_s * dram.efficiency,
    )
    t_mem = (
        c.compulsory_B / (dram.bandwidth_B_per_s * dram.efficiency)
        + (c.dram_B - c.compulsory_B) / reread_bw
    )
    time = np.maximum(t_mm + t_vec, t_mem) + t.op_overhead_s
    return c.matmul_flop / time / peak


@predictor("fa2.forward_efficiency")
def fa2_forward_efficiency_case(
    *, target: str, seq_len: int, head_dim: int, hidden: int = 2048, tokens: int = 16384
) -> float:
    """FA-2 forward attainment (fraction of dense fp16 tensor peak) at one benchmark point."""
    return float(fa2_forward_efficiency(target, seq_len, head_dim, hidden, tokens)[()])


@predictor("fa2.peak_forward_efficiency")
def fa2_peak_forward_efficiency(
    *, target: str, head_dim: int, hidden: int = 2048, tokens: int = 16384
) -> float:
    """Largest FA-2 forward attainment over the benchmark's seq lengths 512..16k."""
    seqs = np.array([512, 1024, 2048, 4096, 8192, 16384], dtype=np.float64)
    return float(np.max(fa2_forward_efficiency(target, seqs, head_dim, hidden, tokens)))


@predictor("fa2.memory_saving")
def fa2_memory_saving(*, seq_len: int, head_dim: int, batch: int = 1, n_heads: int = 1) -> float:
    """Attention memory (Q, K, V, O plus S and P) of standard attention over that of FA-2
    (Q, K, V, O plus the O(N) statistics), fp16."""
    s = standard_attention(batch, n_heads, seq_len, seq_len, head_dim)
    f = flash_attention(batch, n_heads, seq_len, seq_len, head_dim, sram_B=100e3)
    qkvo = 4.0 * batch * n_heads * seq_len * head_dim * 2.0
    return float((qkvo + s.extra_memory_B) / (qkvo + f.extra_memory_B))


@predictor("duplex.gqa_decode_op_per_B")
def duplex_gqa_decode_op_per_B(
    *, model: str, context_len: int = 4096, batch: int = 1, kv_format: str = "fp16"
) -> float:
    """Op/B of decode attention of ``model`` over its KV cache (GQA sharing)."""
    c = load_llm_config(model)
    a = decode_attention(
        batch, c.n_heads, c.n_kv_heads, context_len, c.head_dim, kv_format=kv_format
    )
    return float((a.matmul_flop / a.dram_B)[()])
