"""The chunked-prefill serving step (models.workloads.llm.llm_serving_step) against the one-request tables."""

from __future__ import annotations

import numpy as np
import pytest

from models.workloads.llm import LLMConfigError, llm_decode, llm_prefill, llm_serving_step, load_llm_config


def _row(t, name):
    names = t.meta["name"].to_list()
    i = names.index(name)
    return t.columns[i]


def _v(x):
    return float(np.asarray(x).reshape(-1)[0])


def _flop(t, names):
    return sum(float(np.sum(_row(t, n)["count"] * _row(t, n)["flop"])) for n in names)


@pytest.fixture(scope="module")
def llama3():
    return load_llm_config("llama-3-8b")  # GQA: 32 query heads, 8 KV heads


def test_chunks_at_their_mean_prefix_give_the_causal_prefill_attention(llama3):
    # a 4096-token prompt in n = 8 chunks of 512: chunk i attends 512 i cached keys and itself
    # causally; at the mean prefix (n - 1) 512 / 2 the n chunks do 4 c p H d + 2 c^2 H d each,
    # n (4 c^2 (n - 1) / 2 + 2 c^2) H d = 2 (n c)^2 H d: the prefill's causal 2 N^2 H d
    c, n = 512, 8
    step = llm_serving_step(llama3, 0, 0.0, c, (n - 1) * c / 2.0)
    pre = llm_prefill(llama3, 1, n * c)
    assert n * _flop(step, ["attention_chunk_past", "attention_chunk"]) == pytest.approx(
        _flop(pre, ["attention"]), rel=1e-12)
    assert _flop(pre, ["attention"]) == pytest.approx(2 * (n * c) ** 2 * 32 * 128 * 32, rel=1e-12)  # x 32 layers
    # the chunk's past keys come from the KV cache: 2 x 8 KV heads x 128 x 2 B per cached token
    past = _row(step, "attention_chunk_past")
    assert _v(past["kv_read_B"]) == (n - 1) * c / 2.0 * 2 * 8 * 128 * 2


def test_one_forward_pass_for_decodes_and_chunk(llama3):
    D, ctx, c, p = 7, 1500.0, 256, 1024.0
    step = llm_serving_step(llama3, D, ctx, c, p)
    # every weight GEMM sees D + c tokens and reads its weights once
    q = _row(step, "q_proj")
    assert _v(q["m"]) == D + c and _v(q["flop"]) == 2 * (D + c) * 4096 * 4096
    assert _v(q["weight_read_B"]) == 4096 * 4096 * 2
    # the decode attention row is the decode table's at the same context
    dec = llm_decode(llama3, D, ctx, 1)
    for f in ("flop", "kv_read_B", "count"):
        assert _v(_row(step, "attention")[f]) == pytest.approx(_v(_row(dec, "attention")[f]), rel=1e-12)
    # the LM head: one row per decoded sequence and one for the chunk's last token
    assert _v(_row(step, "lm_head")["m"]) == D + 1
    # KV cache held: the decodes at their context + 1, the chunk's prefix and itself
    kv_tok = 2 * 8 * 128 * 2 * 32
    assert _v(step.memory_parts_B["decode"]["kv_cache"]) == kv_tok * (D * (ctx + 1) + p + c)


def test_empty_rows_are_no_kernels(llama3):
    step = llm_serving_step(llama3, np.array([0.0, 3.0]), 100.0, 64, np.array([0.0, 10.0]))
    assert _row(step, "attention")["count"].tolist() == [0.0, 32.0]  # no decodes: no decode attention
    assert _row(step, "attention_chunk_past")["count"].tolist() == [0.0, 32.0]  # no prefix: none


def test_refused_where_not_modelled():
    with pytest.raises(LLMConfigError, match="sliding_window"):
        llm_serving_step(load_llm_config("mistral-7b-v0.1"), 1, 10.0, 16, 0.0)
    with pytest.raises(LLMConfigError, match="kv_lora_rank"):
        llm_serving_step(load_llm_config("deepseek-v2-lite"), 1, 10.0, 16, 0.0)
    with pytest.raises(ValueError, match="chunk_past"):
        llm_serving_step(load_llm_config("llama-3-8b"), 1, 10.0, 16, -1.0)
    with pytest.raises(ValueError, match="chunk_len"):
        llm_serving_step(load_llm_config("llama-3-8b"), 1, 10.0, 0, 0.0)
