"""MoE++ zero-computation experts (``zc_expert_share``): routed pairs, experts read and all-to-all by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.dse import parse_space, sweep
from models.hardware import get_target
from models.perf import evaluate_point
from models.point import applicable_knobs, build_point
from models.workloads.llm import LLMConfigError, load_llm_config

H100 = get_target("h100-sxm")
# Mixtral-8x7B: 8 experts, top-2, hidden 4096, expert width 14336, 32 layers, bf16
E, K, H, I, L = 8, 2, 4096, 14336, 32
KN = {"phase": "decode", "batch": 4, "prompt_len": 64, "n_generated": 2}


def _rows(table, name):
    f = table.frame()
    return f.filter(pl.col("name") == name)


def _one(table, name, col):
    r = _rows(table, name)
    assert r.height == 1, name
    return float(r[col][0])


def test_a_share_of_the_slots_leaves_the_ffn_experts_and_costs_an_elementwise_pass():
    f = 0.25
    kf = K * (1 - f)  # 1.5 FFN experts per token on average
    t = build_point("mixtral-8x7b", {**KN, "zc_expert_share": f}, target=H100).table
    T = 4  # one decode step of 4 sequences
    assert _one(t, "expert_up", "m") == pytest.approx(T * kf)
    assert _one(t, "expert_up", "flop") == pytest.approx(2 * T * kf * I * H)
    # the weighted sum still runs over all k slot outputs (FFN and zero-computation)
    assert _one(t, "expert_down", "flop") == pytest.approx(2 * T * kf * H * I + 2 * T * K * H)
    # distinct FFN experts that 4 tokens of 1.5 FFN picks each touch: E (1 - (1 - 1.5/8)^4) = 4.51
    distinct = E * (1 - (1 - kf / E) ** T)
    assert distinct == pytest.approx(4.5135, abs=1e-4)
    assert _one(t, "expert_gate", "weight_read_B") == pytest.approx(distinct * I * H * 2)
    # the zero / copy / constant slots: T (k - kf) x hidden elements at 7 FLOP (the constant expert's
    # hidden -> 2 weights, 4, and a x + b v, 3)
    assert _one(t, "zc_experts", "flop") == pytest.approx(7 * T * (K - kf) * H)
    assert _one(t, "act", "flop") == pytest.approx(5 * T * kf * I)  # SwiGLU on the FFN pairs only
    # all E experts stay stored: the parameters and the resident weights do not change
    base = build_point("mixtral-8x7b", KN, target=H100).table
    assert float(t.memory_parts_B["decode"]["weights"]) == float(base.memory_parts_B["decode"]["weights"])
    assert float(t.total_params()[0]) == float(base.total_params()[0])
    assert "zc_experts" not in base.meta["name"].to_list()


def test_share_zero_is_the_vanilla_table():
    a = build_point("mixtral-8x7b", KN, target=H100).table.frame()
    b = build_point("mixtral-8x7b", {**KN, "zc_expert_share": 0.0}, target=H100).table.frame()
    assert a.equals(b)


def test_under_expert_parallelism_only_the_ffn_slots_cross_the_all_to_all():
    f, e = 0.5, 2
    kf = K * (1 - f)
    t = build_point("mixtral-8x7b", {**KN, "expert_parallel": e, "zc_expert_share": f}, target=H100).table
    c = {x.name: x for x in t.collectives}["ep_all_to_all"]
    assert float(c.bytes_B) == pytest.approx(4 * kf * H * 2)  # 4 tokens x 1 FFN slot x hidden x 2 B
    # a unit reads the distinct experts the group's 8 tokens touch among its own 4
    mine = E * (1 - (1 - kf / E) ** (e * 4)) / e
    assert _one(t, "expert_up", "weight_read_B") == pytest.approx(mine * I * H * 2)
    assert _one(t, "expert_up", "m") == pytest.approx(4 * kf)


def test_the_zc_share_moves_time_and_energy_the_right_way():
    prefill = {"phase": "prefill", "batch": 16, "prompt_len": 1024}

    def experts_s(r):
        names = r.perf.op_meta["name"].to_list()
        return sum(float(r.perf.op_latency_s[0, i]) for i, n in enumerate(names)
                   if n in ("expert_gate", "expert_up", "expert_down"))

    runs = [evaluate_point("h100-sxm", "mixtral-8x7b", {**prefill, "zc_expert_share": f}, detail=True)
            for f in (0.0, 0.25, 0.5)]
    lat = [float(r.perf.latency_s[0]) for r in runs]
    en = [float(r.perf.energy_J[0]) for r in runs]
    assert lat[0] > lat[1] > lat[2] and en[0] > en[1] > en[2]
    # compute-bound prefill: the FFN experts' time scales with their pairs, 1 - f
    for f, r in zip((0.25, 0.5), runs[1:], strict=True):
        assert experts_s(r) / experts_s(runs[0]) == pytest.approx(1 - f, rel=0.02)


def test_a_sweep_over_the_share_agrees_with_evaluate():
    space = parse_space({
        "name": "moepp", "target": "h100-sxm", "workload": "mixtral-8x7b",
        "workload_knobs": {"phase": "decode", "prompt_len": 512, "n_generated": 16},
        "parameters": [
            {"name": "zc", "sets": "algorithm.zc_expert_share", "kind": "float", "values": [0.0, 0.3, 0.6]},
            {"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1, 8, 64]},
        ],
        "objectives": [{"metric": "latency_s", "direction": "minimize"}],
    })
    df = sweep(space, keep="all")
    assert df.height == 9
    for row in df.iter_rows(named=True):
        r = evaluate_point("h100-sxm", "mixtral-8x7b", {"phase": "decode", "prompt_len": 512, "n_generated": 16,
                                                        "batch": row["batch"], "zc_expert_share": row["zc"]},
                           detail=False)
        assert row["latency_s"] == pytest.approx(float(r.perf.latency_s[0]), rel=1e-12)


def test_bad_shares_are_named_errors():
    with pytest.raises(ValueError, match=r"'zc_expert_share' = 0.3: a dense model has no routed experts"):
        build_point("llama-2-7b", {"zc_expert_share": 0.3}, target=H100)
    with pytest.raises(ValueError, match=r"zc_expert_share.*allowed: \[0, 0.99\]"):
        build_point("mixtral-8x7b", {"zc_expert_share": 1.0}, target=H100)
    with pytest.raises(LLMConfigError, match="zc_share"):
        from dataclasses import replace

        replace(load_llm_config("llama-2-7b"), zc_share=0.5)
    assert "zc_expert_share" in {k.name for k in applicable_knobs("mixtral-8x7b")}
    assert "zc_expert_share" not in {k.name for k in applicable_knobs("llama-2-7b")}
    assert "zc_expert_share" not in {k.name for k in applicable_knobs("resnet-50")}
    np.testing.assert_equal(load_llm_config("mixtral-8x7b").ffn_top_k, 2.0)


def test_serving_builds_its_steps_with_the_share():
    kn = {"prompt_len": 512, "n_generated": 64, "batch": 32, "serving": "aggregated", "serving_devices": 8,
          "expert_parallel": 8}
    vanilla = evaluate_point("h100-sxm", "mixtral-8x7b", kn, detail=False)
    moepp = evaluate_point("h100-sxm", "mixtral-8x7b", {**kn, "zc_expert_share": 0.4}, detail=False)
    # the served point's decode step carries the zero-computation row and fewer FFN pairs
    assert "zc_experts" in moepp.built.table.meta["name"].to_list()
    assert "zc_experts" not in vanilla.built.table.meta["name"].to_list()

    def up_pairs(r):
        t = r.built.table
        return next(float(np.max(c["m"])) for c, n in zip(t.columns, t.meta["name"].to_list(), strict=True)
                    if n == "expert_up")

    assert up_pairs(moepp) == pytest.approx(0.6 * up_pairs(vanilla))
    assert float(moepp.perf.serving["tpot_s"][0]) < float(vanilla.perf.serving["tpot_s"][0])


# ------------------------------------------------------------------------------------------ capacity factor
def test_a_capacity_factor_pads_every_experts_buffer_by_hand():
    g = 1.25
    t = build_point("mixtral-8x7b", {**KN, "expert_capacity_factor": g}, target=H100).table
    # 4 tokens x top-2 over 8 experts: ceil(1.25 x 4 x 2 / 8) = 2 rows per expert, 16 rows, all 8 experts read
    assert _one(t, "expert_up", "m") == 16
    assert _one(t, "expert_up", "flop") == pytest.approx(2 * 16 * I * H)
    assert _one(t, "expert_gate", "weight_read_B") == pytest.approx(E * I * H * 2)
    # expert parallelism over 2 units with a skewed router: the buffers cap the busiest unit, the rest is dropped
    ep = build_point("mixtral-8x7b", {**KN, "expert_capacity_factor": g, "expert_parallel": 2, "expert_skew": 0.5},
                     target=H100).table
    # the group's 8 tokens: ceil(1.25 x 8 x 2 / 8) = 3 rows for each of the unit's 4 experts
    assert _one(ep, "expert_up", "m") == 12
    assert _one(ep, "expert_up", "weight_read_B") == pytest.approx(4 * I * H * 2)
    a2a = {x.name: x for x in ep.collectives}["ep_all_to_all"]
    assert float(a2a.bytes_B) == pytest.approx(16 * H * 2)  # the device's padded buffers: 16 rows x hidden x 2 B
    # large prefill: the padded rows are gamma times the routed pairs, so the expert time is
    prefill = {"phase": "prefill", "batch": 16, "prompt_len": 1024}

    def experts_s(settings):
        r = evaluate_point("h100-sxm", "mixtral-8x7b", settings, detail=True)
        names = r.perf.op_meta["name"].to_list()
        return sum(float(r.perf.op_latency_s[0, i]) for i, n in enumerate(names)
                   if n in ("expert_gate", "expert_up", "expert_down"))

    assert experts_s({**prefill, "expert_capacity_factor": 2.0}) / experts_s(prefill) == pytest.approx(2.0, rel=0.02)
    with pytest.raises(ValueError, match=r"expert_capacity_factor.*allowed: \[1, 64\]"):
        build_point("mixtral-8x7b", {**KN, "expert_capacity_factor": 0.5}, target=H100)
    with pytest.raises(ValueError, match="'expert_capacity_factor' = 1.5: a dense model has no routed experts"):
        build_point("llama-2-7b", {**KN, "expert_capacity_factor": 1.5}, target=H100)

