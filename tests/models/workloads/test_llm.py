"""Decoder-LLM operator tables: counts against published figures, closed forms, error messages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from models.hardware import available_targets, get_target
from models.perf import evaluate
from models.workloads.llm import (
    LLMConfig,
    available_llms,
    expected_distinct_experts,
    llm_active_params,
    llm_decode,
    llm_inference,
    llm_prefill,
    load_llm_config,
    parse_llm_config,
)

SHIPPED = [
    "llama-2-7b",
    "llama-2-13b",
    "llama-2-70b",
    "llama-3-8b",
    "mixtral-8x7b",
    "opt-6.7b",
    "gpt2",
    "gpt2-medium",
    "gpt2-large",
    "gpt2-xl",
    "gpt3-125m",
    "gpt3-350m",
    "gpt3-760m",
    "gpt3-1.3b",
    "gpt3-7b",
    "bitnet-b1.58-3b",
    # Hugging Face families added with latent attention, sliding windows, shared experts
    "llama-3.1-8b",
    "llama-3.2-1b",
    "llama-3.2-3b",
    "mistral-7b-v0.1",
    "qwen2.5-7b",
    "qwen2-57b-a14b",
    "qwen3-8b",
    "qwen3-30b-a3b",
    "gemma-7b",
    "gemma-2-9b",
    "gemma-3-1b",
    "phi-3-mini-4k",
    "falcon-7b",
    "pythia-6.9b",
    "olmo-1b",
    "deepseek-v2-lite",
    "deepseek-v3",
]


def _params(name: str) -> float:
    return float(llm_prefill(load_llm_config(name), 1, 8).total_params()[0])


# ------------------------------------------------------------------ published parameter counts
@pytest.mark.parametrize(
    ("name", "published", "rtol"),
    [
        ("llama-2-7b", 6.74e9, 0.01),  # Llama 2 paper / HF model card: 6.74 B
        ("llama-3-8b", 8.03e9, 0.01),  # HF model card: 8.03 B
        ("mixtral-8x7b", 46.7e9, 0.01),  # Mixtral paper: 46.7 B total
        ("gpt2", 124e6, 0.01),  # GPT-2 small: 124 M (124,439,808 with biases and tied head)
        ("llama-2-13b", 13.0e9, 0.01),  # Llama 2 paper: 13 B (13.016 B)
        ("gpt3-125m", 125e6, 0.01),  # GPT-3 paper Table 2.1: 125 M
        ("gpt3-1.3b", 1.3e9, 0.02),  # GPT-3 paper Table 2.1: 1.3 B (rounded)
    ],
)
def test_parameter_counts_match_published(name: str, published: float, rtol: float) -> None:
    assert _params(name) == pytest.approx(published, rel=rtol)


def test_gpt2_exact_parameter_count() -> None:
    # wte 50257x768 + wpe 1024x768 + 12 x (ln 2x1536 + qkv 768x2304+2304 + proj 768x768+768
    # + fc 768x3072+3072 + proj 3072x768+768) + ln_f 1536, head tied = 124,439,808
    assert _params("gpt2") == 124_439_808


def test_mixtral_active_parameters_per_token() -> None:
    # published: 12.9 B active (2 of 8 experts);
    # 6 idle experts x 32 layers x 3 x 4096 x 14336 removed
    cfg = load_llm_config("mixtral-8x7b")
    assert llm_active_params(cfg) == pytest.approx(12.9e9, rel=0.01)
    assert _params("mixtral-8x7b") - llm_active_params(cfg) == 6 * 32 * 3 * 4096 * 14336


def test_inference_table_counts_parameters_once() -> None:
    cfg = load_llm_config("llama-2-7b")
    t = llm_inference(cfg, 4, 128, 64)
    assert t.total_params()[0] == pytest.approx(_params("llama-2-7b"), rel=1e-12)
    assert set(t.meta["phase"].to_list()) == {"prefill", "decode"}
    assert t.item_name == "token" and t.n_items[0] == 4 * 64


# ------------------------------------------------------------------ attention convention
def test_prefill_attention_flop_follows_flashattention_convention() -> None:
    # FlashAttention benchmark: 4 * B * N^2 * H * d, halved when causal
    cfg = load_llm_config("llama-2-7b")
    B = np.array([1, 2, 16])
    N = np.array([512, 1024, 2048])
    t = llm_prefill(cfg, B, N)
    att = t.select(t.meta["name"].to_numpy() == "attention")
    expected = 4.0 * B * N**2 * 32 * 128 / 2
    np.testing.assert_allclose(att["flop"][:, 0], expected, rtol=1e-12)
    assert att["count"][0, 0] == 32
    assert att.meta["kind"][0] == "attention"


# ------------------------------------------------------------------ decode is memory-bound
def test_llama2_7b_decode_ideal_time_is_weight_plus_kv_bytes_over_hbm() -> None:
    # a100-80gb preset when it exists, else h100-sxm (both: batch-1 decode is HBM-bound)
    name = "a100-80gb" if "a100-80gb" in available_targets() else "h100-sxm"
    target = get_target(name)
    bw = next(m for m in target.memories if m.kind == "hbm").bandwidth_B_per_s
    L, h, i, V, ctx = 32, 4096, 11008, 32000, 1024  # from the Llama-2-7B config
    # every weight is streamed once per token except the embedding table (one row gathered)
    streamed_params = L * (4 * h * h + 3 * h * i + 2 * h) + h + V * h + h
    kv_read = 2 * L * h * ctx * 2  # K and V, all 32 heads x 128, bf16, at context 1024
    expected_s = (streamed_params * 2 + kv_read) / bw
    r = evaluate(target, llm_decode(load_llm_config("llama-2-7b"), 1, ctx, 1), mode="ideal")
    assert r.latency_s[0] == pytest.approx(expected_s, rel=0.01)
    bd = r.breakdown()
    big = bd.filter(bd["flop"] > 1e6)
    assert set(big["bound"].to_list()) == {"hbm"}  # every weight GEMM and attention is HBM-bound


def test_decode_mean_context_is_exact_for_attention_totals() -> None:
    # generating 5 tokens from context 100 attends to 100..104 cached tokens: sum = 510
    cfg = load_llm_config("llama-2-7b")
    t = llm_decode(cfg, 1, 100, 5)
    kv_per_token_B = 2 * 32 * 4096 * 2  # K+V over all layers, bf16
    assert t.total("kv_read_B")[0] == pytest.approx(kv_per_token_B * 510)
    assert t.n_items[0] == 5


# ------------------------------------------------------------------ GQA and MoE
def test_gqa_shrinks_kv_cache_by_group_factor() -> None:
    gqa = load_llm_config("llama-3-8b")
    mha = dataclasses.replace(gqa, n_kv_heads=gqa.n_heads)
    assert gqa.group_factor == 4
    a, b = llm_decode(gqa, 8, 2048, 16), llm_decode(mha, 8, 2048, 16)
    assert b.total("kv_read_B")[0] / a.total("kv_read_B")[0] == pytest.approx(4.0)
    assert b.total("kv_write_B")[0] / a.total("kv_write_B")[0] == pytest.approx(4.0)
    # KV cache held at the final context: 2 x 32 layers x 8 heads x 128 x bf16 x batch 8 x 2064
    kv_B = 2 * 32 * 8 * 128 * 2 * 8 * 2064
    mha_kv_B = 4 * kv_B
    # MHA also stores bigger k_proj and v_proj: 2 x 32 layers x 4096 x (4096 - 1024) x 2 B
    extra_weights_B = 2 * 32 * 4096 * (4096 - 1024) * 2
    assert b.peak_memory_B["decode"][0] - a.peak_memory_B["decode"][0] == pytest.approx(
        mha_kv_B - kv_B + extra_weights_B, rel=1e-9
    )


def test_moe_flops_count_active_experts_but_memory_stores_all() -> None:
    cfg = load_llm_config("mixtral-8x7b")
    t = llm_decode(cfg, 1, 512, 1)
    names = t.meta["name"].to_numpy()
    expert = np.isin(names, ["expert_gate", "expert_up", "expert_down"])
    expert_flop = (t["count"] * t["flop"])[0, expert].sum()
    # 2 FLOP per MAC x top-2 experts x 3 matrices x 4096 x 14336 x 32 layers, + 2 FLOP/elt combine
    assert expert_flop == pytest.approx(
        2 * 2 * 3 * 4096 * 14336 * 32 + 2 * 2 * 4096 * 32, rel=1e-12
    )
    # weights of all 8 experts are stored: peak memory exceeds 46.7 B params x 2 B
    assert t.peak_memory_B["decode"][0] > 46.7e9 * 2
    # batch 1 touches exactly top-k = 2 experts per layer
    w = (t["count"] * t["weight_read_B"])[0, expert].sum()
    assert w == pytest.approx(2 * 3 * 4096 * 14336 * 2 * 32)
    # total weights read per token ~ active params (12.9 B) x 2 B, not all 46.7 B
    assert t.total("weight_read_B")[0] < 13.0e9 * 2


def test_expected_distinct_experts_closed_form() -> None:
    # one token: exactly k; many tokens: all E; two tokens, E=8, k=2: 8 (1 - (3/4)^2) = 3.5
    np.testing.assert_allclose(expected_distinct_experts(8, 2, np.array([1, 2, 10_000])), np.array([2.0, 3.5, 8.0]))


# ------------------------------------------------------------------ vectorization and peak memory
def test_vectorized_points_equal_single_point_builds() -> None:
    cfg = load_llm_config("llama-3-8b")
    B = np.array([1, 4, 32])
    C = np.array([128, 4096, 777])
    t = llm_decode(cfg, B, C, 64)
    for j in range(3):
        s = llm_decode(cfg, int(B[j]), int(C[j]), 64)
        for f in ("flop", "kv_read_B", "weight_read_B", "act_read_B"):
            assert t.total(f)[j] == pytest.approx(s.total(f)[0])
        assert t.peak_memory_B["decode"][j] == pytest.approx(s.peak_memory_B["decode"][0])


def test_prefill_peak_memory_is_weights_plus_kv_plus_activations() -> None:
    cfg = load_llm_config("llama-2-7b")
    t = llm_prefill(cfg, 2, 1000)
    weights_B = 6_738_415_616 * 2  # 6.738 B parameters in bf16
    kv_B = 2 * 32 * 4096 * 2 * 2 * 1000
    # largest live activations: the SwiGLU product reads the gate and up outputs and writes
    # their product, 3 x 2000 tokens x 11008 x 2 B
    # (attention's Q, K, V, O: 4 x 2000 x 4096 x 2 B is less)
    acts_B = 3 * 2000 * 11008 * 2
    assert t.peak_memory_B["prefill"][0] == pytest.approx(weights_B + kv_B + acts_B)


def test_prefill_lm_head_only_for_last_token() -> None:
    t = llm_prefill(load_llm_config("llama-2-7b"), 3, 500)
    head = t.select(t.meta["name"].to_numpy() == "lm_head")
    assert head["flop"][0, 0] == 2 * 3 * 32000 * 4096
    assert t.n_items[0] == 1500


# ------------------------------------------------------------------ loading and errors
def test_all_shipped_configs_load_with_sources() -> None:
    assert set(SHIPPED) <= set(available_llms())
    for name in SHIPPED:
        cfg = load_llm_config(name)
        assert isinstance(cfg, LLMConfig) and cfg.source
    assert load_llm_config("bitnet-b1.58-3b").family == "bitnet"
    assert load_llm_config("mixtral-8x7b").n_experts == 8
    assert load_llm_config("gpt2").positional == "learned"


def test_user_config_path(tmp_path: Path) -> None:
    src = json.loads(
        (Path(__file__).resolve().parents[3] / "data/workloads/llama-2-7b.json").read_text()
    )
    src["num_hidden_layers"] = 2
    p = tmp_path / "config.json"
    p.write_text(json.dumps(src))
    cfg = load_llm_config(p)
    assert cfg.n_layers == 2


def _llama(**changes: object) -> dict:
    base = {
        "model_type": "llama",
        "hidden_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 512,
        "vocab_size": 1000,
        "max_position_embeddings": 128,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_missing_field_is_named() -> None:
    with pytest.raises(KeyError, match="intermediate_size"):
        parse_llm_config(_llama(intermediate_size=None))


def test_unknown_architecture_is_named() -> None:
    with pytest.raises(ValueError, match="model_type"):
        parse_llm_config(_llama(model_type="mamba"))


def test_zero_heads_is_named() -> None:
    with pytest.raises(ValueError, match="num_attention_heads"):
        parse_llm_config(_llama(num_attention_heads=0))


def test_heads_not_dividing_hidden_is_named() -> None:
    with pytest.raises(ValueError, match="num_attention_heads.*hidden_size"):
        parse_llm_config(_llama(num_attention_heads=3, num_key_value_heads=3))


def test_kv_heads_not_dividing_heads_is_named() -> None:
    with pytest.raises(ValueError, match="num_key_value_heads"):
        parse_llm_config(_llama(num_key_value_heads=3))


def test_bad_file_names_field_and_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"_source": "test", **_llama(hidden_size=None)}))
    with pytest.raises(KeyError, match=r"hidden_size.*bad\.json"):
        load_llm_config(p)
    with pytest.raises(KeyError, match="available"):
        load_llm_config("no-such-model")


def test_bad_knob_is_named() -> None:
    with pytest.raises(ValueError, match="prompt_len"):
        llm_prefill(load_llm_config("gpt2"), 1, 0)
    with pytest.raises(ValueError, match="weight_dtype"):
        llm_prefill(load_llm_config("gpt2"), 1, 8, weight_dtype="int3")


def test_decode_only_table_counts_each_parameter_once() -> None:
    # the decode table repeats every layer n_generated times; parameters are still 6.74 B
    cfg = load_llm_config("llama-2-7b")
    dec = llm_decode(cfg, 1, 1024, 128)
    pre = llm_prefill(cfg, 1, 1024)
    assert dec.total_params()[0] == pytest.approx(pre.total_params()[0])
    assert dec.total_params()[0] == pytest.approx(6.74e9, rel=0.01)
