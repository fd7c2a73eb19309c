"""The serving model (models.serving): closed forms against the one-request tables, by hand."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pytest

from models.dse import parse_space, sweep
from models.hardware import parse_target
from models.params import ParamError
from models.perf import evaluate_point
from models.serving import ServingError, length_distribution
from tests.models.perf.test_roofline import TOY

# A tiny Llama: hidden 64, 2 layers, 4 heads (no GQA), gated MLP of 128, vocabulary 256, fp16.
TINY = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 128, "vocab_size": 256,
        "max_position_embeddings": 4096, "tie_word_embeddings": False, "hidden_act": "silu"}
FP16 = {"weight_dtype": "fp16", "act_dtype": "fp16", "kv_dtype": "fp16"}
# weights: embedding and LM head 2 x 256 x 64, per layer q/k/v/o 4 x 64 x 64 + gate/up/down 3 x 64 x 128 + two
# norms of 64, a final norm of 64: 32768 + 2 x 41088 + 64 = 115008 parameters x 2 B
TINY_WEIGHTS_B = 115008 * 2
# KV cache: K and V (2) x 64 channels x 2 layers x 2 B = 512 B per token
TINY_KV_B_PER_TOKEN = 2 * 64 * 2 * 2


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.json"
    p.write_text(json.dumps(TINY))
    return str(p)


@pytest.fixture
def toy():
    return parse_target(tomllib.loads(TOY), file="toy.toml")


def _s(r, name):
    return float(np.asarray(r.perf.serving[name]).reshape(-1)[0])


def _lat(r):
    return float(np.asarray(r.perf.latency_s).reshape(-1)[0])


# 1 KB of SRAM: every weight- or KV-reading operator's working set (> 100 KB) is homed in DRAM
# whatever resident state the server holds, so the serving steps and the one-request tables
# price them alike
SMALL_SRAM = {"target.memories.sram.capacity": 1024.0}


# ------------------------------------------------------------------ one request, fixed lengths
@pytest.mark.parametrize("chunk", [None, 4096])
def test_single_request_ttft_tpot_are_the_prefill_and_decode_tables(chunk):
    # Llama-2-7B on an H100: 13.5 GB of weights dwarf every on-chip level, so the resident state
    # the server holds cannot move a home level; one request alone (batch 1) is never interrupted
    P, G = 1000, 64
    base = {"batch": 1, "prompt_len": P, "n_generated": G}
    extra = {} if chunk is None else {"chunk_tokens": chunk}  # one chunk holds the prompt: nothing to piggyback
    r = evaluate_point("h100-sxm", "llama-2-7b", {**base, "serving": "aggregated", **extra})
    pre = evaluate_point("h100-sxm", "llama-2-7b", {**base, "phase": "prefill"})
    dec = evaluate_point("h100-sxm", "llama-2-7b", {**base, "phase": "decode"})
    assert _s(r, "ttft_s") == pytest.approx(_lat(pre), rel=1e-9)
    assert _s(r, "ttft_p99_s") == pytest.approx(_lat(pre), rel=1e-9)  # fixed lengths: every request alike
    assert _s(r, "tpot_s") == pytest.approx(_lat(dec) / G, rel=1e-9)
    assert _s(r, "output_tokens_per_s_per_user") == pytest.approx(G / _lat(dec), rel=1e-9)
    # one request at a time: requests/s = 1 / (prefill + G decode steps)
    assert _s(r, "requests_per_s") == pytest.approx(1.0 / (_lat(pre) + _lat(dec)), rel=1e-9)
    assert _lat(r) == pytest.approx(_lat(pre) + _lat(dec), rel=1e-9)  # end-to-end latency of a request


def test_batch_pays_for_the_others_prefills_little_law(tiny, toy):
    # aggregated, B = 4, no chunking: per request the device spends t_p + (G / B) t_d, and a
    # request in decode waits for the (B - 1) others' prefills: TPOT = t_d + (B - 1) t_p / G
    B, P, G = 4, 300, 40
    base = {"prompt_len": P, "n_generated": G, **FP16, **SMALL_SRAM}
    r = evaluate_point(toy, tiny, {**base, "batch": B, "serving": "aggregated"})
    t_p = _lat(evaluate_point(toy, tiny, {**base, "batch": 1, "phase": "prefill"}))
    t_d = _lat(evaluate_point(toy, tiny, {**base, "batch": B, "phase": "decode"})) / G
    lam = 1.0 / (t_p + G * t_d / B)
    assert _s(r, "requests_per_s") == pytest.approx(lam, rel=1e-9)
    assert _s(r, "tpot_s") == pytest.approx(t_d + (B - 1) * t_p / G, rel=1e-9)
    assert _s(r, "n_decoding") == pytest.approx(B - lam * t_p, rel=1e-9)
    # tokens/s per device = requests decoding x per-user rate (Little's law)
    assert _s(r, "output_tokens_per_s_per_device") == pytest.approx(
        _s(r, "n_decoding") * _s(r, "output_tokens_per_s_per_user"), rel=1e-9)
    assert _s(r, "output_tokens_per_s") == pytest.approx(lam * G, rel=1e-9)
    # a stream's device power and token rate, not one request's energy over its own latency
    m = r.perf.metrics()
    assert float(m["average_power_W"][0]) == pytest.approx(lam * float(r.perf.energy_J[0]), rel=1e-12)
    assert float(m["tokens_per_s"][0]) == pytest.approx(lam * G, rel=1e-12)
    assert float(m["energy_J_per_token"][0]) == pytest.approx(_s(r, "energy_J_per_output_token"), rel=1e-12)
    from models.serving import SERVING_METRICS

    assert set(SERVING_METRICS) <= set(m)


# ------------------------------------------------------------------ memory: the largest batch
def test_max_batch_by_hand(tiny, toy):
    P, G = 1000, 24
    cap = 10e6
    kn = {"serving": "aggregated", "prompt_len": P, "n_generated": G, **FP16, "target.memories.dram.capacity": cap}
    r = evaluate_point(toy, tiny, {**kn, "batch": 1})
    kv = TINY_KV_B_PER_TOKEN * (P + G)  # 524288 B per request at its longest
    # activations: the largest operator, the gated MLP's act(gate) x up over the 1000-token prompt,
    # reads two 1000 x 128 fp16 tensors and writes one: 3 x 1000 x 128 x 2 B = 768000 B
    act = 3 * P * 128 * 2
    assert _s(r, "kv_B_per_request") == kv
    assert _s(r, "n_max_batch") == math.floor((cap - TINY_WEIGHTS_B - act) / kv) == 17  # 9001984 / 524288 = 17.2
    fit = evaluate_point(toy, tiny, {**kn, "batch": 17})
    assert fit.summary()["totals"]["fits_in_memory"]
    assert float(fit.perf.peak_memory_B[0]) == TINY_WEIGHTS_B + 17 * kv + act
    # one more does not fit: reported, not raised, and it serves nobody within an SLA
    over = evaluate_point(toy, tiny, {**kn, "batch": 18})
    assert not over.summary()["totals"]["fits_in_memory"]
    assert _s(over, "goodput_requests_per_s") == 0.0
    assert _s(fit, "goodput_requests_per_s") == pytest.approx(_s(fit, "requests_per_s"), rel=1e-12)


def test_infeasible_batch_in_a_sweep_is_a_memory_constraint(tiny):
    # the tiny model on an H100 with 60 MB of HBM: floor((60e6 - 230016 - 768000) / 524288) = 112
    space = parse_space({
        "name": "tiny-serving", "target": "h100-sxm", "workload": tiny,
        "workload_knobs": {"prompt_len": 1000, "n_generated": 24, **FP16},
        "algorithm_knobs": {"serving": "aggregated"},
        "parameters": [
            {"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1, 112, 113]},
            {"name": "cap", "sets": "target.memories.hbm.capacity", "kind": "float", "values": [60], "unit": "MB"},
        ],
        "objectives": [{"metric": "tpot_s"}], "constraints": [{"kind": "memory"}],
    })
    df = sweep(space, progress=False).sort("batch")
    assert "goodput_requests_per_s" in df.columns and "ttft_p99_s" in df.columns
    # capacity is the outermost level's: the 50 MB L2 and 30 MB shared memory do not add to it
    assert df["n_max_batch"].to_list() == [112, 112, 112]
    assert df["feasible"].to_list() == [True, True, False]
    assert df["goodput_requests_per_s"].to_list()[2] == 0.0


# ------------------------------------------------------------------ goodput
def test_goodput_zero_under_a_tighter_sla_and_throughput_under_a_looser_one():
    kn = {"serving": "aggregated", "batch": 16, "prompt_len": 512, "n_generated": 128}
    r = evaluate_point("h100-sxm", "llama-2-7b", kn)
    tpot, ttft, rate = _s(r, "tpot_s"), _s(r, "ttft_s"), _s(r, "requests_per_s")
    tight = evaluate_point("h100-sxm", "llama-2-7b", {**kn, "tpot_sla_s": 0.99 * tpot})
    loose = evaluate_point("h100-sxm", "llama-2-7b", {**kn, "tpot_sla_s": 1.01 * tpot, "ttft_sla_s": 1.01 * ttft})
    assert _s(tight, "goodput_requests_per_s") == 0.0
    assert _s(tight, "goodput_output_tokens_per_s") == 0.0
    assert _s(loose, "goodput_requests_per_s") == pytest.approx(rate, rel=1e-12)
    assert _s(loose, "goodput_output_tokens_per_s") == pytest.approx(_s(r, "output_tokens_per_s"), rel=1e-12)
    ttft_tight = evaluate_point("h100-sxm", "llama-2-7b", {**kn, "ttft_sla_s": 0.99 * ttft})
    assert _s(ttft_tight, "goodput_requests_per_s") == 0.0


def test_goodput_counts_the_share_of_prompts_within_the_ttft_limit():
    # uniform prompts: 8 equal-probability nodes; a limit between the TTFT of the 6th and 7th
    # shortest lets 6 of 8 through
    kn = {"serving": "aggregated", "batch": 8, "prompt_len": 1024, "n_generated": 128, "length_dist": "uniform",
          "prompt_p99": 1500, "output_p99": 200}
    nodes = length_distribution("uniform", 1024, 1500).nodes
    ttft = [_lat(evaluate_point("h100-sxm", "llama-2-7b", {"batch": 1, "prompt_len": int(n[()]),
                                                           "phase": "prefill"})) for n in nodes]
    r = evaluate_point("h100-sxm", "llama-2-7b", {**kn, "ttft_sla_s": 0.5 * (ttft[5] + ttft[6])})
    assert _s(r, "goodput_requests_per_s") == pytest.approx(0.75 * _s(r, "requests_per_s"), rel=1e-12)
    assert _s(r, "ttft_s") == pytest.approx(sum(ttft) / 8, rel=1e-6)
    assert _s(r, "ttft_p99_s") > max(ttft[:7])


# ------------------------------------------------------------------ disaggregated vs aggregated
def test_disaggregated_half_split_on_two_devices_vs_aggregated_on_one(tiny, toy):
    B, P, G = 4, 300, 40
    base = {"prompt_len": P, "n_generated": G, **FP16, **SMALL_SRAM}
    t_p = _lat(evaluate_point(toy, tiny, {**base, "batch": 1, "phase": "prefill"}))
    dec = evaluate_point(toy, tiny, {**base, "batch": B, "phase": "decode"})
    t_d = _lat(dec) / G
    agg = evaluate_point(toy, tiny, {**base, "batch": B, "serving": "aggregated"})
    dis = evaluate_point(toy, tiny, {**base, "batch": B, "serving": "disaggregated", "serving_devices": 2,
                                     "prefill_fraction": 0.5})
    # aggregated, one device: t_p + (G / B) t_d of device time per request
    assert _s(agg, "requests_per_s") == pytest.approx(1.0 / (t_p + G * t_d / B), rel=1e-9)
    # disaggregated: one prefill device (1 / t_p requests/s), one decode device (B / (G t_d)); the
    # slower group sets the rate; TPOT is the bare decode step, TTFT the bare prefill
    lam = min(1.0 / t_p, B / (G * t_d))
    assert _s(dis, "requests_per_s") == pytest.approx(lam, rel=1e-9)
    assert _s(dis, "tpot_s") == pytest.approx(t_d, rel=1e-9)
    assert _s(dis, "ttft_s") == pytest.approx(t_p, rel=1e-9)
    assert _s(dis, "output_tokens_per_s_per_device") == pytest.approx(lam * G / 2, rel=1e-9)
    # energy per request: the prefill, G / B decode steps, and the idle group's static power (2 W)
    e_p = float(evaluate_point(toy, tiny, {**base, "batch": 1, "phase": "prefill"}).perf.energy_J[0])
    idle = (1.0 - lam * t_p) + (1.0 - lam * G * t_d / B)  # device-seconds per second
    e_req = e_p + float(dec.perf.energy_J[0]) / B + 2.0 * idle / lam
    assert _s(dis, "energy_J_per_output_token") == pytest.approx(e_req / G, rel=1e-9)


def test_decode_bound_disaggregated_tokens_per_decode_device_is_batch_times_user_rate(tiny, toy):
    B = 8
    base = {"prompt_len": 100, "n_generated": 200, **FP16, **SMALL_SRAM, "batch": B}
    # 3 of 4 devices prefill short prompts: the one decode device is the bottleneck
    r = evaluate_point(toy, tiny, {**base, "serving": "disaggregated", "serving_devices": 4, "prefill_fraction": 0.75})
    assert _s(r, "n_decoding") == pytest.approx(B, rel=1e-9)
    assert _s(r, "output_tokens_per_s") == pytest.approx(B * _s(r, "output_tokens_per_s_per_user"), rel=1e-9)
    assert _s(r, "output_tokens_per_s_per_device") == pytest.approx(_s(r, "output_tokens_per_s") / 4, rel=1e-12)


# ------------------------------------------------------------------ chunked prefill
def test_chunked_prefill_one_chunk_alone_is_the_prefill_table(tiny, toy):
    base = {"prompt_len": 300, "n_generated": 40, **FP16, **SMALL_SRAM, "batch": 1}
    t_p = _lat(evaluate_point(toy, tiny, {**base, "phase": "prefill"}))
    r = evaluate_point(toy, tiny, {**base, "serving": "aggregated", "chunk_tokens": 512})
    assert _s(r, "ttft_s") == pytest.approx(t_p, rel=1e-12)


def test_chunked_prefill_piggybacks_decodes_and_splits_the_prompt(tiny, toy):
    base = {"prompt_len": 1000, "n_generated": 100, **FP16, **SMALL_SRAM, "batch": 8}
    whole = evaluate_point(toy, tiny, {**base, "serving": "aggregated"})
    chunked = evaluate_point(toy, tiny, {**base, "serving": "aggregated", "chunk_tokens": 256})
    # 4 chunks of 250 tokens, each in a step with 7 decodes: the first token takes longer...
    assert _s(chunked, "ttft_s") > _s(whole, "ttft_s")
    # ...and the decodes no longer stop for whole prompts: lower TPOT
    assert _s(chunked, "tpot_s") < _s(whole, "tpot_s")


# ------------------------------------------------------------------ vectorized = pointwise
def test_sweep_equals_evaluate_point_per_point():
    kn = {"prompt_len": 512, "n_generated": 128, "length_dist": "lognormal", "prompt_p99": 2048, "output_p99": 512}
    space = parse_space({
        "name": "serving-grid", "target": "h100-sxm", "workload": "llama-2-7b",
        "workload_knobs": {"n_generated": 128},
        "algorithm_knobs": {"serving": "aggregated", "length_dist": "lognormal", "prompt_p99": 2048,
                            "output_p99": 512},
        "parameters": [
            {"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1, 8, 64]},
            {"name": "chunk", "sets": "algorithm.chunk_tokens", "kind": "int", "values": [128, 256]},
            {"name": "tpot_sla_s", "sets": "algorithm.tpot_sla_s", "kind": "float", "values": [8, 30], "unit": "ms"},
            {"name": "prompt_len", "sets": "workload.prompt_len", "kind": "int", "values": [256, 512]},
            {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "values": [2, 3.35],
             "unit": "TB/s"},
        ],
        "objectives": [{"metric": "tpot_s"}],
    })
    df = sweep(space, progress=False)
    assert df.height == 48
    for row in df.iter_rows(named=True):
        r = evaluate_point("h100-sxm", "llama-2-7b", {**kn, "serving": "aggregated", "chunk_tokens": row["chunk"],
                                                      "batch": row["batch"], "prompt_len": row["prompt_len"],
                                                      "tpot_sla_s": row["tpot_sla_s"],
                                                      "target.memories.hbm.bandwidth": row["bw"]})
        for m in ("ttft_s", "ttft_p99_s", "tpot_s", "goodput_requests_per_s", "energy_J_per_output_token",
                  "latency_s"):
            want = _s(r, m) if m != "latency_s" else _lat(r)
            assert row[m] == pytest.approx(want, rel=1e-9), m


# ------------------------------------------------------------------ length distributions
def test_length_distributions_closed_forms():
    # uniform with mean 100 and p99 149: width (149 - 100) / 0.49 = 100, so [50, 150]
    u = length_distribution("uniform", 100, 149)
    assert float(u.max) == pytest.approx(150.0)
    assert float(u.second_moment) == pytest.approx(100.0**2 + 100.0**2 / 12.0)
    assert [float(n) for n in u.nodes] == [56, 69, 81, 94, 106, 119, 131, 144]  # 50 + 100 (k + 1/2) / 8, rounded
    # lognormal: its p99 and mean are the ones given
    ln = length_distribution("lognormal", 200, 1000)
    sigma = math.sqrt(math.log(float(ln.second_moment) / 200.0**2))
    mu = math.log(float(ln.p50))
    assert math.exp(mu + sigma**2 / 2) == pytest.approx(200.0, rel=1e-12)
    assert math.exp(mu + 2.3263478740408408 * sigma) == pytest.approx(1000.0, rel=1e-12)
    # of the two lognormals with that mean and p99, the less skewed: ln 5 = z s - s^2 / 2 gives
    # s = 2.32635 - sqrt(2.32635^2 - 2 ln 5) = 2.32635 - 1.48088 = 0.84547 (the other root, 3.807,
    # would put the median at 200 exp(-3.807^2 / 2) = 0.14 tokens)
    assert sigma == pytest.approx(0.84547, abs=1e-5)
    f = length_distribution("fixed", np.array([10.0, 20.0]))
    assert len(f.nodes) == 1 and f.p99.tolist() == [10.0, 20.0]


# ------------------------------------------------------------------ bad values
@pytest.mark.parametrize("knobs, err, names", [
    ({"ttft_sla_s": -0.1}, ParamError, "ttft_sla_s"),
    ({"tpot_sla_s": 0.0}, ParamError, "tpot_sla_s"),
    ({"chunk_tokens": 0}, ParamError, "chunk_tokens"),
    ({"length_dist": "uniform", "prompt_p99": 400, "output_p99": 200}, ServingError, "prompt_p99"),  # p99 < mean 512
    ({"length_dist": "lognormal", "prompt_p99": 1024, "output_p99": 100}, ServingError, "output_p99"),  # < 128
    ({"length_dist": "uniform", "output_p99": 200}, ServingError, "prompt_p99"),  # spread missing
    ({"prompt_p99": 600}, ServingError, "prompt_p99"),  # a spread with fixed lengths
    ({"serving": "disaggregated", "prefill_fraction": 1.0, "serving_devices": 2}, ServingError, "prefill_fraction"),
    ({"serving": "disaggregated"}, ServingError, "serving_devices"),  # one device cannot be split
    ({"serving": "disaggregated", "serving_devices": 4, "prefill_fraction": 0.2}, ServingError, "serving_devices"),
    ({"prefill_fraction": 0.3}, ServingError, "prefill_fraction"),  # aggregated has no split
    ({"serving": "disaggregated", "chunk_tokens": 256, "serving_devices": 2}, ServingError, "chunk_tokens"),
    ({"serving_devices": 0}, ParamError, "serving_devices"),
    ({"length_dist": "sharegpt"}, ParamError, "length_dist"),
])
def test_bad_serving_values_are_named(knobs, err, names):
    kn = {"serving": "aggregated", "batch": 8, "prompt_len": 512, "n_generated": 128, **knobs}
    with pytest.raises(err, match=names):
        evaluate_point("h100-sxm", "llama-2-7b", kn)


def test_serving_knobs_need_serving_and_an_llm():
    with pytest.raises(ValueError, match="'tpot_sla_s' needs serving"):
        evaluate_point("h100-sxm", "llama-2-7b", {"tpot_sla_s": 0.01})
    with pytest.raises(ValueError, match="not a decoder LLM"):
        evaluate_point("h100-sxm", "resnet-50", {"serving": "aggregated"})
    with pytest.raises(ServingError, match="'phase'"):
        evaluate_point("h100-sxm", "llama-2-7b", {"serving": "aggregated", "phase": "decode"})


def test_set_parses_serving_knobs_with_units():
    from models.point import knob

    _, p = knob("tpot_sla_s", "llama-2-7b")
    assert p.parse("50 ms") == pytest.approx(0.05)
    assert p.parse("20") == pytest.approx(0.02)  # display unit: ms
    with pytest.raises(ParamError, match="tpot_sla_s"):
        p.parse("-5 ms")
