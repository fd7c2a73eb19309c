"""Scaling strategies: closed forms, rounding, and activations driving runtime."""

from __future__ import annotations

import numpy as np
import pytest

from models.algorithms.scaling import (
    SCALING_STRATEGIES,
    regnetx_base,
    scale_anynet,
    scale_factors,
    scaling_cost,
    scaling_exponents,
)


@pytest.mark.parametrize("strategy", SCALING_STRATEGIES)
def test_flops_scale_exactly_by_s_before_rounding(strategy: str) -> None:
    s = np.array([0.5, 2.0, 4.0, 16.0])
    d, w, r = scale_factors(strategy, s, alpha=np.array([1 / 3, 0.5, 0.8, 1.0]))
    np.testing.assert_allclose(d * w**2 * r**2, s, rtol=1e-12)


def test_fast_alpha_08_exponents() -> None:
    e = scaling_exponents("fast", 0.8)  # pycls d1_w8_g8_r1
    assert (float(e.depth), float(e.width), float(e.resolution)) == pytest.approx((0.1, 0.4, 0.05))
    assert (float(e.params), float(e.activations)) == pytest.approx((0.9, 0.6))


def test_fast_family_endpoints() -> None:
    a = scaling_exponents("fast", 1 / 3)
    b = scaling_exponents("dwr")
    assert float(a.activations) == pytest.approx(float(b.activations))  # alpha = 1/3 is uniform dwr
    assert float(scaling_exponents("fast", 1.0).activations) == pytest.approx(0.5)  # alpha = 1 is w


def test_errors_name_field() -> None:
    with pytest.raises(ValueError, match="strategy"):
        scaling_exponents("x")
    with pytest.raises(ValueError, match="alpha"):
        scaling_exponents("fast", 0.2)
    with pytest.raises(ValueError, match="alpha"):
        scale_factors("fast", 2.0, np.array([0.5, 1.5]))


def test_rounding_rules() -> None:
    d0, w0, g0 = regnetx_base("regnetx-400mf")
    net = scale_anynet(d0, w0, g0, np.array([2.0, 4.0]), "fast", 0.8)
    assert np.all(net.widths % 8 == 0)
    assert np.all(net.depths == np.round(net.depths)) and np.all(net.depths >= 1)
    assert np.all(net.resolution % 4 == 0)
    assert np.all(net.widths % net.group_widths == 0)


def test_rounded_close_to_closed_form() -> None:
    df = scaling_cost("regnetx-1.6gf", np.array([4.0, 16.0]), "fast", 0.8)
    assert np.all(np.abs(df["flops_deviation"].to_numpy()) < 0.15)
    assert np.all(np.abs(df["acts_exponent"].to_numpy() - 0.6) < 0.1)


