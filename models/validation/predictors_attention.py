"""Predictors for the attention cases: FlashAttention-2 attainment and memory.

Each builds its design point with the one builder and reads a metric of the table or of its
evaluation (:mod:`models.studies`).
"""

from __future__ import annotations

from models.hardware import get_target
from models.point import build_point
from models.studies import fa2_forward_efficiency
from models.validation.suite import predictor


@predictor("fa2.forward_efficiency")
def fa2_forward_efficiency_case(
    *, target: str, seq_len: int, head_dim: int, hidden: int = 2048, tokens: int = 16384
) -> float:
    """FA-2 forward attainment (fraction of the dense fp16 tensor peak) at one benchmark point."""
    return float(fa2_forward_efficiency(target, seq_len, head_dim, hidden, tokens)[0])


@predictor("fa2.memory_saving")
def fa2_memory_saving(*, seq_len: int, head_dim: int, batch: int = 1, n_heads: int = 1,
                      target: str = "a100-80gb") -> float:
    """Resident memory of one attention call with standard attention (Q, K, V, O plus S and P)
    over FlashAttention-2's (Q, K, V, O plus the O(N) statistics), fp16: the ``attention``
    workload's peak memory under the two ``attention_tiling`` settings."""
    t = get_target(target)
    knobs = {"batch": batch, "n_heads": n_heads, "seq_len": seq_len, "head_dim": head_dim, "dtype": "fp16"}
    std = build_point("attention", {**knobs, "attention_tiling": "standard"}, target=t).table
    fa2 = build_point("attention", {**knobs, "attention_tiling": "flash2"}, target=t).table
    return float(std.peak_memory()[0] / fa2.peak_memory()[0])
