"""Hand-computed cases for the roofline + energy model on small made-up targets."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from models.hardware import parse_target, with_overrides
from models.perf import compile_target, evaluate
from models.workloads import elementwise, gemm, table_from_ops

# A two-engine device: a matrix unit (fp16 only, matrix kinds only) and a vector unit (fp32),
# a 1 MiB SRAM and an 8 GB DRAM. Round numbers so every expected value is easy to check.
TOY = """
name = "toy2"
display_name = "Toy"
class = "npu"
description = "test"
overlap = "max"
clock = { value = 1, unit = "GHz", source = "test" }
tdp = { value = 10, unit = "W", source = "test" }
static_power = { value = 2, unit = "W", source = "test" }
process_node = { value = 7, unit = "nm", source = "test" }
op_overhead = { value = 1, unit = "us", source = "test" }

[[engines]]
name = "mat"
kind = "systolic"
runs = ["gemm", "gemv", "conv", "attention"]
n_units = { value = 100, source = "test" }
efficiency = { value = 0.5, source = "test" }
efficiency_by_kind = { gemv = { value = 0.25, source = "test" } }
ops_per_cycle = { fp16 = { value = 1000, source = "test" } }
energy_per_op = { fp16 = { value = 1, unit = "pJ/op", source = "test" } }

[[engines]]
name = "vec"
kind = "vector"
n_units = { value = 10, source = "test" }
efficiency = { value = 1.0, source = "test" }
ops_per_cycle = { fp32 = { value = 100, source = "test" } }
energy_per_op = { fp32 = { value = 10, unit = "pJ/op", source = "test" } }

[[memories]]
name = "sram"
kind = "sram"
read_by = ["mat", "vec"]
capacity = { value = 1, unit = "MB", source = "test" }
bandwidth = { value = 1000, unit = "GB/s", source = "test" }
energy_per_byte = { value = 1, unit = "pJ/B", source = "test" }

[[memories]]
name = "dram"
kind = "dram"
read_by = ["mat", "vec"]
capacity = { value = 8, unit = "GB", source = "test" }
bandwidth = { value = 100, unit = "GB/s", source = "test" }
energy_per_byte = { value = 10, unit = "pJ/B", source = "test" }
"""


@pytest.fixture
def toy():
    return parse_target(tomllib.loads(TOY), file="toy2.toml")


def test_compute_bound_gemm(toy):
    # 1024^3 fp16 GEMM: 2.147e9 FLOP; mat peak 100 x 1000 x 1 GHz = 1e14, x0.5 -> 5e13 FLOP/s
    # t_c = 2.147e9 / 5e13 = 42.95 us. Bytes 3 x 1024^2 x 2 = 6.29 MB. It reads weights, so its
    # working set is the table's resident state: 2 MiB weights + its 6 MiB = 8388608 B > 1 MB SRAM:
    # home DRAM, but the SRAM keeps H = 1e6 / 8388608 = 11.9% of the traffic (partial residency):
    # t_m = 6.29e6 x (0.119 / 1e12 + 0.881 / 1e11) = 56.2 us. Memory-bound: t = 56.2 + 1 us overhead.
    r = evaluate(toy, table_from_ops([gemm("g", 1024, 1024, 1024, dtype="fp16")]))
    b = r.breakdown()
    flop, nbytes = 2 * 1024**3, 3 * 1024**2 * 2
    h = 1e6 / (4 * 1024**2 * 2)
    assert b["engine"][0] == "mat"
    assert b["bound"][0] == "dram"
    assert r.op_compute_s[0, 0] == pytest.approx(flop / 5e13)
    assert r.latency_s[0] == pytest.approx(nbytes * (h / 1e12 + (1 - h) / 1e11) + 1e-6)
    # energy: flop x 1 pJ + bytes x (h x 1 + (1 - h) x (1 + 10)) pJ (DRAM bytes cross the SRAM) + 2 W x t
    assert r.energy_J[0] == pytest.approx(flop * 1e-12 + nbytes * (h * 1e-12 + (1 - h) * 11e-12)
                                          + 2 * r.latency_s[0])


def test_small_gemm_fits_in_sram_and_is_compute_bound(toy):
    # 256^3: 3 x 256^2 x 2 = 393 kB fits the 1 MB SRAM: t_m = 393216 / 1e12 = 0.39 us,
    # t_c = 33.5e6 / 5e13 = 0.67 us -> compute-bound, but the 1 us launch overhead dominates.
    tab = table_from_ops([gemm("g", 256, 256, 256, dtype="fp16")])
    r = evaluate(toy, tab)
    assert r.breakdown()["bound"][0] == "overhead"
    assert r.op_memory_s[0, 0] == pytest.approx(3 * 256**2 * 2 / 1e12)
    assert r.latency_s[0] == pytest.approx(2 * 256**3 / 5e13 + 1e-6)
    r0 = evaluate(toy.replace(op_overhead_s=0.0), tab)
    assert r0.breakdown()["bound"][0] == "compute"


def test_vector_kinds_go_to_the_vector_engine(toy):
    # elementwise cannot run on the matrix unit (runs = matrix kinds): vec runs fp16 as fp32
    r = evaluate(toy, table_from_ops([elementwise("e", 1e8, dtype="fp16", n_inputs=2)]))
    b = r.breakdown()
    assert b["engine"][0] == "vec"
    assert b["compute_dtype"][0] == "fp32" and b["fallback"][0] is True
    # 3 x 1e8 x 2 B = 600 MB from DRAM at 100 GB/s = 6 ms; compute 1e8 / 1e12 = 0.1 ms
    assert r.latency_s[0] == pytest.approx(6e-3 + 1e-6)


def test_gemv_efficiency_by_kind(toy):
    # gemv at 0.25 efficiency: n = k = 256 tiny -> compute 2 x 65536 / (1e14 x 0.25)
    r = evaluate(toy, table_from_ops([gemm("v", 1, 256, 256, dtype="fp16", kind="gemv")]), engine="mat")
    assert r.op_compute_s[0, 0] == pytest.approx(2 * 256 * 256 / 2.5e13)


def test_forced_engine_and_bad_assignment(toy):
    tab = table_from_ops([gemm("g", 64, 64, 64, dtype="fp16")])
    r = evaluate(toy, tab, engine={"gemm": "vec"})
    assert r.breakdown()["engine"][0] == "vec"
    with pytest.raises(ValueError, match="engines mat, vec"):
        evaluate(toy, tab, engine={"gemm": "pim"})
    with pytest.raises(ValueError, match="runs only"):
        evaluate(toy, table_from_ops([elementwise("e", 10)]), engine={"elementwise": "mat"})


def test_sum_overlap_policy(toy):
    t = toy.replace(overlap="sum")
    r = evaluate(t, table_from_ops([gemm("g", 1024, 1024, 1024, dtype="fp16")]))
    # t_c + t_m + overhead, t_m with the SRAM's share h = 1e6 / 8 MiB (test_compute_bound_gemm)
    h = 1e6 / (4 * 1024**2 * 2)
    assert r.latency_s[0] == pytest.approx(2 * 1024**3 / 5e13 + 3 * 1024**2 * 2 * (h / 1e12 + (1 - h) / 1e11)
                                           + 1e-6)


def test_ideal_mode_drops_efficiency_and_overhead(toy):
    r = evaluate(toy, table_from_ops([gemm("g", 256, 256, 256, dtype="fp16")]), mode="ideal")
    assert r.mode == "ideal"
    # t_c = 33.5e6 / 1e14 = 0.34 us < t_m = 393216 B / 1 TB/s = 0.39 us: SRAM-bound when ideal
    assert r.latency_s[0] == pytest.approx(3 * 256**2 * 2 / 1e12)
    assert r.breakdown()["bound"][0] == "sram"


def test_vectorized_overrides_match_scalar_targets(toy):
    bws = np.array([50e9, 100e9, 400e9])
    tab = table_from_ops([gemm("g", 1024, 1024, 1024, dtype="fp16")])
    r = evaluate(compile_target(toy, {"memories.dram.bandwidth": bws}), tab)
    for i, bw in enumerate(bws):
        ri = evaluate(with_overrides(toy, {"memories.dram.bandwidth": bw}), tab)
        assert r.latency_s[i] == pytest.approx(ri.latency_s[0])
        assert r.energy_J[i] == pytest.approx(ri.energy_J[0])


def test_vectorized_workload_matches_scalar(toy):
    ms = np.array([1, 16, 4096])
    r = evaluate(toy, table_from_ops([gemm("g", ms, 2048, 2048, dtype="fp16")]))
    for i, m in enumerate(ms):
        ri = evaluate(toy, table_from_ops([gemm("g", int(m), 2048, 2048, dtype="fp16")]))
        assert r.latency_s[i] == pytest.approx(ri.latency_s[0])


def test_a_grid_equals_its_points(toy):
    # a (workload x hardware) grid priced by broadcasting equals each point priced alone
    ms = np.array([1.0, 37.0, 2000.0])
    bw = np.array([1e10, 3e11, 1e12, 4e12])
    grid = table_from_ops([gemm("g", ms[:, None], 512, 512, dtype="fp16"), elementwise("e", ms[:, None] * 512)])
    r = evaluate(compile_target(toy, {"memories.dram.bandwidth": bw}), grid, detail=False)
    assert r.latency_s.shape == (3, 4)
    for i, m in enumerate(ms):
        for j, b in enumerate(bw):
            one = table_from_ops([gemm("g", m, 512, 512, dtype="fp16"), elementwise("e", m * 512)])
            ref = evaluate(toy, one, overrides={"memories.dram.bandwidth": float(b)})
            assert r.latency_s[i, j] == ref.latency_s[0]
            assert r.energy_J[i, j] == ref.energy_J[0]


def test_bad_mode_and_override(toy):
    tab = table_from_ops([gemm("g", 8, 8, 8, dtype="fp16")])
    with pytest.raises(ValueError, match="allowed: calibrated, ideal"):
        evaluate(toy, tab, mode="optimistic")
    with pytest.raises(KeyError, match="memories.hbm.bandwidth"):
        compile_target(toy, {"memories.hbm.bandwidth": np.array([1e9, 2e9])})
    with pytest.raises(ValueError, match="out of range"):
        compile_target(toy, {"memories.dram.bandwidth": np.array([1e9, -2e9])})


def test_size_curve_slows_short_reductions(toy):
    # half_k = 64 on convs: a conv with k = 64 (c_in/groups x 3 x 3 = 64) runs at half the
    # engine's efficiency; one with k = 576 at 576/640 of it. GEMMs have no curve.
    from models.hardware import with_overrides
    from models.workloads import conv

    curved = with_overrides(toy.replace(op_overhead_s=0.0), {"engines.mat.efficiency_half_k.conv": 64.0})
    small = table_from_ops([conv("c", 1, 56, 56, 64, 64, 3, groups=1)])
    k = 64 * 9
    r0 = evaluate(toy.replace(op_overhead_s=0.0), small)
    r1 = evaluate(curved, small)
    assert r1.op_compute_s[0, 0] == pytest.approx(r0.op_compute_s[0, 0] * (k + 64) / k)
    g = table_from_ops([gemm("g", 64, 64, 64, dtype="fp16")])
    assert evaluate(curved, g).op_compute_s[0, 0] == pytest.approx(
        evaluate(toy.replace(op_overhead_s=0.0), g).op_compute_s[0, 0])


def test_per_unit_bandwidth_caps_few_cores(toy):
    # DRAM 100 GB/s, but one vec unit may draw at most 4 GB/s: with 10 units the cap is 40 GB/s,
    # with 100 units the level's own 100 GB/s binds again.
    from models.hardware import with_overrides

    t = with_overrides(toy.replace(op_overhead_s=0.0), {"memories.dram.per_unit_bandwidth": 4e9})
    tab = table_from_ops([elementwise("e", 1e8, dtype="fp32", n_inputs=2)])
    nbytes = 3 * 1e8 * 4
    assert evaluate(t, tab).latency_s[0] == pytest.approx(nbytes / 40e9)
    r = evaluate(compile_target(t, {"engines.vec.n_units": np.array([1.0, 10.0, 100.0])}), tab)
    np.testing.assert_allclose(r.op_memory_s[:, 0], [nbytes / 4e9, nbytes / 40e9, nbytes / 100e9])


def test_time_ties_go_to_the_least_energy_engine(toy):
    # A memory-bound GEMV takes the same time on both engines (same path, same overhead); make
    # the later engine (vec) the frugal one: it must win although mat computes faster.
    from models.hardware import with_overrides

    t = with_overrides(toy, {"engines.vec.energy_per_op.fp32": 0.1e-12})
    tab = table_from_ops([gemm("v", 1, 4096, 4096, dtype="fp16", kind="gemv")])
    r = evaluate(t, tab)
    b = r.breakdown()
    assert b["bound"][0] == "dram"
    assert b["engine"][0] == "vec"
    e_mat = evaluate(t, tab, engine="mat")
    assert r.latency_s[0] == pytest.approx(e_mat.latency_s[0])
    assert r.energy_J[0] < e_mat.energy_J[0]
    # with the default energies mat is both faster in compute and frugal: it wins
    assert evaluate(toy, tab).breakdown()["engine"][0] == "mat"



def test_kv_cache_write_lands_in_the_level_holding_the_cache():
    # decode of Llama-2-7B on h100-sxm, ideal roofline: the KV write of one token is a few kB
    # that would fit the shared memory, but it goes into the cache, which lives in HBM with the
    # weights, so its memory time is its bytes over the HBM bandwidth
    import polars as pl

    from models.hardware import get_target
    from models.workloads import build_workload

    t = get_target("h100-sxm")
    tab = build_workload("llama-2-7b", phase="decode", batch=1, prompt_len=512, n_generated=1)
    row = evaluate(t, tab, mode="ideal").breakdown().filter(pl.col("name") == "kv_write")
    assert row["bound"].to_list() == ["hbm"]
    kv_B = 2 * 4096 * 2  # K and V of one token (bf16), per layer
    assert row["bytes_B"][0] == 2 * kv_B  # read from the projection outputs, written to the cache
    assert row["memory_s"][0] == pytest.approx(2 * kv_B / t.memory("hbm").bandwidth_B_per_s, rel=1e-12)
