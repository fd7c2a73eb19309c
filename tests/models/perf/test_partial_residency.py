"""Partial residency: a working set ``F`` larger than a level's capacity ``C`` is served for the
fraction ``C / F`` of its traffic by that level and for the rest by the next one out
(``models/perf/kernel.py``, ``_home``), instead of all of it by the next level.

Every expected value below is computed by hand from the round numbers of the toy target.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from models.hardware import parse_target, with_overrides
from models.perf import compile_target, evaluate
from models.perf.kernel import RESIDENCY_CUTOFF
from models.workloads import elementwise, table_from_ops
from tests.models._toy import toy_target

# One vector engine, a 1 MB SRAM at 1 TB/s (1 pJ/B) over an 8 GB DRAM at 100 GB/s (10 pJ/B),
# every efficiency 1, no overhead, no stall power: a memory-bound operator's time is exactly
# bytes x the blended 1 / bandwidth.
TOY = toy_target("toyres")

# an fp32 elementwise op over 250k elements, one input + one output: 2 MB moved, footprint 2 MB,
# 250k FLOP (0.25 us at 1 TFLOP/s: memory-bound at either level)
N = 250_000
BYTES = 2e6
FLOP = float(N)
TABLE = table_from_ops([elementwise("e", N, dtype="fp32", n_inputs=1)])
# the memory part of the dynamic energy (J) at each capacity: what is left after the ops' 1 pJ each
E_OP = FLOP * 1e-12


@pytest.fixture(scope="module")
def toy():
    return parse_target(tomllib.loads(TOY))


def _memory_energy(r) -> np.ndarray:
    return np.asarray(r.dynamic_energy_J) - E_OP


def test_two_mb_over_one_mb_is_half_at_each_level(toy):
    r = evaluate(toy, TABLE, detail=True)
    # hand: f = 1 MB / 2 MB = 0.5; t_m = 2e6 B x (0.5 / 1e12 + 0.5 / 1e11) = 1 us + 10 us = 11 us
    assert r.op_memory_s[0, 0] == pytest.approx(1.1e-5, rel=1e-12)
    assert r.latency_s[0] == pytest.approx(1.1e-5, rel=1e-12)
    # hand: the DRAM half crosses the SRAM too: 0.5 x 1 + 0.5 x (1 + 10) = 6 pJ/B -> 12 uJ
    assert _memory_energy(r)[0] == pytest.approx(1.2e-5, rel=1e-9)
    # the home (and the bound) is the outer level while any part streams from it
    assert r.breakdown()["bound"].to_list() == ["dram"]


def test_fits_and_far_above_are_all_or_nothing(toy):
    caps = np.array([2e6, 4e6, 2e6 * RESIDENCY_CUTOFF, 1e3])
    r = evaluate(compile_target(toy, {"memories.sram.capacity": caps}), TABLE, detail=True)
    # hand: F <= C -> all 2 MB at 1 TB/s (2 us, 1 pJ/B); C / F <= cutoff -> all at DRAM (20 us, 11 pJ/B)
    np.testing.assert_allclose(r.op_memory_s[:, 0], [2e-6, 2e-6, 2e-5, 2e-5], rtol=1e-12)
    np.testing.assert_allclose(_memory_energy(r), [2e-6, 2e-6, 2.2e-5, 2.2e-5], rtol=1e-9)


def test_continuous_in_capacity_at_the_footprint(toy):
    # no jump when the capacity crosses F = 2 MB: one byte below, exactly, one byte above
    caps = np.array([BYTES - 1.0, BYTES, BYTES + 1.0])
    r = evaluate(compile_target(toy, {"memories.sram.capacity": caps}), TABLE, detail=True)
    t = r.op_memory_s[:, 0]
    e = _memory_energy(r)
    # one byte of 2e6 moves 1e-6 of the traffic: a change of ~1e-6 x (20 - 2) us, not 18 us
    assert abs(t[0] - t[1]) < 1e-5 * t[1]
    assert abs(e[0] - e[1]) < 1e-5 * e[1]
    assert t[1] == t[2] and e[1] == e[2]


def test_continuous_at_the_cutoff(toy):
    # the cut-off ramps in: no jump where C / F crosses RESIDENCY_CUTOFF or twice it
    for x in (RESIDENCY_CUTOFF, 2 * RESIDENCY_CUTOFF):
        caps = BYTES * x * np.array([1 - 1e-9, 1.0, 1 + 1e-9])
        r = evaluate(compile_target(toy, {"memories.sram.capacity": caps}), TABLE)
        t = r.latency_s
        assert np.ptp(t) < 1e-6 * t.max()


def test_monotone_in_capacity(toy):
    # more SRAM never costs more time or energy (sweep from 1 kB to 4 MB, both sides of F)
    caps = np.geomspace(1e3, 4e6, 400)
    r = evaluate(compile_target(toy, {"memories.sram.capacity": caps}), TABLE)
    assert np.all(np.diff(r.latency_s) <= 1e-18)
    assert np.all(np.diff(r.energy_J) <= 1e-18)
    assert np.all(np.diff(r.dynamic_energy_J) <= 1e-18)
    # and strictly better somewhere in between: no cliff, a slope
    assert r.latency_s[0] > r.latency_s[-1]


def test_sweep_equals_point_by_point(toy):
    # the vectorised capacity sweep and one evaluation per capacity agree (one path)
    caps = np.array([1e3, 3e4, 5e5, 1e6, 1.999e6, 2e6, 3e6])
    swept = evaluate(compile_target(toy, {"memories.sram.capacity": caps}), TABLE)
    for i, c in enumerate(caps):
        one = evaluate(with_overrides(toy, {"memories.sram.capacity": float(c)}), TABLE)
        assert swept.latency_s[i] == pytest.approx(float(one.latency_s[0]), rel=1e-12)
        assert swept.energy_J[i] == pytest.approx(float(one.energy_J[0]), rel=1e-12)


def test_footprint_sweep_with_a_known_range_matches_the_general_path(toy):
    # a workload-axis sweep of the footprint (the homed-by-range fast path) gives the hand values
    n = np.array([1e5, 2.5e5, 5e5, 1e7])  # F = 0.8, 2, 4, 80 MB
    tab = table_from_ops([elementwise("e", n, dtype="fp32", n_inputs=1)])
    r = evaluate(toy, tab, detail=True)
    f_bytes = 8 * n
    # hand: fits (1), 1/2, 1/4, and 1/80 = 0.0125 on the cut-off ramp: 2 x (0.0125 - 0.01) = 0.005
    frac = np.array([1.0, 0.5, 0.25, 0.005])
    expect = f_bytes * (frac / 1e12 + (1 - frac) / 1e11)
    np.testing.assert_allclose(r.op_memory_s[..., 0].reshape(-1), expect, rtol=1e-12)
