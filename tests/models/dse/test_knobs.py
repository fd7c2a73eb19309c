"""Algorithm knobs move results the way a correct model predicts."""

from __future__ import annotations

import pytest

from models.dse import evaluate_points, parse_space
from models.dse.knobs import apply_knobs, get_knob
from models.dse.workloads import get_workload
from models.hardware import get_target


def _decode_space(param):
    return parse_space(
        {
            "name": "k",
            "workload": "llama-2-7b",
            "workload_knobs": {"phase": "decode", "n_generated": 16},
            "parameters": [param],
            "objectives": [{"metric": "latency_s"}, {"metric": "error_proxy"}],
        }
    )


def test_w4_weights_cut_decode_time_and_raise_the_error_proxy():
    # decode at batch 1 on an H100 is HBM-bound: ~4x fewer weight bytes, much less time
    s = _decode_space(
        {"name": "wf", "sets": "algorithm.weight_format", "kind": "categorical",
         "choices": ["bf16", "int8", "int4-g128"]}
    )  # fmt: skip
    df = evaluate_points(s, s.grid_frame()).sort("wf")
    lat = dict(zip(df["wf"], df["latency_s"], strict=True))
    err = dict(zip(df["wf"], df["error_proxy"], strict=True))
    assert lat["int4-g128"] < 0.6 * lat["bf16"]  # weights dominate; KV, activations and overheads stay
    assert lat["int4-g128"] < lat["int8"] < lat["bf16"]
    assert err["bf16"] < err["int8"] < err["int4-g128"]  # fewer bits, larger error


def test_flash_attention_moves_fewer_bytes_than_standard():
    w = get_workload("llama-2-7b")
    t = get_target("h100-sxm")
    tab = w.build(phase="prefill")
    by = {}
    for tiling in ("standard", "flash2", "fused"):
        out, _ = apply_knobs(tab, workload=w.name, target=t, builder_kw={},
                             values={"attention_tiling": tiling}, n_rows=1)  # fmt: skip
        by[tiling] = float(out.total("bytes_B")[0])
    # fused is the compulsory traffic; flash re-reads K/V per query block; standard adds S and P
    assert by["fused"] <= by["flash2"] < by["standard"]


def test_gemm_strategy_adds_dequant_work_rows():
    w = get_workload("llama-2-7b")
    t = get_target("h100-sxm")
    tab = w.build(phase="decode", n_generated=16)
    out, _ = apply_knobs(tab, workload=w.name, target=t, builder_kw={},
                         values={"weight_format": "int4", "gemm_strategy": "dequant"}, n_rows=1)  # fmt: skip
    names = out.meta["name"].to_list()
    assert any("[dequant:extra:" in n for n in names) and out.n_ops > tab.n_ops


def test_unknown_knob_value_names_the_knob():
    with pytest.raises(ValueError, match="gemm_strategy"):
        get_knob("gemm_strategy").check("magic")


def test_group_size_and_scaling_change_flops():
    base = get_workload("mobilenet-v1").build().total("flop")[0]
    g8 = get_workload("mobilenet-v1").build(group_size=8).total("flop")[0]
    assert g8 > base  # wider groups: more MACs per 3x3 conv than depthwise
    t = get_target("h100-sxm")
    w = get_workload("regnetx-400mf")
    tab = w.build()
    big, _ = apply_knobs(tab, workload=w.name, target=t, builder_kw={"batch": 1, "resolution": 224},
                         values={"scaling_strategy": "dwr", "scaling_factor": 4.0}, n_rows=1)  # fmt: skip
    # flops scale by ~s = 4 (pycls rounding keeps it within 25 %)
    assert 3.0 < big.total("flop")[0] / tab.total("flop")[0] < 5.0
