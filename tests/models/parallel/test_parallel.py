"""Multi-device plans (models.parallel): collectives by hand, sharded tables, plan errors, serving."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pytest

from models.dse import parse_space, sweep
from models.hardware import get_target, parse_target
from models.hardware.loader import target_to_toml
from models.parallel import Collective, ParallelError, collective_cost, load_links
from models.perf import evaluate_point
from models.point import build_point
from tests.models.perf.test_roofline import TOY
from tests.models.serving.test_serving import FP16, TINY, TINY_KV_B_PER_TOKEN, TINY_WEIGHTS_B

BW, LAT = 100e9, 1e-6
T0_RING, T0_TREE = 6.6e-6, 6.8e-6  # NCCL's base latency per ring / tree call (tuning.cc baseLat, LL)
LINK = {"target.link_bandwidth": BW, "target.link_latency": LAT}
# the tiny model's norms (2 per layer x 2 layers + the final norm, 64 gains each, 2 B): replicated on each rank
NORMS_B = (2 * 2 * 64 + 64) * 2


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.json"
    p.write_text(json.dumps(TINY))
    return str(p)


@pytest.fixture
def toy():
    return parse_target(tomllib.loads(TOY), file="toy.toml")


# ------------------------------------------------------------------------------------------ collectives
@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_ring_all_reduce_by_hand(n):
    S = 3e6
    t, moved = collective_cost("all_reduce", n, S, BW, LAT)
    assert float(t) == pytest.approx(T0_RING + 2 * (n - 1) / n * S / BW + 2 * (n - 1) * LAT, rel=1e-12)
    assert float(moved) == pytest.approx(2 * (n - 1) / n * S, rel=1e-12)
    # the pure alpha-beta form without a fixed cost per call, and a custom one
    t0, _ = collective_cost("all_reduce", n, S, BW, LAT, base_latency_s=0.0)
    assert float(t0) == pytest.approx(2 * (n - 1) / n * S / BW + 2 * (n - 1) * LAT, rel=1e-12)
    t2, _ = collective_cost("all_reduce", n, S, BW, LAT, base_latency_s=2e-6)
    assert float(t2) - float(t0) == pytest.approx(2e-6, rel=1e-9)


def test_tree_auto_and_the_other_collectives():
    S = np.array([1e3, 1e9])
    ring, _ = collective_cost("all_reduce", 16, S, BW, LAT)
    tree, _ = collective_cost("all_reduce", 16, S, BW, LAT, algorithm="tree")
    assert tree[0] == pytest.approx(T0_TREE + 2 * 1e3 / BW + 2 * 4 * LAT)
    auto, _ = collective_cost("all_reduce", 16, S, BW, LAT, algorithm="auto")
    # small messages: the tree's 8 latencies beat the ring's 30; large: the ring's bandwidth term wins
    assert auto[0] == tree[0] < ring[0] and auto[1] == ring[1] < tree[1]
    for op in ("all_gather", "reduce_scatter", "all_to_all"):
        t, b = collective_cost(op, 4, 8e6, BW, LAT)
        # NCCL's table prices the ring collectives' calls; the all-to-all is point-to-point: no base
        t0 = T0_RING if op != "all_to_all" else 0.0
        assert float(t) == pytest.approx(t0 + 3 / 4 * 8e6 / BW + 3 * LAT) and float(b) == pytest.approx(6e6)
    t, b = collective_cost("send", 2, 8e6, BW, LAT)
    assert float(t) == pytest.approx(8e6 / BW + LAT) and float(b) == 8e6
    assert float(collective_cost("all_reduce", 1, 8e6, BW, LAT)[0]) == 0.0


def test_collective_errors_are_named():
    with pytest.raises(ValueError, match="no bandwidth"):
        collective_cost("all_reduce", 4, 1e6, 0.0, LAT)
    with pytest.raises(ValueError, match="allowed: all_reduce"):
        collective_cost("broadcast", 4, 1e6, BW, LAT)
    with pytest.raises(ValueError, match="allowed: a whole number"):
        Collective(name="x", phase="decode", op="send", group=0, bytes_B=1.0, count=1.0)


# ------------------------------------------------------------------------------------------ tables
def _knobs(**kn):
    return {**FP16, "phase": "decode", "batch": 4, "prompt_len": 100, "n_generated": 8, **kn}


def _table(target, workload, **kn):
    return build_point(workload, _knobs(**kn), target=target).table


def test_tensor_parallel_halves_the_projections_and_shards_the_weights(tiny, toy):
    one, two = _table(toy, tiny), _table(toy, tiny, tensor_parallel=2)
    f1, f2 = one.frame(), two.frame()
    for name in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"):
        a = f1.filter(f1["name"] == name)["flop"].sum()
        b = f2.filter(f2["name"] == name)["flop"].sum()
        assert b == pytest.approx(a / 2, rel=1e-12), name
    # norms and residual adds are replicated on each rank
    for name in ("attn_norm", "residual_add"):
        assert f2.filter(f2["name"] == name)["flop"].sum() == f1.filter(f1["name"] == name)["flop"].sum()
    assert float(two.memory_parts_B["decode"]["weights"]) == pytest.approx((TINY_WEIGHTS_B - NORMS_B) / 2 + NORMS_B)
    assert float(two.memory_parts_B["decode"]["kv_cache"]) == pytest.approx(
        float(one.memory_parts_B["decode"]["kv_cache"]) / 2)
    assert two.n_devices == 2 and one.n_devices == 1 and not one.collectives


def test_tensor_parallel_collectives_by_hand(tiny, toy):
    t = _table(toy, tiny, tensor_parallel=2)
    c = {x.name: x for x in t.collectives}
    act = 4 * 64 * 2  # 4 decoded tokens x hidden 64 x 2 B
    assert float(c["tp_block_allreduce"].bytes_B) == act and float(c["tp_block_allreduce"].count) == 2 * 2 * 8
    assert float(c["tp_embedding_allreduce"].count) == 8
    assert float(c["tp_logits_allgather"].bytes_B) == 4 * 256 * 2  # the whole vocabulary's logits
    r = evaluate_point(toy, tiny, _knobs(tensor_parallel=2, **LINK))
    ar = T0_RING + 2 * 1 / 2 * act / BW + 2 * LAT
    ag = T0_RING + 1 / 2 * 4 * 256 * 2 / BW + LAT
    comm = (2 * 2 * 8 + 8) * ar + 8 * ag
    assert float(r.perf.comm_s[0]) == pytest.approx(comm, rel=1e-9)
    one = evaluate_point(toy, tiny, _knobs(tensor_parallel=2, collective_base_latency_s=0.0,
                                           **{**LINK, "target.link_bandwidth": 1e16, "target.link_latency": 0.0}))
    base = float(one.perf.latency_s[0])  # the device time alone (a link that costs ~nothing)
    assert float(one.perf.comm_s[0]) < 1e-7 * base
    assert float(r.perf.latency_s[0]) == pytest.approx(base + comm, rel=1e-6)  # in series by default
    full = evaluate_point(toy, tiny, _knobs(tensor_parallel=2, comm_overlap=1.0, **LINK))
    assert float(full.perf.latency_s[0]) == pytest.approx(max(base, comm), rel=1e-6)
    half = evaluate_point(toy, tiny, _knobs(tensor_parallel=2, comm_overlap=0.5, **LINK))
    assert float(half.perf.latency_s[0]) == pytest.approx(base + comm - 0.5 * min(base, comm), rel=1e-6)
    # a fused kernel: the knob replaces NCCL's fixed cost of each of the 48 calls (40 all-reduces, 8 all-gathers)
    fused = evaluate_point(toy, tiny, _knobs(tensor_parallel=2, collective_base_latency_s=1e-6, **LINK))
    assert float(r.perf.comm_s[0]) - float(fused.perf.comm_s[0]) == pytest.approx(48 * (T0_RING - 1e-6), rel=1e-9)
    # ideal mode: bandwidth terms only, no fixed cost and no per-step latency
    ideal = evaluate_point(toy, tiny, _knobs(tensor_parallel=2, **LINK), mode="ideal")
    want = (2 * 2 * 8 + 8) * act / BW + 8 * (4 * 256 * 2 / 2) / BW
    assert float(ideal.perf.comm_s[0]) == pytest.approx(want, rel=1e-9)


def test_unit_energy_is_every_device_plus_the_link(tiny, toy):
    r = evaluate_point(toy, tiny, _knobs(tensor_parallel=2, **LINK, **{"target.link_energy_per_byte": 10e-12})).perf
    r0 = evaluate_point(toy, tiny, _knobs(tensor_parallel=2, **LINK, **{"target.link_energy_per_byte": 0.0})).perf
    t = _table(toy, tiny, tensor_parallel=2)
    sent = sum(float(c.count) * float(collective_cost(c.op, c.group, c.bytes_B, BW, LAT)[1]) for c in t.collectives)
    assert float(r.dynamic_energy_J[0] - r0.dynamic_energy_J[0]) == pytest.approx(2 * 10e-12 * sent, rel=1e-9)
    static_W = toy.static_power_W
    assert float(r.static_energy_J[0]) == pytest.approx(2 * static_W * float(r.latency_s[0]), rel=1e-12)


def test_pipeline_parallel_micro_batches(tiny, toy):
    pp = evaluate_point(toy, tiny, _knobs(batch=8, pipeline_parallel=2, **LINK)).perf
    mb = evaluate_point(toy, tiny, _knobs(batch=4)).perf  # one micro-batch through the whole model
    send = 4 * 64 * 2 / BW + LAT  # the micro-batch's activations, (p - 1) = 1 send per pass
    assert float(pp.latency_s[0]) == pytest.approx(float(mb.latency_s[0]) + 8 * send, rel=1e-9)
    assert float(pp.n_items[0]) == 8 * 8  # the whole batch's tokens
    t = _table(toy, tiny, batch=8, pipeline_parallel=2)
    t1 = _table(toy, tiny, batch=8)
    assert float(t.memory_parts_B["decode"]["weights"]) == pytest.approx(TINY_WEIGHTS_B / 2)
    assert float(t.memory_parts_B["decode"]["kv_cache"]) == pytest.approx(
        float(t1.memory_parts_B["decode"]["kv_cache"]) / 2)
    # a batch smaller than the stages: one micro-batch of 1, half of each step is the bubble
    t3 = _table(toy, tiny, batch=1, pipeline_parallel=2)
    assert float(np.max(t3.pipeline_fill)) == 0.5
    b1 = evaluate_point(toy, tiny, _knobs(batch=1, pipeline_parallel=2, **LINK)).perf
    a1 = evaluate_point(toy, tiny, _knobs(batch=1)).perf
    # two devices, each computing half the step's work: the dynamic energy of one device's whole pass
    assert float(b1.dynamic_energy_J[0]) == pytest.approx(float(a1.dynamic_energy_J[0]), rel=1e-9)


def test_expert_parallel_all_to_all_by_hand():
    h100 = get_target("h100-sxm")
    kn = {"phase": "decode", "batch": 4, "prompt_len": 64, "n_generated": 2}
    t = build_point("mixtral-8x7b", {**kn, "expert_parallel": 2}, target=h100).table
    c = {x.name: x for x in t.collectives}["ep_all_to_all"]
    # 4 tokens x top-2 x hidden 4096 x 2 B sent per device per call; dispatch and combine in 32 layers x 2 steps
    assert float(c.bytes_B) == 4 * 2 * 4096 * 2 and float(c.count) == 2 * 32 * 2 and c.group == 2
    assert float(collective_cost(c.op, c.group, c.bytes_B, BW, LAT)[1]) == 4 * 2 * 4096 * 2 / 2
    one = build_point("mixtral-8x7b", kn, target=h100).table
    # each unit stores 4 of the 8 experts: the expert weights halve, the rest stays
    names = one.meta["name"].to_list()
    experts = sum(float(np.max(cc["n_params"])) for cc, n in zip(one.columns, names, strict=True)
                  if n.startswith("expert_")) * 32 * 2
    w1, w2 = (float(x.memory_parts_B["decode"]["weights"]) for x in (one, t))
    assert w1 - w2 == pytest.approx(experts / 2, rel=1e-9)
    skew = build_point("mixtral-8x7b", {**kn, "expert_parallel": 2, "expert_skew": 0.5}, target=h100).table
    f, fs = t.frame(), skew.frame()
    assert fs.filter(fs["name"] == "expert_up")["flop"].sum() == pytest.approx(
        1.5 * f.filter(f["name"] == "expert_up")["flop"].sum())


# ------------------------------------------------------------------------------------------ errors
def test_plan_errors_name_the_knob(tiny, toy):
    kn = _knobs(**LINK)
    with pytest.raises(ParallelError, match=r"'tensor_parallel' = 3: does not divide the attention heads .*\(4\); "
                                            r"allowed: 1, 2, 4"):
        evaluate_point(toy, tiny, {**kn, "tensor_parallel": 3})
    with pytest.raises(ParallelError, match=r"'pipeline_parallel' = 4: does not divide the layers"):
        evaluate_point(toy, tiny, {**kn, "pipeline_parallel": 4})
    with pytest.raises(ParallelError, match="dense model"):
        evaluate_point(toy, tiny, {**kn, "expert_parallel": 2})
    with pytest.raises(ParallelError, match="does not divide the experts"):
        evaluate_point("h100-sxm", "mixtral-8x7b", {"expert_parallel": 3, **LINK})
    with pytest.raises(ValueError, match="not a decoder LLM"):
        evaluate_point("h100-sxm", "resnet-50", {"tensor_parallel": 2, **LINK})
    with pytest.raises(ValueError, match="comm_overlap' needs a multi-device plan"):
        evaluate_point(toy, tiny, {**kn, "comm_overlap": 0.5})
    with pytest.raises(ParallelError, match=r"'serving_devices' = \[6.0\].*allowed: a multiple of 4"):
        evaluate_point(toy, tiny, {**kn, "phase": "inference", "serving": "aggregated", "tensor_parallel": 4,
                                   "serving_devices": 6})
    no_link = {k: v for k, v in kn.items() if not k.startswith("target.")}
    with pytest.raises(ValueError, match="declares no interconnect"):
        evaluate_point(toy, tiny, {**no_link, "tensor_parallel": 2})
    with pytest.raises(ValueError, match="link_bandwidth"):
        evaluate_point(toy, tiny, {**kn, "tensor_parallel": 2, "target.link_bandwidth": 0.0})


# ------------------------------------------------------------------------------------------ serving
def test_serving_counts_devices_in_units_and_fits_per_device(tiny, toy):
    P, G = 1000, 24
    cap = 10e6
    kn = {**FP16, "serving": "aggregated", "prompt_len": P, "n_generated": G, "target.memories.dram.capacity": cap,
          **LINK}
    one = evaluate_point(toy, tiny, {**kn, "batch": 8, "tensor_parallel": 2})
    four = evaluate_point(toy, tiny, {**kn, "batch": 8, "tensor_parallel": 2, "serving_devices": 4})
    s1, s4 = one.perf.serving, four.perf.serving
    assert float(s4["requests_per_s"][0]) == pytest.approx(2 * float(s1["requests_per_s"][0]), rel=1e-12)
    assert float(s4["output_tokens_per_s_per_device"][0]) == pytest.approx(
        float(s1["output_tokens_per_s_per_device"][0]), rel=1e-12)
    # one device's memory: half the (non-norm) weights and half the KV heads; activations of the largest
    # operator per rank: the gated MLP's act over the prompt, 3 x 1000 x 64 x 2 B
    kv = TINY_KV_B_PER_TOKEN * (P + G) / 2
    assert float(s1["kv_B_per_request"][0]) == pytest.approx(kv)
    w = (TINY_WEIGHTS_B - NORMS_B) / 2 + NORMS_B
    act = 3 * P * 64 * 2
    assert float(s1["n_max_batch"][0]) == math.floor((cap - w - act) / kv)


def test_a_plan_sweep_agrees_with_evaluate_and_marks_bad_plans_infeasible():
    space = parse_space({
        "name": "mixtral-plans", "target": "h100-sxm", "workload": "mixtral-8x7b",
        "workload_knobs": {"prompt_len": 512, "n_generated": 128, "batch": 16},
        "algorithm_knobs": {"serving": "aggregated", "serving_devices": 8},
        "parameters": [
            {"name": "tp", "sets": "algorithm.tensor_parallel", "kind": "int", "values": [1, 2, 4, 8]},
            {"name": "ep", "sets": "algorithm.expert_parallel", "kind": "int", "values": [1, 2, 4, 8]},
            # GB/s here, B/s in the frame
            {"name": "link", "sets": "target.link_bandwidth", "kind": "float", "values": [200.0, 450.0]},
        ],
        "objectives": [{"metric": "output_tokens_per_s_per_device", "direction": "maximize"},
                       {"metric": "output_tokens_per_s_per_user", "direction": "maximize"}],
    })
    df = sweep(space, keep="all")
    assert df.height == 32
    for row in df.iter_rows(named=True):
        if row["tp"] * row["ep"] > 8:  # more devices than the deployment has
            assert math.isnan(row["output_tokens_per_s_per_device"])
            continue
        r = evaluate_point("h100-sxm", "mixtral-8x7b", {
            "prompt_len": 512, "n_generated": 128, "batch": 16, "serving": "aggregated", "serving_devices": 8,
            "tensor_parallel": row["tp"], "expert_parallel": row["ep"], "target.link_bandwidth": row["link"]},
            detail=False)
        assert row["output_tokens_per_s_per_device"] == pytest.approx(
            float(r.perf.serving["output_tokens_per_s_per_device"][0]), rel=1e-12)


# ------------------------------------------------------------------------------------------ links
def test_the_link_catalogue_fills_a_target_and_an_unknown_link_is_named():
    links = load_links()
    assert {"nvlink2", "nvlink3", "nvlink4", "pcie4-x16", "pcie5-x16", "ib-hdr", "ib-ndr"} <= set(links)
    assert all(ln.source.strip() for ln in links.values())
    h100 = get_target("h100-sxm")
    assert h100.interconnect == "nvlink4"
    assert h100.link_bandwidth_B_per_s == links["nvlink4"].bandwidth_B_per_s == 450e9  # 900 GB/s both ways
    assert h100.link_latency_s == pytest.approx(0.6e-6)
    assert "data/links.toml [nvlink4]" in h100.sources["link_bandwidth"]
    doc = tomllib.loads(TOY)
    with pytest.raises(ValueError, match=r"interconnect.*unknown link.*did you mean 'nvlink4'.*allowed: nvlink2"):
        parse_target({**doc, "interconnect": "nvlink5"}, file="toy.toml")
    # a field in the file wins over the catalogue; the rest is the catalogue's
    own = parse_target({**doc, "interconnect": "pcie4-x16",
                        "link_bandwidth": {"value": 20, "unit": "GB/s", "source": "measured p2p copy"}}, file="t.toml")
    assert own.link_bandwidth_B_per_s == 20e9 and own.link_latency_s == links["pcie4-x16"].latency_s
    with pytest.raises(ValueError, match="needs link_bandwidth"):
        parse_target({**doc, "link_latency": {"value": 1, "unit": "us", "source": "derived: a test figure"}},
                     file="t.toml")
    # written back and read again: the same link
    again = parse_target(tomllib.loads(target_to_toml(own)), file="again.toml")
    assert (again.link_bandwidth_B_per_s, again.link_latency_s) == (own.link_bandwidth_B_per_s, own.link_latency_s)


def test_a_preset_link_prices_the_collectives_without_overrides():
    kn = {"phase": "decode", "batch": 8, "prompt_len": 512, "n_generated": 16}
    h100, a100 = (evaluate_point(t, "llama-3-8b", {**kn, "tensor_parallel": 4}).perf for t in ("h100-sxm", "a100-80gb"))
    assert float(h100.comm_s[0]) > 0
    # the same collectives over NVLink 3 (300 GB/s) and NVLink 4 (450 GB/s) at the same 0.6 us per step
    t = build_point("llama-3-8b", {**kn, "tensor_parallel": 4}, target=get_target("h100-sxm")).table
    want = {name: sum(float(c.count) * float(collective_cost(c.op, c.group, c.bytes_B, bw, 0.6e-6)[0])
                      for c in t.collectives) for name, bw in (("h100", 450e9), ("a100", 300e9))}
    assert float(h100.comm_s[0]) == pytest.approx(want["h100"], rel=1e-9)
    assert float(a100.comm_s[0]) == pytest.approx(want["a100"], rel=1e-9)


def test_the_plan_knobs_apply_to_decoder_llms_only():
    from models.point import applicable_knobs

    def names(w):
        return {k.name for k in applicable_knobs(w)}

    plan = {"tensor_parallel", "pipeline_parallel", "comm_overlap", "allreduce_algorithm"}
    assert not names("resnet-50") & (plan | {"expert_parallel", "expert_skew"})
    assert plan <= names("llama-2-7b") and not {"expert_parallel", "expert_skew"} & names("llama-2-7b")
    assert plan | {"expert_parallel", "expert_skew"} <= names("mixtral-8x7b")


def test_a_serving_objective_without_serving_says_how_to_get_it():
    from models.dse.space import SpaceError

    with pytest.raises(SpaceError, match=r"'output_tokens_per_s_per_device': unknown metric \(a serving metric: set "
                                         r"algorithm_knobs serving"):
        parse_space({"name": "x", "target": "h100-sxm", "workload": "mixtral-8x7b",
                     "parameters": [{"name": "tp", "sets": "algorithm.tensor_parallel", "kind": "int",
                                     "values": [1, 2]}],
                     "objectives": [{"metric": "output_tokens_per_s_per_device", "direction": "maximize"},
                                    {"metric": "latency_s"}]})


def test_a_plan_reports_per_device_rates_and_a_power_cap_is_a_devices():
    # one request stream on a TP-2 x PP-2 unit: rates and power are the unit's (4 devices); the
    # *_per_device names are one device's share, as in serving
    kn = {"phase": "inference", "batch": 64, "prompt_len": 128, "n_generated": 32, "tensor_parallel": 2,
          "pipeline_parallel": 2}
    m = evaluate_point("h100-sxm", "llama-2-13b", kn, detail=False).perf.metrics()
    tokens = 64 * 32 / float(m["latency_s"][0])
    assert float(m["tokens_per_s"][0]) == pytest.approx(tokens, rel=1e-12)
    assert float(m["tokens_per_s_per_device"][0]) == pytest.approx(tokens / 4, rel=1e-12)
    assert float(m["average_power_W_per_device"][0]) == pytest.approx(float(m["energy_J"][0]) / float(
        m["latency_s"][0]) / 4, rel=1e-12)
    # each device draws at most its TDP (700 W): the unit's power is above one device's cap
    assert float(m["average_power_W"][0]) > 700.0 >= float(m["average_power_W_per_device"][0])
    srv = evaluate_point("h100-sxm", "llama-2-13b", {**kn, "serving": "aggregated"},
                         detail=False).perf.metrics()
    assert float(srv["tokens_per_s_per_device"][0]) == float(srv["output_tokens_per_s_per_device"][0])
    # a space's power constraint at the device's TDP keeps the plan feasible
    space = parse_space({
        "name": "tp-power", "target": "h100-sxm", "workload": "llama-2-13b",
        "workload_knobs": {k: v for k, v in kn.items() if k in ("phase", "batch", "prompt_len", "n_generated")},
        "algorithm_knobs": {"pipeline_parallel": 2},
        "parameters": [{"name": "tp", "sets": "algorithm.tensor_parallel", "kind": "int", "values": [2]}],
        "objectives": [{"metric": "tokens_per_s_per_device", "direction": "maximize"},
                       {"metric": "energy_J_per_token", "direction": "minimize"}],
        "constraints": [{"kind": "power", "limit": 700.0}],
    })
    row = sweep(space, keep="all").row(0, named=True)
    assert row["tokens_per_s_per_device"] == pytest.approx(tokens / 4, rel=1e-12)
    assert row["constraint_power"] == pytest.approx(float(m["average_power_W_per_device"][0]) / 700.0 - 1.0)
    assert row["feasible"]


def test_a_collective_base_latency_needs_tensor_parallelism():
    h100 = get_target("h100-sxm")
    kn = {"phase": "decode", "batch": 4, "prompt_len": 64, "n_generated": 2}
    with pytest.raises(ParallelError, match="'collective_base_latency_s' needs tensor_parallel > 1"):
        build_point("mixtral-8x7b", {**kn, "expert_parallel": 2, "collective_base_latency_s": 0.0}, target=h100)
    with pytest.raises(ValueError, match="collective_base_latency_s.*allowed"):
        build_point("llama-2-7b", {**kn, "tensor_parallel": 2, "collective_base_latency_s": -1e-6}, target=h100)


# ------------------------------------------------------------------------------------------ across nodes
UP, OUT = (450e9, 0.6e-6), (50e9, 2.7e-6)  # NVLink 4 and InfiniBand NDR per GPU (data/links.toml)


def test_local_peers_and_two_level_costs_by_hand():
    from models.parallel.collectives import local_peers, placed_cost

    assert [local_peers(16, 1, 8), local_peers(4, 2, 8), local_peers(4, 8, 8), local_peers(2, 16, 8)] == [8, 4, 1, 1]
    with pytest.raises(ValueError, match="do not divide it"):
        local_peers(12, 1, 8)
    with pytest.raises(ValueError, match="not a multiple of the group's spacing 3"):
        local_peers(4, 3, 8)
    S, N = 4e6, 16
    # inside one node: the one-domain cost on the scale-up link
    inside, _ = placed_cost("all_to_all", 8, S, UP, OUT, node=8)
    assert float(inside) == pytest.approx(7 / 8 * S / UP[0] + 7 * UP[1])
    # flat all-to-all over 2 nodes: 7/16 S on NVLink and 8/16 S on IB at once, 7 + 8 steps
    flat, moved = placed_cost("all_to_all", N, S, UP, OUT, node=8)
    assert float(flat) == pytest.approx(max(7 / 16 * S / UP[0], 8 / 16 * S / OUT[0]) + 7 * UP[1] + 8 * OUT[1])
    assert float(moved) == pytest.approx(15 / 16 * S)
    # Tutel's 2D all-to-all: within the node (7/8 S, 7 steps), then between the 2 nodes (1/2 S, 1 step)
    hier, _ = placed_cost("all_to_all", N, S, UP, OUT, node=8, all_to_all="hierarchical")
    assert float(hier) == pytest.approx(7 / 8 * S / UP[0] + 7 * UP[1] + 1 / 2 * S / OUT[0] + OUT[1])
    # small messages over many nodes: 2D wins (fewer network steps); large ones: flat (one pass of the bytes)
    algs = ("flat", "hierarchical")
    small = [float(placed_cost("all_to_all", 256, 64e3, UP, OUT, node=8, all_to_all=a)[0]) for a in algs]
    big = [float(placed_cost("all_to_all", 16, 1e9, UP, OUT, node=8, all_to_all=a)[0]) for a in algs]
    assert small[1] < small[0] / 4 and big[0] < big[1]
    # a ring all-reduce over 16 devices of 2 nodes runs at the network's rate and latency
    ar, _ = placed_cost("all_reduce", N, S, UP, OUT, node=8)
    assert float(ar) == pytest.approx(6.6e-6 + 2 * 15 / 16 * S / OUT[0] + 2 * 15 * OUT[1])
    # pipeline sends of 4 stages of 4 devices on nodes of 8: one boundary of three is between nodes
    send, _ = placed_cost("send", 2, S, UP, OUT, stride=4, stages=4, node=8)
    assert float(send) == pytest.approx(2 / 3 * (S / UP[0] + UP[1]) + 1 / 3 * (S / OUT[0] + OUT[1]))


def test_a_plan_across_nodes_uses_the_network_and_the_2d_all_to_all():
    kn = {"phase": "decode", "batch": 8, "prompt_len": 256, "n_generated": 4}
    # 8 H100 units of 2-way TP sharing the experts: 16 GPUs, 2 DGX H100 nodes (data/links.toml: 8 per NVLink 4
    # node, InfiniBand NDR between them)
    two = {**kn, "tensor_parallel": 2, "expert_parallel": 8}
    t = build_point("mixtral-8x7b", two, target=get_target("h100-sxm")).table
    assert (t.node_devices, t.scaleout_link) == (8, "ib-ndr")
    c = {x.name: x for x in t.collectives}
    a2a, ar = c["ep_all_to_all"], c["tp_block_allreduce"]
    assert (a2a.group, a2a.stride, ar.group, ar.stride) == (8, 2, 2, 1)
    r = evaluate_point("h100-sxm", "mixtral-8x7b", two)
    one = evaluate_point("h100-sxm", "mixtral-8x7b", {**two, "devices_per_node": 16})  # one 16-GPU domain
    hier = evaluate_point("h100-sxm", "mixtral-8x7b", {**two, "all_to_all_algorithm": "hierarchical"})
    # the 8 EP peers are 2 apart: 4 per node; the TP pairs stay inside a node
    S = float(a2a.bytes_B)
    flat = max(3 / 8 * S / UP[0], 4 / 8 * S / OUT[0]) + 3 * UP[1] + 4 * OUT[1]
    inside = 7 / 8 * S / UP[0] + 7 * UP[1]
    two_d = 3 / 4 * S / UP[0] + 3 * UP[1] + 1 / 2 * S / OUT[0] + OUT[1]
    n = float(a2a.count)
    assert float(r.perf.comm_s[0]) - float(one.perf.comm_s[0]) == pytest.approx(n * (flat - inside), rel=1e-9)
    assert float(r.perf.comm_s[0]) - float(hier.perf.comm_s[0]) == pytest.approx(n * (flat - two_d), rel=1e-9)
    assert float(hier.perf.comm_s[0]) < float(r.perf.comm_s[0])  # decode's small messages: 2D is faster


def test_placement_errors_are_named():
    h100 = get_target("h100-sxm")
    kn = {"phase": "decode", "batch": 4, "prompt_len": 64, "n_generated": 2}
    with pytest.raises(ParallelError, match="'devices_per_node'.*do not divide it"):
        build_point("llama-2-70b", {**kn, "tensor_parallel": 8, "devices_per_node": 3}, target=h100)
    with pytest.raises(ParallelError, match="'all_to_all_algorithm' needs expert_parallel > 1"):
        build_point("llama-2-7b", {**kn, "tensor_parallel": 2, "all_to_all_algorithm": "hierarchical"}, target=h100)
    with pytest.raises(ValueError, match="scaleout_link.*allowed"):
        build_point("mixtral-8x7b", {**kn, "expert_parallel": 2, "scaleout_link": "ib-xdr"}, target=h100)
    # a target whose link declares no node: one domain unless a node and a scale-out link are given
    v100 = build_point("llama-2-7b", {**kn, "tensor_parallel": 16}, target=get_target("v100-sxm2")).table
    assert v100.node_devices is None
    with pytest.raises(ParallelError, match="no scale-out link is known"):
        build_point("llama-2-7b", {**kn, "tensor_parallel": 16, "devices_per_node": 8}, target=get_target("v100-sxm2"))
