"""Design points of a space are priced as `evaluate` prices them; sweeps stream what they evaluate."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.dse import evaluate_points, pareto_front, parse_space, point_result, sample, sweep, sweep_chunks
from models.hardware import available_targets, get_target
from models.perf import evaluate_point

METRICS = ["latency_s", "energy_J", "prefill_latency_s", "decode_energy_J", "peak_memory_B", "edp_J_s"]


def _space(extra=(), constraints=(), workload="llama-2-7b"):
    return parse_space(
        {
            "name": "t",
            "workload": workload,
            "parameters": [
                {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "bounds": [1, 8],
                 "unit": "TB/s", "n_grid": 4},
                {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 64], "log": True,
                 "n_grid": 4},
                {"name": "wd", "sets": "workload.weight_dtype", "kind": "categorical", "choices": ["bf16", "int4"]},
                *extra,
            ],
            "objectives": [{"metric": "latency_s"}, {"metric": "energy_J_per_token"}],
            "constraints": list(constraints),
        }
    )


def test_one_point_equals_evaluate_point():
    s = _space()
    res = evaluate_points(s, s.grid_frame())
    row = res.filter((res["batch"] == 4.0) & (res["wd"] == "int4")).row(0, named=True)
    r = evaluate_point("h100-sxm", "llama-2-7b", {"batch": 4, "weight_dtype": "int4"},
                       overrides={"memories.hbm.bandwidth": row["bw"]}, detail=False)
    assert row["latency_s"] == pytest.approx(float(r.perf.latency_s[0]), rel=1e-12)
    assert row["energy_J"] == pytest.approx(float(r.perf.energy_J[0]), rel=1e-12)
    assert row["tokens_per_s"] == pytest.approx(4 * 256 / float(r.perf.latency_s[0]), rel=1e-12)
    one = point_result(s, row)
    assert float(one.latency_s[0]) == pytest.approx(row["latency_s"], rel=1e-12)


def test_sweep_in_small_chunks_equals_evaluating_the_grid():
    s = _space(constraints=[{"kind": "memory"}, {"kind": "power", "limit": 500.0}])
    full = sweep(s, chunk_size=5, progress=False)
    ref = evaluate_points(s, s.grid_frame())
    assert full.height == s.n_grid_points == 32
    key = ["wd", "batch", "bw"]
    full, ref = full.sort(key), ref.sort(key)
    for m in METRICS + ["constraint_memory", "constraint_power"]:
        np.testing.assert_allclose(full[m].to_numpy(), ref[m].to_numpy(), rtol=1e-12)
    assert (full["feasible"] == ref["feasible"]).all()


def test_chunks_are_product_subgrids_in_row_major_order():
    s = _space()
    rows = pl.concat(list(sweep_chunks(s, chunk_size=3)))
    assert rows.height == 32
    # categorical outermost, then the knob axis (batch), then the hardware rows (bw)
    first = rows.head(4)
    assert first["wd"].unique().to_list() == ["bf16"] and first["batch"].unique().to_list() == [1.0]
    assert first["bw"].to_list() == sorted(first["bw"].to_list())


def test_memory_and_power_constraints():
    s = _space(constraints=[{"kind": "memory"}, {"kind": "power", "limit": 500.0}])
    df = sweep(s, progress=False)
    # feasible iff weights+KV fit in the 80 GB HBM and average power <= 500 W
    fits = df["peak_memory_B"].to_numpy() <= 80e9
    cool = df["average_power_W"].to_numpy() <= 500.0
    np.testing.assert_array_equal(df["feasible"].to_numpy(), fits & cool)
    assert 0 < df["feasible"].sum() < df.height


def test_error_proxy_orders_formats():
    s = _space()
    df = sweep(s, progress=False)
    e16 = df.filter(df["wd"] == "bf16")["error_proxy"].unique().to_list()
    e4 = df.filter(df["wd"] == "int4")["error_proxy"].unique().to_list()
    assert len(e16) == 1 and len(e4) == 1 and e4[0] > e16[0]


def test_random_sample_is_seeded():
    s = _space()
    a, b = sample(s, 20, seed=7, progress=False), sample(s, 20, seed=7, progress=False)
    assert a.equals(b)
    assert not a.equals(sample(s, 20, seed=8, progress=False))


def test_streamed_sweep_writes_every_point_and_keeps_the_front(tmp_path):
    s = _space(constraints=[{"kind": "memory"}])
    out = tmp_path / "grid.parquet"
    front = sweep(s, out=out, chunk_size=7, progress=False)
    on_disk = pl.read_parquet(out)
    assert on_disk.height == s.n_grid_points
    ref = pareto_front(on_disk, s.objectives)
    key = ["wd", "batch", "bw"]
    assert front.sort(key).select(key).equals(ref.sort(key).select(key))
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed


def test_a_failing_group_leaves_no_file(tmp_path):
    # neupims has no bf16 rate on any engine: the group errors, and nothing is written
    s = parse_space({"name": "f", "workload": "llama-2-7b",
                     "parameters": [{"name": "target", "sets": "target", "kind": "categorical",
                                     "choices": ["h100-sxm", "neupims"]},
                                    {"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1, 2]}],
                     "objectives": [{"metric": "latency_s"}]})
    out = tmp_path / "x.parquet"
    with pytest.raises(ValueError, match="neupims"):
        sweep(s, out=out, progress=False)
    assert not out.exists() and not list(tmp_path.iterdir())


# A matrix unit that runs convolutions but not depthwise ones, and a slow vector unit.
_TOY = """
name = "toy-dw"
display_name = "Toy"
class = "npu"
description = "test"
overlap = "max"
clock = { value = 1, unit = "GHz", source = "test" }
tdp = { value = 10, unit = "W", source = "test" }
static_power = { value = 1, unit = "W", source = "test" }
process_node = { value = 7, unit = "nm", source = "test" }
op_overhead = { value = 0, unit = "us", source = "test" }

[[engines]]
name = "mat"
kind = "systolic"
runs = ["gemm", "gemv", "conv"]
n_units = { value = 100, source = "test" }
efficiency = { value = 1.0, source = "test" }
ops_per_cycle = { fp16 = { value = 1000, source = "test" } }
energy_per_op = { fp16 = { value = 1, unit = "pJ/op", source = "test" } }

[[engines]]
name = "vec"
kind = "vector"
n_units = { value = 1, source = "test" }
efficiency = { value = 1.0, source = "test" }
ops_per_cycle = { fp16 = { value = 16, source = "test" } }
energy_per_op = { fp16 = { value = 10, unit = "pJ/op", source = "test" } }

[[memories]]
name = "dram"
kind = "dram"
read_by = ["mat", "vec"]
capacity = { value = 8, unit = "GB", source = "test" }
bandwidth = { value = 1000, unit = "GB/s", source = "test" }
energy_per_byte = { value = 10, unit = "pJ/B", source = "test" }
"""


def test_structural_numeric_knob_groups_points(tmp_path, monkeypatch):
    # a group size of 1 makes MobileNet's 3x3 convs depthwise (kind dwconv), which the toy's
    # matrix unit cannot run. A sweep over it groups points by value, so the depthwise point
    # is priced as evaluate prices it alone, not as a conv of a shared table.
    (tmp_path / "toy-dw.toml").write_text(_TOY)
    monkeypatch.setenv("TRADESPACE_TARGETS_PATH", str(tmp_path))
    s = parse_space({"name": "g", "target": "toy-dw", "workload": "mobilenet-v1",
                     "parameters": [{"name": "gs", "sets": "workload.group_size", "kind": "int", "values": [1, 2]},
                                    {"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1, 2]}],
                     "objectives": [{"metric": "latency_s"}]})
    df = sweep(s, progress=False).sort(["gs", "batch"])
    lat = {}
    for row in df.iter_rows(named=True):
        r = evaluate_point("toy-dw", "mobilenet-v1", {"group_size": int(row["gs"]), "batch": int(row["batch"])},
                           detail=False)
        assert row["latency_s"] == pytest.approx(float(r.perf.latency_s[0]), rel=1e-12)
        assert row["energy_J"] == pytest.approx(float(r.perf.energy_J[0]), rel=1e-12)
        lat[row["gs"], row["batch"]] = row["latency_s"]
    assert lat[1.0, 1.0] > 2 * lat[2.0, 1.0]  # depthwise on the slow vector unit


@pytest.mark.parametrize("target", available_targets())
def test_sweep_equals_evaluate_points_on_every_target(target):
    """Contract: a broadcast sweep gives the numbers of points priced one list at a time."""
    t = get_target(target)
    main = t.main_memory().name
    native = t.native_dtypes()
    dtype = "int8" if t.target_class in ("mcu", "npu") else ("fp16" if "fp16" in native else "bf16")
    s = parse_space({
        "name": "c", "target": target, "workload": "tdnn-xvector", "workload_knobs": {"dtype": dtype},
        "parameters": [
            {"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1, 16, 256]},
            {"name": "frames", "sets": "workload.frames", "kind": "int", "values": [100, 1000]},
            {"name": "bw", "sets": f"target.memories.{main}.bandwidth", "kind": "float", "unit": "B/s",
             "values": [t.main_memory().bandwidth_B_per_s * f for f in (0.5, 1.0, 2.0)]},
        ],
        "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}],
    })
    try:
        ref = evaluate_points(s, s.grid_frame())
    except ValueError as exc:  # a target that cannot run the TDNN at all
        pytest.skip(str(exc))
    full = sweep(s, chunk_size=4, progress=False)
    key = ["batch", "frames", "bw"]
    full, ref = full.sort(key), ref.sort(key)
    for m in ("latency_s", "energy_J", "forward_latency_s", "peak_memory_B"):
        np.testing.assert_allclose(full[m].to_numpy(), ref[m].to_numpy(), rtol=1e-12)


def test_engine_assignment_and_policy_are_the_same_in_a_sweep():
    # GEMMs forced onto hbm-pim's bank units (fp16: they have no bf16), as a fixed setting and
    # as a parameter
    knobs = {"phase": "decode", "n_generated": 8, "weight_dtype": "fp16", "act_dtype": "fp16", "kv_dtype": "fp16"}
    fixed = parse_space({"name": "e", "target": "hbm-pim", "workload": "llama-2-7b", "workload_knobs": knobs,
                         "engine": {"gemm": "pim"}, "policy": "energy",
                         "parameters": [{"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1, 4]}],
                         "objectives": [{"metric": "latency_s"}]})
    df = sweep(fixed, progress=False).sort("batch")
    for row in df.iter_rows(named=True):
        r = evaluate_point("hbm-pim", "llama-2-7b", {**knobs, "batch": int(row["batch"])}, engine={"gemm": "pim"},
                           policy="energy", detail=False)
        assert row["latency_s"] == pytest.approx(float(r.perf.latency_s[0]), rel=1e-12)
        assert row["energy_J"] == pytest.approx(float(r.perf.energy_J[0]), rel=1e-12)
    param = parse_space({"name": "e", "target": "hbm-pim", "workload": "llama-2-7b", "workload_knobs": knobs,
                         "parameters": [{"name": "gemm_on", "sets": "engine.gemm", "kind": "categorical",
                                         "choices": ["host_matrix", "pim"]}],
                         "objectives": [{"metric": "latency_s"}]})
    by = dict(sweep(param, progress=False).select("gemm_on", "latency_s").iter_rows())
    pim = evaluate_point("hbm-pim", "llama-2-7b", knobs, engine={"gemm": "pim"}, detail=False)
    host = evaluate_point("hbm-pim", "llama-2-7b", knobs, engine={"gemm": "host_matrix"}, detail=False)
    assert by["pim"] == pytest.approx(float(pim.perf.latency_s[0]), rel=1e-12)
    assert by["host_matrix"] == pytest.approx(float(host.perf.latency_s[0]), rel=1e-12)
    assert by["pim"] != by["host_matrix"]
    with pytest.raises(ValueError, match="engine gemm = .tpu.*allowed: host_matrix, host_vector, pim"):
        parse_space({"name": "e", "target": "hbm-pim", "workload": "llama-2-7b", "engine": {"gemm": "tpu"},
                     "parameters": [{"name": "b", "sets": "workload.batch", "kind": "int", "values": [1]}],
                     "objectives": [{"metric": "latency_s"}]})
