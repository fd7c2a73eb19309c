"""A shared memory limit that falls when more units stream (``contended_bandwidth`` /
``contended_units`` of a memory level, docs/models.md "CPU DRAM bandwidth: per core and shared"):
the limit by hand, the caps of the compiled target, a decode that streams faster on 2 cores of a
Raspberry Pi 5 than on 4, the sweep order against one point at a time, and the file rules.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.hardware import TargetFileError, get_target, parse_target, target_to_toml, with_overrides
from models.hardware.factors import factor_rows
from models.perf import compile_target, evaluate
from models.perf.compiled import shared_limit
from models.workloads import gemv, table_from_ops
from tests.models._toy import toy_target

GB = 1e9
# The kernel tests' toy (tests/models/_toy.py) without its SRAM: 8 cores over a 100 GB/s DRAM that
# one core draws 10 GB/s of, the complex at most 30 GB/s and all 8 cores 20 GB/s together
TOY = toy_target("toy", sram=False, n_units=8, dram_extra="""
per_unit_bandwidth = { value = 10, unit = "GB/s", source = "test: one core" }
sustained_bandwidth = { value = 30, unit = "GB/s", source = "test: best over thread counts" }
contended_bandwidth = { value = 20, unit = "GB/s", source = "test: all 8 cores" }
contended_units = { value = 8, source = "test" }
""")
# knee: 30 / 10 = 3 units; the limit falls by 10 GB/s over the 5 units from 3 to 8: 2 GB/s per unit


def _toy(text: str = TOY):
    return parse_target(tomllib.loads(text), file="toy.toml")


def _without(*keys: str) -> str:
    return "\n".join(line for line in TOY.splitlines() if not line.startswith(keys))


def test_the_shared_limit_by_hand():
    n = np.array([1.0, 2.0, 3.0, 4.0, 5.5, 8.0, 16.0])
    got = shared_limit(n, 10 * GB, 30 * GB, 20 * GB, 8.0)
    np.testing.assert_allclose(got / GB, [30, 30, 30, 28, 25, 20, 20], rtol=1e-12)


def test_the_compiled_caps_over_thread_counts():
    n = np.array([1.0, 2.0, 3.0, 4.0, 6.0, 8.0])
    ct = compile_target(_toy(), {"engines.simd.n_units": n})
    caps = ct.unit_cap_B_per_s[:, 0, 0] / GB
    # min(100 x 1, n x 10, limit(n)): the per-core term binds to 3 cores, the falling limit after
    np.testing.assert_allclose(caps, [10, 20, 30, 28, 24, 20], rtol=1e-12)
    # without the fields the limit stays at 30 GB/s
    plain = compile_target(_toy(_without("contended_")), {"engines.simd.n_units": n})
    np.testing.assert_allclose(plain.unit_cap_B_per_s[:, 0, 0] / GB, [10, 20, 30, 30, 30, 30], rtol=1e-12)


def test_a_memory_bound_decode_on_a_pi_5_streams_fastest_on_two_cores():
    pi = get_target("raspberry-pi-5")
    lp = next(m for m in pi.memories if m.name == "lpddr4x")
    assert (lp.contended_bandwidth_B_per_s, lp.contended_units) == (11.59 * GB, 4.0)
    n = np.array([1.0, 2.0, 3.0, 4.0])
    ct = compile_target(pi, {"engines.simd.n_units": n})
    li = ct.level_names.index("lpddr4x")
    knee = 13.23 / 9.26
    want = [9.26, 13.23 - 1.64 * (2 - knee) / (4 - knee), 13.23 - 1.64 * (3 - knee) / (4 - knee), 11.59]
    np.testing.assert_allclose(ct.unit_cap_B_per_s[:, 0, li] / GB, want, rtol=1e-9)
    # a 64 MiB fp32 GEMV, DRAM-bound on any thread count: fastest on two cores, slower on four
    tab = table_from_ops([gemv("proj", 4096, 4096, dtype="fp32")])
    t = evaluate(pi, tab, overrides={"engines.simd.n_units": n}, engine="simd").latency_s
    assert np.argmin(t) == 1 and t[3] > t[2] > t[1]
    plain = with_overrides(pi, {})  # the preset without the contended pair: four cores as fast as two
    plain = parse_target(tomllib.loads("\n".join(line for line in target_to_toml(plain).splitlines()
                                                  if not line.startswith("contended_"))), file="plain.toml")
    tp = evaluate(plain, tab, overrides={"engines.simd.n_units": n}, engine="simd").latency_s
    assert tp[3] == tp[2] == pytest.approx(tp[1], rel=0.05) and tp[3] < t[3]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=32), min_size=1, max_size=5),
       st.floats(min_value=5.0, max_value=29.0), st.floats(min_value=4.0, max_value=40.0))
def test_a_sweep_of_the_fields_prices_as_one_point_at_a_time(units, contended_gbs, contended_units):
    t = _toy()
    tab = table_from_ops([gemv("proj", 4096, 4096, dtype="fp32")])
    n = np.array(units, dtype=np.float64)
    c = np.full_like(n, contended_gbs * GB)
    nc = np.full_like(n, contended_units)
    ov = {"engines.simd.n_units": n, "memories.dram.contended_bandwidth": c, "memories.dram.contended_units": nc}
    swept = evaluate(t, tab, overrides=ov).latency_s
    for i in range(n.size):
        one = with_overrides(t, {"engines.simd.n_units": float(n[i]), "memories.dram.contended_bandwidth": float(c[i]),
                                 "memories.dram.contended_units": float(nc[i])})
        assert swept[i] == pytest.approx(evaluate(one, tab).latency_s[0], rel=1e-12)


def test_the_file_rules():
    t = _toy()
    back = parse_target(tomllib.loads(target_to_toml(t)), file="again.toml")
    m = back.memories[0]
    assert (m.contended_bandwidth_B_per_s, m.contended_units) == (20 * GB, 8.0)
    assert m.sources["contended_bandwidth"] == "test: all 8 cores"
    with pytest.raises(TargetFileError, match="contended_bandwidth and contended_units go together"):
        _toy(_without("contended_units"))
    with pytest.raises(TargetFileError, match="contended_bandwidth and contended_units go together"):
        _toy(_without("contended_bandwidth"))
    with pytest.raises(TargetFileError, match="needs per_unit_bandwidth"):
        _toy(_without("per_unit_bandwidth"))
    with pytest.raises(TargetFileError, match="needs sustained_bandwidth"):
        _toy(_without("sustained_bandwidth"))
    with pytest.raises(TargetFileError, match="must not exceed sustained_bandwidth"):
        _toy(TOY.replace("contended_bandwidth = { value = 20,", "contended_bandwidth = { value = 31,"))
    with pytest.raises(TargetFileError, match=r"contended_units.*must exceed .* = 3 units"):
        _toy(TOY.replace("contended_units = { value = 8,", "contended_units = { value = 3,"))
    # an override is checked by the same rules
    with pytest.raises(TargetFileError, match="must not exceed sustained_bandwidth"):
        with_overrides(t, {"memories.dram.contended_bandwidth": 40 * GB})
    # and may add the pair to a level that has the limits it refines
    added = with_overrides(_toy(_without("contended_")), {"memories.dram.contended_bandwidth": 20 * GB,
                                                          "memories.dram.contended_units": 8.0})
    assert added.memories[0].contended_units == 8.0


def test_listed_with_the_preset_factors():
    rows = {(tgt, path) for tgt, path, _, _ in factor_rows()}
    assert ("raspberry-pi-5", "memories.lpddr4x.contended_bandwidth") in rows
