"""The evaluator: blocked kernel = models.perf.evaluate, sweeps = evaluating the grid frame."""

from __future__ import annotations

import numpy as np
import pytest

from models.dse import evaluate_points, parse_space, sample, sweep
from models.dse.workloads import get_workload
from models.hardware import get_target
from models.perf import evaluate

METRICS = [
    "latency_s",
    "energy_J",
    "prefill_latency_s",
    "decode_energy_J",
    "peak_memory_B",
    "edp_J_s",
]


def _space(extra=(), constraints=(), workload="llama-2-7b"):
    return parse_space(
        {
            "name": "t",
            "workload": workload,
            "parameters": [
                {
                    "name": "bw",
                    "sets": "target.memories.hbm.bandwidth",
                    "kind": "float",
                    "bounds": [1, 8],
                    "unit": "TB/s",
                    "n_grid": 4,
                },
                {
                    "name": "batch",
                    "sets": "workload.batch",
                    "kind": "int",
                    "bounds": [1, 64],
                    "log": True,
                    "n_grid": 4,
                },
                {
                    "name": "wd",
                    "sets": "algorithm.weight_dtype",
                    "kind": "categorical",
                    "choices": ["bf16", "int4"],
                },
                *extra,
            ],
            "objectives": [{"metric": "latency_s"}, {"metric": "energy_J_per_token"}],
            "constraints": list(constraints),
        }
    )


def test_blocked_kernel_equals_perf_evaluate():
    s = _space()
    pts = s.grid_frame().sample(fraction=1.0, shuffle=True, seed=3)
    a = evaluate_points(s, pts, kernel="direct")
    b = evaluate_points(s, pts, kernel="blocked")
    for m in METRICS:
        np.testing.assert_allclose(b[m].to_numpy(), a[m].to_numpy(), rtol=1e-12)


def test_engines_that_trade_places_take_the_shared_path():
    # a vector engine with 1e6 units beats the tensor cores on some GEMMs: both engines compete
    s = _space(
        extra=[
            {
                "name": "vec",
                "sets": "target.engines.vector.n_units",
                "kind": "float",
                "values": [132, 1e6],
                "unit": "count",
            }
        ]
    )
    pts = s.grid_frame()
    a = evaluate_points(s, pts, kernel="direct")
    b = evaluate_points(s, pts, kernel="blocked")
    for m in METRICS:
        np.testing.assert_allclose(b[m].to_numpy(), a[m].to_numpy(), rtol=1e-12)


def test_one_point_equals_a_hand_built_evaluation():
    s = _space()
    pts = s.grid_frame()
    res = evaluate_points(s, pts)
    row = res.filter((res["batch"] == 4.0) & (res["wd"] == "int4")).row(0, named=True)
    table = get_workload("llama-2-7b").build(batch=4.0, weight_dtype="int4")
    r = evaluate(
        get_target("h100-sxm"), table, overrides={"memories.hbm.bandwidth": row["bw"]}, detail=False
    )
    assert row["latency_s"] == pytest.approx(float(r.latency_s[0]), rel=1e-12)
    assert row["energy_J"] == pytest.approx(float(r.energy_J[0]), rel=1e-12)
    assert row["tokens_per_s"] == pytest.approx(4 * 256 / float(r.latency_s[0]), rel=1e-12)


def test_sweep_in_small_chunks_equals_evaluating_the_grid():
    s = _space(constraints=[{"kind": "memory"}, {"kind": "power", "limit": 500.0}])
    full = sweep(s, chunk_size=5, progress=False)
    ref = evaluate_points(s, s.grid_frame(), kernel="direct")
    assert full.height == s.n_grid_points == 32
    key = ["wd", "batch", "bw"]
    full, ref = full.sort(key), ref.sort(key)
    for m in METRICS + ["constraint_memory", "constraint_power"]:
        np.testing.assert_allclose(full[m].to_numpy(), ref[m].to_numpy(), rtol=1e-12)
    assert (full["feasible"] == ref["feasible"]).all()


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


@pytest.mark.parametrize(
    "target", sorted(__import__("models.hardware", fromlist=["x"]).available_targets())
)
def test_blocked_kernel_equals_perf_evaluate_on_every_target(target):
    """Contract: the sweep kernel gives models.perf.evaluate's numbers on every preset."""
    t = get_target(target)
    main = t.main_memory().name
    native = t.native_dtypes()
    dtype = "int8" if t.target_class in ("mcu", "npu") else ("fp16" if "fp16" in native else "bf16")
    s = parse_space(
        {
            "name": "c",
            "target": target,
            "workload": "tdnn-xvector",
            "workload_knobs": {"dtype": dtype},
            "parameters": [
                {"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1, 16, 256]},
                {"name": "frames", "sets": "workload.frames", "kind": "int", "values": [100, 1000]},
                {
                    "name": "bw",
                    "sets": f"target.memories.{main}.bandwidth",
                    "kind": "float",
                    "unit": "B/s",
                    "values": [t.main_memory().bandwidth_B_per_s * f for f in (0.5, 1.0, 2.0)],
                },
            ],
            "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}],
        }
    )
    pts = s.grid_frame()
    try:
        a = evaluate_points(s, pts, kernel="direct")
    except ValueError as exc:  # a target that cannot run the TDNN at all
        pytest.skip(str(exc))
    b = evaluate_points(s, pts, kernel="blocked")
    for m in ("latency_s", "energy_J", "forward_latency_s"):
        np.testing.assert_allclose(b[m].to_numpy(), a[m].to_numpy(), rtol=1e-12)
