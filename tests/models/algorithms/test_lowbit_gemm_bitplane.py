"""Bit-plane (bitserial) and accumulate-only GEMM strategies: hand counts and the kernel's view."""

from __future__ import annotations

import numpy as np
import pytest

from models.algorithms.lowbit_gemm import STRATEGIES, accumulate_gemm, bitserial_gemm, price_gemm
from models.perf import evaluate_point


def test_ternary_bitlinear_is_m_n_k_adds_and_no_multiply() -> None:
    c = accumulate_gemm(3, 5, 7, "ternary", "int8")
    assert c.n_add == 3 * 5 * 7  # one signed add per weight element per output row
    assert c.n_mult == 3 * 5  # only the absmax rescale, once per output
    assert c.op_by_dtype == {"int8": 2.0 * 3 * 5 * 7}  # one lane slot (2 ops) per add
    assert c.extra_op_by_dtype["fp32"] == 2.0 * 3 * 5
    # bytes: ternary weights at log2(3) bits, int8 activations in and out
    assert c.weight_read_B == pytest.approx(5 * 7 * np.log2(3) / 8)
    assert c.act_read_B == 3 * 7 and c.act_write_B == 3 * 5
    assert accumulate_gemm(2, 2, 2, "binary", "int8").n_add == 8
    assert "accumulate" in STRATEGIES and price_gemm("accumulate", 3, 5, 7, "ternary", "int8").n_add == 105


def test_accumulate_refuses_weights_with_magnitudes() -> None:
    with pytest.raises(ValueError, match="'int4' must be ternary or binary"):
        accumulate_gemm(1, 8, 8, "int4", "int8")


def test_bitplane_counts_by_hand() -> None:
    # W2A3: 2 x 3 = 6 one-bit GEMMs of 2 m n k ops, a shift-add per output per plane pair
    c = bitserial_gemm(4, 8, 16, "int2", "int3")
    assert c.op_by_dtype["int1"] == 2 * 4 * 8 * 16 * 6
    assert c.extra_op_by_dtype["int32"] == 2 * 4 * 8 * 6
    with pytest.raises(ValueError, match="integer format"):
        bitserial_gemm(4, 8, 16, "int2", "fp16")


def _lat(target: str, settings: dict[str, object]) -> float:
    r = evaluate_point(target, "gemm", {"m": 4096, "n": 4096, "k": 4096, **settings}, detail=False)
    return float(np.asarray(r.perf.latency_s).reshape(-1)[0])


def test_bitplane_time_grows_with_the_plane_pairs_without_an_int1_rate() -> None:
    # no preset declares int1: each plane pair costs the fallback rate, so a compute-bound
    # bit-serial GEMM's time grows with b_w x b_a (W1A2 = 2 pairs, W2A2 = 4, W2A4 = 8)
    t = [_lat("rtx-2080-ti", {"weight_format": w, "gemm_strategy": "bitserial", "gemm_act_format": a})
         for w, a in (("binary", "int2"), ("int2", "int2"), ("int2", "int4"))]
    assert t[0] < t[1] < t[2]
    assert t[1] / t[0] == pytest.approx(2.0, rel=0.05)
    assert t[2] / t[1] == pytest.approx(2.0, rel=0.05)
