"""Serving a stream of LLM requests: continuous batching, chunked prefill, disaggregation, SLAs.

:func:`evaluate_serving` builds a server's steps with :func:`models.point.build_point`, prices them
with :func:`models.perf.evaluate` and combines them into TTFT, TPOT, rates, goodput and J/token
(:mod:`models.serving.model` gives the formulas); :func:`length_distribution` describes the prompt
and output lengths. ``tradespace evaluate``, sweeps and searches reach it through the ``serving``
algorithm knob.
"""

from models.serving.lengths import (
    LENGTH_DISTRIBUTIONS,
    N_NODES,
    LengthDistribution,
    ServingError,
    length_distribution,
)
from models.serving.model import SERVING_METRICS, evaluate_serving, serving_mode, step_spec

__all__ = [
    "LENGTH_DISTRIBUTIONS",
    "N_NODES",
    "SERVING_METRICS",
    "LengthDistribution",
    "ServingError",
    "evaluate_serving",
    "length_distribution",
    "serving_mode",
    "step_spec",
]
