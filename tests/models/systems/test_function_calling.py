"""An agent's function calls (models.systems.function_calling): ReAct and LLMCompiler against the
one-request evaluations of each LLM invocation, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.dse import parse_space, sweep
from models.perf import evaluate_point
from models.systems import CallGraphError

T, W = "h100-sxm", "llama-2-7b"
BASE = {"prompt_len": 100, "n_generated": 5, "call_tokens": 10, "observation_tokens": 20}


def _call(context: float, out: float) -> tuple[float, float, float, float]:
    """(latency, energy, prefill latency, decode latency) of one LLM invocation as one request."""
    r = evaluate_point(T, W, {"prompt_len": context, "n_generated": out}).perf
    return (float(r.latency_s[0]), float(r.energy_J[0]), float(r.phase_latency_s["prefill"][0]),
            float(r.phase_latency_s["decode"][0]))


def _m(r, name: str) -> float:
    return float(np.asarray(r.perf.metrics()[name]).reshape(-1)[0])


def test_react_is_every_invocation_over_the_growing_history_plus_every_tool():
    # n = 2 calls, tool 0.5 s: invocations at contexts 100, 130 (writing 10) and 160 (writing 5)
    r = evaluate_point(T, W, {**BASE, "function_calling": "sequential", "n_calls": 2, "tool_latency_s": 0.5})
    calls = [_call(100, 10), _call(130, 10), _call(160, 5)]
    assert _m(r, "latency_s") == pytest.approx(sum(c[0] for c in calls) + 2 * 0.5, rel=1e-12)
    assert _m(r, "llm_time_s") == pytest.approx(sum(c[0] for c in calls), rel=1e-12)
    # energy: the invocations, then the static power (70 W on h100-sxm) over the 1 s of tools
    static_W = evaluate_point(T, W, BASE).target.static_power_W
    assert _m(r, "energy_J") == pytest.approx(sum(c[1] for c in calls) + static_W * 1.0, rel=1e-12)
    # tokens: 100 + 130 + 160 in, 10 + 10 + 5 out; three invocations; two calls on the critical path
    assert (_m(r, "input_tokens"), _m(r, "output_tokens")) == (390.0, 25.0)
    assert (_m(r, "llm_invocations"), _m(r, "calls_on_critical_path")) == (3.0, 2.0)
    assert np.isnan(_m(r, "cost_usd"))  # no prices given


def test_llmcompiler_streams_the_plan_and_joins_once():
    # three independent calls of 2 s: the planner writes 3 x 10 tokens from 100; call k is dispatched
    # when its line is written, prefill + (k + 1) x 10 x tau, and the last finishes 2 s after the plan
    r = evaluate_point(T, W, {**BASE, "function_calling": "parallel", "n_calls": 3, "tool_latency_s": 2.0})
    plan_s, plan_J, pre, dec = _call(100, 30)
    tau = dec / 30
    done = pre + 3 * 10 * tau + 2.0
    join_s, join_J, _, _ = _call(100 + 3 * 30, 5)
    assert _m(r, "latency_s") == pytest.approx(max(plan_s, done) + join_s, rel=1e-12)
    assert _m(r, "tool_wait_s") == pytest.approx(max(plan_s, done) - plan_s, rel=1e-12)
    assert (_m(r, "input_tokens"), _m(r, "output_tokens"), _m(r, "llm_invocations")) == (100 + 190, 35.0, 2.0)
    # a chain of the same three calls waits for each in turn: the first is dispatched after one line
    chain = evaluate_point(T, W, {**BASE, "function_calling": "parallel", "call_graph": "0>1,1>2",
                                  "tool_latency_s": 2.0})
    assert _m(chain, "latency_s") == pytest.approx(max(plan_s, pre + 10 * tau + 3 * 2.0) + join_s, rel=1e-12)
    assert _m(chain, "calls_on_critical_path") == 3.0


def test_parallel_beats_sequential_by_more_with_wider_graphs():
    kn = {**BASE, "tool_latency_s": 1.0}
    gain = []
    for n in (1, 4, 8):
        s = _m(evaluate_point(T, W, {**kn, "function_calling": "sequential", "n_calls": n}), "latency_s")
        p = _m(evaluate_point(T, W, {**kn, "function_calling": "parallel", "n_calls": n}), "latency_s")
        gain.append(s / p)
    assert gain[0] < gain[1] < gain[2]


def test_cost_is_tokens_at_their_prices():
    r = evaluate_point(T, W, {**BASE, "function_calling": "sequential", "n_calls": 2,
                              "input_price_usd_per_Mtok": 3.0, "output_price_usd_per_Mtok": 15.0})
    assert _m(r, "cost_usd") == pytest.approx((390 * 3.0 + 25 * 15.0) / 1e6, rel=1e-12)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="cycle through calls"):
        evaluate_point(T, W, {**BASE, "function_calling": "parallel", "call_graph": "0>1,1>0"})
    with pytest.raises(CallGraphError, match="'n_calls' with call_graph"):
        evaluate_point(T, W, {**BASE, "function_calling": "parallel", "call_graph": "0>1", "n_calls": 2})
    with pytest.raises(ValueError, match="go together"):
        evaluate_point(T, W, {**BASE, "function_calling": "parallel", "input_price_usd_per_Mtok": 1.0})
    with pytest.raises(ValueError, match="not a decoder LLM"):
        evaluate_point(T, "resnet-50", {"function_calling": "parallel"})
    with pytest.raises(ValueError, match="'serving' and 'function_calling' together: each is a separate system model"):
        evaluate_point(T, W, {**BASE, "function_calling": "parallel", "serving": "aggregated"})
    with pytest.raises(ValueError, match="call_depth = 4"):
        evaluate_point(T, W, {**BASE, "function_calling": "parallel", "n_calls": 3, "call_depth": 4})


def test_a_sweep_equals_point_by_point():
    space = parse_space({
        "name": "agent", "target": T, "workload": W,
        "workload_knobs": {"prompt_len": 100, "n_generated": 5},
        "algorithm_knobs": {"call_tokens": 10, "observation_tokens": 20, "n_calls": 4},
        "parameters": [
            {"name": "mode", "sets": "algorithm.function_calling", "kind": "categorical",
             "choices": ["sequential", "parallel"]},
            {"name": "tool", "sets": "algorithm.tool_latency_s", "kind": "float", "values": [0.1, 1.0, 3.0],
             "unit": "s"},
            {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "values": [2, 3.35],
             "unit": "TB/s"},
        ],
        "objectives": [{"metric": "latency_s"}, {"metric": "cost_usd"}],
    })
    df = sweep(space, progress=False)
    assert df.height == 12 and "tool_wait_s" in df.columns and "tasks_per_s" in df.columns
    for row in df.iter_rows(named=True):
        one = evaluate_point(T, W, {**BASE, "n_calls": 4, "function_calling": row["mode"],
                                    "tool_latency_s": row["tool"], "target.memories.hbm.bandwidth": row["bw"]})
        assert row["latency_s"] == pytest.approx(_m(one, "latency_s"), rel=1e-12)
        assert row["energy_J"] == pytest.approx(_m(one, "energy_J"), rel=1e-12)


def test_a_search_finds_parallel_calls_on_the_front(tmp_path):
    from models.dse import pareto_front, search

    space = parse_space({
        "name": "agent-search", "target": T, "workload": W,
        "workload_knobs": {"prompt_len": 100, "n_generated": 5},
        "algorithm_knobs": {"call_tokens": 10, "observation_tokens": 20, "input_price_usd_per_Mtok": 1.0,
                            "output_price_usd_per_Mtok": 2.0},
        "parameters": [
            {"name": "mode", "sets": "algorithm.function_calling", "kind": "categorical",
             "choices": ["sequential", "parallel"]},
            {"name": "calls", "sets": "algorithm.n_calls", "kind": "int", "values": [4]},
            {"name": "tool", "sets": "algorithm.tool_latency_s", "kind": "float", "bounds": [0.1, 2.0], "unit": "s"},
        ],
        "objectives": [{"metric": "latency_s"}, {"metric": "cost_usd"}],
    })
    df = search(space, 24, storage=f"sqlite:///{tmp_path / 'agent.db'}", seed=1, progress=False)
    assert df.height == 24 and set(df["mode"].to_list()) == {"sequential", "parallel"}
    for row in df.head(6).iter_rows(named=True):
        one = evaluate_point(T, W, {**BASE, "n_calls": 4, "function_calling": row["mode"],
                                    "tool_latency_s": row["tool"], "input_price_usd_per_Mtok": 1.0,
                                    "output_price_usd_per_Mtok": 2.0})
        assert row["latency_s"] == pytest.approx(_m(one, "latency_s"), rel=1e-12)
        assert row["cost_usd"] == pytest.approx(_m(one, "cost_usd"), rel=1e-12)
    # the cost depends on the tokens only, and the planned graph reads fewer: the front's cheapest point is parallel
    front = pareto_front(df, space.objectives)
    assert front.sort("cost_usd")["mode"][0] == "parallel"
    assert front.height >= 1 and set(front["mode"].to_list()) <= {"sequential", "parallel"}
