"""Work fused into another operator's kernel (``gemm_extra_work = fused``, docs/models.md "Fused
extra work"): a low-bit GEMM's dequantization runs inside the GEMM's kernel, so its compute time
adds to the GEMM's and the weight loads overlap both, instead of a pass of its own after the GEMM.
Hand-computed toy cases (time, energy, stalled energy, kernel launches), the sweep order against
one point at a time, the one builder's knob, and malformed tables.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.hardware import parse_target, with_overrides
from models.hardware.registry import get_target
from models.perf import evaluate, evaluate_point
from models.workloads import elementwise, gemv, table_from_ops
from models.workloads.table import fused_hosts, fused_name
from tests.models._toy import toy_target

# The kernel tests' toy without its SRAM: one vector engine of 1e12 fp32 op/s over an 8 GB DRAM of
# 100 GB/s; here 1 us per operator and 2 W of stalled power. Round numbers.
TOY = toy_target("fused", sram=False).replace(
    'op_overhead = { value = 0, unit = "us", source = "test" }',
    'op_overhead = { value = 1, unit = "us", source = "test" }\n'
    'stall_power = { value = 2, unit = "W", source = "test" }')
N = K = 4096  # an fp32 GEMV: 64 MiB of weights (671 us at 100 GB/s), 33.6 MFLOP (33.6 us)
T_M = (N * K + K + N) * 4.0 / 100e9
T_C = 2.0 * N * K / 1e12
OV = 1e-6


def _toy():
    return parse_target(tomllib.loads(TOY), file="toy-fused.toml")


def _table(extra_flop: float, *, fused: bool, count: float = 1.0, pipelined: bool = False):
    """The GEMV and its extra work (``extra_flop`` fp32 operations, no bytes), fused (or pipelined
    beside it) or a pass of its own."""
    host = gemv("proj", N, K, dtype="fp32", count=count)
    name = (fused_name("proj", "dequant", "fp32", pipelined=pipelined) if fused or pipelined
            else "proj[dequant:extra:fp32]")
    extra = elementwise(name, extra_flop, dtype="fp32", n_inputs=0, n_outputs=0, count=count, phase="decode")
    return table_from_ops([host, extra])


@pytest.mark.parametrize("extra_flop", [1e8, 1e9])  # 100 us (hidden under the loads) and 1 ms (not)
def test_fused_work_adds_to_the_compute_time_and_hides_under_the_loads_by_hand(extra_flop):
    t = _toy()
    t_x = extra_flop / 1e12
    fused = evaluate(t, _table(extra_flop, fused=True), detail=True)
    sep = evaluate(t, _table(extra_flop, fused=False), detail=True)
    assert fused.latency_s[0] == pytest.approx(OV + max(T_M, T_C + t_x), rel=1e-12)
    assert sep.latency_s[0] == pytest.approx(OV + max(T_M, T_C) + OV + t_x, rel=1e-12)
    # the same operations and bytes either way: equal energy of ops and bytes
    assert fused.dynamic_energy_J[0] == pytest.approx(sep.dynamic_energy_J[0], rel=1e-12)
    # stalled power while no engine computes: the kernel's time minus all of its compute
    assert fused.stalled_energy_J[0] == pytest.approx(2.0 * (fused.latency_s[0] - T_C - t_x), rel=1e-9)
    assert sep.stalled_energy_J[0] == pytest.approx(2.0 * (sep.latency_s[0] - T_C - t_x), rel=1e-9)
    # the breakdown: the GEMV carries the kernel's time and compute, the fused row its energy only
    bd = fused.breakdown()
    host, extra = bd.row(0, named=True), bd.row(1, named=True)
    assert host["latency_s"] == pytest.approx(fused.latency_s[0], rel=1e-12)
    assert host["compute_s"] == pytest.approx(T_C + t_x, rel=1e-12)
    assert host["bound"] == ("dram" if t_x < T_M - T_C else "compute")
    assert extra["latency_s"] == 0.0 and extra["compute_s"] == pytest.approx(t_x, rel=1e-12)
    assert extra["energy_J"] == pytest.approx(extra_flop * 1e-12, rel=1e-12)


@pytest.mark.parametrize("extra_flop", [1e7, 1e8, 1e9])  # 10 us (< the GEMV's compute), 100 us, 1 ms
def test_pipelined_work_takes_the_larger_compute_time_by_hand(extra_flop):
    t = _toy()
    t_x = extra_flop / 1e12
    r = evaluate(t, _table(extra_flop, fused=False, pipelined=True), detail=True)
    assert r.latency_s[0] == pytest.approx(OV + max(T_M, T_C, t_x), rel=1e-12)
    assert r.stalled_energy_J[0] == pytest.approx(2.0 * (r.latency_s[0] - max(T_C, t_x)), rel=1e-9)
    assert r.breakdown().row(1, named=True)["latency_s"] == 0.0
    assert fused_hosts(_table(1e8, fused=False, pipelined=True).meta)[1].tolist() == [False, True]


def test_a_fused_row_is_no_kernel_launch_of_its_own():
    t = _toy()
    h = 10e-6  # host time per kernel, the host waiting for each one (serial launches)
    fused = replace(_table(1e8, fused=True, count=3.0), host_dispatch_s=h, host_overlap=False)
    sep = replace(_table(1e8, fused=False, count=3.0), host_dispatch_s=h, host_overlap=False)
    assert evaluate(t, fused).latency_s[0] == pytest.approx(3 * (OV + T_M) + 3 * h, rel=1e-12)
    assert evaluate(t, sep).latency_s[0] == pytest.approx(3 * (OV + T_M + OV + 1e-4) + 6 * h, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=5.0, max_value=500.0), min_size=2, max_size=6),
       st.floats(min_value=1e6, max_value=3e9), st.sampled_from([1.0, 7.0, 32.0]))
def test_a_sweep_over_bandwidths_prices_as_one_point_at_a_time(bw_gbs, extra_flop, count):
    t = _toy()
    bw = np.array(bw_gbs) * 1e9
    tab = _table(extra_flop, fused=True, count=count)
    ov = {"memories.dram.bandwidth": bw}
    swept = evaluate(t, tab, overrides=ov, detail=False)  # the sweeps' order: counts folded, no detail
    for i, b in enumerate(bw):
        one = evaluate(with_overrides(t, {"memories.dram.bandwidth": float(b)}), tab, detail=True)
        assert swept.latency_s[i] == pytest.approx(one.latency_s[0], rel=1e-12)
        assert swept.energy_J[i] == pytest.approx(one.energy_J[0], rel=1e-12)
        assert swept.stalled_energy_J[i] == pytest.approx(one.stalled_energy_J[0], rel=1e-9, abs=1e-15)
        t_m = (N * K + K + N) * 4.0 / b
        assert one.latency_s[0] == pytest.approx(count * (OV + max(t_m, T_C + extra_flop / 1e12)), rel=1e-12)


def test_malformed_fused_rows_are_refused_by_name():
    t = _toy()
    orphan = table_from_ops([elementwise(fused_name("proj", "dequant", "fp32"), 1e6, dtype="fp32", n_inputs=0,
                                         n_outputs=0, phase="decode")])
    with pytest.raises(ValueError, match=r"runs with .proj..*no operator of that name comes before"):
        evaluate(t, orphan)
    moving = table_from_ops([gemv("proj", N, K, dtype="fp32"),
                             elementwise(fused_name("proj", "dequant", "fp32"), 1e6, dtype="fp32", phase="decode")])
    with pytest.raises(ValueError, match="moves bytes"):
        evaluate(t, moving)
    other = table_from_ops([gemv("proj", N, K, dtype="fp32", count=2),
                            elementwise(fused_name("proj", "dequant", "fp32"), 1e6, dtype="fp32", n_inputs=0,
                                        n_outputs=0, phase="decode", count=3)])
    with pytest.raises(ValueError, match="another count"):
        evaluate(t, other)
    twice = table_from_ops([gemv("proj", N, K, dtype="fp32"), gemv("proj", N, K, dtype="fp32"),
                            elementwise(fused_name("proj", "dequant", "fp32"), 1e6, dtype="fp32", n_inputs=0,
                                        n_outputs=0, phase="decode")])
    with pytest.raises(ValueError, match="2 operators of phase 'decode' have that name"):
        evaluate(t, twice)


def test_the_host_is_found_through_a_suffix_added_to_both_names():
    tab = _table(1e8, fused=True)
    renamed = tab.with_meta(name=[f"{n}#sub1" for n in tab.meta["name"].to_list()])
    assert fused_hosts(renamed.meta)[0].tolist() == [-1, 0]
    assert fused_hosts(_table(1e8, fused=False).meta)[0].tolist() == [-1, -1]


def test_the_gemm_extra_work_knob_through_the_one_builder():
    a100 = get_target("a100-80gb")
    s = {"phase": "decode", "batch": 1, "prompt_len": 5, "n_generated": 8, "weight_format": "int4-g32",
         "gemm_strategy": "dequant"}
    sep = evaluate_point(a100, "llama-2-7b", s, detail=True)
    fused = evaluate_point(a100, "llama-2-7b", {**s, "gemm_extra_work": "fused"}, detail=True)
    names = fused.perf.op_meta["name"].to_list()
    assert any(n.startswith("q_proj[dequant:fused:") for n in names)
    assert not any(":extra:" in n for n in names) and not any(":fused:" in n for n in sep.perf.op_meta["name"])
    # the same work and the same bytes; the dequantization no longer runs after each GEMV
    assert fused.perf.dynamic_energy_J[0] == pytest.approx(sep.perf.dynamic_energy_J[0], rel=1e-9)
    assert fused.perf.latency_s[0] < sep.perf.latency_s[0]
    bd = fused.perf.breakdown().to_dicts()
    by_name = {r["name"]: r for r in bd}
    q, x = by_name["q_proj"], next(r for r in bd if r["name"].startswith("q_proj[dequant:fused:"))
    assert x["latency_s"] == 0.0
    q_sep = next(r for r in sep.perf.breakdown().to_dicts() if r["name"] == "q_proj")
    assert q["compute_s"] == pytest.approx(q_sep["compute_s"] + x["compute_s"], rel=1e-9)
    with pytest.raises(ValueError, match="gemm_extra_work.*needs a gemm_strategy"):
        evaluate_point(a100, "llama-2-7b", {"phase": "decode", "gemm_extra_work": "fused"})
    with pytest.raises(ValueError, match="gemm_extra_work.*separate.*fused"):
        evaluate_point(a100, "llama-2-7b", {**s, "gemm_extra_work": "inline"})
