"""Predictors for "Fast and Accurate Model Scaling" (Dollar et al., CVPR 2021).

The rounded nets are built by the one builder (a RegNetX workload with the ``scaling_*``
knobs); the closed-form exponents are the cost model's formula.
"""

from __future__ import annotations

import numpy as np

from models.algorithms.scaling import scaling_exponents
from models.hardware import get_target
from models.point import build_point
from models.validation.suite import predictor
from models.workloads.anynet import complexity

_QUANTITIES = ("depth", "width", "resolution", "flops", "params", "activations")


@predictor("scaling.closed_form_exponent")
def closed_form_exponent(*, strategy: str, quantity: str, alpha: float = 0.8) -> float:
    """Exponent of ``s`` of ``quantity`` under ``strategy`` (closed-form cost model)."""
    if quantity not in _QUANTITIES:
        raise ValueError(f"quantity={quantity!r}; allowed: {', '.join(_QUANTITIES)}")
    return float(np.asarray(getattr(scaling_exponents(strategy, alpha), quantity)))


def _ratio(base: str, strategy: str, s: float, alpha: float, quantity: str) -> float:
    t = get_target("h100-sxm")  # the table does not depend on the target
    scaled = build_point(base, {"scaling_strategy": strategy, "scaling_factor": s, "scaling_alpha": alpha},
                         target=t).table
    ref = build_point(base, {}, target=t).table
    key = {"flops": "n_mac", "params": "n_params", "activations": "n_activations"}[quantity]
    return float(np.asarray(getattr(complexity(scaled), key)).reshape(-1)[0]
                 / np.asarray(getattr(complexity(ref), key)).reshape(-1)[0])


@predictor("scaling.rounded_exponent")
def rounded_exponent(*, base: str, strategy: str, s: float, quantity: str, alpha: float = 0.8) -> float:
    """Measured exponent ``log(ratio)/log(s)`` of the real-rounded scaled RegNetX."""
    if quantity not in ("flops", "params", "activations"):
        raise ValueError(f"quantity={quantity!r}; allowed: flops, params, activations")
    return float(np.log(_ratio(base, strategy, s, alpha, quantity)) / np.log(s))


@predictor("scaling.rounded_flops_ratio")
def rounded_flops_ratio(*, base: str, strategy: str, s: float, alpha: float = 0.8) -> float:
    """MACs of the real-rounded scaled RegNetX over the base's (the closed form gives ``s``)."""
    return _ratio(base, strategy, s, alpha, "flops")
