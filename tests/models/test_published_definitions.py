"""Published figures that are definitions, not measurements: unit tests, not validation cases.

A datasheet peak is units x rate x clock of the same datasheet; a ridge point is that peak over
the datasheet bandwidth; the model-scaling exponents are the paper's closed-form cost model; a
storage ratio is bits over bits; an Op/B bound is arithmetic on layer shapes; L-Mul's saving is
Horowitz-table arithmetic. The model must reproduce each one exactly (a wrong preset, a wrong
exponent table, a wrong byte count fails here), but none of them says how close a prediction
comes to a measurement, so ``tradespace validate`` does not count them (issue 14).
"""

from __future__ import annotations

import numpy as np
import pytest

from models.algorithms.lowbit_gemm import lmul_energy
from models.algorithms.quant import get_format
from models.algorithms.scaling import scaling_exponents
from models.hardware import get_target
from models.point import build_point
from models.workloads.anynet import complexity


# published-numbers.md B1 (datasheet tables and their derived cross-checks)
@pytest.mark.parametrize(("target", "dtype", "tflops"), [
    ("a100-80gb", "bf16", 312), ("h100-sxm", "bf16", 989), ("v100-sxm2", "fp16", 125), ("rtx-2080-ti", "fp16", 107.6),
])
def test_dense_tensor_peaks_are_the_datasheet_figures(target: str, dtype: str, tflops: float) -> None:
    assert get_target(target).peak_op_per_s(dtype) / 1e12 == pytest.approx(tflops, rel=0.01)


# published-numbers.md B1 ridge points (peak FLOP per DRAM byte)
@pytest.mark.parametrize(("target", "flop_per_B"), [("a100-80gb", 153), ("h100-sxm", 295), ("h200", 206)])
def test_bf16_ridge_points(target: str, flop_per_B: float) -> None:
    assert get_target(target).ridge_point_FLOP_per_B("bf16") == pytest.approx(flop_per_B, rel=0.02)


# Dollar et al. 2021 cost model (published-numbers.md A4; pycls scaler 'd1_w8_g8_r1' for alpha 0.8):
# flops ~ d w^2 r^2, params ~ d w^2, activations ~ d w r^2, flops scaled by s
@pytest.mark.parametrize(("strategy", "alpha", "expected"), [
    ("fast", 0.8, {"depth": 0.1, "width": 0.4, "resolution": 0.05, "params": 0.9, "activations": 0.6, "flops": 1.0}),
    ("w", None, {"activations": 0.5, "params": 1.0}),
    ("d", None, {"activations": 1.0, "params": 1.0}),
    ("r", None, {"activations": 1.0, "flops": 1.0}),
])
def test_closed_form_scaling_exponents(strategy: str, alpha: float | None, expected: dict[str, float]) -> None:
    e = scaling_exponents(strategy, alpha) if alpha is not None else scaling_exponents(strategy)
    for quantity, value in expected.items():
        assert float(np.asarray(getattr(e, quantity))) == pytest.approx(value, abs=1e-9), quantity


def _scaled_ratio(base: str, s: float, key: str) -> float:
    t = get_target("h100-sxm")  # the table does not depend on the target
    scaled = build_point(base, {"scaling_strategy": "fast", "scaling_factor": s, "scaling_alpha": 0.8}, target=t)
    ref = build_point(base, {}, target=t)
    return float(np.asarray(getattr(complexity(scaled.table), key)).reshape(-1)[0]
                 / np.asarray(getattr(complexity(ref.table), key)).reshape(-1)[0])


# the real-rounded nets (widths to multiples of 8, snapped group widths, integer depths) stay close
# to the closed form: rounding and the unscaled stem and head move flops by 10-15% on a 400MF base
@pytest.mark.parametrize(("base", "s", "rel"), [("regnetx-400mf", 4, 0.15), ("regnetx-1.6gf", 16, 0.10)])
def test_rounded_fast_scaling_multiplies_flops_by_s(base: str, s: float, rel: float) -> None:
    assert _scaled_ratio(base, s, "n_mac") == pytest.approx(s, rel=rel)


def test_rounded_fast_scaling_activation_exponent() -> None:
    assert np.log(_scaled_ratio("regnetx-400mf", 4, "n_activations")) / np.log(4) == pytest.approx(0.6, abs=0.06)


def test_bfp12_halves_the_bfp16_kv_cache() -> None:
    # arXiv 2403.20137 abstract: '2x savings in the memory footprint' (BFP12 vs BFP16, block 32)
    assert get_format("bfp16").effective_bits / get_format("bfp12").effective_bits == pytest.approx(2.0, rel=0.05)


def _decode_table(model: str, **knobs: object):  # type: ignore[no-untyped-def]
    return build_point(model, {"phase": "decode", "n_generated": 1, **knobs}, target=get_target("h100-sxm")).table


@pytest.mark.parametrize(("model", "context", "batch"), [("mixtral-8x7b", 4096, 1), ("llama-3-8b", 8192, 8)])
def test_gqa_decode_attention_op_per_byte_is_4_to_8(model: str, context: int, batch: int) -> None:
    # Duplex (arXiv 2409.01141) abstract: 'the attention layer has a value of 4-8 for grouped query attention'
    tab = _decode_table(model, batch=batch, prompt_len=context, kv_format="fp16")
    i = tab.meta["name"].to_list().index("attention")
    op_per_B = float(np.asarray(tab.columns[i]["flop"] / tab.column_bytes_B(i)).reshape(-1)[0])
    assert 4.0 * 0.98 <= op_per_B <= 8.0 * 1.02


@pytest.mark.parametrize(("batch", "low", "high"), [(1, 0.98, 1.02), (32, 1.0, 64.0)])
def test_moe_layer_op_per_byte_is_at_least_1(batch: int, low: float, high: float) -> None:
    # Duplex abstract: 'the Op/B of the MoE layer is at least 1' (one routed token per expert at batch 1)
    tab = _decode_table("mixtral-8x7b", batch=batch, weight_format="fp16")
    names = tab.meta["name"].to_list()
    c = tab.columns[names.index("expert_up") if "expert_up" in names else names.index("expert_gate")]
    assert low <= float(np.asarray(c["flop"] / c["weight_read_B"]).reshape(-1)[0]) <= high


@pytest.mark.parametrize(("mode", "saving"), [("elementwise", 0.95), ("dot", 0.80)])
def test_lmul_energy_saving_from_the_horowitz_table(mode: str, saving: float) -> None:
    # arXiv 2410.00907 abstract: 95% of element-wise multiplication energy, 80% of dot-product energy
    assert float(lmul_energy(4096, mode=mode, precision="fp32")["saving"]) == pytest.approx(saving, rel=0.05)
