"""Hugging Face config families: published parameter counts, latent attention (MLA), sliding
windows, the mechanisms each family adds, and what the parser says about fields it ignores or
misses."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.workloads.llm import (
    LLMConfig,
    LLMConfigMissingField,
    available_llms,
    llm_active_params,
    llm_decode,
    llm_prefill,
    load_llm_config,
    parse_llm_config,
)
from models.workloads.registry import available_workloads, build_workload, workload_spec

DATA = Path(__file__).resolve().parents[3] / "data" / "workloads"


def _params(cfg: LLMConfig | str) -> float:
    c = load_llm_config(cfg) if isinstance(cfg, str) else cfg
    return float(llm_prefill(c, 1, 8).total_params()[0])


def _rows(table: Any, name: str) -> Any:
    return table.select(table.meta["name"].to_numpy() == name)


def _total(table: Any, field: str, names: list[str]) -> float:
    mask = np.isin(table.meta["name"].to_numpy(), names)
    return float((table["count"] * table[field])[0, mask].sum())


def _kv(table: Any, phase: str) -> float:
    """The KV cache a phase holds (B), as the table declares it."""
    return float(np.atleast_1d(table.memory_parts_B[phase]["kv_cache"])[0])


def _doc(name: str) -> dict[str, Any]:
    d = json.loads((DATA / f"{name}.json").read_text())
    return {k: v for k, v in d.items() if not k.startswith("_")}


# ------------------------------------------------------------------ published parameter counts
@pytest.mark.parametrize(
    ("name", "published"),
    [
        ("llama-3.1-8b", 8.03e9),  # Llama-3.1-8B: 8.03 B (Hugging Face model card)
        ("llama-3.2-1b", 1.23e9),  # Llama 3.2 model card, "1B (1.23B)" (tied embeddings)
        ("llama-3.2-3b", 3.21e9),  # Llama 3.2 model card, "3B (3.21B)" (tied embeddings)
        ("mistral-7b-v0.1", 7.24e9),  # Mistral-7B-v0.1: 7.24 B (Hugging Face model page)
        ("qwen2.5-7b", 7.61e9),  # Qwen2.5-7B: 7.61 B (model card, "Number of Parameters")
        ("qwen2-57b-a14b", 57e9),  # Qwen2-57B-A14B: 57 B total (model card; 0.72 % off: see below)
        ("qwen3-8b", 8.2e9),  # Qwen3-8B: 8.2 B (model card, "Number of Parameters")
        ("qwen3-30b-a3b", 30.5e9),  # Qwen3-30B-A3B: 30.5 B total (model card)
        # Gemma tech report Table 2, 7B: 786,825,216 embedding + 7,751,248,896 non-embedding
        ("gemma-7b", 786_825_216 + 7_751_248_896),
        # Gemma 2 tech report Table 1, 9B: 917,962,752 embedding + 8,324,201,984 non-embedding
        ("gemma-2-9b", 917_962_752 + 8_324_201_984),
        ("gemma-3-1b", 302e6 + 698e6),  # Gemma 3 tech report Table 1, 1B: 302 M embedding + 698 M other
        ("phi-3-mini-4k", 3.82e9),  # Phi-3-mini-4k-instruct: 3.82 B (Hugging Face model page)
        ("pythia-6.9b", 6_857_302_016),  # Pythia paper (Biderman et al. 2023) Table 1: 6,857,302,016
        ("olmo-1b", 1.18e9),  # OLMo-1B-hf: 1.18 B (Hugging Face model page; tied embeddings)
        ("deepseek-v2-lite", 15.7e9),  # DeepSeek-V2 paper, Appendix B: DeepSeek-V2-Lite 15.7 B total
        ("deepseek-v3", 671e9),  # DeepSeek-V3 report / model card: 671 B (main model, without MTP)
    ],
)
def test_parameter_counts_match_published(name: str, published: float) -> None:
    rel = 0.0075 if name == "qwen2-57b-a14b" else 0.005
    assert _params(name) == pytest.approx(published, rel=rel)


def test_qwen2_57b_moe_count_hand_computed() -> None:
    # The card's "57 B" is rounded; the count from the config, term by term:
    # embedding + head 2 x 151936 x 3584; per layer (28): q 3584^2 + 3584, k and v 2 x (3584 x 512
    # + 512), o 3584^2, 2 norms 2 x 3584, router 3584 x 64, 64 experts x 3 x 3584 x 2560, shared
    # expert 3 x 3584 x 20480, shared gate 3584; final norm 3584
    per_layer = (3584 * 3584 + 3584 + 2 * (3584 * 512 + 512) + 3584 * 3584 + 2 * 3584 + 3584 * 64
                 + 64 * 3 * 3584 * 2560 + 3 * 3584 * 20480 + 3584)
    assert _params("qwen2-57b-a14b") == 2 * 151936 * 3584 + 28 * per_layer + 3584
    # "A14B": 8 of the 64 routed experts are active per token, 56 idle in each of the 28 layers
    active = llm_active_params(load_llm_config("qwen2-57b-a14b"))
    assert active == _params("qwen2-57b-a14b") - 28 * 56 * 3 * 3584 * 2560
    assert 14e9 < active < 14.5e9


def test_pythia_exact_count() -> None:
    # the paper's exact total: 2 x 50432 x 4096 (untied embed_in/embed_out) + 32 layers of
    # 2 LayerNorms (2 x 2 x 4096), fused QKV with bias (4096 x 12288 + 12288), dense with bias,
    # 4h MLP with biases; final LayerNorm 2 x 4096
    assert _params("pythia-6.9b") == 6_857_302_016


def test_falcon_7b_hand_computed_count() -> None:
    # No published figure closer than "7B" (model card). By hand, from the config: fused QKV of
    # multi-query attention 4544 x (71 + 2) x 64; dense 4544^2; MLP 2 x 4544 x 18176 (4 x hidden,
    # no gate, no biases); one LayerNorm (parallel block) 2 x 4544; x 32 layers; tied embedding
    # 65024 x 4544; final LayerNorm 2 x 4544.
    per_layer = 4544 * 73 * 64 + 4544 * 4544 + 2 * 4544 * 18176 + 2 * 4544
    assert _params("falcon-7b") == 32 * per_layer + 65024 * 4544 + 2 * 4544 == 6_921_720_704


def test_deepseek_v3_counts() -> None:
    cfg = load_llm_config("deepseek-v3")
    # per layer attention (DeepSeek-V3 report, section 2.1.1 shapes): q_a 7168 x 1536, its norm
    # 1536, q_b 1536 x 128 x 192, kv_a 7168 x (512 + 64), its norm 512, kv_b 512 x 128 x (128 +
    # 128), o 128 x 128 x 7168
    attn = 7168 * 1536 + 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 + 512 * 128 * 256 + 128 * 128 * 7168
    dense = 3 * 7168 * 18432  # first_k_dense_replace = 3 layers
    moe = 256 * 3 * 7168 * 2048 + 3 * 7168 * 2048 + 7168 * 256  # routed + 1 shared + router
    norms = 2 * 7168
    total = 2 * 129280 * 7168 + 61 * (attn + norms) + 3 * dense + 58 * moe + 7168
    assert _params(cfg) == total
    # active: 8 of 256 routed experts in each of the 58 MoE layers
    assert llm_active_params(cfg) == total - 58 * (256 - 8) * 3 * 7168 * 2048


# ------------------------------------------------------------------ multi-head latent attention
def test_mla_kv_cache_is_the_compressed_latent() -> None:
    # DeepSeek-V2-Lite: 27 layers, kv_lora_rank 512, qk_rope_head_dim 64: one token holds
    # 27 x (512 + 64) = 15,552 elements; fp8 cache, batch 4, 1000-token prompt + 24 generated
    B, C, G = 4, 1000, 24
    dec = build_workload("deepseek-v2-lite", phase="decode", batch=B, prompt_len=C, n_generated=G,
                         kv_dtype="fp8")
    per_token_B = 27 * (512 + 64) * 1
    assert _kv(dec, "decode") == per_token_B * B * (C + G)
    # generation reads the cache at contexts 1000 .. 1023 and appends one latent per token
    assert dec.total("kv_read_B")[0] == per_token_B * B * (G * C + G * (G - 1) / 2)
    assert dec.total("kv_write_B")[0] == per_token_B * B * G
    pre = build_workload("deepseek-v2-lite", phase="prefill", batch=B, prompt_len=C, kv_dtype="bf16")
    assert _kv(pre, "prefill") == 27 * 576 * 2 * B * C
    # a plain multi-head cache of the same model would hold 2 x 16 heads x (192 | 128) per layer
    mha = 27 * 16 * (192 + 128) * 2 * B * C
    assert mha / _kv(pre, "prefill") == pytest.approx(8.888, rel=1e-3)


def test_mla_decode_attends_over_the_latent_and_absorbs_kv_b_proj() -> None:
    cfg = load_llm_config("deepseek-v2-lite")
    ctx = 2048
    t = llm_decode(cfg, 1, ctx, 1)
    att = _rows(t, "attention")
    # scores over 512 + 64 latent channels and values of 512, for each of the 16 query heads:
    # 2 FLOP x 16 x ctx x (576 + 512) per layer
    assert att["flop"][0, 0] == 2 * 16 * ctx * (576 + 512)
    assert att["count"][0, 0] == 27
    # the absorbed projections hold exactly kv_b_proj's weights: 16 heads x 512 x (128 + 128)
    absorbed = _total(t, "n_params", ["q_absorb", "v_absorb"])
    assert absorbed == 27 * 16 * 512 * 256
    # one batched kernel per layer: 16 heads x (128 -> 512) for the query, (512 -> 128) out
    q_abs, v_abs = _rows(t, "q_absorb"), _rows(t, "v_absorb")
    assert q_abs["count"][0, 0] == 27 and q_abs["flop"][0, 0] == 2 * 16 * 128 * 512
    assert q_abs["act_read_B"][0, 0] == 16 * 128 * 2 and q_abs["act_write_B"][0, 0] == 16 * 512 * 2
    assert v_abs["act_read_B"][0, 0] == 16 * 512 * 2 and v_abs["act_write_B"][0, 0] == 16 * 128 * 2
    assert "kv_b_proj" not in t.meta["name"].to_list()
    pre = llm_prefill(cfg, 1, ctx)
    assert _total(pre, "n_params", ["kv_b_proj"]) == 27 * 512 * 16 * 256
    assert t.total_params()[0] == pre.total_params()[0]
    # prefill decompresses every prompt token: a GEMM of 2048 x 512 x 4096 per layer
    assert _rows(pre, "kv_b_proj")["flop"][0, 0] == 2 * ctx * 512 * 16 * 256
    # and attends with 192-wide q/k heads and 128-wide v heads, causal: (192 + 128) x N^2 x 16
    assert _rows(pre, "attention")["flop"][0, 0] == ctx**2 * 16 * (192 + 128)


# ------------------------------------------------------------------ sliding windows
def _full(cfg: LLMConfig) -> LLMConfig:
    return dataclasses.replace(cfg, sliding_window=0, n_sliding_layers=0)


def test_mistral_window_caps_prefill_scores_and_cache() -> None:
    win = load_llm_config("mistral-7b-v0.1")
    assert (win.sliding_window, win.n_sliding_layers) == (4096, 32)
    B, N, W = 2, 8192, 4096
    a, f = llm_prefill(win, B, N), llm_prefill(_full(win), B, N)
    # causal full attention: 2 B N^2 H d per layer; the window drops the (N - W)^2 / 2 pairs
    # older than W tokens: 2 B H d (N^2 - (N - W)^2)
    full_flop = 32 * 2 * B * N**2 * 32 * 128
    win_flop = 32 * 2 * B * 32 * 128 * (N**2 - (N - W) ** 2)
    assert _total(f, "flop", ["attention"]) == full_flop
    assert _total(a, "flop", ["attention_local"]) == win_flop
    assert "attention" not in a.meta["name"].to_list()  # every Mistral layer is windowed
    # the prompt's K and V are still read once each (the window does not shorten the stream)
    assert _total(a, "act_read_B", ["attention_local"]) == _total(f, "act_read_B", ["attention"])
    # the cache keeps the last W tokens: 2 (K, V) x 32 layers x 8 heads x 128 x 2 B x batch x W
    assert _kv(a, "prefill") == 2 * 32 * 1024 * 2 * B * W
    assert _kv(f, "prefill") == 2 * 32 * 1024 * 2 * B * N
    # within the window both are the same model
    assert llm_prefill(win, B, W).total("flop")[0] == llm_prefill(_full(win), B, W).total("flop")[0]


def test_mistral_window_caps_decode_reads_exactly_across_the_boundary() -> None:
    win = load_llm_config("mistral-7b-v0.1")
    C, G = 4000, 200
    a, f = llm_decode(win, 1, C, G), llm_decode(_full(win), 1, C, G)
    # steps attend 4000 .. 4095 cached tokens, then 104 steps at the 4096 cap:
    # (4000 + 4095) x 96 / 2 + 104 x 4096 = 388,560 + 425,984 = 814,544 token reads
    kv_token_B = 2 * 32 * 1024 * 2  # K + V over the 32 layers, bf16
    assert a.total("kv_read_B")[0] == kv_token_B * 814_544
    assert f.total("kv_read_B")[0] == kv_token_B * (G * C + G * (G - 1) / 2)
    # attention FLOPs follow the attended length: 4 x 32 heads x 128 per cached token per layer
    assert _total(a, "flop", ["attention_local"]) == 32 * 4 * 32 * 128 * 814_544
    assert _kv(a, "decode") == kv_token_B * 4096
    assert _kv(f, "decode") == kv_token_B * (C + G)


def test_gemma_local_global_patterns() -> None:
    g2 = load_llm_config("gemma-2-9b")
    g3 = load_llm_config("gemma-3-1b")
    # Gemma 2 alternates local and global layers; Gemma 3 has 5 local per global (layers 5,
    # 11, 17, 23 of 26 are global)
    assert (g2.n_sliding_layers, g2.sliding_window) == (21, 4096)
    assert (g3.n_sliding_layers, g3.sliding_window) == (22, 512)
    t = llm_prefill(g2, 1, 8192)
    # 21 global layers keep 8192 tokens, 21 local ones 4096: K + V, 8 heads x 256, bf16
    assert _kv(t, "prefill") == (21 * 8192 + 21 * 4096) * 2 * 8 * 256 * 2
    assert _rows(t, "attention")["count"][0, 0] == 21
    assert _rows(t, "attention_local")["count"][0, 0] == 21
    d = llm_decode(g3, 1, 10_000, 1)
    # one kv head of 256: 4 global layers read 10,000 tokens, 22 local ones 512
    assert d.total("kv_read_B")[0] == (4 * 10_000 + 22 * 512) * 2 * 256 * 2


def test_explicit_layer_types_and_qwen_window_flag() -> None:
    doc = _doc("gemma-3-1b")
    types = ["sliding_attention"] * 20 + ["full_attention"] * 6
    assert parse_llm_config({**doc, "layer_types": types}).n_sliding_layers == 20
    # Qwen declares sliding_window 131072 but use_sliding_window is false: no window
    assert load_llm_config("qwen2.5-7b").n_sliding_layers == 0
    on = parse_llm_config({**_doc("qwen2.5-7b"), "use_sliding_window": True, "max_window_layers": 20})
    assert (on.n_sliding_layers, on.sliding_window) == (8, 131072)


# ------------------------------------------------------------------ per-family mechanisms
def test_qwen2_biases_on_q_k_v_only() -> None:
    cfg = load_llm_config("qwen2.5-7b")
    assert cfg.qkv_bias and not cfg.bias
    # 28 layers x (3584 + 512 + 512) bias elements; o_proj and the MLP have none
    assert _params(cfg) - _params(dataclasses.replace(cfg, qkv_bias=False)) == 28 * (3584 + 2 * 512)


def test_qwen3_and_gemma3_qk_norms_and_gemma_post_norms() -> None:
    q3 = load_llm_config("qwen3-8b")
    assert _params(q3) - _params(dataclasses.replace(q3, qk_norm=False)) == 36 * 2 * 128
    t = llm_prefill(q3, 1, 10)
    assert _rows(t, "q_norm")["m"][0, 0] == 10 * 32 and _rows(t, "k_norm")["m"][0, 0] == 10 * 8
    g2 = load_llm_config("gemma-2-9b")
    assert _params(g2) - _params(dataclasses.replace(g2, post_norms=False)) == 42 * 2 * 3584
    assert load_llm_config("gemma-3-1b").qk_norm and load_llm_config("gemma-3-1b").tied_embeddings


def test_tied_embeddings_of_llama_3_2() -> None:
    cfg = load_llm_config("llama-3.2-1b")
    assert cfg.tied_embeddings and cfg.head_dim == 64
    assert _params(dataclasses.replace(cfg, tied_embeddings=False)) - _params(cfg) == 128256 * 2048


def test_moe_shared_and_dense_layers() -> None:
    ds = load_llm_config("deepseek-v2-lite")
    assert (ds.n_dense_layers, ds.n_moe_layers, ds.top_k) == (1, 26, 6)
    assert ds.shared_expert_intermediate == 2 * 1408
    t = llm_decode(ds, 1, 100, 1)
    assert _rows(t, "gate_proj")["count"][0, 0] == 1  # first_k_dense_replace
    assert _rows(t, "expert_up")["count"][0, 0] == 26
    assert _rows(t, "shared_up_proj")["n"][0, 0] == 2816
    # one token: 6 routed experts x 3 x 2048 x 1408 weights read per MoE layer, + the shared one
    routed = _total(t, "weight_read_B", ["expert_gate", "expert_up", "expert_down"])
    assert routed == 26 * 6 * 3 * 2048 * 1408 * 2
    q = load_llm_config("qwen2-57b-a14b")
    assert q.shared_expert_gate and q.n_moe_layers == 28
    assert "shared_expert_gate" in llm_prefill(q, 1, 4).meta["name"].to_list()


def test_falcon_multi_query_parallel_block_and_neox_partial_rotary() -> None:
    f = load_llm_config("falcon-7b")
    assert (f.n_kv_heads, f.parallel_block, f.n_pre_norms, f.gated_mlp) == (1, True, 1, False)
    t = llm_prefill(f, 1, 100)
    names = t.meta["name"].to_list()
    assert "mlp_norm" not in names and "residual_add_mlp" not in names
    assert _rows(t, "residual_add")["flop"][0, 0] == 2 * 100 * 4544  # x + attn + mlp
    # multi-query: one 64-wide K and V per layer per token
    assert _kv(t, "prefill") == 32 * 2 * 64 * 2 * 100
    p = load_llm_config("pythia-6.9b")
    assert (p.rope_dim, p.parallel_block, p.n_pre_norms) == (32, True, 2)
    # rotary_pct 0.25 of 128: 3 FLOP x 10 tokens x (32 + 32) heads x 32 channels per layer
    assert _rows(llm_prefill(p, 1, 10), "rope")["flop"][0, 0] == 3 * 10 * 64 * 32


def test_olmo_norms_have_no_parameters() -> None:
    cfg = load_llm_config("olmo-1b")
    assert cfg.norm == "nonparametric"
    t = llm_prefill(cfg, 1, 4)
    assert _total(t, "n_params", ["attn_norm", "mlp_norm", "final_norm"]) == 0.0


def test_gemma3_multimodal_wrapper_uses_text_config() -> None:
    text = _doc("gemma-3-1b")
    wrapped = parse_llm_config({"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
                                "text_config": text, "vision_config": {"hidden_size": 1152}}, name="g")
    direct = parse_llm_config(text, name="g")
    assert dataclasses.replace(wrapped, notes=()) == direct
    assert any("vision_config" in n for n in wrapped.notes)


# ------------------------------------------------------------------ notes and errors
def test_unknown_fields_are_ignored_with_a_note() -> None:
    doc = _doc("llama-3.1-8b")
    cfg = parse_llm_config({**doc, "frobnicate_layers": 3, "rms_norm_eps": 1e-6})
    assert len(cfg.notes) == 1 and "frobnicate_layers" in cfg.notes[0]
    assert "rms_norm_eps" not in cfg.notes[0]  # known, changes no cost
    assert dataclasses.replace(cfg, notes=()) == parse_llm_config(doc)
    # every shipped config parses without unknown fields (the ignored list is complete)
    for name in available_llms():
        assert not [n for n in load_llm_config(name).notes if "unknown" in n], name
    # DeepSeek-V3's multi-token-prediction module and fp8 checkpoint are named, not priced
    notes = " ".join(load_llm_config("deepseek-v3").notes)
    assert "num_nextn_predict_layers" in notes and "quantization_config" in notes


def test_the_cli_spec_shows_the_notes(tmp_path: Path) -> None:
    p = tmp_path / "config.json"
    p.write_text(json.dumps({**_doc("qwen3-8b"), "my_new_field": True}))
    assert "my_new_field" in workload_spec(str(p)).description


@pytest.mark.parametrize(
    ("name", "drop", "missing"),
    [
        ("deepseek-v2-lite", "kv_lora_rank", "kv_lora_rank"),
        ("deepseek-v3", "qk_rope_head_dim", "qk_rope_head_dim"),
        ("qwen2-57b-a14b", "moe_intermediate_size", "moe_intermediate_size"),
        ("qwen3-30b-a3b", "num_experts", "num_experts"),
        ("gemma-2-9b", "sliding_window", "sliding_window"),
        ("falcon-7b", "hidden_size", "hidden_size"),
        ("pythia-6.9b", "intermediate_size", "intermediate_size"),
    ],
)
def test_missing_field_is_named(name: str, drop: str, missing: str) -> None:
    doc = _doc(name)
    del doc[drop]
    with pytest.raises(LLMConfigMissingField, match=missing) as exc:
        parse_llm_config(doc)
    assert exc.value.field == missing


def test_missing_text_config_and_new_falcon_kv_heads_are_named() -> None:
    with pytest.raises(LLMConfigMissingField, match="text_config"):
        parse_llm_config({"model_type": "gemma3"})
    with pytest.raises(LLMConfigMissingField, match="num_kv_heads"):
        doc = {k: v for k, v in _doc("falcon-7b").items() if k != "num_kv_heads"}
        parse_llm_config({**doc, "new_decoder_architecture": True})


# ------------------------------------------------------------------ what the CLI lists
def test_workloads_list_many_families() -> None:
    llm = [workload_spec(n) for n in available_workloads() if workload_spec(n).family == "llm"]
    families = {load_llm_config(s.name).family for s in llm}
    assert len(llm) >= 25 and len(families) >= 10
    for s in llm:
        assert load_llm_config(s.name).source.startswith("Hugging Face config.json of") or s.name.startswith(
            ("gpt3", "bitnet", "gpt2", "opt", "llama-2", "llama-3-8b", "mixtral", "moepp"))
