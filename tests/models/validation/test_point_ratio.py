"""``point.ratio``: a paper's relative claim as the ratio of two design points evaluated as users do."""

from __future__ import annotations

import pytest

from models.perf import evaluate_point
from models.validation.predictors_point import point_ratio


def _lat(target: str, workload: str, settings: dict) -> float:
    return float(evaluate_point(target, workload, settings, detail=False).perf.latency_s[0])


def test_speedup_is_baseline_over_point_and_the_baseline_inherits_what_it_does_not_name() -> None:
    s = {"batch": 4, "phase": "decode"}
    want = _lat("a100-80gb", "llama-2-7b", s) / _lat("h100-sxm", "llama-2-7b", s)
    got = point_ratio(target="h100-sxm", workload="llama-2-7b", metric="latency_s", settings=s,
                      baseline={"target": "a100-80gb"}, invert=True)
    assert got == pytest.approx(want, rel=1e-12)
    assert want > 1.2  # an H100 decodes faster than an A100: the direction of the ratio matters
    plain = point_ratio(target="h100-sxm", workload="llama-2-7b", metric="latency_s", settings=s,
                        baseline={"target": "a100-80gb"})
    assert plain == pytest.approx(1.0 / want, rel=1e-12)


def test_baseline_settings_replace_the_points() -> None:
    a = {"phase": "decode", "weight_format": "int4-g128"}
    b = {"phase": "decode"}
    want = _lat("h100-sxm", "llama-2-7b", b) / _lat("h100-sxm", "llama-2-7b", a)
    got = point_ratio(target="h100-sxm", workload="llama-2-7b", metric="latency_s", settings=a,
                      baseline={"settings": b}, invert=True)
    assert got == pytest.approx(want, rel=1e-12) and got > 1.5  # 4-bit weights: decode reads far fewer bytes


def test_bad_baseline_and_metric_are_named() -> None:
    with pytest.raises(KeyError, match="baseline: unknown key.*tagret"):
        point_ratio(target="h100-sxm", workload="gemm", metric="latency_s", baseline={"tagret": "a100-80gb"})
    with pytest.raises(KeyError, match="metric 'latency'"):
        point_ratio(target="h100-sxm", workload="gemm", metric="latency", baseline={"target": "a100-80gb"})


def test_operators_sum_those_rows_of_the_breakdown() -> None:
    s = {"phase": "prefill", "batch": 4, "prompt_len": 256}
    ops = ["q_proj", "k_proj"]

    def rows(target: str) -> float:
        bd = evaluate_point(target, "llama-2-7b", s).perf.breakdown(0)
        return float(bd.filter(bd["name"].is_in(ops))["total_latency_s"].sum())

    got = point_ratio(target="h100-sxm", workload="llama-2-7b", metric="latency_s", settings=s,
                      baseline={"target": "a100-80gb"}, invert=True, operators=ops)
    assert got == pytest.approx(rows("a100-80gb") / rows("h100-sxm"), rel=1e-12)
    # not the whole point's ratio: the projections are compute-bound, the whole prefill is not only them
    whole = point_ratio(target="h100-sxm", workload="llama-2-7b", metric="latency_s", settings=s,
                        baseline={"target": "a100-80gb"}, invert=True)
    assert got != pytest.approx(whole, rel=1e-3)
    with pytest.raises(KeyError, match="operators: nope in neither point's table"):
        point_ratio(target="h100-sxm", workload="llama-2-7b", metric="latency_s", settings=s,
                    baseline={"target": "a100-80gb"}, operators=["q_proj", "nope"])
    with pytest.raises(KeyError, match="metric 'tokens_per_s' with operators"):
        point_ratio(target="h100-sxm", workload="llama-2-7b", metric="tokens_per_s", settings=s,
                    baseline={"target": "a100-80gb"}, operators=ops)
