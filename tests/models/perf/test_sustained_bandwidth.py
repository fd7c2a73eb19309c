"""The shared (core-complex) bandwidth limit: n active cores draw
``min(bandwidth x efficiency, n x per_unit_bandwidth, sustained_bandwidth)`` from a level.

Every expected value below is computed by hand from the round numbers of the toy target.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from models.hardware import get_target, parse_target, with_overrides
from models.perf import compile_target, evaluate
from models.perf.point import evaluate_point
from models.point import build_point
from models.workloads import elementwise, table_from_ops, workload_spec
from tests.models._toy import toy_target

# One vector engine of up to 8 cores over a 100 GB/s DRAM (efficiency 1): one core draws at
# most 4 GB/s, the whole complex sustains 22 GB/s. No overhead, so a memory-bound operator's
# time is exactly bytes / drawn bandwidth.
TOY_CPU = toy_target("toycpu", n_units=8, sram=False, dram_extra=(
    'per_unit_bandwidth = { value = 4, unit = "GB/s", source = "test: one core" }\n'
    'sustained_bandwidth = { value = 22, unit = "GB/s", source = "test: the complex" }\n'))

# an elementwise op over 1e8 fp32 elements, 2 inputs + 1 output: 1.2e9 bytes, 1e8 FLOP (the
# 8 cores at 1000 FLOP/cycle compute it in 12.5 us, far below any memory time here)
N_BYTES = 3 * 1e8 * 4
TABLE = table_from_ops([elementwise("e", 1e8, dtype="fp32", n_inputs=2)])


@pytest.fixture(scope="module")
def toy():
    return parse_target(tomllib.loads(TOY_CPU))


def test_drawn_bandwidth_is_min_of_n_per_core_and_sustained(toy):
    n = np.array([1.0, 2.0, 4.0, 5.0, 6.0, 8.0, 64.0])
    # hand: min(100, 4 n, 22) GB/s
    drawn = np.array([4.0, 8.0, 16.0, 20.0, 22.0, 22.0, 22.0]) * 1e9
    ct = compile_target(toy, {"engines.simd.n_units": n})
    np.testing.assert_allclose(ct.unit_cap_B_per_s[:, 0, 0], drawn)
    r = evaluate(ct, TABLE)
    np.testing.assert_allclose(r.op_memory_s[:, 0], N_BYTES / drawn)
    assert set(r.breakdown()["bound"].to_list()) == {"dram"}


def test_sustained_alone_caps_every_core_count(toy):
    # no per-core figure: the complex's 22 GB/s binds for any n; with a sustained figure above the
    # level's own 100 GB/s the level binds instead
    t = toy.replace(memories=tuple(m.__class__(**{**m.__dict__, "per_unit_bandwidth_B_per_s": None})
                                   for m in toy.memories))
    r = evaluate(compile_target(t, {"engines.simd.n_units": np.array([1.0, 8.0])}), TABLE)
    np.testing.assert_allclose(r.op_memory_s[:, 0], [N_BYTES / 22e9, N_BYTES / 22e9])
    r2 = evaluate(compile_target(t, {"memories.dram.sustained_bandwidth": np.array([22e9, 500e9])}), TABLE)
    np.testing.assert_allclose(r2.op_memory_s[:, 0], [N_BYTES / 22e9, N_BYTES / 100e9])


def test_level_efficiency_still_binds_below_the_sustained_figure(toy):
    # DRAM efficiency 0.1 -> 10 GB/s: below min(8 x 4, 22) = 22, so the level binds
    t = with_overrides(toy, {"memories.dram.efficiency": 0.1})
    assert evaluate(t, TABLE).op_memory_s[0, 0] == pytest.approx(N_BYTES / 10e9)


def test_sweeping_the_sustained_field_equals_one_point_at_a_time(toy):
    # the sweep path (array override) and the scalar path (with_overrides) give the same numbers
    values = np.array([5e9, 12e9, 22e9, 31e9, 1e12])
    swept = evaluate(compile_target(toy, {"memories.dram.sustained_bandwidth": values}), TABLE)
    one = [evaluate(with_overrides(toy, {"memories.dram.sustained_bandwidth": float(v)}), TABLE).latency_s[0]
           for v in values]
    np.testing.assert_allclose(swept.latency_s, one, rtol=1e-12)
    # hand: min(32, v) GB/s with 8 cores at 4 GB/s each
    np.testing.assert_allclose(swept.op_memory_s[:, 0], N_BYTES / np.minimum(32e9, values))


def test_adding_the_field_to_a_level_without_it(toy):
    # --set target.memories.<m>.sustained_bandwidth works on a level that had none
    t = toy.replace(memories=tuple(m.__class__(**{**m.__dict__, "sustained_bandwidth_B_per_s": None})
                                   for m in toy.memories))
    assert "memories.dram.sustained_bandwidth" not in t.numeric_fields()
    assert evaluate(t, TABLE).op_memory_s[0, 0] == pytest.approx(N_BYTES / 32e9)
    t2 = with_overrides(t, {"memories.dram.sustained_bandwidth": 10e9})
    assert evaluate(t2, TABLE).op_memory_s[0, 0] == pytest.approx(N_BYTES / 10e9)
    assert evaluate(compile_target(t, {"memories.dram.sustained_bandwidth": 10e9}), TABLE).op_memory_s[0, 0] \
        == pytest.approx(N_BYTES / 10e9)


# ---------------------------------------------------------------- a decode sweep on a preset

DECODE = {"phase": "decode", "batch": 1, "prompt_len": 0, "n_generated": 8, "act_dtype": "fp32",
          "weight_format": "int4-g32", "gemm_strategy": "dequant", "gemm_act_format": "int8"}


def test_pi5_decode_weight_traffic_is_fastest_at_the_complex_peak():
    # raspberry-pi-5 DRAM: one core 9.26 GB/s, the complex at most 13.23 GB/s (2 threads) and
    # 11.59 GB/s with all 4 (llama.cpp #26484), the level 17.07 x 0.8 = 13.656 GB/s. Drawn:
    # 1 core 9.26; past the knee 13.23 / 9.26 = 1.43 cores the shared limit falls linearly to
    # 11.59 at 4 (contended_bandwidth / contended_units). A weight GEMV streams from DRAM, so its
    # memory time is its bytes over that.
    t = get_target("raspberry-pi-5")
    dram = t.memory("lpddr4x")
    assert dram.per_unit_bandwidth_B_per_s == pytest.approx(9.26e9)
    assert dram.sustained_bandwidth_B_per_s == pytest.approx(13.23e9)
    built = build_point(workload_spec("llama-2-7b"), DECODE, target=t)
    n = np.array([1.0, 2.0, 3.0, 4.0])
    r = evaluate(compile_target(t, {"engines.simd.n_units": n}), built.table)
    shape = r.op_memory_s.shape  # (points, operators)
    nbytes = np.broadcast_to(r.op_bytes_B, shape)
    count = np.broadcast_to(r.op_count, shape)
    j = r.op_meta["name"].to_list().index("gate_proj")
    knee = 13.23 / 9.26
    drawn = np.array([9.26e9, *(13.23e9 - 1.64e9 * (k - knee) / (4 - knee) for k in (2.0, 3.0, 4.0))])
    np.testing.assert_allclose(r.op_memory_s[:, j], nbytes[:, j] / drawn, rtol=1e-12)
    # the weight GEMVs are fastest on 2 cores and slower on 3 and 4, where without the shared limit
    # they would keep getting faster up to the level's 13.656 GB/s
    gemv = [i for i, k in enumerate(r.op_meta["kind"].to_list()) if k in ("gemv", "gemm")]
    t_gemv = (r.op_latency_s[:, gemv] * count[:, gemv]).sum(axis=1)
    assert t_gemv[0] > 1.3 * t_gemv[1] and t_gemv[1] < t_gemv[2] < t_gemv[3]
    unlimited = evaluate(compile_target(with_overrides(t, {"memories.lpddr4x.sustained_bandwidth": 1e15,
                                                           "memories.lpddr4x.contended_bandwidth": 1e15,
                                                           "memories.lpddr4x.contended_units": 1e6}),
                                        {"engines.simd.n_units": n}), built.table)
    assert unlimited.op_memory_s[1, j] == pytest.approx(nbytes[1, j] / 13.656e9, rel=1e-3)
    # the sweep equals evaluate_point per point
    for i, k in enumerate(n):
        one = evaluate_point(t, "llama-2-7b", DECODE, overrides={"engines.simd.n_units": float(k)}, detail=False)
        assert one.perf.latency_s[0] == pytest.approx(r.latency_s[i], rel=1e-12)


def test_m2_ultra_eight_cores_hit_the_complex_limit():
    # m2-ultra-cpu DRAM: 800 x 0.8 = 640 GB/s, one P-core 102.36 GB/s, the CPU complex 311 GB/s
    # (chsasank/device-benchmarks): 1 core 102.36, 2 cores 204.72, 4 cores min(409.44, 311) = 311
    t = get_target("m2-ultra-cpu")
    ct = compile_target(t, {"engines.pcores.n_units": np.array([1.0, 2.0, 4.0, 8.0])})
    li = ct.level_names.index("lpddr5")
    ei = ct.engine_names.index("pcores")
    np.testing.assert_allclose(ct.unit_cap_B_per_s[:, ei, li], [102.36e9, 204.72e9, 311e9, 311e9])
