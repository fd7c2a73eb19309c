"""Predictors for the quantization cases: T-MAC / llama.cpp decode rates and the COMET W4A4
kernel speedup, each a design point built by the one builder and evaluated (:mod:`models.studies`).
"""

from __future__ import annotations

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
    extra_work: str = "separate",
) -> float:
    """Decode tokens/s of ``model`` at batch 1 on ``n_threads`` cores (T-MAC/llama.cpp
    llama-bench ``tg128``): :func:`models.studies.decode_tokens_per_s`."""
    return decode_tokens_per_s(target=target, model=model, weight_format=weight_format, strategy=strategy,
                               n_threads=n_threads, act_format=act_format, engine=engine, context_len=context_len,
                               n_generated=n_generated, extra_work=extra_work)


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
    extra_work: str = "separate",
) -> float:
    """Time of a ``baseline`` GEMM over the W4A4 GEMM on native int4 units with per-group
    dequantization of the partial sums (the ``gemm`` workload, ``gemm_strategy = native``, the
    dequantization placed by ``extra_work``, ``gemm_extra_work``)."""
    return gemm_speedup(target=target, m=m, n=n, k=k, baseline={"dtype": baseline, "weight_dtype": baseline},
                        candidate={"weight_format": weight_format, "act_format": act_format,
                                   "gemm_strategy": "native", "gemm_extra_work": extra_work})
