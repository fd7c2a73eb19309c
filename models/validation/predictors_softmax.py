"""Predictors for "The Two-Pass Softmax Algorithm" (Dukhan & Ablavatski, arXiv 2001.04438)."""

from __future__ import annotations

from models.studies import softmax_speedup
from models.validation.suite import predictor


@predictor("softmax.two_pass_speedup")
def two_pass_speedup(*, target: str, n_elements: int, baseline: str = "three_pass_recompute",
                     dtype: str = "fp32") -> float:
    """Time of ``baseline`` over time of the two-pass softmax on ``target`` (the ``softmax``
    workload and the ``softmax_variant`` knob; write-allocate by target class)."""
    return float(softmax_speedup(target, n_elements, variant="two_pass", baseline=baseline, dtype=dtype)[0])
