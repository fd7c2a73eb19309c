"""Softmax pass model: hand-counted traffic, published two-pass speedup, compute-bound limit."""

from __future__ import annotations

import pytest

from models.algorithms.softmax import EXP_SLOTS, SOFTMAX_VARIANTS, softmax_counts


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


def test_every_variant_has_passes_and_an_exp_count() -> None:
    for v in SOFTMAX_VARIANTS:
        c = softmax_counts(v)
        assert c.n_passes >= 1 and c.n_exp_per_element >= 1
    assert EXP_SLOTS > 1
