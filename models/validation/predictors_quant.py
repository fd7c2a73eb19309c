"""Predictors for the quantization cases: T-MAC decode, COMET W4A4, L-Mul energy, BFP KV cache,
Duplex MoE Op/B.

The evaluating ones build their design point with the one builder and evaluate it
(:mod:`models.studies`); L-Mul and the storage ratio are arithmetic on format definitions.
"""

from __future__ import annotations

import numpy as np

from models.algorithms.lowbit_gemm import lmul_energy
from models.algorithms.quant import get_format
from models.hardware import get_target
from models.point import build_point
from models.studies import decode_tokens_per_s, gemm_speedup
from models.validation.suite import predictor


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
    """Decode tokens/s of ``model`` at batch 1 on ``n_threads`` cores (T-MAC/llama.cpp
    llama-bench ``tg128``): :func:`models.studies.decode_tokens_per_s`."""
    return decode_tokens_per_s(target=target, model=model, weight_format=weight_format, strategy=strategy,
                               n_threads=n_threads, act_format=act_format, engine=engine, context_len=context_len,
                               n_generated=n_generated)


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
    """Time of a ``baseline`` GEMM over the W4A4 GEMM on native int4 units with per-group
    dequantization of the partial sums (the ``gemm`` workload, ``gemm_strategy = native``)."""
    return gemm_speedup(target=target, m=m, n=n, k=k, baseline={"dtype": baseline, "weight_dtype": baseline},
                        candidate={"weight_format": weight_format, "act_format": act_format,
                                   "gemm_strategy": "native"})


@predictor("lmul.energy_saving")
def lmul_energy_saving(*, mode: str, precision: str = "fp32", n_elements: int = 4096) -> float:
    """Fraction of multiply (or dot-product) energy saved by L-Mul, Horowitz 45 nm table."""
    return float(lmul_energy(n_elements, mode=mode, precision=precision)["saving"])


@predictor("quant.storage_ratio")
def storage_ratio(*, baseline: str, format: str) -> float:
    """Memory saving factor: effective bits of ``baseline`` over those of ``format``."""
    return get_format(baseline).effective_bits / get_format(format).effective_bits


@predictor("duplex.moe_op_per_B")
def duplex_moe_op_per_B(*, model: str, batch: int, weight_format: str = "fp16", target: str = "h100-sxm") -> float:
    """FLOP per weight byte of a decode MoE layer: the ``expert_up`` row of the decode table
    (each distinct routed expert's weights read once for the ``batch x top_k`` routed tokens)."""
    tab = build_point(model, {"phase": "decode", "batch": batch, "n_generated": 1, "weight_format": weight_format},
                      target=get_target(target)).table
    names = tab.meta["name"].to_list()
    i = names.index("expert_up") if "expert_up" in names else names.index("expert_gate")
    c = tab.columns[i]
    return float(np.asarray(c["flop"] / c["weight_read_B"]).reshape(-1)[0])
