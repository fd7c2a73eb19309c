"""The PULP-TrainLib training kernels and the training precision knob (hand counts, closed forms)."""

from __future__ import annotations

import numpy as np
import pytest

from models.algorithms.training_precision import apply_training_precision, resolve_training_kernels
from models.hardware import get_target
from models.perf import evaluate_point
from models.point import build_point
from models.workloads.ops import conv, table_from_ops
from models.workloads.table import OperatorTable
from models.workloads.training import (
    PULP_COPY_INSTR_PER_ELEMENT,
    conv_geometry,
    copy_cycles,
    matmul_cycles,
    parallel_efficiency,
    pulp_passes,
    pulp_trainlib_step,
    split_rows,
    training_step,
)


def _f(a: object) -> float:
    return float(np.asarray(a).reshape(-1)[0])


def _conv3x3() -> tuple[float, float, float, float]:
    # 3x3 conv, C_in = 4, C_out = 10, 6 x 6 output, stride 1: m = 36, n = 10, k = 36, input 4 x 6 x 6
    return 36.0, 10.0, 36.0, 4.0 * 36.0


def test_conv_geometry_recovers_kernel_and_stride() -> None:
    # 3x3 stride 1 (r = 9), 1x1 stride 2 shortcut (r = 1/4 -> s = 2), 3x3 stride 2 (r = 9/4 -> s = 2)
    kk, s = conv_geometry(np.array([36.0, 16.0, 16.0]), np.array([36.0, 4.0, 36.0]),
                          np.array([144.0, 256.0, 256.0]))
    assert kk.tolist() == [9.0, 1.0, 9.0]
    assert s.tolist() == [1.0, 2.0, 2.0]


def test_backward_gemm_shapes_and_copies_by_hand() -> None:
    m, n, k, e_in = _conv3x3()
    p = pulp_passes("conv", m, n, k, e_in)
    # forward: im2row of the input, K x M = 36 x 36 = 1296 elements; MatMul (C_out, k, m), B transposed
    el, (nn, kk, mm), b_t, scalar = p["forward"]
    assert float(el) == 1296.0 and (float(nn), float(kk), float(mm)) == (10.0, 36.0, 36.0) and b_t and not scalar
    # weight gradient: im2row again (1296); (C_out, m, k) with B not transposed (the pv.shuffle loop)
    el, (nn, kk, mm), b_t, _ = p["wgrad"]
    assert float(el) == 1296.0 and (float(nn), float(kk), float(mm)) == (10.0, 36.0, 36.0) and not b_t
    # input gradient: im2row of dC over the 6 x 6 input grid: 9 x 10 x 36 = 3240, plus the block
    # transposition of the 10 x 36 = 360 weights; MatMul (C_in = 4, 9 C_out = 90, 36 input pixels)
    el, (nn, kk, mm), b_t, _ = p["dgrad"]
    assert float(el) == 3240.0 + 360.0
    assert (float(nn), float(kk), float(mm)) == (4.0, 90.0, 36.0) and b_t


def test_pointwise_has_no_im2row_but_a_weight_transposition() -> None:
    # 1x1 stride 1: k m = C_in x pixels = the input
    p = pulp_passes("conv", 25.0, 8.0, 16.0, 16.0 * 25.0)
    assert float(p["forward"][0]) == 0.0 and float(p["wgrad"][0]) == 0.0
    assert float(p["dgrad"][0]) == 8.0 * 16.0  # W^T
    assert p["forward"][2] is False and p["wgrad"][2] is True  # B not transposed / transposed


def test_parallel_efficiency_for_a_split_that_does_not_divide() -> None:
    # 10 rows on 8 workers: blocks of ceil(10/8) = 2, the busiest worker does 2 rows -> 10 / 16
    assert float(split_rows(10, 8)) == 2.0
    assert float(parallel_efficiency(10, 8)) == pytest.approx(10.0 / 16.0)
    assert float(parallel_efficiency(64, 8)) == 1.0
    # matmul of 10 x 36 x 36 in FP16 with B transposed: 2 rows x 36 x 36 MACs x 1.25 instructions
    assert float(matmul_cycles(10.0, 36.0, 36.0, dtype="fp16", b_transposed=True, n_workers=8)) == 2 * 36 * 36 * 1.25
    # an odd M: the last column scalar at 3 instructions per MAC
    assert float(matmul_cycles(8.0, 4.0, 3.0, dtype="fp16", b_transposed=True, n_workers=8)) == 4 * (2 * 1.25 + 3.0)
    assert float(copy_cycles(17.0, 8)) == 3.0 * PULP_COPY_INSTR_PER_ELEMENT


def test_fp16_matmul_is_2x_transposed_and_1_43x_not() -> None:
    def mm(dtype: str, b_t: bool) -> float:
        return float(matmul_cycles(64.0, 64.0, 64.0, dtype=dtype, b_transposed=b_t, n_workers=8))

    assert mm("fp32", True) / mm("fp16", True) == 2.0
    assert mm("fp32", True) / mm("fp16", False) == pytest.approx(2.5 / 1.75)


def _layer_step(dtype: str) -> OperatorTable:
    t = table_from_ops([conv("c", 1, 6, 6, 4, 10, 3, dtype=dtype)], workload="one-conv")
    return training_step(t)


def test_step_rows_sum_to_the_busiest_worker_cycles() -> None:
    step = _layer_step("fp16")
    out = pulp_trainlib_step(step, n_units=9, n_workers=8, ops_per_cycle={"fp16": 4.0, "fp32": 2.0})
    names = out.meta["name"].to_list()
    fl = {nm: float(np.asarray(c["flop"]).reshape(-1)[0]) for nm, c in zip(names, out.columns, strict=True)}
    # forward MatMul row + its [pulp:mm] row = the cycles of the busiest worker x 9 cores x 4 op/clk
    cyc = 2 * 36 * 36 * 1.25
    assert fl["c"] + fl["c[pulp:mm]"] == pytest.approx(cyc * 36.0)
    assert fl["c[pulp:copy]"] == pytest.approx(np.ceil(1296 / 8) * 2 * 36.0)
    # MACs unchanged: the added rows are elementwise
    assert float(out.total("mac")[0]) == float(step.total("mac")[0])


def test_fp16_over_fp32_layer_speedup_below_five_thirds_on_gap9() -> None:
    # a lone conv layer: forward (2x) + weight gradient (1.43x) MatMuls and copies at 1x -> below 5/3,
    # above the MatMul-only 1.43x
    base = {"training": True, "channels": 64, "group_size": 64, "h_out": 8, "w_out": 8}
    a = float(evaluate_point("gap9", "group-conv", {**base, "dtype": "fp32"}, detail=False).perf.latency_s[0])
    b = float(evaluate_point("gap9", "group-conv", {**base, "dtype": "fp16"}, detail=False).perf.latency_s[0])
    assert 1.43 < a / b < 5.0 / 3.0


def test_kernels_auto_on_gap9_only_and_bad_values_named() -> None:
    assert resolve_training_kernels("auto", get_target("gap9")) == "pulp_trainlib"
    assert resolve_training_kernels("auto", get_target("h100-sxm")) == "gemm"
    with pytest.raises(ValueError, match="h100-sxm"):
        resolve_training_kernels("pulp_trainlib", get_target("h100-sxm"))
    with pytest.raises(ValueError, match="training_precision"):
        build_point("resnet8", {"training_precision": "fp16"}, target=get_target("gap9"))  # not a training step
    with pytest.raises(ValueError, match="int8"):
        build_point("resnet8", {"training": True, "training_precision": "int8"}, target=get_target("gap9"))
    with pytest.raises(ValueError, match="int16_dfp"):
        build_point("resnet8", {"training": True, "training_precision": "int16_dfp",
                                "training_kernels": "pulp_trainlib"}, target=get_target("gap9"))


def test_int16_dfp_types_and_overhead_passes() -> None:
    step = _layer_step("fp32")
    q = apply_training_precision(step, "int16_dfp")
    meta = q.meta
    row = meta.filter(meta["name"] == "c")
    assert row["compute_dtype"][0] == "int16" and row["acc_dtype"][0] == "int32"
    i = meta["name"].to_list().index("c")
    # INT32 accumulators written: 10 x 36 outputs x 4 B; INT16 input 4 x 36 x 2 B
    assert _f(q.columns[i]["act_write_B"]) == 360 * 4.0 and _f(q.columns[i]["act_read_B"]) == 144 * 2.0
    j = meta["name"].to_list().index("c[dfp:quant]")
    # forward quantize pass: 144 input elements + 360 weights, 2 op each
    assert _f(q.columns[j]["flop"]) == 2.0 * (144 + 360)
    k = meta["name"].to_list().index("c[dfp:dequant]")
    assert _f(q.columns[k]["flop"]) == 360.0
    upd = meta.filter(meta["phase"] == "update")
    assert upd["compute_dtype"][0] == "fp32"  # FP32 master weights


def test_fp16_precision_halves_the_bytes_of_an_fp32_step() -> None:
    step = _layer_step("fp32")
    h = apply_training_precision(step, "fp16")
    assert float(h.total("bytes_B")[0]) == pytest.approx(float(step.total("bytes_B")[0]) / 2.0)
    assert set(h.meta["compute_dtype"].to_list()) == {"fp16"}


def test_depthwise_passes_by_hand() -> None:
    # 3x3 depthwise over 64 channels, 25 x 5 output, stride 1: k = 9 (one channel per group)
    p = pulp_passes("dwconv", 125.0, 64.0, 9.0, 64.0 * 125.0)
    el, (nn, kk, mm), _, scalar = p["forward"]
    assert float(el) == 9 * 64 * 125 and (float(nn), float(kk), float(mm)) == (64.0, 9.0, 125.0) and scalar
    # scalar mm_dw: 8 channels per worker x 9 x 125 MACs x 3 instructions
    cyc = matmul_cycles(nn, kk, mm, dtype="fp16", b_transposed=True, n_workers=8, scalar=True)
    assert float(cyc) == 8 * 9 * 125 * 3
