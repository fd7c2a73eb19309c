"""Fresh outputs: an operator's result of at least ``first_touch_threshold`` bytes is a new OS
mapping on every call, and its first write faults its pages in at ``first_touch_bandwidth``
(docs/models.md, "Fresh outputs"). Hand-computed toy cases, the knob that turns it off, the
sweep order against one point at a time, and bad target files.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.hardware import TargetFileError, parse_target, with_overrides
from models.hardware.loader import target_to_toml
from models.perf import compile_target, evaluate
from models.perf.roofline import plan_routes
from models.workloads import elementwise, table_from_ops
from tests.models._toy import toy_target

MiB = 2.0**20

# The kernel tests' toy (tests/models/_toy.py) without its SRAM: one vector engine of 1e12 op/s over
# an 8 GB DRAM of 100 GB/s, static 1 W; here 1 us per operator, and fresh outputs of at least 32 MiB
# first written at 4 GB/s. Round numbers.
TOY = toy_target("touch", sram=False).replace(
    'op_overhead = { value = 0, unit = "us", source = "test" }',
    'op_overhead = { value = 1, unit = "us", source = "test" }\n'
    'first_touch_threshold = { value = 32, unit = "MiB", source = "test" }\n'
    'first_touch_bandwidth = { value = 4, unit = "GB/s", source = "test" }')


def _toy(text: str = TOY):
    return parse_target(tomllib.loads(text), file="toy-touch.toml")


def _without(*keys: str) -> str:
    return "\n".join(line for line in TOY.splitlines() if not line.startswith(keys))


def _scale(n: float):
    """A one-input fp32 elementwise op of ``n`` elements: ``n`` op, ``4n`` B read, ``4n`` B written."""
    return table_from_ops([elementwise("scale", n, dtype="fp32", n_inputs=1)])


def test_an_output_at_or_above_the_threshold_pays_its_first_touch_by_hand():
    t = _toy()
    # 64 MiB out (16 Mi elements): memory 128 MiB / 100 GB/s = 1.342 ms, + 1 us, + 64 MiB / 4 GB/s = 16.78 ms
    n = 16 * MiB
    base = 8.0 * n / 100e9 + 1e-6
    r = evaluate(t, _scale(n))
    assert r.latency_s[0] == pytest.approx(base + 4.0 * n / 4e9, rel=1e-12)
    # exactly the threshold (8 Mi elements = 32 MiB out) pays too; one element less does not
    n = 8 * MiB
    assert evaluate(t, _scale(n)).latency_s[0] == pytest.approx(8.0 * n / 100e9 + 1e-6 + 4.0 * n / 4e9, rel=1e-12)
    n = 8 * MiB - 1
    assert evaluate(t, _scale(n)).latency_s[0] == pytest.approx(8.0 * n / 100e9 + 1e-6, rel=1e-12)


def test_the_fault_time_is_stalled_time_and_shows_in_the_breakdown():
    t = _toy()
    n = 16 * MiB
    r = evaluate(t, _scale(n), detail=True)
    row = r.breakdown().row(0, named=True)
    # 16.8 ms of page faults against 1.34 ms of memory time: the operator is bound by its fixed cost
    assert row["bound"] == "overhead"
    assert row["latency_s"] == pytest.approx(8.0 * n / 100e9 + 1e-6 + 4.0 * n / 4e9, rel=1e-12)
    # energy: static power (1 W) over the whole time, the fault time included
    assert r.static_energy_J[0] == pytest.approx(1.0 * r.latency_s[0])


def test_no_cost_without_the_fields_with_planned_buffers_or_in_ideal_mode():
    n = 16 * MiB
    tab = _scale(n)
    plain = _toy(_without("first_touch_"))
    base = evaluate(plain, tab).latency_s[0]
    assert base == pytest.approx(8.0 * n / 100e9 + 1e-6, rel=1e-12)
    t = _toy()
    assert evaluate(t, replace(tab, fresh_outputs=False)).latency_s[0] == base
    assert evaluate(t, tab, mode="ideal").latency_s[0] == evaluate(plain, tab, mode="ideal").latency_s[0]
    assert plan_routes(compile_target(t), tab.meta, mode="ideal").touch is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=256.0), min_size=2, max_size=6),
       st.lists(st.floats(min_value=0.5, max_value=64.0), min_size=2, max_size=6),
       st.floats(min_value=1e6, max_value=1e8))
def test_a_sweep_over_thresholds_and_rates_prices_as_one_point_at_a_time(thr_mib, bw_gbs, n):
    k = min(len(thr_mib), len(bw_gbs))
    thr = np.array(thr_mib[:k]) * MiB
    bw = np.array(bw_gbs[:k]) * 1e9
    t = _toy()
    tab = _scale(n)
    swept = evaluate(t, tab, overrides={"first_touch_threshold": thr, "first_touch_bandwidth": bw}).latency_s
    one = [evaluate(with_overrides(t, {"first_touch_threshold": float(a), "first_touch_bandwidth": float(b)}),
                    tab).latency_s[0] for a, b in zip(thr, bw, strict=True)]
    np.testing.assert_allclose(swept, one, rtol=1e-12)
    # and every point prices its own threshold: outputs below it pay nothing beyond the plain target
    plain = evaluate(_toy(_without("first_touch_")), tab).latency_s[0]
    below = 4.0 * n < thr
    np.testing.assert_allclose(swept[below], plain, rtol=1e-12)
    assert np.all(swept[~below] > plain)


def test_the_fields_round_trip_and_go_together():
    t = _toy()
    assert t.first_touch_threshold_B == 32 * MiB and t.first_touch_bandwidth_B_per_s == 4e9
    back = parse_target(tomllib.loads(target_to_toml(t)), file="again.toml")
    assert back.first_touch_threshold_B == t.first_touch_threshold_B
    assert back.first_touch_bandwidth_B_per_s == t.first_touch_bandwidth_B_per_s
    for gone, missing in (("first_touch_bandwidth", "first_touch_bandwidth"),
                          ("first_touch_threshold", "first_touch_threshold")):
        with pytest.raises(TargetFileError, match=f"{missing}.*go together: give both"):
            _toy(_without(gone))
    # an override that adds one of them to a target that has neither is refused the same way
    with pytest.raises(TargetFileError, match="first_touch_threshold.*go together"):
        with_overrides(_toy(_without("first_touch_")), {"first_touch_bandwidth": 4e9})
    with pytest.raises(TargetFileError, match="first_touch_bandwidth"):
        _toy(TOY.replace('first_touch_bandwidth = { value = 4,', 'first_touch_bandwidth = { value = -4,'))
    assert "first_touch_threshold" in TOY and "op_overhead = { value = 1," in TOY  # the toy was edited


def test_the_output_buffers_knob_through_the_one_builder():
    from models.perf import evaluate_point

    t = _toy()
    s = {"rows": 1, "n_elements": 2**24, "dtype": "fp32", "softmax_variant": "two_pass"}
    fresh = evaluate_point(t, "softmax", s)
    planned = evaluate_point(t, "softmax", {**s, "output_buffers": "preallocated"})
    plain = evaluate_point(_toy(_without("first_touch_")), "softmax", s)
    lat = [float(r.summary()["totals"]["latency_s"]) for r in (fresh, planned, plain)]
    # the 64 MiB result of the softmax pass that writes it: 64 MiB / 4 GB/s more with fresh buffers
    assert lat[1] == lat[2]
    assert lat[0] - lat[1] == pytest.approx(2**26 / 4e9, rel=1e-9)
    with pytest.raises(ValueError, match="output_buffers.*allocated.*preallocated"):
        evaluate_point(t, "softmax", {**s, "output_buffers": "arena"})
