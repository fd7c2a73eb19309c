"""Convolution algorithms (direct, im2col, im2win): buffer, traffic and peak memory, by hand.

The small conv used throughout: batch 2, 4 -> 4 channels, 5x5 output, 3x3 kernel, stride 1,
fp16 (2 B), built by the ``group-conv`` workload with group_size = channels (an ordinary conv;
the workload takes h_in = h_out x stride, so the input is 2 x 5 x 5 x 4 = 200 elements, 400 B).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from models.algorithms.conv_algo import (
    CONV_ALGORITHMS,
    conv_algorithm_cost,
    im2col_elements,
    im2win_elements,
    lowering_factor,
)
from models.hardware import get_target
from models.point import applicable_knobs, build_point

H100 = get_target("h100-sxm")
CONV = {"batch": 2, "channels": 4, "h_out": 5, "w_out": 5, "group_size": 4, "kernel": 3, "stride": 1,
        "dtype": "fp16"}


def _f(x: object) -> float:
    return float(np.asarray(x, dtype=np.float64).reshape(-1)[0])


def _conv_row(algo: str | None, **kw: object) -> tuple[Mapping[str, np.ndarray], float]:
    knobs = {**CONV, **kw} | ({"conv_algorithm": algo} if algo else {})
    b = build_point("group-conv", knobs, target=H100)
    return b.table.columns[0], _f(b.table.peak_memory_B["forward"])


def test_closed_forms_of_the_transformed_tensors() -> None:
    # one image: im2col K_h K_w C_in H_out W_out = 3*3*4*5*5 = 900; im2win C_in H_out K_h W_in = 4*5*3*5 = 300
    assert _f(im2col_elements(3, 3, 4, 5, 5)) == 900
    assert _f(im2win_elements(3, 4, 5, 5)) == 300
    # L = m k / input = (2*5*5) * (4*3*3) / 200 = 9 = K_h K_w / s^2
    assert _f(lowering_factor(m=50, k=36, n=4, input_elements=200, depthwise=False)) == 9.0
    # depthwise: k = 3*3 per channel, g = n = 4 channels: L = 50 * 9 * 4 / 200 = 9 again
    assert _f(lowering_factor(m=50, k=9, n=4, input_elements=200, depthwise=True)) == 9.0


def test_im2col_writes_and_reads_the_lowered_matrix_and_holds_one_image_of_it() -> None:
    base, peak0 = _conv_row(None)
    c, peak = _conv_row("im2col")
    # 2 images x 900 elements x 2 B = 3600 B written by the lowering, 3600 B read by the GEMM
    assert _f(c["act_read_B"]) - _f(base["act_read_B"]) == 3600
    assert _f(c["act_write_B"]) - _f(base["act_write_B"]) == 3600
    # resident: one image's buffer, 900 x 2 B = 1800 B (reused image after image)
    assert peak - peak0 == 1800
    assert _f(c["flop"]) == _f(base["flop"])  # same MACs


def test_im2win_window_tensor_is_the_whole_batch() -> None:
    base, peak0 = _conv_row(None)
    c, peak = _conv_row("im2win")
    # 2 images x 300 elements x 2 B = 1200 B written and read, and all of it resident
    assert _f(c["act_read_B"]) - _f(base["act_read_B"]) == 1200
    assert _f(c["act_write_B"]) - _f(base["act_write_B"]) == 1200
    assert peak - peak0 == 1200


def test_stride_two_lowering() -> None:
    # stride 2: input 2*10*10*4 = 800 elements; im2col 3*3*4*5*5*2 = 1800 elements (L = 9/4);
    # im2win 4*5*3*10*2 = 1200 elements (s / K_w = 2/3 of im2col)
    base, _ = _conv_row(None, stride=2)
    c1, _ = _conv_row("im2col", stride=2)
    c2, _ = _conv_row("im2win", stride=2)
    assert _f(c1["act_write_B"]) - _f(base["act_write_B"]) == 1800 * 2
    assert _f(c2["act_write_B"]) - _f(base["act_write_B"]) == 1200 * 2


def test_direct_is_the_default_and_changes_nothing() -> None:
    base, peak0 = _conv_row(None)
    c, peak = _conv_row("direct")
    assert peak == peak0
    for k in ("flop", "act_read_B", "act_write_B", "footprint_B", "weight_read_B"):
        assert _f(c[k]) == _f(base[k])


def test_pointwise_conv_needs_no_lowering() -> None:
    # a 1x1 stride-1 conv: L = 1, the input already is the GEMM operand: im2col adds nothing,
    # im2win copies the input (2*5*5*4 = 200 elements, 400 B) as the authors' code does
    base, peak0 = _conv_row(None, kernel=1)
    c1, p1 = _conv_row("im2col", kernel=1)
    c2, p2 = _conv_row("im2win", kernel=1)
    assert _f(c1["act_read_B"]) == _f(base["act_read_B"]) and p1 == peak0
    assert _f(c2["act_write_B"]) - _f(base["act_write_B"]) == 400 and p2 - peak0 == 400


def test_order_of_memory_on_a_single_image() -> None:
    # batch 1, 3x3 stride 1: im2col 9x the input, im2win 3x: direct < im2win < im2col
    peaks = {a: _conv_row(a, batch=1)[1] for a in CONV_ALGORITHMS}
    assert peaks["direct"] < peaks["im2win"] < peaks["im2col"]


def test_bad_values_are_named() -> None:
    with pytest.raises(ValueError, match="conv_algorithm"):
        build_point("group-conv", {**CONV, "conv_algorithm": "winograd"}, target=H100)
    with pytest.raises(ValueError, match="conv_algorithm.*no conv rows"):
        build_point("gemm", {"conv_algorithm": "im2col"}, target=H100)
    with pytest.raises(ValueError, match="allowed: direct, im2col, im2win"):
        conv_algorithm_cost("fft", input_elements=1.0, lowering=9.0, bytes_per_element=2.0)
    with pytest.raises(ValueError, match="lowering factor"):
        conv_algorithm_cost("im2col", input_elements=1.0, lowering=-1.0, bytes_per_element=2.0)


def test_knob_listed_only_for_workloads_with_conv_rows() -> None:
    assert "conv_algorithm" in {p.name for p in applicable_knobs("resnet-50")}
    assert "conv_algorithm" in {p.name for p in applicable_knobs("group-conv")}
    assert "conv_algorithm" not in {p.name for p in applicable_knobs("gemm")}
    assert "conv_algorithm" not in {p.name for p in applicable_knobs("llama-2-7b")}


def test_a_whole_cnn_grows_in_bytes_and_memory_with_im2col() -> None:
    # every 3x3 / 7x7 row of ResNet-50 gets a lowered matrix: more bytes and more peak memory
    d = build_point("resnet-50", {"batch": 1}, target=H100).table
    i = build_point("resnet-50", {"batch": 1, "conv_algorithm": "im2col"}, target=H100).table
    assert _f(i.peak_memory_B["forward"]) > _f(d.peak_memory_B["forward"])
    tot = sum(_f(c["count"] * c["act_read_B"]) for c in i.columns)
    tot0 = sum(_f(c["count"] * c["act_read_B"]) for c in d.columns)
    assert tot > tot0
