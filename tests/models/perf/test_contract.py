"""Contract suite: physics every preset must obey, checked with hypothesis over random operators.

- time is never below the compute bound nor the memory bound of the engine and level used;
- time never increases when bandwidth or peak grows;
- energy = power x time at steady state (repeating an operator scales both alike, and the
  static part is exactly static power x time);
- results are finite and non-negative;
- a datatype the engine lacks falls back explicitly (reported), never silently.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.hardware import DTYPES, available_targets, get_target
from models.perf import compile_target, evaluate
from models.workloads import elementwise, gemm, gemv, table_from_ops

ALL = available_targets()
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dims = st.integers(min_value=1, max_value=1 << 14)


def ops_for(t, m, n, k, elems):
    dt = t.native_dtypes()
    d0 = dt[len(dt) // 2]
    return table_from_ops([
        gemm("gemm", m, n, k, dtype=d0),
        gemv("gemv", n, k, dtype=d0),
        elementwise("add", elems, dtype=dt[0], n_inputs=2),
    ])


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(m=dims, n=dims, k=dims, elems=st.integers(1, 1 << 24))
def test_time_never_below_either_bound(name, m, n, k, elems):
    t = get_target(name)
    tab = ops_for(t, m, n, k, elems)
    r = evaluate(t, tab)
    lat, tc, tm = r.op_latency_s[0], r.op_compute_s[0], r.op_memory_s[0]
    assert np.all(np.isfinite(lat)) and np.all(lat >= 0)
    assert np.all(np.isfinite(r.op_energy_J)) and np.all(r.op_energy_J >= 0)
    # bounds recomputed here from the target object, not taken from the model
    for j in range(tab.n_ops):
        eng = t.engines[r.op_engine[0, j]]
        dtype = DTYPES[r.op_dtype[0, j]]
        peak = eng.peak_op_per_s(dtype, t.clock_Hz)
        assert lat[j] >= tab["flop"][0, j] / peak * (1 - 1e-12)
        fastest_bw = max(mm.bandwidth_B_per_s for mm in t.path_of(eng.name))
        assert lat[j] >= tab.bytes_B[0, j] / fastest_bw * (1 - 1e-12)
        assert lat[j] >= max(tc[j], tm[j]) * (1 - 1e-12)
    ideal = evaluate(t, tab, mode="ideal")
    assert np.all(r.op_latency_s >= ideal.op_latency_s * (1 - 1e-12))


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(m=dims, n=dims, k=dims, elems=st.integers(1, 1 << 24), factor=st.floats(1.0, 8.0))
def test_time_monotone_in_bandwidth_and_peak(name, m, n, k, elems, factor):
    t = get_target(name)
    tab = ops_for(t, m, n, k, elems)
    bw = {f"memories.{mm.name}.bandwidth": np.array([mm.bandwidth_B_per_s, mm.bandwidth_B_per_s * factor])
          for mm in t.memories}
    r = evaluate(compile_target(t, bw), tab)
    assert r.latency_s[1] <= r.latency_s[0] * (1 + 1e-12)
    # unit counts are whole numbers (the declaration refuses 0.5 units): round the larger one up
    units = {f"engines.{e.name}.n_units": np.array([e.n_units, np.ceil(e.n_units * factor)]) for e in t.engines}
    r = evaluate(compile_target(t, units), tab)
    assert r.latency_s[1] <= r.latency_s[0] * (1 + 1e-12)


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(m=dims, n=dims, k=dims, elems=st.integers(1, 1 << 24), reps=st.integers(2, 1000))
def test_energy_is_power_times_time(name, m, n, k, elems, reps):
    t = get_target(name)
    one = ops_for(t, m, n, k, elems)
    many = one.with_arrays(count=one["count"] * reps)
    r1, rn = evaluate(t, one), evaluate(t, many)
    assert rn.latency_s[0] == pytest.approx(reps * r1.latency_s[0], rel=1e-9)
    assert rn.energy_J[0] == pytest.approx(reps * r1.energy_J[0], rel=1e-9)
    # same average power at steady state, and the static part is static power x time
    assert rn.average_power_W[0] == pytest.approx(r1.average_power_W[0], rel=1e-9)
    assert rn.static_energy_J[0] == pytest.approx(t.static_power_W * rn.latency_s[0], rel=1e-12)
    assert rn.energy_J[0] == pytest.approx(rn.dynamic_energy_J[0] + rn.static_energy_J[0]
                                           + rn.stalled_energy_J[0], rel=1e-12)
    # the stalled part is stall power x (time the engines do not compute): within [0, stall x time]
    stall = t.stall_power_W or 0.0
    assert -1e-15 <= rn.stalled_energy_J[0] <= stall * rn.latency_s[0] * (1 + 1e-12) + 1e-300


@pytest.mark.parametrize("name", ALL)
def test_large_gemm_power_is_plausible(name):
    """A compute-bound GEMM in the fastest datatype draws more than static power and not
    much more than TDP: guards the energy-per-op figures of every preset."""
    t = get_target(name)
    best = max(t.native_dtypes(), key=lambda d: t.peak_op_per_s(d))
    size = 8192 if t.target_class in ("gpu", "npu", "pim") else 1024
    r = evaluate(t, table_from_ops([gemm("big", size, size, size, dtype=best)]))
    p = r.average_power_W[0]
    assert t.static_power_W < p <= 1.3 * t.tdp_W, (name, best, p, t.tdp_W)


@pytest.mark.parametrize("name", ALL)
def test_missing_datatype_falls_back_visibly(name):
    t = get_target(name)
    have = set(t.native_dtypes())
    lacking = [d for d in ("int4", "fp8", "int2", "fp4", "int1") if d not in have]
    if not lacking:
        pytest.skip(f"{name} runs every narrow datatype natively")
    d = lacking[0]
    r = evaluate(t, table_from_ops([gemm("g", 512, 512, 512, dtype=d)]))
    b = r.breakdown()
    assert b["fallback"][0] is True
    used = b["compute_dtype"][0]
    assert used != d
    # the time is that of the datatype it really ran in, on the same engine
    r2 = evaluate(t, table_from_ops([gemm("g", 512, 512, 512, dtype=used)]), engine=b["engine"][0])
    assert r.op_compute_s[0, 0] == pytest.approx(r2.op_compute_s[0, 0], rel=1e-12)
