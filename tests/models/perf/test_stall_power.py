"""The stalled-power state: hand-computed toy cases, monotonicity, sweeps and bad values.

Energy of one operator = dynamic (ops x J/op + bytes x J/B) + static x t + stall x (t - t_c),
``t_c`` the compute time of the engine that runs it (docs/models.md, "Stalled power").
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.hardware import TargetFileError, parse_target, with_overrides
from models.perf import compile_target, evaluate
from models.workloads import elementwise, gemm, table_from_ops

# One vector engine of 1e12 op/s (10 units x 100 op/clk x 1 GHz, efficiency 1) reading one DRAM
# of 100 GB/s; 1 us per operator; static 2 W, stall 3 W, TDP 10 W. Round numbers.
TOY = """
name = "toy-stall"
display_name = "Toy"
class = "npu"
description = "test"
overlap = "max"
clock = { value = 1, unit = "GHz", source = "test" }
tdp = { value = 10, unit = "W", source = "test" }
static_power = { value = 2, unit = "W", source = "test" }
stall_power = { value = 3, unit = "W", source = "test" }
process_node = { value = 7, unit = "nm", source = "test" }
op_overhead = { value = 1, unit = "us", source = "test" }

[[engines]]
name = "vec"
kind = "vector"
n_units = { value = 10, source = "test" }
efficiency = { value = 1.0, source = "test" }
ops_per_cycle = { fp32 = { value = 100, source = "test" } }
energy_per_op = { fp32 = { value = 10, unit = "pJ/op", source = "test" } }

[[memories]]
name = "dram"
kind = "dram"
read_by = ["vec"]
capacity = { value = 8, unit = "GB", source = "test" }
bandwidth = { value = 100, unit = "GB/s", source = "test" }
energy_per_byte = { value = 10, unit = "pJ/B", source = "test" }
"""


def _toy(text: str = TOY):
    return parse_target(tomllib.loads(text), file="toy-stall.toml")


def _no_stall():
    return _toy("\n".join(line for line in TOY.splitlines() if not line.startswith("stall_power")))


# elementwise fp32 add of 1e6 elements: 1e6 op, 3 x 1e6 x 4 B = 12 MB
ADD = table_from_ops([elementwise("add", 1e6, dtype="fp32", n_inputs=2)])
T_C = 1e6 / 1e12  # 1 us compute
T_M = 12e6 / 1e11  # 120 us from DRAM: memory-bound
T = T_M + 1e-6  # + 1 us overhead = 121 us
DYN = 1e6 * 10e-12 + 12e6 * 10e-12  # 10 uJ of ops + 120 uJ of bytes = 130 uJ


def test_memory_bound_op_by_hand():
    r = evaluate(_toy(), ADD)
    assert r.latency_s[0] == pytest.approx(T)
    # stalled for t - t_c = 121 - 1 = 120 us at 3 W = 360 uJ; static 2 W x 121 us = 242 uJ
    assert r.stalled_energy_J[0] == pytest.approx(3.0 * (T - T_C))
    assert r.dynamic_energy_J[0] == pytest.approx(DYN)
    assert r.static_energy_J[0] == pytest.approx(2.0 * T)
    assert r.energy_J[0] == pytest.approx(DYN + 2.0 * T + 3.0 * (T - T_C))  # 732 uJ
    assert r.energy_J[0] == pytest.approx(732e-6)
    # the per-operator energy carries the stalled term too
    assert r.op_energy_J[0, 0] == pytest.approx(r.energy_J[0])


def test_without_the_field_energy_is_todays_formula():
    r = evaluate(_no_stall(), ADD)
    assert r.energy_J[0] == pytest.approx(DYN + 2.0 * T)  # 372 uJ, no stalled term
    assert float(np.max(r.stalled_energy_J)) == 0.0
    assert compile_target(_no_stall()).stall_power_W is None
    # a stall power of 0 W prices exactly as no field
    r0 = evaluate(_toy(), ADD, overrides={"stall_power": 0.0})
    assert r0.energy_J[0] == r.energy_J[0]


def test_compute_bound_op_is_stalled_only_for_its_overhead():
    # 1024^3 fp32 GEMM: 2.147e9 op at 1e12 op/s = 2.147 ms; bytes 3 x 1024^2 x 4 = 12.6 MB at 100 GB/s
    # = 126 us: compute-bound, so the engine waits only during the 1 us overhead
    r = evaluate(_toy(), table_from_ops([gemm("g", 1024, 1024, 1024, dtype="fp32")]))
    assert r.stalled_energy_J[0] == pytest.approx(3.0 * 1e-6)


def test_sum_overlap_stalls_for_all_the_memory_time():
    r = evaluate(_toy(TOY.replace('overlap = "max"', 'overlap = "sum"')), ADD)
    # t = t_c + t_m + overhead; the engine does not compute for t_m + overhead = 121 us
    assert r.latency_s[0] == pytest.approx(T_C + T_M + 1e-6)
    assert r.stalled_energy_J[0] == pytest.approx(3.0 * (T_M + 1e-6))


@pytest.mark.parametrize("field", ["stall_power", "static_power", "engines.vec.energy_per_op.fp32",
                                   "memories.dram.energy_per_byte"])
def test_energy_is_monotone_in_every_energy_coefficient(field):
    base = _toy().numeric_fields()[field][0]
    values = np.array([0.0, 0.5, 1.0, 1.5]) * base + (0.0 if field != "engines.vec.energy_per_op.fp32" else 1e-15)
    r = evaluate(_toy(), ADD, overrides={field: values})
    assert np.all(np.diff(r.energy_J) > 0)


def test_sweep_equals_point_by_point():
    stalls = np.array([0.0, 1.0, 3.0, 5.0])
    bws = np.array([50e9, 100e9, 200e9, 400e9])
    swept = evaluate(_toy(), ADD, overrides={"stall_power": stalls, "memories.dram.bandwidth": bws})
    for i, (s, b) in enumerate(zip(stalls, bws, strict=True)):
        one = evaluate(with_overrides(_toy(), {"stall_power": s, "memories.dram.bandwidth": b}), ADD)
        assert swept.energy_J[i] == pytest.approx(one.energy_J[0], rel=1e-12)
        assert swept.stalled_energy_J[i] == pytest.approx(one.stalled_energy_J[0], rel=1e-12)


def test_a_target_without_the_field_takes_it_as_an_override():
    r = evaluate(_no_stall(), ADD, overrides={"stall_power": np.array([0.0, 3.0])})
    assert r.energy_J[1] - r.energy_J[0] == pytest.approx(3.0 * (T - T_C))


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bad_stall_power_is_refused(value):
    with pytest.raises(ValueError, match="stall_power"):
        compile_target(_toy(), {"stall_power": value})
    with pytest.raises(TargetFileError, match="stall_power"):
        _toy(TOY.replace("stall_power = { value = 3,", f"stall_power = {{ value = {value},"))


def test_static_plus_stall_must_fit_the_tdp():
    with pytest.raises(TargetFileError, match="stall_power"):
        _toy(TOY.replace("stall_power = { value = 3,", "stall_power = { value = 9,"))
    with pytest.raises(TargetFileError, match="stall_power"):
        with_overrides(_toy(), {"stall_power": 8.5})


def test_the_field_is_declared_and_listed_with_its_source():
    f = _toy().numeric_fields()["stall_power"]
    assert f[0] == 3.0 and f[1].unit == "W" and f[2] == "test"
    assert "stall_power" not in _no_stall().numeric_fields()


def _route(engine: int, op_per_s: float, J_per_op: float):  # type: ignore[no-untyped-def]
    from models.perf.kernel import Path, Route

    path = Path.build([0], [np.array([1e11])], [np.zeros(1)], [np.array([np.inf])])
    return Route(engine=engine, inv_rate=np.array([1.0 / op_per_s]), energy_per_op=np.array([J_per_op]),
                 half_k=None, path=path)


@pytest.mark.parametrize("policy", ["time", "energy"])
def test_a_tie_in_time_goes_to_the_least_dynamic_plus_stalled_energy(policy: str) -> None:
    # 1e6 FLOP, 1 MB (10 us at 100 GB/s) and 20 us of overhead on both engines: t = 30 us on each
    # (memory-bound). Engine 0 computes at 1e12 op/s (t_c = 1 us) for 2 pJ/op, engine 1 at 1e11 op/s
    # (t_c = 10 us) for 3 pJ/op. Dynamic: 2 uJ vs 3 uJ (+ 0 for bytes). With 1 W of stall power:
    # engine 0 stalls 29 us (29 uJ, 31 uJ in all), engine 1 stalls 20 us (20 uJ, 23 uJ in all), so
    # engine 1 wins the tie; without stall power engine 0 does.
    from models.perf.kernel import price

    routes = [_route(0, 1e12, 2e-12), _route(1, 1e11, 3e-12)]
    one = np.ones(1)
    kw = dict(overhead_s=np.array([20e-6]), static_W=np.zeros(1), sum_overlap=False, policy=policy, detail=True)
    with_stall = price(routes, 1e6 * one, 1e6 * one, one, one, one, stall_W=np.array([1.0]), **kw)
    assert with_stall.latency_s[0] == pytest.approx(30e-6)
    assert int(with_stall.engine[0]) == 1
    assert with_stall.energy_J[0] == pytest.approx(23e-6)
    assert with_stall.stall_energy_J[0] == pytest.approx(20e-6)
    without = price(routes, 1e6 * one, 1e6 * one, one, one, one, **kw)
    assert int(without.engine[0]) == 0 and without.energy_J[0] == pytest.approx(2e-6)
    # the totals path (detail off) gives the same numbers
    tot = price(routes, 1e6 * one, 1e6 * one, one, one, one, stall_W=np.array([1.0]),
                **{**kw, "detail": False})
    assert tot.energy_J[0] == pytest.approx(23e-6) and tot.stall_energy_J[0] == pytest.approx(20e-6)


# Totals (detail=False) sum the stalled energy per phase as stall x (sum t - sum t_c)
# (kernel.price defer_stall); per-operator detail prices stall x (t - t_c) operator by operator.
# Both must give the same totals on every stall-power preset, at random workload settings and
# hardware points, with every launch mode (the host wait is stalled too).
@settings(max_examples=40, deadline=None)
@given(target=st.sampled_from(["a100-80gb", "h100-sxm", "v100-sxm2", "raspberry-pi-5"]),
       workload=st.sampled_from(["llama-2-7b", "resnet-50", "gemm"]),
       seed=st.integers(0, 2**31 - 1),
       launch=st.sampled_from(["graph", "async", "eager", "serial"]))
def test_totals_equal_the_sum_of_per_operator_detail(target: str, workload: str, seed: int, launch: str) -> None:
    from models.perf import evaluate_point

    rng = np.random.default_rng(seed)
    n = 5
    knobs: dict[str, object] = {"launch_mode": launch, "target.clock": float(rng.uniform(0.5, 2.0)) * 1e9}
    if workload == "llama-2-7b":
        knobs |= {"batch": rng.integers(1, 64, n), "prompt_len": int(rng.integers(16, 2048)),
                     "n_generated": int(rng.integers(1, 64))}
    elif workload == "resnet-50":
        knobs |= {"batch": rng.integers(1, 64, n)}
    else:
        knobs |= {"m": rng.integers(1, 4096, n), "n": int(rng.integers(1, 8192)), "k": int(rng.integers(1, 8192))}
    a = evaluate_point(target, workload, knobs, detail=True).perf
    b = evaluate_point(target, workload, knobs, detail=False).perf
    assert np.all(b.stalled_energy_J > 0)
    for f in ("latency_s", "energy_J", "dynamic_energy_J", "stalled_energy_J"):
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=1e-12, err_msg=f)
