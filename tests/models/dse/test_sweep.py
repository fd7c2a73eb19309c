"""Bounded sweeps: grid sizes counted without building grids, the default point budget, grid
rows by index arithmetic, chunked seeded samples, CSV/Parquet streaming, and memory that does
not grow with the grid when nothing is kept."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.dse import DEFAULT_MAX_POINTS, SpaceError, parse_space, sample, sweep, sweep_chunks
from models.dse.space import MAX_N_GRID, Parameter
from models.dse.sweep import check_budget

ROOT = Path(__file__).resolve().parents[3]


def _space(params: list[dict], **over: object):
    d = {"name": "t", "target": "h100-sxm", "workload": "gemm", "parameters": params,
         "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}]}
    d.update(over)
    return parse_space(d)


BW = {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "bounds": [1, 8], "unit": "TB/s"}
CLOCK = {"name": "clock", "sets": "target.clock", "kind": "float", "bounds": [1.0, 2.0], "unit": "GHz"}


def huge():
    """10**12 points: two axes of a million values."""
    return _space([{**BW, "n_grid": 10**6}, {**CLOCK, "n_grid": 10**6}])


# ------------------------------------------------------------------------------ counting
@pytest.mark.parametrize(("kind", "low", "high", "n", "log"), [
    ("float", 1.0, 8.0, 7, False),
    ("int", 1.0, 8.0, 20, False),  # more grid points than integers: every integer once
    ("int", 1.5, 4.0, 20, False),  # fractional bounds: what np.arange(lo, hi + 1) holds
    ("int", 0.0, 1000.0, 7, False),  # fewer grid points than integers: all distinct
    ("int", 1.0, 65536.0, 40, True),  # a log grid: the small values merge when rounded
    ("int", 3.0, 123456789.0, (1 << 22) + 1, True),  # counted in closed form, checked against the grid
    ("int", 1.0, 10_000_000.0, 3_000_007, True),
    ("int", 1.0, 2_000_000.0, 5_000_000, True),
])
def test_n_values_is_the_length_of_the_grid(kind, low, high, n, log):
    p = Parameter(name="x", sets="workload.batch", kind=kind, low=low, high=high, n_grid=n, log=log)
    assert p.n_values == len(p.grid())


def test_grid_sizes_are_counted_without_building_the_grid():
    p = Parameter(name="x", sets="target.clock", kind="float", low=1.0, high=2.0, n_grid=MAX_N_GRID)
    t0 = time.perf_counter()
    assert p.n_values == MAX_N_GRID  # np.linspace of 1e9 values would take 8 GB and seconds
    assert time.perf_counter() - t0 < 1.0  # a generous "at once"
    s = huge()
    assert s.n_grid_points == 10**12 and isinstance(s.n_grid_points, int)
    # beyond int64 and float precision: an exact integer product
    s3 = _space([{**BW, "n_grid": MAX_N_GRID - 1}, {**CLOCK, "n_grid": MAX_N_GRID - 3},
                 {"name": "b", "sets": "workload.m", "kind": "int", "bounds": [1, 1 << 24], "log": False,
                  "n_grid": 999}])
    assert s3.n_grid_points == (MAX_N_GRID - 1) * (MAX_N_GRID - 3) * 999 > 2**63


def test_n_grid_above_the_cap_is_refused_by_name():
    with pytest.raises(SpaceError, match=r"n_grid = 1000000001; allowed: an integer from 1 to 1,000,000,000"):
        _space([{**BW, "n_grid": MAX_N_GRID + 1}])
    with pytest.raises(SpaceError, match="n_grid = an integer of more than 19 digits"):
        _space([{**BW, "n_grid": 10**400}])


def test_a_float_grid_on_a_whole_number_setting_is_refused():
    # 2.83 sequences used to fail half-way through the sweep
    with pytest.raises(SpaceError, match=r"knob 'm' takes whole numbers; give kind = \"int\""):
        _space([{"name": "b", "sets": "workload.m", "kind": "float", "bounds": [1, 8], "n_grid": 3}])
    with pytest.raises(SpaceError, match="n_units' takes whole numbers"):
        _space([{"name": "u", "sets": "target.engines.tensor.n_units", "kind": "float", "bounds": [1, 8]}])
    # explicit whole values are fine
    assert _space([{"name": "u", "sets": "target.engines.tensor.n_units", "kind": "float",
                    "values": [132, 264]}]).n_grid_points == 2


# ------------------------------------------------------------------------------ the budget
def test_a_10e12_point_space_is_refused_at_once_by_sweep_sweep_chunks_and_grid_frame():
    s = huge()
    for call in (lambda: sweep(s, progress=False), lambda: sweep_chunks(s), lambda: s.grid_frame()):
        t0 = time.perf_counter()
        with pytest.raises(SpaceError) as ei:
            call()
        # before: 7.4 GB allocated in 16-32 s until MemoryError; the issue asks for < 1 s
        assert time.perf_counter() - t0 < 2.0
        assert "1,000,000,000,000 points" in str(ei.value) and f"{DEFAULT_MAX_POINTS:,}" in str(ei.value)
    assert "--max-points" in str(pytest.raises(SpaceError, check_budget, s, DEFAULT_MAX_POINTS).value)


def test_the_budget_can_be_raised_lowered_or_lifted():
    s = _space([{**BW, "n_grid": 4}, {**CLOCK, "n_grid": 3}])
    with pytest.raises(SpaceError, match="has 12 points, more than the budget of 11"):
        sweep(s, progress=False, max_points=11)
    assert sweep(s, progress=False, max_points=12).height == 12
    assert sweep(s, progress=False, max_points=None).height == 12
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_points"):
            sweep(s, progress=False, max_points=bad)  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match="the sample of 't' has 13 points"):
        sample(s, 13, seed=0, max_points=12, progress=False)


# ------------------------------------------------------------------------------ grid rows
def _mixed():
    return _space([
        {"name": "wf", "sets": "algorithm.weight_format", "kind": "categorical", "choices": ["int8", "int4-g128"]},
        {"name": "m", "sets": "workload.m", "kind": "int", "bounds": [1, 64], "log": True, "n_grid": 5},
        {**BW, "n_grid": 3},
        {"name": "k", "sets": "workload.k", "kind": "int", "values": [512, 4096]},
    ])


def test_grid_rows_are_the_product_in_itertools_order():
    s = _mixed()
    ref = list(itertools.product(*[p.grid() for p in s.parameters]))
    df = s.grid_frame()
    assert df.height == len(ref) == s.n_grid_points == 2 * 5 * 3 * 2
    assert [tuple(r) for r in df.rows()] == [tuple(x.item() if hasattr(x, "item") else x for x in r) for r in ref]
    # any slice, computed on its own, is the same rows
    for a, b in [(0, 1), (7, 31), (59, 60), (13, 13)]:
        assert s.grid_rows(a, b).equals(df.slice(a, b - a))
    with pytest.raises(ValueError, match="allowed: 0 <= start <= stop <= 60"):
        s.grid_rows(50, 61)


def test_grid_rows_of_a_huge_grid_cost_only_their_slice():
    s = huge()
    last = s.grid_rows(10**12 - 2, 10**12)
    assert last.height == 2
    assert last["bw"].to_list() == [8e12, 8e12] and last["clock"].to_list()[1] == pytest.approx(2e9)
    with pytest.raises(SpaceError, match="more than max_points"):
        s.grid_frame()


# ------------------------------------------------------------------------------ samples
def test_sample_is_seeded_and_independent_of_the_chunk_size():
    s = _mixed()
    a = sample(s, 300, seed=3, chunk_size=7, progress=False)
    b = sample(s, 300, seed=3, chunk_size=1000, progress=False)
    assert a.height == 300 and a.equals(b)
    assert not a.equals(sample(s, 300, seed=4, progress=False))
    empty = sample(s, 0, seed=0, progress=False)
    assert empty.height == 0 and empty.columns == a.columns
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="allowed: an integer >= 0"):
            sample(s, bad, seed=0)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ streaming
def test_a_csv_stream_holds_what_the_frame_holds(tmp_path):
    # a power limit inside the grid's range (about 127-166 W) so that some points, not all, are feasible
    s = _space([{**BW, "n_grid": 5}, {**CLOCK, "n_grid": 7}], constraints=[{"kind": "power", "limit": 150}])
    ref = sweep(s, progress=False)
    front = sweep(s, out=tmp_path / "all.csv", chunk_size=4, progress=False)
    on_disk = pl.read_csv(tmp_path / "all.csv")
    assert on_disk.height == 35 and on_disk.columns == ref.columns
    np.testing.assert_allclose(on_disk["latency_s"].to_numpy(), ref["latency_s"].to_numpy(), rtol=1e-12)
    assert front.height >= 1
    sweep(s, out=tmp_path / "feasible.csv", out_rows="feasible", chunk_size=4, progress=False)
    feas = pl.read_csv(tmp_path / "feasible.csv")
    assert feas.height == int(ref["feasible"].sum()) and feas["feasible"].all()
    assert 0 < feas.height < 35
    with pytest.raises(ValueError, match=r"streams to \.parquet, \.csv"):
        sweep(s, out=tmp_path / "x.json", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.csv", "feasible.csv"]


def test_a_stream_with_no_feasible_point_still_has_the_columns(tmp_path):
    s = _space([{**BW, "n_grid": 3}], constraints=[{"kind": "power", "limit": 1e-9}])
    for name in ("none.csv", "none.parquet"):
        sweep(s, out=tmp_path / name, out_rows="feasible", chunk_size=1, progress=False)
        df = pl.read_csv(tmp_path / name) if name.endswith(".csv") else pl.read_parquet(tmp_path / name)
        assert df.height == 0 and "latency_s" in df.columns


CHILD = r"""
import resource, sys
from models.dse import parse_space, sweep
n = int(sys.argv[1])
space = parse_space({"name": "mem", "target": "h100-sxm", "workload": "gemm", "parameters": [
    {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "bounds": [1, 8], "unit": "TB/s",
     "n_grid": n},
    {"name": "clock", "sets": "target.clock", "kind": "float", "bounds": [1.0, 2.0], "unit": "GHz", "n_grid": 100}],
    "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}]})
kept = sweep(space, out=sys.argv[2], keep=sys.argv[3], chunk_size=1 << 14, progress=False)
# VmHWM, not ru_maxrss: ru_maxrss survives fork + exec, so it would report pytest's own size
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(int(hwm[0].split()[1]) // 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
      kept.height)
"""


def _peak_MiB(tmp_path: Path, n: int, keep: str) -> tuple[int, int]:
    r = subprocess.run([sys.executable, "-c", CHILD, str(n), str(tmp_path / f"{n}.parquet"), keep], cwd=ROOT,
                       capture_output=True, text=True, check=True, timeout=300)
    rss, kept = r.stdout.split()
    return int(rss), int(kept)


def test_keep_none_memory_does_not_grow_with_the_grid(tmp_path):
    """300 k then 2.4 M points streamed to Parquet, each in a fresh process: the peak resident
    memory stays put (keeping every point would add about 350 MiB)."""
    small, k_small = _peak_MiB(tmp_path, 3_000, "none")
    large, k_large = _peak_MiB(tmp_path, 24_000, "none")
    assert k_small == k_large == 0
    assert pl.scan_parquet(tmp_path / "24000.parquet").select(pl.len()).collect().item() == 2_400_000
    assert large - small < 64, (small, large)


def test_the_memory_test_sees_a_sweep_that_keeps_everything(tmp_path):
    """The bound above is not slack: keeping every point does exceed it."""
    small, _ = _peak_MiB(tmp_path, 3_000, "all")
    large, kept = _peak_MiB(tmp_path, 24_000, "all")
    assert kept == 2_400_000 and large - small > 64 * 2
