"""Launch overhead: host dispatch per kernel and its overlap with the device (launch_mode)."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import numpy as np
import pytest

from models.algorithms import LAUNCH_MODES, launch_mode
from models.dse import parse_space, sweep
from models.hardware import parse_target
from models.params import ParamError
from models.perf import evaluate, evaluate_point
from models.perf.kernel import launch_time
from models.point import ALGORITHM_KNOBS, build_point, knob
from models.workloads import elementwise, table_from_ops
from tests.models.perf.test_roofline import TOY

US = 1e-6


def toy(cls: str = "npu"):
    return parse_target(tomllib.loads(TOY.replace('class = "npu"', f'class = "{cls}"')), file="toy2.toml")


# ------------------------------------------------------------------ the formula, by hand
def test_launch_time_ten_kernels_by_hand():
    # 10 kernels of 1 us device time each (device-side cost included), 5 us of host dispatch each
    device, n, h = np.array(10 * US), np.array(10.0), 5 * US
    # graph: no host cost per kernel, the device times add up: 10 us
    assert launch_time(device, n, 0.0, True) == pytest.approx(10 * US, rel=1e-12)
    # async: the host is the bottleneck; the last kernel starts after the 10th dispatch (50 us)
    # and runs 1 us: 51 us, not 10 + 50
    assert launch_time(device, n, h, True) == pytest.approx(51 * US, rel=1e-12)
    # serial: a sync after each kernel, nothing overlaps: 10 + 50 = 60 us
    assert launch_time(device, n, h, False) == pytest.approx(60 * US, rel=1e-12)
    # async, device-bound (0.5 us dispatch < 1 us kernels): the first kernel waits for its own
    # dispatch, the rest hide behind execution: 10 + 0.5 us
    assert launch_time(device, n, 0.5 * US, True) == pytest.approx(10.5 * US, rel=1e-12)


def test_launch_time_never_below_either_side_and_broadcasts():
    rng = np.random.default_rng(0)
    device = rng.uniform(1e-6, 1e-2, (7, 1))
    n = rng.integers(1, 1000, (1, 5)).astype(float)
    for h in (1e-7, 3e-6, 8e-5):
        t = launch_time(device, n, h, True)
        assert t.shape == (7, 5)
        assert np.all(t >= device) and np.all(t >= n * h)
        assert np.all(t <= launch_time(device, n, h, False) + 1e-18)  # overlap never costs more


# ------------------------------------------------------------------ through evaluate
def _ten(cls: str = "npu", host: float = 0.0, overlap: bool = True):
    # 1000 fp16 elements: 1 ns of compute, 4 ns of SRAM traffic, 1 us op_overhead: ~1.004 us each
    t = table_from_ops([elementwise("add", 1000, dtype="fp16", count=10)])
    return toy(cls), replace(t, host_dispatch_s=host, host_overlap=overlap)


def test_evaluate_ten_kernels_graph_async_serial():
    target, graph = _ten()
    r = evaluate(target, graph)
    d = float(r.op_latency_s.reshape(-1)[0])  # one kernel's device time, device-side cost included
    assert d == pytest.approx(1.0 * US, rel=0.01)
    assert float(r.latency_s[0]) == pytest.approx(10 * d, rel=1e-12)  # graph: 10 x (t + op_overhead)
    assert float(r.host_wait_s[0]) == 0.0
    _, asy = _ten(host=5 * US)
    ra = evaluate(target, asy)
    assert float(ra.latency_s[0]) == pytest.approx(50 * US + d, rel=1e-12)  # 10 x 5 us + one kernel
    assert float(ra.host_wait_s[0]) == pytest.approx(50 * US + d - 10 * d, rel=1e-9)
    _, ser = _ten(host=5 * US, overlap=False)
    assert float(evaluate(target, ser).latency_s[0]) == pytest.approx(10 * d + 50 * US, rel=1e-12)
    # ideal mode has no overheads at all: host dispatch goes too
    assert float(evaluate(target, asy, mode="ideal").latency_s[0]) == pytest.approx(
        float(evaluate(target, graph, mode="ideal").latency_s[0]), rel=1e-12)
    # static energy is drawn over the longer step
    assert float(ra.static_energy_J[0]) == pytest.approx(2.0 * float(ra.latency_s[0]), rel=1e-12)


def test_cpu_host_is_the_device_no_overlap():
    # on a CPU target build_point never overlaps dispatch: eager on a CPU adds n x h
    cpu = toy("cpu")
    t = table_from_ops([elementwise("add", 1000, dtype="fp16", count=10)], workload="custom")
    assert t.host_overlap
    p = build_point("llama-2-7b", {"phase": "decode", "launch_mode": "eager"}, target=cpu)
    assert p.table.host_overlap is False
    assert p.table.host_dispatch_s == pytest.approx(launch_mode("eager").host_dispatch_s)


# ------------------------------------------------------------------ the knob
def test_knob_declared_with_its_choices_and_default():
    p = ALGORITHM_KNOBS["launch_mode"]
    assert p.choices == LAUNCH_MODES == ("graph", "async", "eager", "serial")
    assert p.default == "graph"
    assert knob("launch_mode", "llama-2-7b")[0] == "algorithm.launch_mode"
    assert knob("host_dispatch_s", "llama-2-7b")[0] == "algorithm.host_dispatch_s"
    # every mode's figure is sourced
    for m in LAUNCH_MODES:
        assert launch_mode(m).source


def test_bad_values_refused_naming_the_allowed_ones():
    with pytest.raises(ParamError, match="launch_mode.*allowed: graph, async, eager, serial"):
        evaluate_point("h100-sxm", "llama-2-7b", {"launch_mode": "magic"})
    with pytest.raises(ParamError, match="host_dispatch_s.*allowed"):
        evaluate_point("h100-sxm", "llama-2-7b", {"launch_mode": "async", "host_dispatch_s": -1e-6})
    with pytest.raises(ValueError, match="host_dispatch_s.*needs launch_mode"):
        evaluate_point("h100-sxm", "llama-2-7b", {"host_dispatch_s": 1e-6})
    with pytest.raises(ValueError, match="allowed: graph, async, eager, serial"):
        launch_mode("eager-serial")


def test_default_is_graph_and_changes_nothing():
    s = {"phase": "decode", "batch": 1, "n_generated": 16}
    a = evaluate_point("h100-sxm", "llama-2-7b", s, detail=False).perf
    b = evaluate_point("h100-sxm", "llama-2-7b", {**s, "launch_mode": "graph"}, detail=False).perf
    assert float(a.latency_s[0]) == float(b.latency_s[0])
    assert float(a.host_wait_s[0]) == 0.0


def test_eager_llama_decode_is_host_bound_on_a_gpu():
    # batch-1 decode on an H100: ~483 operators per token; eager dispatch (81.2 us each) exceeds
    # the ~6 ms HBM roofline of a token, so the step is host-bound: 483 x 81.2 us + one kernel
    s = {"phase": "decode", "batch": 1, "n_generated": 1}
    g = evaluate_point("h100-sxm", "llama-2-7b", s).perf
    e = evaluate_point("h100-sxm", "llama-2-7b", {**s, "launch_mode": "eager"}).perf
    n = float(np.sum(g.op_count.reshape(-1, g.op_meta.height)[0]))
    assert n == 483
    h = launch_mode("eager").host_dispatch_s
    assert float(e.latency_s[0]) == pytest.approx(n * h + float(g.latency_s[0]) / n, rel=1e-9)
    # async (C++ launches, 3 us) hides behind the device: the graph time plus one dispatch
    a = evaluate_point("h100-sxm", "llama-2-7b", {**s, "launch_mode": "async"}).perf
    assert float(a.latency_s[0]) == pytest.approx(float(g.latency_s[0]) + 3 * US, rel=1e-12)
    # a user's own figure overrides the mode's
    u = evaluate_point("h100-sxm", "llama-2-7b", {**s, "launch_mode": "serial", "host_dispatch_s": 10 * US}).perf
    assert float(u.latency_s[0]) == pytest.approx(float(g.latency_s[0]) + n * 10 * US, rel=1e-12)


def test_sweep_over_the_knob_equals_point_by_point():
    space = parse_space({"name": "t", "target": "h100-sxm", "workload": "llama-2-7b",
                         "workload_knobs": {"phase": "decode", "batch": 1, "n_generated": 4},
                         "parameters": [{"name": "lm", "sets": "algorithm.launch_mode", "kind": "categorical",
                                         "choices": list(LAUNCH_MODES)},
                                        {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float",
                                         "values": [2e12, 3.35e12], "unit": "B/s"}],
                         "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}]})
    res = sweep(space, progress=False)
    assert res.height == 2 * len(LAUNCH_MODES)
    for row in res.iter_rows(named=True):
        p = evaluate_point("h100-sxm", "llama-2-7b", {"phase": "decode", "batch": 1, "n_generated": 4,
                                                     "launch_mode": row["lm"]},
                           overrides={"memories.hbm.bandwidth": row["bw"]}).perf
        assert row["latency_s"] == pytest.approx(float(p.latency_s[0]), rel=1e-12)
        assert row["energy_J"] == pytest.approx(float(p.energy_J[0]), rel=1e-12)


def test_concat_keeps_the_launch_fields():
    from models.workloads import concat_tables

    _, t = _ten(host=5 * US, overlap=False)
    c = concat_tables([t, t])
    assert (c.host_dispatch_s, c.host_overlap) == (5 * US, False)
