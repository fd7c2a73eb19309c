"""MatMul-free LM workload: layout by hand, ternary weight bytes, no attention, the registry."""

from __future__ import annotations

import numpy as np
import pytest

from models.hardware import get_target
from models.perf import evaluate, evaluate_point
from models.point import build_point
from models.workloads import build_workload
from models.workloads.matmulfree import MATMULFREE_CONFIGS, MatMulFreeConfig, glu_intermediate, matmulfree_lm

H100 = get_target("h100-sxm")


def _hand_params(d: int, L: int, V: int = 32000) -> int:
    inter = glu_intermediate(d)
    per_layer = 3 * d * d + d * d + d * 2 * inter + inter * d + 2 * d  # ifg, o, gate, down, 2 norms
    return L * per_layer + V * d + d * V + d  # embedding, ternary lm_head, final norm


def test_glu_rule_matches_the_readme_printout() -> None:
    # HGRNBitConfig() at hidden 2048: gate_proj out 11264 = 2 x 5632, down_proj in 5632
    assert glu_intermediate(2048) == 5632
    assert glu_intermediate(1024) == 2816  # int(1024 x 8/3) = 2730 -> next multiple of 256


@pytest.mark.parametrize("name", list(MATMULFREE_CONFIGS))
def test_parameter_count_by_hand_and_near_the_name(name: str) -> None:
    cfg = MATMULFREE_CONFIGS[name]
    t = matmulfree_lm(name)
    n = float(t.total_params()[0])
    assert n == _hand_params(cfg.hidden, cfg.n_layers)
    nominal = {"370m": 370e6, "1.3b": 1.3e9, "2.7b": 2.7e9, "13b": 13e9}[name]
    assert abs(n / nominal - 1) < 0.05  # the layouts give the sizes the models are named by


def test_weights_are_ternary_packed_and_no_attention() -> None:
    t = matmulfree_lm("370m", seq_len=16)
    meta = t.meta
    kinds = set(meta["kind"].to_list())
    assert "attention" not in kinds and "softmax" not in kinds  # the MLGRU token mixer is element-wise
    assert not any(meta["kv_dtype"].to_list())  # no KV cache
    gemms = [i for i, k in enumerate(meta["kind"].to_list()) if k == "gemm"]
    assert [meta["name"][i] for i in gemms] == ["ifg_proj", "o_proj", "gate_proj", "down_proj", "lm_head"]
    for i in gemms:
        assert meta["weight_dtype"][i] == "int2" and meta["compute_dtype"][i] == "int8"
        c = t.columns[i]
        assert np.array_equal(c["weight_read_B"], c["n"] * c["k"] / 4.0)  # 2 bits per ternary weight
    rec = meta["name"].to_list().index("mlgru_recurrence")
    assert meta["kind"][rec] == "elementwise"
    assert float(t.columns[rec]["flop"]) == 13.0 * 16 * 1024


def test_peak_memory_by_hand_and_the_unoptimized_model() -> None:
    d, L, V = 1024, 24, 32000
    inter = glu_intermediate(d)
    ternary = L * (4 * d * d + 3 * d * inter) + d * V
    bf16_other = (2 * d * L + d) * 2 + V * d * 2  # norms and the embedding matrix
    t = matmulfree_lm("370m", 1, 2048)
    w = float(t.memory_parts_B["forward"]["weights"][0])
    assert w == pytest.approx(ternary / 4.0 + bf16_other)
    t16 = matmulfree_lm("370m", 1, 2048, weight_dtype="bf16")
    w16 = float(t16.memory_parts_B["forward"]["weights"][0])
    assert w16 - bf16_other == pytest.approx(8.0 * (w - bf16_other))  # 16-bit vs 2-bit ternary weights
    assert float(t16.peak_memory_B["forward"][0]) > 3 * float(t.peak_memory_B["forward"][0])


def test_registry_knobs_and_errors() -> None:
    t = build_workload("matmulfree-1.3b", seq_len=128)
    assert t.workload == "matmulfree-1.3b"
    r = evaluate_point("h100-sxm", "matmulfree-1.3b", {"seq_len": 128}, detail=False)
    # the registered workload passes its knobs to the builder: the same table, the same latency
    direct = evaluate(get_target("h100-sxm"), matmulfree_lm("1.3b", 1, 128))
    assert float(np.asarray(r.perf.latency_s).reshape(-1)[0]) == pytest.approx(float(direct.latency_s[0]), rel=1e-12)
    other = evaluate_point("h100-sxm", "matmulfree-1.3b", {"seq_len": 512}, detail=False)
    assert float(other.perf.latency_s[0]) > float(r.perf.latency_s[0])  # seq_len reaches the table
    with pytest.raises(KeyError, match="allowed: 370m"):
        matmulfree_lm("7b")
    with pytest.raises(ValueError, match="unknown datatype 'int3'"):
        matmulfree_lm("370m", weight_dtype="int3")
    with pytest.raises(ValueError, match="n_layers=0"):
        MatMulFreeConfig(n_layers=0, hidden=8, source="x")


def test_accumulate_strategy_prices_every_bitlinear() -> None:
    base = build_point("matmulfree-370m", {"seq_len": 64, "weight_format": "ternary"}, target=H100).table
    acc = build_point("matmulfree-370m", {"seq_len": 64, "weight_format": "ternary", "gemm_strategy": "accumulate"},
                      target=H100).table
    names = acc.meta["name"].to_list()
    for nm in ("ifg_proj", "o_proj", "gate_proj", "down_proj", "lm_head"):
        assert f"{nm}[accumulate:extra:fp32]" in names  # the two absmax scales per output
        c = acc.columns[names.index(nm)]
        assert np.array_equal(c["flop"], 2.0 * c["m"] * c["n"] * c["k"])  # m n k adds, one lane slot each
    assert acc.n_ops == base.n_ops + 5
