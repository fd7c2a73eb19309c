"""Predictors for the quantization cases: T-MAC decode, COMET W4A4, L-Mul energy, BFP KV cache."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from models.algorithms.lowbit_gemm import gemm_table, lmul_energy, price_gemm
from models.algorithms.quant import get_format
from models.hardware import get_target
from models.perf import evaluate
from models.validation.suite import predictor
from models.workloads.llm import llm_decode, load_llm_config
from models.workloads.table import OperatorTable, concat_tables


def tmac_decode_table(
    model: str,
    weight_format: str,
    act_format: str,
    strategy: str,
    *,
    context_len: int = 0,
    n_generated: int = 128,
) -> OperatorTable:
    """Decode operator table of ``model`` with every weight GEMV priced by a low-bit strategy.

    Starts from :func:`models.workloads.llm.llm_decode` (embedding gather, norms, RoPE, KV
    write, attention over the cache, activations, residuals, lm_head) at batch 1 and fp32
    activations (ggml CPU graphs keep activations in fp32), then replaces each weight GEMM row
    (q/k/v/o, gate/up/down, lm_head) by the rows :func:`price_gemm` gives for ``strategy`` with
    the weights in ``weight_format`` and the GEMV inputs in ``act_format``.

    Decode streams every weight once per token, so a weight's reuse distance is the whole
    model: the footprint of each weight row is raised to the bytes of all weight rows, which
    homes the weights in DRAM (a per-operator footprint would park a small matrix in a cache it
    shares with every other matrix of the token).
    """
    cfg = load_llm_config(model)
    base = llm_decode(cfg, 1, context_len, n_generated, weight_dtype="int4", act_dtype="fp32")
    kinds = base.meta["kind"].to_numpy()
    names = base.meta["name"].to_numpy()
    lin = (kinds == "gemm") & (base.arrays["weight_read_B"][0] > 0)
    costs = {}
    for j in np.flatnonzero(lin):
        m, n, k, cnt = (float(base.arrays[f][0, j]) for f in ("m", "n", "k", "count"))
        costs[str(names[j])] = (price_gemm(strategy, m, n, k, weight_format, act_format), cnt)
    gt = gemm_table(costs, phase="decode", workload=model, n_items=1.0, item_name="token")
    w = gt.arrays["weight_read_B"][0]
    all_weights_B = float(np.sum(w * gt.arrays["count"][0])) / n_generated
    fp = gt.arrays["footprint_B"][0].copy()
    fp[w > 0] = np.maximum(fp[w > 0], all_weights_B)
    gt = gt.with_arrays(footprint_B=fp)
    out = concat_tables([base.select(~lin), gt], workload=model)
    return replace(out, n_items=base.n_items, item_name="token")


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
    context_len: int = 0,
    n_generated: int = 128,
) -> float:
    """Decode tokens/s of ``model`` at batch 1 on ``n_threads`` cores (T-MAC/llama.cpp bench).

    The table is :func:`tmac_decode_table` (llama-bench ``tg128``: ``-p 0 -n 128``, so the
    context grows from 0 to 128); the engine's ``n_units`` is set to the thread count;
    everything else (rates, efficiencies, DRAM bandwidth and its per-core cap
    ``per_unit_bandwidth``) comes from the target preset.
    """
    t = get_target(target)
    eng = engine or t.engines[0].name
    table = tmac_decode_table(
        model, weight_format, act_format, strategy,
        context_len=context_len, n_generated=n_generated,
    )
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

    def latency_s(weight: str, act: str) -> float:
        cost = price_gemm("native", m, n, k, weight, act, target=t)
        return float(evaluate(t, gemm_table({"gemm": (cost, 1)}, phase="forward"), detail=False).latency_s[0])

    return latency_s(baseline, baseline) / latency_s(weight_format, act_format)


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
