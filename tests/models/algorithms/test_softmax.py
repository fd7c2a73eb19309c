"""Softmax pass model: hand-counted traffic, published two-pass speedup, compute-bound limit."""

from __future__ import annotations

import numpy as np
import pytest

from models.algorithms.softmax import (
    EXP_SLOTS,
    SOFTMAX_VARIANTS,
    softmax_counts,
    softmax_speedup,
    softmax_time,
)
from models.hardware import get_target

SKX = "skylake-x-i9-7900x"


@pytest.mark.parametrize(("variant", "no_wa", "wa"), [
    ("three_pass_recompute", 16.0, 20.0),  # 3 reads + 1 write (+1 RFO) x 4 B
    ("three_pass_reload", 20.0, 28.0),  # 3 reads + 2 writes (+2 RFO)
    ("two_pass", 12.0, 16.0),  # 2 reads + 1 write (+1 RFO)
    ("online", 12.0, 16.0),
    ("fused_attention", 0.0, 0.0),
])
def test_bytes_per_element_fp32(variant: str, no_wa: float, wa: float) -> None:
    assert softmax_counts(variant).bytes_per_element_B == no_wa
    assert softmax_counts(variant, write_allocate=True).bytes_per_element_B == wa


def test_exponential_counts() -> None:
    assert softmax_counts("three_pass_recompute").n_exp_per_element == 2
    assert softmax_counts("three_pass_reload").n_exp_per_element == 1
    assert softmax_counts("two_pass").n_exp_per_element == 2
    assert softmax_counts("fused_attention").n_exp_per_element == 1


def test_unknown_variant_names_field() -> None:
    with pytest.raises(ValueError, match="variant"):
        softmax_counts("four_pass")


def test_out_of_cache_speedup_brackets_published() -> None:
    # Published 1.28 (arXiv 2001.04438). Bandwidth-bound ratio: 20/16 = 1.25 with RFO, 16/12 without.
    n = 2**26
    assert softmax_speedup(SKX, n)[0] == pytest.approx(1.25, rel=0.01)
    assert softmax_speedup(SKX, n, write_allocate=False)[0] == pytest.approx(4 / 3, rel=0.01)


def test_no_gain_in_cache_when_compute_bound() -> None:
    n = 2**20  # 8 MiB of fp32 input + output: fits the 10 MB L2
    t = softmax_time(SKX, "two_pass", n)
    assert set(t.bound) == {"compute"}
    assert softmax_speedup(SKX, n)[0] < 1.05
    assert softmax_speedup(SKX, n, mode="ideal")[0] <= 1.0  # two-pass has more ops per element


@pytest.mark.parametrize("variant", SOFTMAX_VARIANTS)
def test_compute_bound_time_is_op_count_over_peak(variant: str) -> None:
    # With memory made effectively free, every variant's time is its ops / peak, whatever its
    # traffic or write-allocate policy: bytes no longer matter.
    tgt = get_target(SKX)
    ov = {f"memories.{m.name}.bandwidth": 1e16 for m in tgt.memories}
    n = 2**22
    c = softmax_counts(variant)
    expect = 2.0 * c.slots_per_element * n / tgt.peak_op_per_s("fp32")
    for wa in (False, True):
        t = softmax_time(tgt, variant, n, mode="ideal", overrides=ov, write_allocate=wa)
        assert t.latency_s[0] == pytest.approx(expect, rel=1e-9)


def test_vectorized_over_points() -> None:
    n = np.array([2**14, 2**20, 2**26])
    assert softmax_speedup(SKX, n).shape == (3,)
    assert EXP_SLOTS > 1
