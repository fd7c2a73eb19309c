"""FLAT vs FuseMax mappings on a spatial array (models.algorithms.attention.spatial_attention and the
attention_tiling = flat / fusemax knob), with hand-computed operation counts and latencies."""

from __future__ import annotations

import numpy as np
import pytest

from models.algorithms.attention import SPATIAL_SOFTMAX_OPS, spatial_attention
from models.hardware import get_target
from models.perf import evaluate_point
from models.point import build_point
from models.workloads import OperatorTable

B, H, N, D = 2, 3, 512, 64  # a small attention call


def test_operation_counts_by_hand() -> None:
    flat = spatial_attention(B, H, N, N, D, mapping="flat")
    fm = spatial_attention(B, H, N, N, D, mapping="fusemax")
    scores = B * H * N * N
    # FLAT: max, exp(x - max), sum, divide = 4 PE operations per score, 2 ops each
    assert float(flat.nonmatmul_flop) == 2 * 4 * scores
    # FuseMax: running max 1 + exp as 6 MACs + 1 add + sum 1 = 9 per score
    assert float(fm.nonmatmul_flop) == 2 * 9 * scores
    # both keep the score row on chip: only Q, K, V, O move, once (fp16)
    assert float(flat.dram_B) == float(fm.dram_B) == B * H * 2 * 4 * N * D
    assert float(fm.matmul_flop) == 4 * B * H * N * N * D


def test_causal_halves_the_softmax_work() -> None:
    full = spatial_attention(B, H, N, N, D, mapping="flat")
    causal = spatial_attention(B, H, N, N, D, mapping="flat", causal=True)
    assert float(causal.nonmatmul_flop) == pytest.approx(float(full.nonmatmul_flop) / 2)


def test_unknown_mapping_is_named() -> None:
    with pytest.raises(ValueError, match=r"mapping='flash'.*allowed: flat, fusemax"):
        spatial_attention(B, H, N, N, D, mapping="flash")
    assert set(SPATIAL_SOFTMAX_OPS) == {"flat", "fusemax"}


def _table(tiling: str) -> OperatorTable:
    t = get_target("fusemax-cloud-array")
    return build_point("attention", {"batch": B, "n_heads": H, "seq_len": N, "head_dim": D,
                                     "attention_tiling": tiling}, target=t).table


def test_builder_rows() -> None:
    fused = _table("fused")
    flat = _table("flat")
    fm = _table("fusemax")
    mm = 4.0 * B * H * N * N * D
    # FLAT: the attention row keeps its matmul work; a softmax row carries 8 ops per score, no bytes
    kinds = flat.meta["kind"].to_list()
    assert kinds == ["attention", "softmax"]
    assert float(np.ravel(flat.columns[0]["flop"])[0]) == pytest.approx(float(np.ravel(fused.columns[0]["flop"])[0]))
    sm = flat.columns[1]
    assert float(np.ravel(sm["flop"])[0]) == 8.0 * B * H * N * N
    assert float(np.ravel(sm["act_read_B"])[0]) == float(np.ravel(sm["act_write_B"])[0]) == 0.0
    # FuseMax: one attention row carrying the matmuls and 18 ops per score
    assert fm.meta["kind"].to_list() == ["attention"]
    assert float(np.ravel(fm.columns[0]["flop"])[0]) == pytest.approx(mm + 18.0 * B * H * N * N)


def test_latency_on_the_preset_by_hand() -> None:
    # 2D array: 256 x 256 PEs x 2 op x 0.94 GHz; 1D array: 256 PEs x 2 op x 0.94 GHz; both fully utilized;
    # FLAT's 1D softmax is pipelined beside the 2D matmuls (the artifact's latency is max(2D, 1D,
    # memory)), one call with the preset's 4 us overhead; at 2048 tokens the compulsory traffic (6.3 MB
    # at 429 GB/s = 15 us) hides under the compute (2D 52 us, 1D 0.46 ms)
    f2d, f1d, ovh = 131072 * 0.94e9, 512 * 0.94e9, 4e-6
    n = 2048
    mm = 4.0 * B * H * n * n * D
    sm = B * H * n * n
    s = {"batch": B, "n_heads": H, "seq_len": n, "head_dim": D}
    flat = evaluate_point("fusemax-cloud-array", "attention", {**s, "attention_tiling": "flat"}, detail=False)
    fm = evaluate_point("fusemax-cloud-array", "attention", {**s, "attention_tiling": "fusemax"}, detail=False)
    t_flat = float(np.ravel(flat.perf.metrics()["latency_s"])[0])
    t_fm = float(np.ravel(fm.perf.metrics()["latency_s"])[0])
    assert t_flat == pytest.approx(max(mm / f2d, 8.0 * sm / f1d) + ovh, rel=1e-6)
    detail = evaluate_point("fusemax-cloud-array", "attention", {**s, "attention_tiling": "flat"}, detail=True)
    bd = detail.perf.breakdown()
    assert bd["name"].to_list() == ["attention", "attention[softmax:pipelined:fp16]"]
    assert bd["engine"].to_list() == ["array2d", "array1d"]
    assert bd["latency_s"].to_list()[1] == 0.0  # its time is inside the pipelined call's
    assert t_fm == pytest.approx((mm + 18.0 * sm) / f2d + ovh, rel=1e-6)
    # the speedup grows as the head dim shrinks: FLAT's softmax does not depend on d, the matmuls do
    assert t_flat / t_fm > 5.0


def test_softmax_variant_contradicts_a_spatial_mapping() -> None:
    t = get_target("fusemax-cloud-array")
    with pytest.raises(ValueError, match="attention_tiling' = 'flat'.*softmax_variant"):
        build_point("attention", {"attention_tiling": "flat", "softmax_variant": "online"}, target=t)


def test_knob_lists_the_mappings() -> None:
    from models.point.knobs import ALGORITHM_KNOBS

    p = ALGORITHM_KNOBS["attention_tiling"]
    assert {"flat", "fusemax"} <= set(p.choices)
    with pytest.raises(ValueError):
        p.check("fusemax2")
