"""NPU/PIM concurrency (NeuPIMs sub-batch interleaving, ``pim_concurrency``): a phase of a table
with ``concurrent_pim`` takes the larger of the PIM side and the other engines' side instead of
their sum; the builder makes the table of two half batches (docs/models.md, "NPU/PIM concurrency").
"""

from __future__ import annotations

import tomllib
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.hardware import get_target, parse_target
from models.perf import evaluate, evaluate_point
from models.point.builder import build_point
from models.workloads import attention_op, gemv, table_from_ops

from .test_pim_channel import TOY

# the toy PIM target of test_pim_channel, with attention on the PIM engine
TOY_ATT = TOY.replace('runs = ["gemv", "elementwise"]', 'runs = ["gemv", "elementwise", "attention"]')


def _toy():
    return parse_target(tomllib.loads(TOY_ATT), file="toy-pim.toml")


def _table(n: float, ctx: float):
    # a projection on the host engine and a decode attention on the PIM, one phase
    return table_from_ops([gemv("proj", n, n, dtype="fp16", phase="decode"),
                           attention_op("att", 10, 8, 1, ctx, 128, dtype="fp16", phase="decode", kv_in_cache=True)])


ENGINES = {"gemv": "vec", "attention": "pim"}


def test_a_phase_takes_the_larger_side():
    t = _table(1000, 1000)
    blocked = evaluate(_toy(), t, engine=ENGINES)
    both = evaluate(_toy(), replace(t, concurrent_pim=True), engine=ENGINES)
    host, pim = blocked.breakdown()["latency_s"].to_list()
    # gemv 1000 x 1000 fp16 on the host: 2e6 B of weights + 2 x 2000 B of activations at 100 GB/s
    # = 20.04 us + 1 us; attention as in test_pim_channel: 81.92 + 0.4096 + 1 us
    assert host == pytest.approx(21.04e-6, rel=1e-12)
    assert pim == pytest.approx(83.3296e-6, rel=1e-12)
    assert blocked.latency_s[0] == pytest.approx(host + pim, rel=1e-12)
    assert both.latency_s[0] == pytest.approx(max(host, pim), rel=1e-12)
    # the work is the same: dynamic energy unchanged, static energy over the shorter time
    assert both.dynamic_energy_J[0] == pytest.approx(blocked.dynamic_energy_J[0], rel=1e-12)
    assert both.static_energy_J[0] == pytest.approx(2.0 * max(host, pim), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.floats(10, 5000), ctx=st.floats(1, 20000), policy=st.sampled_from(["time", "energy"]))
def test_totals_equal_the_breakdown_per_engine(n, ctx, policy):
    # the totals path (per-route marks in the kernel, detail=False) against the per-operator
    # breakdown's engines (detail=True), with the engine rule free to choose
    t = replace(_table(n, ctx), concurrent_pim=True)
    bd = evaluate(_toy(), t, policy=policy).breakdown()
    on_pim = sum(v for v, e in zip(bd["total_latency_s"], bd["engine"], strict=True) if e == "pim")
    rest = float(bd["total_latency_s"].sum()) - on_pim
    tot = evaluate(_toy(), t, policy=policy, detail=False)
    assert tot.latency_s[0] == pytest.approx(max(on_pim, rest), rel=1e-9)


def test_a_target_without_both_sides_is_refused():
    t = replace(_table(100, 100), concurrent_pim=True)
    with pytest.raises(ValueError, match="pim_concurrency"):
        evaluate(get_target("h100-sxm"), t)
    for name in ("h100-sxm", "gddr6-aim"):
        with pytest.raises(ValueError, match="pim_concurrency.*needs a target with a PIM engine and another"):
            build_point("gpt3-7b", {"batch": 8, "pim_concurrency": "interleaved"}, target=get_target(name))
    with pytest.raises(ValueError, match="pim_concurrency.*not a decoder LLM"):
        build_point("resnet-50", {"pim_concurrency": "interleaved"}, target=get_target("neupims"))


KW = {"phase": "decode", "prompt_len": 80, "n_generated": 64, "weight_dtype": "fp16", "act_dtype": "fp16",
      "kv_dtype": "fp16"}


def test_the_builder_makes_two_half_batches():
    tgt = get_target("neupims")
    whole = build_point("gpt3-7b", {**KW, "batch": 256}, target=tgt).table
    half = build_point("gpt3-7b", {**KW, "batch": 128}, target=tgt).table
    two = build_point("gpt3-7b", {**KW, "batch": 256, "pim_concurrency": "interleaved"}, target=tgt).table
    assert two.concurrent_pim and not whole.concurrent_pim
    assert two.n_ops == half.n_ops
    for c2, ch in zip(two.columns, half.columns, strict=True):
        assert np.array_equal(c2["count"], 2.0 * ch["count"])
        assert np.array_equal(c2["flop"], ch["flop"])  # each operator at the half batch
    assert np.allclose(two.n_items, whole.n_items)
    # the same 256 requests are held: KV cache and weights as for the whole batch
    for part in ("weights", "kv_cache"):
        assert np.allclose(two.memory_parts_B["decode"][part], whole.memory_parts_B["decode"][part])


def test_a_batch_of_one_is_not_split():
    a = evaluate_point("neupims", "gpt3-7b", {**KW, "batch": 1})
    b = evaluate_point("neupims", "gpt3-7b", {**KW, "batch": 1, "pim_concurrency": "interleaved"})
    assert b.perf.latency_s[0] == pytest.approx(a.perf.latency_s[0], rel=1e-12)


def test_interleaving_pays_at_large_batch_only():
    # NeuPIMs' own finding (sub-batch interleaving helps only at large batch): a half batch re-reads
    # every weight, so while the NPU's GEMMs are memory-bound (batch 64: 32 rows per half) its side
    # doubles and the overlap cannot win it back; at batch 512 the halves' GEMMs are compute-bound
    # (256 rows, about the NPU's 256 FLOP/B ridge), the NPU side stays, and the PIM's attention hides
    # under it
    out = {}
    for b in (64, 512):
        s = {**KW, "batch": b, "prompt_len": 1000}
        blocked = evaluate_point("neupims", "gpt3-7b", s).perf.latency_s[0]
        both = evaluate_point("neupims", "gpt3-7b", {**s, "pim_concurrency": "interleaved"}).perf.latency_s[0]
        out[b] = blocked / both
    assert out[64] < 1.0 < out[512]


def test_a_sweep_over_batch_equals_point_by_point():
    batches = np.array([1.0, 2.0, 64.0, 300.0])
    swept = evaluate_point("neupims", "gpt3-7b", {**KW, "batch": batches, "pim_concurrency": "interleaved"},
                           detail=False)
    for i, b in enumerate(batches):
        one = evaluate_point("neupims", "gpt3-7b", {**KW, "batch": float(b), "pim_concurrency": "interleaved"})
        assert swept.perf.latency_s[i] == pytest.approx(one.perf.latency_s[0], rel=1e-12)
        assert swept.perf.energy_J[i] == pytest.approx(one.perf.energy_J[0], rel=1e-12)


def test_serving_steps_take_the_knob():
    s = {"serving": "aggregated", "batch": 512, "prompt_len": 1000, "n_generated": 200, "weight_dtype": "fp16",
         "act_dtype": "fp16", "kv_dtype": "fp16"}
    a = evaluate_point("neupims", "gpt3-7b", s).perf.metrics()
    b = evaluate_point("neupims", "gpt3-7b", {**s, "pim_concurrency": "interleaved"}).perf.metrics()
    assert b["tpot_s"][0] < a["tpot_s"][0]
