"""Predictors for the quantization cases: T-MAC decode, COMET W4A4, L-Mul energy, BFP KV cache."""

from __future__ import annotations

import numpy as np

from models.algorithms.lowbit_gemm import gemm_table, lmul_energy, price_gemm
from models.algorithms.quant import get_format
from models.hardware import get_target
from models.perf import evaluate
from models.validation.suite import predictor
from models.workloads.llm import load_llm_config


def _decode_linear_shapes(model: str) -> dict[str, tuple[int, int, int]]:
    """``name -> (n, k, count)`` of the weight GEMVs of one decode token (lm_head included)."""
    c = load_llm_config(model)
    h, q, kv, i = c.hidden, c.q_dim, c.kv_dim, c.intermediate
    up = 2 * i if c.gated_mlp else i
    return {
        "qkv": (q + 2 * kv, h, c.n_layers),
        "o": (h, q, c.n_layers),
        "up": (up, h, c.n_layers),
        "down": (h, i, c.n_layers),
        "lm_head": (c.vocab, h, 1),
    }


@predictor("tmac.decode_tokens_per_s")
def tmac_decode_tokens_per_s(
    *,
    target: str,
    model: str,
    weight_format: str,
    strategy: str,
    n_threads: int,
    act_format: str = "int8",
    engine: str | None = None,
) -> float:
    """Decode tokens/s of the weight GEMVs of ``model`` at batch 1 on ``n_threads`` cores.

    The engine's ``n_units`` is set to the thread count; everything else (rates, efficiency,
    DRAM bandwidth) comes from the target preset. Attention over a short context, norms and
    the activation quantization are left out (a few percent of the work at context <= 2048).
    """
    t = get_target(target)
    eng = engine or t.engines[0].name
    costs = {
        name: (price_gemm(strategy, 1, n, k, weight_format, act_format), cnt)
        for name, (n, k, cnt) in _decode_linear_shapes(model).items()
    }
    table = gemm_table(costs, phase="decode", workload=model, n_items=1.0, item_name="token")
    res = evaluate(
        t, table, overrides={f"engines.{eng}.n_units": float(n_threads)}, engine=eng, detail=False
    )
    return float(res.items_per_s[0])


@predictor("comet.w4a4_kernel_speedup")
def comet_w4a4_kernel_speedup(
    *,
    target: str,
    m: int,
    n: int,
    k: int,
    weight_format: str = "int4-g128",
    act_format: str = "int4-g128",
    baseline: str = "fp16",
) -> float:
    """Time of an fp16 GEMM (tensor cores) over the W4A4 GEMM on native int4 units with the
    per-group dequantization of partial sums on the vector units (MixPE/COMET style)."""
    t = get_target(target)
    base = gemm_table(
        {"gemm": (price_gemm("native", m, n, k, baseline, baseline, target=t), 1)}, phase="forward"
    )
    low = gemm_table(
        {"gemm": (price_gemm("native", m, n, k, weight_format, act_format, target=t), 1)},
        phase="forward",
    )
    return float(
        evaluate(t, base, detail=False).latency_s[0] / evaluate(t, low, detail=False).latency_s[0]
    )


@predictor("lmul.energy_saving")
def lmul_energy_saving(*, mode: str, precision: str = "fp32", n_elements: int = 4096) -> float:
    """Fraction of multiply (or dot-product) energy saved by L-Mul, Horowitz 45 nm table."""
    return float(lmul_energy(n_elements, mode=mode, precision=precision)["saving"])


@predictor("quant.storage_ratio")
def storage_ratio(*, baseline: str, format: str) -> float:
    """Memory saving factor: effective bits of ``baseline`` over those of ``format``."""
    return get_format(baseline).effective_bits / get_format(format).effective_bits


@predictor("duplex.moe_op_per_B")
def duplex_moe_op_per_B(*, model: str, batch: int, weight_format: str = "fp16") -> float:
    """Op/B of a decode MoE layer: each active expert's weights are read once and used by
    the tokens routed to it (``batch x top_k / E[distinct experts]``), 2 ops per weight
    per token."""
    from models.workloads.llm import expected_distinct_experts

    c = load_llm_config(model)
    distinct = float(
        np.asarray(expected_distinct_experts(c.n_experts, c.top_k, batch)).reshape(-1)[0]
    )
    tokens_per_expert = batch * c.top_k / distinct
    return 2.0 * tokens_per_expert / (get_format(weight_format).effective_bits / 8.0)
