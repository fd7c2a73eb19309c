"""Predictors for "Fast and Accurate Model Scaling" (Dollar et al., CVPR 2021)."""

from __future__ import annotations

import numpy as np

from models.algorithms.scaling import scaling_cost, scaling_exponents
from models.validation.suite import predictor

_QUANTITIES = ("depth", "width", "resolution", "flops", "params", "activations")


@predictor("scaling.closed_form_exponent")
def closed_form_exponent(*, strategy: str, quantity: str, alpha: float = 0.8) -> float:
    """Exponent of ``s`` of ``quantity`` under ``strategy`` (closed-form cost model)."""
    if quantity not in _QUANTITIES:
        raise ValueError(f"quantity={quantity!r}; allowed: {', '.join(_QUANTITIES)}")
    return float(np.asarray(getattr(scaling_exponents(strategy, alpha), quantity)))


@predictor("scaling.rounded_exponent")
def rounded_exponent(*, base: str, strategy: str, s: float, quantity: str, alpha: float = 0.8) -> float:
    """Measured exponent ``log(ratio)/log(s)`` of the real-rounded scaled RegNetX."""
    key = {"flops": "flops", "params": "params", "activations": "acts"}.get(quantity)
    if key is None:
        raise ValueError(f"quantity={quantity!r}; allowed: flops, params, activations")
    df = scaling_cost(base, s, strategy, alpha)
    return float(df[f"{key}_exponent"][0])


@predictor("scaling.rounded_flops_ratio")
def rounded_flops_ratio(*, base: str, strategy: str, s: float, alpha: float = 0.8) -> float:
    """MACs of the real-rounded scaled RegNetX over the base's (the closed form gives ``s``)."""
    return float(scaling_cost(base, s, strategy, alpha)["flops_ratio"][0])
