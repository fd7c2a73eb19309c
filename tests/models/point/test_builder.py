"""The one design-point builder: each algorithm knob's effect on bytes and FLOPs, by hand.

Every expected number here is computed in the comment above it from the model's definition
(shapes of Llama-2-7B: 32 layers, hidden 4096, 32 heads of 128, intermediate 11008, vocab
32000), not by calling the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.hardware import get_target
from models.point import ALGORITHM_KNOBS, applicable_knobs, build_point, knob
from models.workloads import build_workload

H100 = get_target("h100-sxm")


def _row(table, name):
    names = table.meta["name"].to_list()
    return table.columns[names.index(name)]


def _bytes(c):
    total = c["weight_read_B"] + c["act_read_B"] + c["act_write_B"] + c["kv_read_B"] + c["kv_write_B"]
    return float(np.ravel(total)[0])


# ---------------------------------------------------------------------------------- formats
def test_weight_format_sets_the_weight_bytes_of_every_projection():
    # int4-g128: 4 bits + one fp16 scale per 128 weights = 4.125 bits per weight.
    # q_proj 4096 x 4096 -> 4096 * 4096 * 4.125 / 8 = 8,650,752 B; gate_proj 11008 x 4096 ->
    # 11008 * 4096 * 4.125 / 8 = 23,248,896 B; lm_head 32000 x 4096 -> 67,584,000 B.
    t = build_point("llama-2-7b", {"phase": "decode", "n_generated": 1, "weight_format": "int4-g128"},
                    target=H100).table
    assert float(np.ravel(_row(t, "q_proj")["weight_read_B"])[0]) == 8_650_752
    assert float(np.ravel(_row(t, "gate_proj")["weight_read_B"])[0]) == 23_248_896
    assert float(np.ravel(_row(t, "lm_head")["weight_read_B"])[0]) == 67_584_000
    # the norm gains stay in the activation datatype: 4096 x 2 B (bf16)
    assert float(np.ravel(_row(t, "attn_norm")["weight_read_B"])[0]) == 4096 * 2


def test_weight_format_lowers_resident_memory_by_the_weights_it_saves():
    # Llama-2-7B stores 6,738,415,616 parameters (4096 x 32000 embedding + lm_head, 32 layers of
    # 4 x 4096^2 + 3 x 4096 x 11008 + 2 x 4096 norm gains, + the final 4096 norm).
    # From bf16 (16 bits) to int4-g128 (4.125 bits) the weights shrink by
    # 6,738,415,616 x (16 - 4.125) / 8 = 10,002,835,680.5 B; KV cache and activations stay.
    params = 32000 * 4096 * 2 + 32 * (4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096) + 4096
    assert params == 6_738_415_616
    knobs = {"phase": "decode", "n_generated": 16, "prompt_len": 512}
    base = build_point("llama-2-7b", knobs, target=H100).table
    q = build_point("llama-2-7b", {**knobs, "weight_format": "int4-g128"}, target=H100).table
    saved = float(base.peak_memory()[0] - q.peak_memory()[0])
    assert saved == pytest.approx(params * (16 - 4.125) / 8, rel=1e-12)
    parts = q.memory_parts_B["decode"]
    assert float(np.ravel(parts["weights"])[0]) == pytest.approx(params * 4.125 / 8, rel=1e-12)


def test_kv_format_scales_the_kv_cache_and_its_reads():
    # KV cache after 512 + 16 tokens at batch 2: 2 (K, V) x 32 layers x 4096 x 2 x 528 tokens
    # x 2 B = 553,648,128 B in bf16; int8 halves it.
    knobs = {"phase": "decode", "n_generated": 16, "prompt_len": 512, "batch": 2}
    base = build_point("llama-2-7b", knobs, target=H100).table
    q = build_point("llama-2-7b", {**knobs, "kv_format": "int8"}, target=H100).table
    kv0 = float(np.ravel(base.memory_parts_B["decode"]["kv_cache"])[0])
    assert kv0 == 2 * 32 * 4096 * 2 * 528 * 2
    assert float(np.ravel(q.memory_parts_B["decode"]["kv_cache"])[0]) == kv0 / 2
    # decode attention reads K and V of the mean context 512 + 15/2 = 519.5 tokens per step:
    # 2 x 2 (batch) x 519.5 x 4096 x 1 B (int8) = 8,511,488 B per layer instance
    assert float(np.ravel(_row(q, "attention")["kv_read_B"])[0]) == 2 * 2 * 519.5 * 4096


# ---------------------------------------------------------------------------------- GEMM strategy
def test_dequant_strategy_adds_the_expansion_work_of_the_weights():
    # dequantize-then-GEMM, int4-g128 weights of q_proj (n = k = 4096): per weight 2 slots to
    # unpack a sub-byte value + 32/128 = 0.25 slot for the group scale = 2.25 slots, 2 FLOP a
    # slot: 4.5 x 4096^2 = 75,497,472 ops per instance in the activation datatype; the main
    # work stays 2 m n k = 2 x 1 x 4096^2 = 33,554,432 FLOP.
    t = build_point("llama-2-7b", {"phase": "decode", "n_generated": 1, "weight_format": "int4-g128",
                                   "gemm_strategy": "dequant"}, target=H100).table
    assert float(np.ravel(_row(t, "q_proj")["flop"])[0]) == 2 * 4096**2
    extra = _row(t, "q_proj[dequant:extra:bf16]")
    assert float(np.ravel(extra["flop"])[0]) == 4.5 * 4096**2
    assert _bytes(extra) == 0.0  # the expansion works on registers
    names = t.meta["name"].to_list()
    assert t.meta["kind"][names.index("q_proj[dequant:extra:bf16]")] == "elementwise"


def test_lut_strategy_with_a_gemm_input_format():
    # T-MAC table lookup, 2-bit weights (int2-g64: 2 + 16/64 = 2.25 bits), int8 GEMM inputs:
    # per instance m n k bits / g lookups (g = 4): 4096^2 x 2 / 4 = 8,388,608 lookups, 3 slots
    # each (lookup + widening add) at 2 ops a slot: 50,331,648 int8 ops; the GEMM reads its
    # input at int8: 4096 x 1 B (instead of 4096 x 4 B of the fp32 activations).
    t = build_point("llama-2-7b", {"phase": "decode", "n_generated": 1, "act_dtype": "fp32",
                                   "weight_format": "int2-g64", "gemm_strategy": "lut",
                                   "gemm_act_format": "int8"}, target=H100).table
    q = _row(t, "q_proj")
    assert float(np.ravel(q["flop"])[0]) == 50_331_648
    assert float(np.ravel(q["act_read_B"])[0]) == 4096
    assert float(np.ravel(q["weight_read_B"])[0]) == 4096 * 4096 * 2.25 / 8
    names = t.meta["name"].to_list()
    assert t.meta["compute_dtype"][names.index("q_proj")] == "int8"


# ---------------------------------------------------------------------------------- attention
def test_flash_attention_reads_k_and_v_once_per_query_block():
    # Llama-2-7B prefill of N = 1024 tokens, d = 128, 32 heads, fp16 (b = 2), causal,
    # FlashAttention-2 with 64 KiB of SRAM: M = 65536 / 2 = 32768 elements, Bc = ceil(M / 4d)
    # = 64, Br = min(Bc, d) = 64, Tr = 1024 / 64 = 16 query blocks, half of them under the
    # causal mask: K and V read 8 times. Per (batch, head): b (2 N d + 2 N d x 8) + 4 N (fp32
    # logsumexp) = 2 (262,144 + 2,097,152) + 4096 = 4,722,688 B; x 32 heads = 151,126,016 B.
    t = build_point("llama-2-7b", {"phase": "prefill", "prompt_len": 1024, "act_dtype": "fp16",
                                   "kv_dtype": "fp16", "attention_tiling": "flash2",
                                   "attention_sram_B": 65536.0}, target=H100).table
    assert _bytes(_row(t, "attention")) == 151_126_016


def test_flash1_and_standard_attention_traffic():
    knobs = {"phase": "prefill", "prompt_len": 1024, "act_dtype": "fp16", "kv_dtype": "fp16"}
    # fused (as built): Q, K, V read and O written once: 4 N d b x 32 = 33,554,432 B
    fused = build_point("llama-2-7b", knobs, target=H100).table
    assert _bytes(_row(fused, "attention")) == 4 * 1024 * 128 * 2 * 32
    # standard: S and P (N x N, fp16) written and read once each on top: 4 N^2 b x 32 =
    # 268,435,456 B more; their 2 N^2 b x 32 = 134,217,728 B are resident at the softmax
    # Unfused, as an eager framework runs it: S = Q K^T (reads Q, K, writes S), the softmax
    # (reads S, writes P), O = P V (reads P, V, writes O), per head 2 N d b + N^2 b each for the
    # matmuls and 2 N^2 b for the softmax
    std = build_point("llama-2-7b", {**knobs, "attention_tiling": "standard"}, target=H100).table
    nd, nn = 1024 * 128 * 2 * 32, 1024 * 1024 * 2 * 32
    assert _bytes(_row(std, "attention.qk")) == 2 * nd + nn
    assert _bytes(_row(std, "attention.pv")) == 2 * nd + nn
    assert _bytes(_row(std, "attention.softmax")) == 2 * nn
    assert sum(_bytes(_row(std, f"attention.{x}")) for x in ("qk", "pv", "softmax")) == 33_554_432 + 268_435_456
    assert "attention" not in std.meta["name"].to_list()
    # the matmuls are GEMMs over the whole score matrix (the causal mask is applied, not skipped):
    # 2 N N d per head each, 4 N^2 d in all where the fused causal row counts half of that
    qk, pv = _row(std, "attention.qk"), _row(std, "attention.pv")
    assert float(np.ravel(qk["flop"])[0]) == float(np.ravel(pv["flop"])[0]) == 2.0 * 1024 * 1024 * 128 * 32
    assert float(np.ravel(qk["k"])[0]) == 128 and float(np.ravel(pv["k"])[0]) == 1024
    kinds = dict(zip(std.meta["name"].to_list(), std.meta["kind"].to_list(), strict=True))
    assert (kinds["attention.qk"], kinds["attention.pv"], kinds["attention.softmax"]) == ("gemm", "gemm", "softmax")
    # with a softmax variant its passes price the softmax: no default softmax row
    var = build_point("llama-2-7b", {**knobs, "attention_tiling": "standard", "softmax_variant": "two_pass"},
                      target=H100).table
    assert "attention.softmax" not in var.meta["name"].to_list()
    assert float(std.peak_memory()[0] - fused.peak_memory()[0]) == 134_217_728
    # FlashAttention-1 (outer loop over K/V blocks, Bc = 64, Tc = 16, 8 under the mask):
    # b (2 N d + 3 N d x 8) + 8 N x 8 = 2 (262,144 + 3,145,728) + 65,536 = 6,881,280 per head
    fa1 = build_point("llama-2-7b", {**knobs, "attention_tiling": "flash1", "attention_sram_B": 65536.0},
                      target=H100).table
    assert _bytes(_row(fa1, "attention")) == 6_881_280 * 32


def test_softmax_variant_prices_every_score_once_per_pass():
    # Causal prefill of 1024 tokens: 32 heads x 1024 x 1024 / 2 = 16,777,216 scores per layer.
    # Three-pass with recompute: max (1 slot), sum of exp (10 + 2), recompute and scale (10 + 2),
    # 2 FLOP a slot; each pass reads the scores once (fp32, 4 B) and the last writes them.
    t = build_point("llama-2-7b", {"phase": "prefill", "prompt_len": 1024,
                                   "softmax_variant": "three_pass_recompute"}, target=H100).table
    n = 32 * 1024 * 1024 / 2
    mx = _row(t, "attention.softmax.max[three_pass_recompute]")
    sm = _row(t, "attention.softmax.sum_exp[three_pass_recompute]")
    rc = _row(t, "attention.softmax.recompute_scale[three_pass_recompute]")
    assert float(np.ravel(mx["flop"])[0]) == 2 * 1 * n
    assert float(np.ravel(sm["flop"])[0]) == 2 * 12 * n
    assert float(np.ravel(rc["act_read_B"])[0]) == 4 * n and float(np.ravel(rc["act_write_B"])[0]) == 4 * n
    assert float(np.ravel(mx["count"])[0]) == 32  # once per layer


def test_softmax_variant_replaces_a_softmax_rows_traffic():
    # the softmax workload: 2^20 fp32 elements, two-pass: 2 reads + 1 write = 12 B per element
    # without write-allocate (streaming stores), 16 B with it (a CPU's read-for-ownership)
    gpu = build_point("softmax", {"n_elements": 2**20, "softmax_variant": "two_pass"}, target=H100).table
    assert float(gpu.total("bytes_B")[0]) == 12 * 2**20
    cpu = build_point("softmax", {"n_elements": 2**20, "softmax_variant": "two_pass"},
                      target=get_target("skylake-x-i9-7900x")).table
    assert float(cpu.total("bytes_B")[0]) == 16 * 2**20
    nt = build_point("softmax", {"n_elements": 2**20, "softmax_variant": "two_pass", "softmax_stores": "streaming"},
                     target=get_target("skylake-x-i9-7900x")).table
    assert float(nt.total("bytes_B")[0]) == 12 * 2**20
    assert "softmax" not in gpu.meta["name"].to_list()  # the fused row is replaced by the passes


# ---------------------------------------------------------------------------------- CNN knobs
def test_scaling_depth_doubles_the_stage_depths():
    # RegNetX-400MF stages: depths 1, 2, 7, 12 (pycls). Depth scaling by s = 2 doubles them
    # (e_d = 1) and leaves widths and resolution: the table equals the net built with
    # depths 2, 4, 14, 24.
    from models.algorithms import regnetx_base
    from models.workloads.anynet import anynet

    d, w, g = regnetx_base("regnetx-400mf")
    assert d.tolist() == [1, 2, 7, 12]
    scaled = build_point("regnetx-400mf", {"scaling_strategy": "d", "scaling_factor": 2.0}, target=H100).table
    ref = anynet(np.array([2.0, 4.0, 14.0, 24.0])[None, :], w[None, :], g[None, :], 1.0, resolution=224,
                 fold_bn=True)  # inference folds BN (the fold_bn knob)
    assert float(scaled.total("flop")[0]) == pytest.approx(float(ref.total("flop")[0]), rel=1e-12)
    base = build_point("regnetx-400mf", {}, target=H100).table
    assert 1.8 < float(scaled.total("flop")[0] / base.total("flop")[0]) < 2.0  # stem and head do not scale


def test_group_size_sets_the_macs_of_every_3x3_conv():
    # MobileNet-V1 layer 1: a 3x3 conv over 32 channels at 112 x 112 (stride 1). Depthwise:
    # 112^2 x 32 x 9 MACs = 3,612,672; group size 8: 112^2 x 32 x 8 x 9 = 28,901,376 MACs.
    dw = build_point("mobilenet-v1", {}, target=H100).table
    g8 = build_point("mobilenet-v1", {"group_size": 8}, target=H100).table
    assert float(np.ravel(_row(dw, "l1.dw3x3")["flop"])[0]) == 2 * 3_612_672
    assert float(np.ravel(_row(g8, "l1.dw3x3")["flop"])[0]) == 2 * 28_901_376
    # 32 groups of 1 channel is depthwise (kind dwconv on the engines that run it), any larger group is not
    names = dw.meta["name"].to_list()
    assert dw.meta["kind"][names.index("l1.dw3x3")] == "dwconv"
    assert g8.meta["kind"][names.index("l1.dw3x3")] == "conv"


# ---------------------------------------------------------------------------------- declarations
def test_every_algorithm_knob_is_declared_once_and_checked():
    assert set(ALGORITHM_KNOBS) >= {"weight_format", "act_format", "kv_format", "gemm_strategy", "gemm_act_format",
                                    "attention_tiling", "attention_sram_B", "softmax_variant", "scaling_strategy",
                                    "scaling_factor", "scaling_alpha"}
    with pytest.raises(ValueError, match=r"algorithm knob 'gemm_strategy': got 'magic'; allowed: dequant"):
        build_point("llama-2-7b", {"gemm_strategy": "magic"}, target=H100)
    with pytest.raises(ValueError, match=r"algorithm knob 'attention_sram_B': got 1000000000; allowed: \[4096"):
        build_point("llama-2-7b", {"attention_tiling": "flash2", "attention_sram_B": 1e9}, target=H100)
    with pytest.raises(ValueError, match="kv_format.*no KV cache"):
        build_point("resnet-50", {"kv_format": "int8"}, target=H100)
    with pytest.raises(ValueError, match="cannot be scaled"):
        build_point("resnet-50", {"scaling_factor": 2.0}, target=H100)
    # any format the quantization registry parses, beyond the usual list
    assert knob("weight_format", "llama-2-7b")[1].check("int2-g16-zp-fp8") == "int2-g16-zp-fp8"
    with pytest.raises(ValueError, match="did you mean 'weight_format'"):
        knob("weight_fromat", "llama-2-7b")


def test_array_knobs_broadcast_and_keep_each_operators_shape():
    # a batch axis x a context axis: decode projections depend on the batch only
    b = np.array([1.0, 2.0, 4.0])[:, None]
    c = np.array([128.0, 256.0])[None, :]
    t = build_point("llama-2-7b", {"phase": "decode", "batch": b, "prompt_len": c, "n_generated": 1},
                    target=H100).table
    assert t.shape == (3, 2)
    assert _row(t, "q_proj")["flop"].shape == (3, 1)
    assert _row(t, "attention")["flop"].shape == (3, 2)
    one = build_workload("llama-2-7b", phase="decode", batch=4, prompt_len=256, n_generated=1)
    assert float(t.total("flop")[2, 1]) == pytest.approx(float(one.total("flop")[0]), rel=1e-15)


def test_decode_streams_every_weight_once_per_token():
    # T-MAC style decode (weights int4-g128-zp: 4 + (16 + 4) / 128 = 4.15625 bits, activations
    # fp32, table-lookup GEMVs): per generated token the linear weights, 32 x (4 x 4096^2 +
    # 3 x 4096 x 11008) + 32000 x 4096 = 6,607,077,376 parameters, the embedding row gathered
    # (4096 weights) at 4.15625 bits, and the 65 fp32 norm gains of 4096 (4 B each) are read once.
    t = build_point("llama-2-7b", {"phase": "decode", "batch": 1, "prompt_len": 0, "n_generated": 128,
                                   "act_dtype": "fp32", "weight_format": "int4-g128-zp", "gemm_strategy": "lut",
                                   "gemm_act_format": "fp16"}, target=get_target("m2-ultra-cpu")).table
    per_token = float(t.total("weight_read_B")[0]) / 128
    linear = 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 32000 * 4096
    assert linear == 6_607_077_376
    assert per_token == pytest.approx((linear + 4096) * 4.15625 / 8 + 65 * 4096 * 4, rel=1e-12)


def test_applicable_knobs_of_a_shipped_workload_are_read_once_and_a_users_file_each_time(tmp_path):
    # a shipped workload's list is kept (a copy each call: the caller may change it); a user's
    # config.json is read again, so an edit that makes it a MoE shows the expert knobs at once
    import json

    from models.workloads.registry import is_shipped, workload_spec

    got = applicable_knobs("mixtral-8x7b")
    assert is_shipped(workload_spec("mixtral-8x7b"))
    got.clear()
    assert "zc_expert_share" in {k.name for k in applicable_knobs("mixtral-8x7b")}
    dense, moe = (json.loads((Path(__file__).resolve().parents[3] / "data" / "workloads" / f).read_text())
                  for f in ("mistral-7b-v0.1.json", "mixtral-8x7b.json"))
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(dense))
    assert not is_shipped(workload_spec(str(cfg)))
    assert "zc_expert_share" not in {k.name for k in applicable_knobs(str(cfg))}
    cfg.write_text(json.dumps(moe))
    assert "zc_expert_share" in {k.name for k in applicable_knobs(str(cfg))}
