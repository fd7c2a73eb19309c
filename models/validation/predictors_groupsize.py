"""Predictors for E2GC (Jha et al., VLSID 2020, arXiv 2006.15100)."""

from __future__ import annotations

from models.studies import e2gc_gain
from models.validation.suite import predictor


@predictor("groupsize.e2gc_gain_percent")
def e2gc_gain_percent(
    *,
    target: str,
    network: str,
    fggc_n_groups: int,
    e2gc_group_size: int,
    batch: int = 1,
    dtype: str = "fp16",
    per: str = "image",
) -> float:
    """Energy-efficiency gain of E2GC over FgGC on ``target``, in percent."""
    return 100.0 * e2gc_gain(target, network, fggc_n_groups=fggc_n_groups, e2gc_group_size=e2gc_group_size,
                             batch=batch, dtype=dtype, per=per)
